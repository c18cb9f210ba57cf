"""Duck-typed access to a user's layer or loss: its parameters (anything with ``.data`` and
``.grad``), zeroing their gradients, a float64 copy of it, and a forward pass that asks for
dL/dx."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from .arrays import Array
from .nn import Sequential


def named_params(subject: Any) -> list[tuple[str, Any]]:
    """(name, parameter) pairs of a duck-typed subject; a parameter has .data and .grad."""
    if hasattr(subject, "named_parameters"):
        pairs = [(str(n), p) for n, p in subject.named_parameters()]
    elif hasattr(subject, "parameters"):
        # a learner's parameters are named after the attributes that hold them (self.W → "W")
        attrs = {id(v): k for k, v in vars(subject).items()} if hasattr(subject, "__dict__") else {}
        pairs = [(attrs.get(id(p), f"param{i}"), p) for i, p in enumerate(subject.parameters())]
    else:
        return []
    for name, p in pairs:
        if not isinstance(getattr(p, "data", None), np.ndarray) or not hasattr(p, "grad"):
            raise TypeError(
                f"check: parameter {name!r} of {type(subject).__name__} is "
                f"{type(p).__name__}; a parameter needs .data (a NumPy array) and .grad"
            )
    return pairs


def forward_for_input_grad(subject: Any, x: Array) -> Any:
    """``subject.forward(x)`` before a backward pass whose dL/dx is compared: a backprop
    ``Sequential`` computes dL/dx only when its forward pass asks (``requires_grad=True``);
    a layer, or a learner's own class, which knows no such flag, is called as it is."""
    if isinstance(subject, Sequential):
        return subject.forward(x, requires_grad=True)
    return subject.forward(x)


def grad_of(p: Any) -> Array:
    g = p.grad
    return np.zeros_like(p.data) if g is None else np.array(g, dtype=np.float64)


def zero_grads(subject: Any, params: list[tuple[str, Any]]) -> None:
    if hasattr(subject, "zero_grad"):
        subject.zero_grad()
        return
    for _, p in params:
        if isinstance(p.grad, np.ndarray) and p.grad.shape == p.data.shape:
            p.grad[...] = 0
        else:
            p.grad = np.zeros_like(p.data)


def is_float32(subject: Any, x: Array) -> bool:
    arrays = [np.asarray(x)] + [p.data for _, p in named_params(subject)]
    return any(a.dtype == np.float32 for a in arrays)


def as_float64(subject: Any) -> Any:
    subject = copy.deepcopy(subject)
    for _, p in named_params(subject):
        p.data = p.data.astype(np.float64)
        if hasattr(p, "_grad"):  # backprop's own Parameter keeps a separate buffer
            p._grad = np.zeros_like(p.data)
        else:
            p.grad = np.zeros_like(p.data)
    return subject
