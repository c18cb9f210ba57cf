"""Embedding: a lookup table, whose backward pass is a scatter-add."""

from __future__ import annotations

import functools
from typing import Any

import numpy as np
import numpy.typing as npt

from ..arrays import Array, dot
from ._checks import float_dtype, whole_number
from .module import Module, Parameter
from .registry import LayerType, register

# Embedding's backward builds the one-hot matrix of its indices when it has at most
# ONE_HOT_LIMIT entries (256 KiB of float32), from an identity matrix of the table's rows kept
# for tables of up to ONE_HOT_ROWS rows; it scatter-adds with np.add.at beyond.
ONE_HOT_ROWS = 256
_INTP = np.dtype(np.intp)
ONE_HOT_LIMIT = 1 << 16


@functools.lru_cache(maxsize=16)
def _identity(n: int, dtype: np.dtype[Any]) -> Array:
    eye = np.eye(n, dtype=dtype)
    eye.flags.writeable = False  # shared by every Embedding of n rows
    return eye


class Embedding(Module):
    """y = W[x]: row x of the table for every index        x: (…) integers in [0, num)
    W: (num_embeddings, embedding_dim)   y: (…, embedding_dim)

    backward (scatter-add):  dL/dW[k] = Σ over every position i with x[i] = k of dL/dy[i]
    An index that appears twice receives both gradients, added (``np.add.at``; a plain
    ``dW[x] += g`` would keep only one of them). Rows never looked up get 0. For a small table
    and batch the same sum is one product, dL/dW = Xᵀ · dL/dy with X the one-hot matrix of x.

    The indices are not differentiable: PyTorch gives them no gradient, and ``backward``
    returns zeros of x's shape (``Sequential.backward_params`` skips it altogether).
    Initialised as PyTorch: W ~ N(0, 1), from ``rng``. Cached: x, to know where to scatter.
    PyTorch's padding_idx, max_norm and sparse are not offered.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        num_embeddings = whole_number("Embedding", "num_embeddings", num_embeddings)
        embedding_dim = whole_number("Embedding", "embedding_dim", embedding_dim)
        if num_embeddings < 1 or embedding_dim < 1:
            raise ValueError(
                f"Embedding needs num_embeddings >= 1 and embedding_dim >= 1, "
                f"got ({num_embeddings}, {embedding_dim})"
            )
        dtype = float_dtype("Embedding", dtype)
        rng = np.random.default_rng() if rng is None else rng
        self.num_embeddings = num_embeddings
        self.embedding_dim = embedding_dim
        self.weight = Parameter(rng.standard_normal((num_embeddings, embedding_dim)).astype(dtype))
        self._x: Array | None = None

    def forward(self, x: Array) -> Array:
        given = x
        if x.dtype != _INTP:  # the index type of take
            if x.dtype.kind not in "iu":
                raise TypeError(f"{self!r} expects integer indices, got an array of {x.dtype}")
            x = x.astype(np.intp)
        # One pass checks both ends: viewed as unsigned, a negative index is 2⁶³ or more (two's
        # complement), so every index is in range exactly when the largest of them, so viewed,
        # is below num_embeddings.
        if x.size and np.maximum.reduce(x.view(np.uintp), axis=None) >= self.num_embeddings:
            bad = given[(given < 0) | (given >= self.num_embeddings)].flat[0]
            raise ValueError(f"{self!r}: index {bad} is out of range [0, {self.num_embeddings})")
        self._x = x
        # W[x] for integer x: take is the same lookup without fancy indexing's general machinery
        return self.weight.data.take(x, axis=0)

    def backward(self, grad_output: Array) -> Array:
        self.backward_params(grad_output)
        assert self._x is not None
        return np.zeros(self._x.shape, dtype=self.weight.dtype)

    def backward_params(self, grad_output: Array) -> None:
        x = self._x
        if x is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        self._check_grad(grad_output, (*x.shape, self.embedding_dim))
        index, g = x.reshape(-1), grad_output.reshape(-1, self.embedding_dim)
        if index.size * self.num_embeddings <= ONE_HOT_LIMIT:
            # The same scatter-add as a product: with X the (n, num) one-hot matrix of the
            # indices, y = X · W, so dL/dW = Xᵀ · dL/dy (the Linear layer's rule). Row k of Xᵀ
            # picks every position whose index is k, repeated ones included. For a small
            # table this one GEMM is several times faster than np.add.at. Column i of Xᵀ is
            # column x[i] of the identity matrix: one take builds Xᵀ from a kept identity
            # (tables of up to ONE_HOT_ROWS rows), else the ones are written into zeros.
            if self.num_embeddings <= ONE_HOT_ROWS:
                one_hot_t = _identity(self.num_embeddings, g.dtype).take(index, axis=1)  # Xᵀ
            else:
                one_hot_t = np.zeros((self.num_embeddings, index.size), dtype=g.dtype)
                one_hot_t[index, np.arange(index.size)] = 1
            fresh = self.weight.fresh_grad()  # right after zero_grad: straight into the buffer
            if fresh is not None:
                dot(one_hot_t, g, out=fresh)
            else:
                self.weight.accumulate(dot(one_hot_t, g))
        else:
            # .grad clears the buffer if zero_grad marked it; then every row is added in place.
            np.add.at(self.weight.grad, index, g)

    def __repr__(self) -> str:
        return f"Embedding({self.num_embeddings}, {self.embedding_dim}, dtype={self.weight.dtype})"


def _embedding_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    n, d = config.get("num_embeddings"), config.get("embedding_dim")
    if type(n) is not int or type(d) is not int:
        raise ValueError("Embedding lacks num_embeddings or embedding_dim")
    return {"weight": (n, d)}


def _embedding_torch_config(module: Any) -> dict[str, Any]:
    unsupported = [
        name
        for name, default in (("padding_idx", None), ("max_norm", None), ("sparse", False))
        if getattr(module, name) != default
    ]
    if unsupported or module.scale_grad_by_freq:
        raise ValueError(f"{', '.join(unsupported) or 'scale_grad_by_freq'} is not supported")
    return {"num_embeddings": module.num_embeddings, "embedding_dim": module.embedding_dim}


register(
    LayerType(
        Embedding,
        ("num_embeddings", "embedding_dim"),
        state_shapes=_embedding_shapes,
        torch_get=_embedding_torch_config,
    )
)
