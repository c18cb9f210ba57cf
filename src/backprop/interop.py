"""The door to PyTorch: ``to_torch(model)``, ``from_torch(module)`` and
``optimizer_to_torch(optimizer, module)``.

torch is imported inside the functions, so ``import backprop`` never loads it, and backprop
runs without it. Every layer crosses as its entry in ``backprop.nn.registry.LAYERS`` says:
constructor arguments, parameters and buffers (``state_dict``, same key names on both sides),
and its train/eval mode. Weights cross transposed: backprop's ``Linear.weight`` is (in, out),
PyTorch's is (out, in); so do the optimizer's per-weight buffers. This module is the only place
that transposes.

A model trained here continues in PyTorch where it stopped::

    tmodel = to_torch(model)
    topt = optimizer_to_torch(optimizer, tmodel)   # same lr, same moments, same step count
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .nn import Module, Sequential
from .nn.registry import LAYERS, LayerType, layer_type
from .optim import OPTIMIZERS, Optimizer


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(
            "backprop.interop needs PyTorch, which is not installed (backprop itself does "
            "not): pip install 'backprop-by-hand[torch]'"
        ) from None
    return torch


def _layers(model: Module) -> list[Module]:
    return list(model) if isinstance(model, Sequential) else [model]


def to_torch(model: Module) -> Any:
    """A ``torch.nn.Sequential`` with the same layers, parameters and buffers (copied), in the
    same dtype and the same train/eval mode, layer by layer. Any layer in
    ``backprop.nn.registry.LAYERS`` crosses; Linear weights are transposed to (out, in). A
    Sequential inside becomes a ``torch.nn.Sequential`` at the same place, so that the
    ``state_dict`` keys ("1.0.weight") stay the same on both sides."""
    torch = _torch()
    out = []
    for i, layer in enumerate(_layers(model)):
        if isinstance(layer, Sequential):
            out.append(to_torch(layer))
            continue
        entry = layer_type(layer)
        if entry is None:
            raise TypeError(f"to_torch: layer {i} ({type(layer).__name__}) has no PyTorch twin")
        kwargs = entry.config(layer)
        floats = [v for v in layer.state_dict().values() if v.dtype.kind == "f"]
        if floats:
            kwargs["dtype"] = getattr(torch, floats[0].dtype.name)
        t = getattr(torch.nn, entry.torch_class_name)(**kwargs)
        state = {
            k: torch.from_numpy(np.ascontiguousarray(v.T if k in entry.transposed else v).copy())
            for k, v in layer.state_dict().items()
        }
        t.load_state_dict(state, strict=True)
        t.train(layer.training)
        out.append(t)
    tmodel = torch.nn.Sequential(*out)
    tmodel.training = model.training  # the container's own flag: train() would reset the layers'
    return tmodel


def _flatten(torch: Any, module: Any) -> list[Any]:
    """The layers of a (possibly nested) ``torch.nn.Sequential``, in order."""
    if isinstance(module, torch.nn.Sequential):
        return [layer for child in module for layer in _flatten(torch, child)]
    return [module]


def _torch_entry(torch: Any, layer: Any) -> LayerType | None:
    name = type(layer).__name__
    for entry in LAYERS.values():
        if entry.torch_class_name == name and type(layer) is getattr(torch.nn, name, None):
            return entry
    return None


def from_torch(module: Any) -> Sequential:
    """A backprop ``Sequential`` from a ``torch.nn.Sequential`` of layers that have a twin here
    (nested Sequentials are flattened; a single layer is fine too), with the same parameters
    and buffers (copied), dtype and train/eval mode."""
    torch = _torch()
    out: list[Module] = []
    for i, layer in enumerate(_flatten(torch, module)):
        entry = _torch_entry(torch, layer)
        if entry is None:
            raise TypeError(
                f"from_torch: layer {i} is torch.nn.{type(layer).__name__}; supported: "
                + ", ".join(sorted(e.torch_class_name for e in LAYERS.values()))
            )
        try:
            config = entry.torch_config(layer)
        except (AttributeError, ValueError) as e:
            raise TypeError(f"from_torch: layer {i} ({type(layer).__name__}): {e}") from None
        floats = [v for v in layer.state_dict().values() if v.is_floating_point()]
        dtype = floats[0].detach().numpy().dtype if floats else None
        ours = entry.build(config, dtype)
        state = {k: v.detach().cpu().numpy() for k, v in layer.state_dict().items()}
        ours.load_state_dict(
            {k: v.T if k in entry.transposed else v for k, v in state.items()}, strict=True
        )
        ours.train(layer.training)
        out.append(ours)
    model = Sequential(*out)
    model.training = module.training  # the container's own flag: train() would reset the layers'
    return model


def _paired(optimizer: Optimizer, module: Any) -> list[tuple[Any, bool]]:
    """(torch parameter, is transposed here) for each of ``optimizer.params``, checked to have
    the same shapes (transposed for Linear weights)."""
    torch = _torch()
    pairs: list[tuple[Any, bool]] = []
    for layer in _flatten(torch, module):
        entry = _torch_entry(torch, layer)
        transposed = entry.transposed if entry is not None else ()
        pairs += [(p, name in transposed) for name, p in layer.named_parameters()]
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
    """The ``torch.optim`` optimizer of the same name (SGD, Adam, AdamW, RMSprop, Adagrad) over
    ``module``'s parameters (as made by ``to_torch``), with the same hyperparameters and state:
    the step count and every per-parameter array (momentum buffers, moment estimates, sums of
    squares; transposed for Linear weights). Training then continues in PyTorch exactly as it
    would have here."""
    torch = _torch()
    name = type(optimizer).__name__
    if OPTIMIZERS.get(name) is not type(optimizer):
        raise TypeError(f"optimizer_to_torch: {name} has no PyTorch twin here")
    pairs = _paired(optimizer, module)
    topt = getattr(torch.optim, name)([t for t, _ in pairs], **optimizer.hyperparameters())

    def tensor(a: Any, is_weight: bool) -> Any:
        return torch.from_numpy(np.ascontiguousarray(a.T if is_weight else a).copy())

    if optimizer.counts_steps and optimizer.steps == 0:
        # PyTorch makes its state at the first step (Adagrad's at construction, from the same
        # initial_accumulator_value): nothing to carry yet.
        return topt
    for (t, is_weight), state in zip(pairs, optimizer.state, strict=True):
        if not state:
            continue  # SGD before its first step with momentum: no buffer yet
        entries = {key: tensor(value, is_weight) for key, value in state.items()}
        if optimizer.counts_steps:
            entries["step"] = torch.tensor(float(optimizer.steps))
        topt.state[t] = entries
    return topt
