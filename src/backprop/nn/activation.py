"""Elementwise activations: each backward pass is dL/dx = dL/dy ⊙ f′(x), f′ written from the output."""

from __future__ import annotations

import numpy as np

from ..arrays import Array
from .module import Module
from .registry import LayerType, register


class ReLU(Module):
    """y = max(x, 0)        x, y: any shape

    backward:  dL/dx = dL/dy ⊙ [y > 0]     (the subgradient at 0 is taken as 0, as in PyTorch)
    """

    def __init__(self) -> None:
        self._y: Array | None = None

    def forward(self, x: Array) -> Array:
        self._y = y = np.maximum(x, 0)
        return y

    def backward(self, grad_output: Array) -> Array:
        return grad_output * self._mask()

    def backward_owned(self, grad_output: Array) -> Array:
        # Zeroing entries in place saves a gradient-sized array at every ReLU of a training step.
        return np.multiply(grad_output, self._mask(), out=grad_output)

    def _mask(self) -> Array:
        y = self._y
        if y is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return y > 0


class Sigmoid(Module):
    """y = σ(x) = 1 / (1 + e⁻ˣ)        x, y: any shape

    backward:  dL/dx = dL/dy ⊙ y ⊙ (1 − y)

    Computed from e^(−|x|), which lies in (0, 1] and never overflows: σ(x) = 1/(1 + e^(−|x|))
    for x ≥ 0 and e^(−|x|)/(1 + e^(−|x|)) for x < 0. The naive 1/(1 + exp(−x)) overflows
    (with a warning) for x below about −709.
    """

    def __init__(self) -> None:
        self._y: Array | None = None

    def forward(self, x: Array) -> Array:
        e = np.exp(-np.abs(x))
        y = 1.0 / (1.0 + e)
        self._y = y = np.where(x >= 0, y, e * y).astype(x.dtype, copy=False)
        return y

    def backward(self, grad_output: Array) -> Array:
        y = self._y
        if y is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return grad_output * y * (1 - y)


class Tanh(Module):
    """y = tanh(x)        x, y: any shape

    backward:  dL/dx = dL/dy ⊙ (1 − y²)

    ``np.tanh`` saturates to ±1 without overflow, so no special form is needed.
    """

    def __init__(self) -> None:
        self._y: Array | None = None

    def forward(self, x: Array) -> Array:
        self._y = y = np.tanh(x)
        return y

    def backward(self, grad_output: Array) -> Array:
        y = self._y
        if y is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return grad_output * (1 - y * y)


for _cls in (ReLU, Sigmoid, Tanh):
    register(LayerType(_cls, elementwise=True))
