"""Flatten and Unflatten: reshapes, whose backward passes reshape the gradient back."""

from __future__ import annotations

import math
from typing import Any

from ..arrays import Array
from ._checks import whole_number
from .module import Module
from .registry import LayerType, register


class Flatten(Module):
    """Axes start_dim … end_dim merged into one (PyTorch's defaults keep the batch axis):

        x: (N, d₁, …, dₖ)  →  y: (N, d₁·…·dₖ)          backward:  dL/dx = dL/dy reshaped to x's shape

    No arithmetic, so nothing to derive; the gradient of each value goes back to where the
    value came from. Cached: the input's shape.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim = whole_number("Flatten", "start_dim", start_dim)
        self.end_dim = whole_number("Flatten", "end_dim", end_dim)
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

    One size may be -1: it is inferred from the length of ``dim`` (Unflatten(1, (-1, 8))
    splits 64 into (8, 8)), as ``reshape`` infers it. ``dim`` counts from the end when
    negative, and must name an axis of the input.

    backward:  dL/dx = dL/dy reshaped to x's shape. Caches x's shape and y's.
    """

    def __init__(self, dim: int, unflattened_size: tuple[int, ...] | list[int]) -> None:
        self.dim = whole_number("Unflatten", "dim", dim)
        if not isinstance(unflattened_size, tuple | list):
            raise TypeError(
                f"Unflatten: unflattened_size must be a tuple of whole numbers, "
                f"got {unflattened_size!r}"
            )
        self.unflattened_size = tuple(
            whole_number("Unflatten", f"unflattened_size[{i}]", s)
            for i, s in enumerate(unflattened_size)
        )
        sizes = self.unflattened_size
        if not sizes or any(s < 1 and s != -1 for s in sizes) or sizes.count(-1) > 1:
            raise ValueError(
                f"Unflatten: unflattened_size must hold sizes >= 1 (one of them may be -1, "
                f"inferred), got {unflattened_size!r}"
            )
        self._shapes: tuple[tuple[int, ...], tuple[int, ...]] | None = None  # x's, y's

    def forward(self, x: Array) -> Array:
        ndim = x.ndim
        if not -ndim <= self.dim < ndim:
            dims = f"dims {-ndim} to {ndim - 1}" if ndim else "a 0-d input has none to split"
            raise ValueError(
                f"{self!r}: dim {self.dim} is out of range for input of shape {x.shape} ({dims})"
            )
        dim = self.dim % ndim
        length = x.shape[dim]
        known = math.prod(s for s in self.unflattened_size if s != -1)
        if -1 in self.unflattened_size:
            if length % known:
                raise ValueError(
                    f"{self!r} expects dimension {self.dim} of a size divisible by {known}, "
                    f"got input {x.shape}"
                )
            sizes = tuple(length // known if s == -1 else s for s in self.unflattened_size)
        elif length != known:
            raise ValueError(
                f"{self!r} expects dimension {self.dim} of size {known}, got input {x.shape}"
            )
        else:
            sizes = self.unflattened_size
        y = x.reshape(*x.shape[:dim], *sizes, *x.shape[dim + 1 :])
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
