"""The door to PyTorch: ``to_torch(model)`` and ``from_torch(module)``.

torch is imported inside the functions, so ``import backprop`` never loads it. Weights cross
transposed: backprop's ``Linear.weight`` is (in, out), PyTorch's is (out, in).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .layers import Identity, Linear, Module, ReLU, Sequential, Sigmoid, Tanh

_ACTIVATIONS: dict[str, type[Module]] = {
    "ReLU": ReLU,
    "Sigmoid": Sigmoid,
    "Tanh": Tanh,
    "Identity": Identity,
}


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(
            "backprop.interop needs PyTorch, which is not installed: pip install torch"
        ) from None
    return torch


def to_torch(model: Module) -> Any:
    """A ``torch.nn.Sequential`` with the same layers and weights (copied), in the same dtype."""
    torch = _torch()
    layers = list(model) if isinstance(model, Sequential) else [model]
    out = []
    for i, layer in enumerate(layers):
        if isinstance(layer, Linear):
            dtype = getattr(torch, layer.weight.dtype.name)
            t = torch.nn.Linear(
                layer.in_features, layer.out_features, bias=layer.bias is not None, dtype=dtype
            )
            with torch.no_grad():
                t.weight.copy_(torch.from_numpy(np.ascontiguousarray(layer.weight.data.T)))
                if layer.bias is not None:
                    t.bias.copy_(torch.from_numpy(layer.bias.data))
            out.append(t)
        elif type(layer).__name__ in _ACTIVATIONS:
            out.append(getattr(torch.nn, type(layer).__name__)())
        else:
            raise TypeError(f"to_torch: layer {i} ({type(layer).__name__}) has no PyTorch twin")
    return torch.nn.Sequential(*out)


def from_torch(module: Any) -> Sequential:
    """A backprop ``Sequential`` from a ``torch.nn.Sequential`` of Linear/ReLU/Sigmoid/Tanh/Identity
    (or a single such layer), with the same weights (copied) and dtype."""
    torch = _torch()
    layers = list(module) if isinstance(module, torch.nn.Sequential) else [module]
    out: list[Module] = []
    for i, layer in enumerate(layers):
        name = type(layer).__name__
        if isinstance(layer, torch.nn.Linear):
            weight = layer.weight.detach().cpu().numpy()
            lin = Linear(
                layer.in_features,
                layer.out_features,
                bias=layer.bias is not None,
                dtype=weight.dtype,
                rng=np.random.default_rng(0),
            )
            lin.weight.data[...] = weight.T
            if layer.bias is not None and lin.bias is not None:
                lin.bias.data[...] = layer.bias.detach().cpu().numpy()
            out.append(lin)
        elif name in _ACTIVATIONS and type(layer) is getattr(torch.nn, name):
            out.append(_ACTIVATIONS[name]())
        else:
            raise TypeError(
                f"from_torch: layer {i} is torch.nn.{name}; supported: Linear, "
                + ", ".join(_ACTIVATIONS)
            )
    return Sequential(*out)
