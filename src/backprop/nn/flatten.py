"""Flatten and Unflatten: reshapes, whose backward passes reshape the gradient back."""

from __future__ import annotations

import math
from typing import Any

from ..arrays import Array
from .module import Module
from .registry import LayerType, register


class Flatten(Module):
    """Axes start_dim … end_dim merged into one (PyTorch's defaults keep the batch axis):

        x: (N, d₁, …, dₖ)  →  y: (N, d₁·…·dₖ)          backward:  dL/dx = dL/dy reshaped to x's shape

    No arithmetic, so nothing to derive; the gradient of each value goes back to where the
    value came from. Cached: the input's shape.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        if type(start_dim) is not int or type(end_dim) is not int:
            raise TypeError(
                f"Flatten: start_dim and end_dim must be ints, got {start_dim!r}, {end_dim!r}"
            )
        self.start_dim = start_dim
        self.end_dim = end_dim
        self._shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = None  # x's, y's

    def forward(self, x: Array) -> Array:
        shapes = self._shapes
        if shapes is not None and x.shape == shapes[0]:  # the shapes of the last call
            return x.reshape(shapes[1])
        n = max(x.ndim, 1)
        start = self.start_dim + n if self.start_dim < 0 else self.start_dim
        end = self.end_dim + n if self.end_dim < 0 else self.end_dim
        if not (0 <= start < n and 0 <= end < n) or start > end:
            raise ValueError(
                f"{self!r}: start_dim {self.start_dim} and end_dim {self.end_dim} do not fit "
                f"input of shape {x.shape}"
            )
        # the merged size written out, not -1, which NumPy cannot infer for an empty x
        merged = math.prod(x.shape[start : end + 1])
        y = x.reshape(*x.shape[:start], merged, *x.shape[end + 1 :]) if x.ndim else x.reshape(1)
        self._shapes = (x.shape, y.shape)
        return y

    def backward(self, grad_output: Array) -> Array:
        if self._shapes is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        self._check_grad(grad_output, self._shapes[1])
        return grad_output.reshape(self._shapes[0])

    def __repr__(self) -> str:
        return f"Flatten(start_dim={self.start_dim}, end_dim={self.end_dim})"


class Unflatten(Module):
    """y = x with dimension ``dim`` split into ``unflattened_size``
    x: (N, 64)  y: (N, 1, 8, 8) for Unflatten(1, (1, 8, 8)), as in PyTorch

    backward:  dL/dx = dL/dy reshaped to x's shape. Caches x's shape.
    """

    def __init__(self, dim: int, unflattened_size: tuple[int, ...] | list[int]) -> None:
        self.dim = dim
        self.unflattened_size = tuple(int(s) for s in unflattened_size)
        if not self.unflattened_size or min(self.unflattened_size) < 1:
            raise ValueError(
                f"Unflatten: unflattened_size must hold sizes >= 1, got {unflattened_size!r}"
            )
        self._shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = None  # x's, y's

    def forward(self, x: Array) -> Array:
        dim = self.dim % x.ndim
        size = 1
        for s in self.unflattened_size:
            size *= s
        if x.shape[dim] != size:
            raise ValueError(
                f"{self!r} expects dimension {self.dim} of size {size}, got input {x.shape}"
            )
        y = x.reshape(*x.shape[:dim], *self.unflattened_size, *x.shape[dim + 1 :])
        self._shapes = (x.shape, y.shape)
        return y

    def backward(self, grad_output: Array) -> Array:
        if self._shapes is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        self._check_grad(grad_output, self._shapes[1])
        return grad_output.reshape(self._shapes[0])

    def __repr__(self) -> str:
        return f"Unflatten(dim={self.dim}, unflattened_size={self.unflattened_size})"


def _unflatten_config(layer: Any) -> dict[str, Any]:
    return {"dim": layer.dim, "unflattened_size": tuple(layer.unflattened_size)}


register(LayerType(Flatten, ("start_dim", "end_dim")))
register(
    LayerType(
        Unflatten,
        ("dim", "unflattened_size"),
        get=_unflatten_config,
        torch_get=_unflatten_config,
    )
)
