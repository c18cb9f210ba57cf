"""Dropout: a random mask in training, nothing in evaluation."""

from __future__ import annotations

import numpy as np

from ..arrays import Array
from ._checks import real_number
from .module import Module
from .registry import LayerType, register


class Dropout(Module):
    """Inverted dropout: each value is zeroed with probability p and the others scaled by
    1/(1 − p), in training; the identity in evaluation.

        training:   y = x ⊙ M / (1 − p),  M ~ Bernoulli(1 − p) drawn anew by every forward
        evaluation: y = x
    x, y, M: any shape (the same)

    backward:  dL/dx = dL/dy ⊙ M / (1 − p)   (training)      dL/dx = dL/dy   (evaluation)

    The scaling keeps E[y] = x, so evaluation needs no correction (PyTorch's convention).
    p = 1 zeroes everything (no division by zero). The mask is drawn from ``rng`` (a
    ``np.random.Generator``, fresh and unseeded if None), so it cannot match PyTorch's; a
    checkpoint stores the generator's state, so a resumed run draws the masks an unbroken one
    would. Cached: M / (1 − p), the factor the backward multiplies by.
    """

    def __init__(self, p: float = 0.5, *, rng: np.random.Generator | None = None) -> None:
        p = real_number("Dropout", "p", p)
        if not 0 <= p <= 1:
            raise ValueError(f"Dropout: p must be a probability in [0, 1], got {p!r}")
        self.p = p
        self.rng = np.random.default_rng() if rng is None else rng
        self._scale: Array | None = None
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: Array) -> Array:
        self._shape = x.shape
        if not self.training or self.p == 0:
            self._scale = None
            return x
        keep = self.rng.random(x.shape) >= self.p
        dtype = x.dtype if np.issubdtype(x.dtype, np.floating) else np.dtype(np.float64)
        factor = 0.0 if self.p == 1 else 1.0 / (1.0 - self.p)
        self._scale = scale = keep.astype(dtype) * dtype.type(factor)
        return x * scale

    def backward(self, grad_output: Array) -> Array:
        if self._shape is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        self._check_grad(grad_output, self._shape)
        return grad_output if self._scale is None else grad_output * self._scale

    def __repr__(self) -> str:
        return f"Dropout(p={self.p})"


register(LayerType(Dropout, ("p",), elementwise=True))
