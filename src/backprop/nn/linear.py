"""Linear and Identity: the affine map of the post, and the layer that does nothing."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

from ..arrays import Array, column_sums, dot
from ._checks import boolean, float_dtype, whole_number
from .module import Module, Parameter
from .registry import LayerType, register


class Linear(Module):
    """y = x @ W + b        x: (N, in)  W: (in, out)  b: (out,)  y: (N, out)

    backward:  dL/dW = xᵀ · dL/dy    dL/db = Σₙ dL/dy    dL/dx = dL/dy · Wᵀ

    Any leading dimensions are allowed, as in PyTorch: x (…, in) gives y (…, out), and the
    backward pass treats every leading index as one more row n (x and dL/dy are viewed as
    (N, in) and (N, out) with N the product of the leading sizes), so a Linear can follow an
    Embedding's (N, T, d) output. Cached: x, the input, which dL/dW needs.

    ``weight`` is stored as (in_features, out_features), the post's layout, so y = x @ W needs
    no transpose. **PyTorch's ``nn.Linear.weight`` is the transpose**, (out_features,
    in_features); ``backprop.interop`` converts. Initialised as PyTorch does: W and b uniform
    in ±1/√in_features, drawn from ``rng`` (a ``np.random.Generator``; a fresh unseeded one if
    None).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        in_features = whole_number("Linear", "in_features", in_features)
        out_features = whole_number("Linear", "out_features", out_features)
        dtype = float_dtype("Linear", dtype)
        bias = boolean("Linear", "bias", bias)
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"Linear needs in_features >= 1 and out_features >= 1, "
                f"got ({in_features}, {out_features})"
            )
        rng = np.random.default_rng() if rng is None else rng
        self.in_features = in_features
        self.out_features = out_features
        bound = 1.0 / np.sqrt(in_features)
        self.weight = Parameter(
            rng.uniform(-bound, bound, (in_features, out_features)).astype(dtype)
        )
        self.bias = (
            Parameter(rng.uniform(-bound, bound, out_features).astype(dtype)) if bias else None
        )
        self._x: Array | None = None

    def forward(self, x: Array) -> Array:
        if x.ndim < 1 or x.shape[-1] != self.in_features:
            raise ValueError(
                f"{self!r} expects input of shape (…, {self.in_features}), got {x.shape}"
            )
        if x.dtype != self.weight.data.dtype:
            # Compute in the layer's dtype, as a float32 network must stay float32 throughout.
            x = x.astype(self.weight.data.dtype)
        self._x = x
        y = dot(x, self.weight.data)
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, grad_output: Array) -> Array:
        self.backward_params(grad_output)
        return dot(grad_output, self.weight.data.T)

    def backward_params(self, grad_output: Array) -> None:
        x = self._x
        if x is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        self._check_grad(grad_output, (*x.shape[:-1], self.out_features))
        if x.ndim != 2:
            # (…, in) as (N, in): a view, so the 2-D case below serves every shape.
            x = x.reshape(-1, self.in_features)
            grad_output = grad_output.reshape(-1, self.out_features)
        # Right after zero_grad, dL/dW and dL/db go straight into the gradient buffers (no
        # temporary); otherwise they are added to what is there.
        W, b = self.weight, self.bias
        fresh = W.fresh_grad()
        if fresh is not None:
            dot(x.T, grad_output, out=fresh)
        else:
            W.accumulate(dot(x.T, grad_output))
        if b is not None:
            fresh = b.fresh_grad()
            if fresh is not None:
                column_sums(grad_output, out=fresh)
            else:
                b.accumulate(column_sums(grad_output))

    def __repr__(self) -> str:
        return (
            f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, dtype={self.weight.dtype})"
        )


class Identity(Module):
    """y = x        backward:  dL/dx = dL/dy"""

    def __init__(self) -> None:
        self._shape: tuple[int, ...] | None = None

    def forward(self, x: Array) -> Array:
        self._shape = x.shape
        return x

    def backward(self, grad_output: Array) -> Array:
        if self._shape is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        self._check_grad(grad_output, self._shape)
        return grad_output


def _linear_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    n_in, n_out, bias = config.get("in_features"), config.get("out_features"), config.get("bias")
    if not (type(n_in) is int and type(n_out) is int and isinstance(bias, bool)):
        raise ValueError("Linear lacks in_features, out_features or bias")
    return {"weight": (n_in, n_out), "bias": (n_out,)} if bias else {"weight": (n_in, n_out)}


def _linear_config(layer: Any) -> dict[str, Any]:
    return {
        "in_features": layer.in_features,
        "out_features": layer.out_features,
        "bias": layer.bias is not None,
    }


register(
    LayerType(
        Linear,
        ("in_features", "out_features", "bias"),
        transposed=("weight",),  # PyTorch's weight is (out, in)
        state_shapes=_linear_shapes,
        get=_linear_config,
        torch_get=_linear_config,
    )
)
register(LayerType(Identity, elementwise=True))
