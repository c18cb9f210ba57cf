"""Optimizers with the exact update rules of ``torch.optim``, laid out as PyTorch lays them out.

optimizer.py (Optimizer, the base) · sgd.py (SGD) · adam.py (Adam, AdamW) · rmsprop.py (RMSprop)
· adagrad.py (Adagrad) · lr_scheduler.py (StepLR, CosineAnnealingLR)

``OPTIMIZERS`` maps each class's name to the class: a checkpoint records an optimizer as its
name and ``hyperparameters()``, and ``from_spec`` rebuilds it from them.
"""

from typing import Any

from . import lr_scheduler
from .adagrad import Adagrad
from .adam import Adam, AdamW
from .optimizer import BLOCK, Optimizer, blocks
from .rmsprop import RMSprop
from .sgd import SGD

OPTIMIZERS: dict[str, type[Optimizer]] = {
    cls.__name__: cls for cls in (SGD, Adam, AdamW, RMSprop, Adagrad)
}


def to_spec(optimizer: Optimizer) -> dict[str, Any]:
    """{"type": "Adam", "lr": …, "betas": […], …}: the optimizer as JSON-ready settings."""
    name = type(optimizer).__name__
    if OPTIMIZERS.get(name) is not type(optimizer):
        raise TypeError(f"cannot save optimizer {name}: not one of {', '.join(OPTIMIZERS)}")
    spec: dict[str, Any] = {"type": name}
    for key, value in optimizer.hyperparameters().items():
        spec[key] = list(value) if isinstance(value, tuple) else value
    return spec


def from_spec(spec: Any, params: list[Any]) -> Optimizer:
    """The optimizer described by ``to_spec``'s dict, over ``params`` (fresh state); a
    ValueError naming what is wrong if the dict is not such a description. Settings missing
    from the dict take their defaults (a checkpoint from before they existed)."""
    if not isinstance(spec, dict):
        raise ValueError("'optimizer' is not an object")
    kind = spec.get("type")
    if not isinstance(kind, str) or kind not in OPTIMIZERS:
        raise ValueError(f"unknown optimizer type {kind!r}")
    kwargs: dict[str, Any] = {}
    for key, value in spec.items():
        if key == "type":
            continue
        if key == "betas":
            if not (isinstance(value, list) and len(value) == 2):
                raise ValueError(f"{kind} betas is not a pair")
            if not all(isinstance(b, int | float) and not isinstance(b, bool) for b in value):
                raise ValueError(f"{kind} betas is not a pair of numbers")
            kwargs[key] = (float(value[0]), float(value[1]))
        elif key in ("nesterov", "centered", "amsgrad"):
            if not isinstance(value, bool):
                raise ValueError(f"optimizer {key} is not true or false")
            kwargs[key] = value
        elif isinstance(value, int | float) and not isinstance(value, bool):
            kwargs[key] = float(value)
        else:
            raise ValueError(f"optimizer {key} is not a number")
    try:
        return OPTIMIZERS[kind](params, **kwargs)
    except TypeError as e:
        raise ValueError(f"{kind}: {e}") from None


__all__ = [
    "BLOCK",
    "OPTIMIZERS",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "Optimizer",
    "RMSprop",
    "blocks",
    "from_spec",
    "lr_scheduler",
    "to_spec",
]
