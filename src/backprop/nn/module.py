"""Parameters, layers and `Sequential`: each forward pass with its hand-derived backward pass.

Conventions (as in PyTorch, with one deliberate difference):

* ``forward(x)`` returns the output and caches what the backward pass needs (one cache per
  layer, overwritten by every forward call).
* ``backward(grad_output)`` takes dL/dy, *accumulates* dL/dparam into ``param.grad`` (gradients
  add up across calls until ``zero_grad()``) and returns dL/dx: a new array, or grad_output
  itself, never an array the layer keeps.
* **`Linear.weight` has shape (in_features, out_features)** and ``y = x @ W + b``, as in the
  post ("Notes on Backpropagation"), so column n of W is the post's θ_n. PyTorch stores the
  transpose, shape (out_features, in_features), and computes ``x @ A.T + b``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import Array


class Parameter:
    """A trainable array and the gradient accumulated for it.

    ``data`` and ``grad`` have the same shape and dtype. ``zero_grad()`` only marks the gradient
    as zero; the buffer is cleared when it is next read, or overwritten by the next backward pass
    instead of added to. This saves a pass over every weight per step and lets a layer write its
    gradient straight into the buffer (``np.matmul(..., out=grad)``), with no temporary.
    """

    __slots__ = ("_grad", "_grad_is_zero", "data")

    def __init__(self, data: Array) -> None:
        self.data = data
        self._grad = np.zeros_like(data)
        self._grad_is_zero = True

    @property
    def grad(self) -> Array:
        if self._grad_is_zero:
            self._grad.fill(0)
            self._grad_is_zero = False
        return self._grad

    @grad.setter
    def grad(self, value: Array) -> None:
        value = np.asarray(value, dtype=self.data.dtype)
        if value.shape != self.data.shape:
            raise ValueError(f"grad of shape {value.shape} for a parameter of shape {self.shape}")
        self._grad[...] = value
        self._grad_is_zero = False

    def accumulate(self, value: Array) -> None:
        """grad += value (or grad = value right after zero_grad)."""
        if self._grad_is_zero:
            self._grad[...] = value
            self._grad_is_zero = False
        else:
            self._grad += value

    def zero_grad(self) -> None:
        self._grad_is_zero = True

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.data.dtype

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class: ``module(x)`` calls ``forward``; ``backward`` maps dL/dy to dL/dx."""

    def __call__(self, x: Array) -> Array:
        return self.forward(x)

    def forward(self, x: Array) -> Array:
        raise NotImplementedError

    def backward(self, grad_output: Array) -> Array:
        raise NotImplementedError

    def backward_params(self, grad_output: Array) -> None:
        """Accumulate the parameter gradients only; dL/dx is not needed (the network's input)."""
        self.backward(grad_output)

    def backward_owned(self, grad_output: Array) -> Array:
        """As backward, for a ``grad_output`` made in this backward pass and used by no one
        else, which the layer may overwrite (``Sequential`` calls it; see there)."""
        return self.backward(grad_output)

    def parameters(self) -> list[Parameter]:
        return []

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return []

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"
