"""Flatten and Unflatten: reshapes, whose backward passes reshape the gradient back."""

from __future__ import annotations

from ..arrays import Array
from .module import Module


class Flatten(Module):
    """y = x with dimensions start_dim … end_dim merged into one
    x: (N, C, H, W)  y: (N, C·H·W) with the defaults (start_dim=1, end_dim=-1), as in PyTorch

    backward:  dL/dx = dL/dy reshaped to x's shape (a reshape moves no value). Caches x's shape.
    """

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        self.start_dim, self.end_dim = start_dim, end_dim
        self._x_shape: tuple[int, ...] | None = None

    def forward(self, x: Array) -> Array:
        start, end = self.start_dim % x.ndim, self.end_dim % x.ndim
        if start > end:
            raise ValueError(f"{self!r}: start_dim comes after end_dim for a {x.ndim}-D input")
        self._x_shape = x.shape
        return x.reshape(*x.shape[:start], -1, *x.shape[end + 1 :])

    def backward(self, grad_output: Array) -> Array:
        if self._x_shape is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return grad_output.reshape(self._x_shape)

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
        self._x_shape: tuple[int, ...] | None = None

    def forward(self, x: Array) -> Array:
        dim = self.dim % x.ndim
        size = 1
        for s in self.unflattened_size:
            size *= s
        if x.shape[dim] != size:
            raise ValueError(
                f"{self!r} expects dimension {self.dim} of size {size}, got input {x.shape}"
            )
        self._x_shape = x.shape
        return x.reshape(*x.shape[:dim], *self.unflattened_size, *x.shape[dim + 1 :])

    def backward(self, grad_output: Array) -> Array:
        if self._x_shape is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return grad_output.reshape(self._x_shape)

    def __repr__(self) -> str:
        return f"Unflatten(dim={self.dim}, unflattened_size={self.unflattened_size})"
