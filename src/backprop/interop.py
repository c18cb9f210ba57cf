"""The door to PyTorch: ``to_torch(model)``, ``from_torch(module)`` and
``optimizer_to_torch(optimizer, module)``.

torch is imported inside the functions, so ``import backprop`` never loads it, and backprop
runs without it. Weights cross transposed: backprop's ``Linear.weight`` is (in, out),
PyTorch's is (out, in); so do the optimizer's per-weight buffers.

A model trained here continues in PyTorch where it stopped::

    tmodel = to_torch(model)
    topt = optimizer_to_torch(optimizer, tmodel)   # same lr, same moments, same step count
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .nn import Identity, Linear, Module, ReLU, Sequential, Sigmoid, Tanh
from .optim import SGD, Adam, Optimizer

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
            "backprop.interop needs PyTorch, which is not installed (backprop itself does "
            "not): pip install 'backprop-by-hand[torch]'"
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


def _flatten(torch: Any, module: Any) -> list[Any]:
    """The layers of a (possibly nested) ``torch.nn.Sequential``, in order."""
    if isinstance(module, torch.nn.Sequential):
        return [layer for child in module for layer in _flatten(torch, child)]
    return [module]


def from_torch(module: Any) -> Sequential:
    """A backprop ``Sequential`` from a ``torch.nn.Sequential`` of Linear/ReLU/Sigmoid/Tanh/Identity
    (nested Sequentials are flattened; a single such layer is fine too), with the same weights
    (copied) and dtype."""
    torch = _torch()
    layers = _flatten(torch, module)
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


def _paired(optimizer: Optimizer, module: Any) -> list[tuple[Any, bool]]:
    """(torch parameter, is a Linear weight) for each of ``optimizer.params``, checked to have
    the same shapes (transposed for weights)."""
    torch = _torch()
    pairs: list[tuple[Any, bool]] = []
    for layer in _flatten(torch, module):
        if isinstance(layer, torch.nn.Linear):
            pairs.append((layer.weight, True))
            if layer.bias is not None:
                pairs.append((layer.bias, False))
    if len(pairs) != len(optimizer.params):
        raise ValueError(
            f"the optimizer has {len(optimizer.params)} parameters, the module {len(pairs)}"
        )
    for i, (p, (t, is_weight)) in enumerate(zip(optimizer.params, pairs, strict=True)):
        shape = tuple(t.shape)[::-1] if is_weight else tuple(t.shape)
        if shape != p.shape:
            raise ValueError(f"parameter {i}: shape {p.shape} here, {tuple(t.shape)} in torch")
    return pairs


def optimizer_to_torch(optimizer: Optimizer, module: Any) -> Any:
    """A ``torch.optim.SGD`` or ``torch.optim.Adam`` over ``module``'s parameters (as made by
    ``to_torch``) with the same hyperparameters and state: SGD's momentum buffers, Adam's step
    count and moment estimates (transposed for Linear weights). Training then continues in
    PyTorch exactly as it would have here."""
    torch = _torch()
    pairs = _paired(optimizer, module)
    params = [t for t, _ in pairs]

    def tensor(a: Any, is_weight: bool) -> Any:
        return torch.from_numpy(np.ascontiguousarray(a.T if is_weight else a).copy())

    if isinstance(optimizer, Adam):
        topt = torch.optim.Adam(
            params,
            lr=optimizer.lr,
            betas=optimizer.betas,
            eps=optimizer.eps,
            weight_decay=optimizer.weight_decay,
        )
        if optimizer.t:
            for (t, is_weight), m, v in zip(
                pairs, optimizer.exp_avg, optimizer.exp_avg_sq, strict=True
            ):
                topt.state[t] = {
                    "step": torch.tensor(float(optimizer.t)),
                    "exp_avg": tensor(m, is_weight),
                    "exp_avg_sq": tensor(v, is_weight),
                }
        return topt
    if isinstance(optimizer, SGD):
        topt = torch.optim.SGD(
            params,
            lr=optimizer.lr,
            momentum=optimizer.momentum,
            weight_decay=optimizer.weight_decay,
        )
        for (t, is_weight), buf in zip(pairs, optimizer.buffers, strict=True):
            if buf is not None:
                topt.state[t] = {"momentum_buffer": tensor(buf, is_weight)}
        return topt
    raise TypeError(f"optimizer_to_torch: {type(optimizer).__name__} has no PyTorch twin here")
