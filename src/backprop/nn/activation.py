"""Activations. The elementwise ones: each backward pass is dL/dx = dL/dy ⊙ f′(x), f′ written
from the output where it can be (ReLU, Sigmoid, Tanh), else from the input (GELU, LeakyReLU).
Softmax and LogSoftmax mix a row: their backward passes are vector-Jacobian products."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..arrays import Array, constant
from ._checks import real_number, whole_number
from .module import KEEP_FROM, Module
from .registry import LayerType, register


def _floating(x: Array) -> Array:
    """x itself if it holds floats, else x in the float type NumPy's own exp or tanh would give
    it (float64 for int64, float32 for int16, float16 for int8 and bool), as Tanh gets from
    np.tanh: a formula written with x's own dtype would compute in integers."""
    return x if x.dtype.kind in "fc" else x.astype(np.result_type(x.dtype, np.float16))


class ReLU(Module):
    """y = max(x, 0)        x, y: any shape

    backward:  dL/dx = dL/dy ⊙ [y > 0]     (the subgradient at 0 is taken as 0, as in PyTorch,
                                            and at nan the gradient passes, as there)
    """

    def __init__(self) -> None:
        self._y: Array | None = None
        self._zeros: Array | None = None

    def forward(self, x: Array) -> Array:
        # np.maximum, as torch.relu: 0 (not −0.0) for a negative x and for −inf; nan stays nan
        self._y = None  # the last output, if no one else holds it, can be this one (_new)
        if x.nbytes < KEEP_FROM:
            self._y = y = np.maximum(x, self._zero_for(x))
        else:  # into an array of the layer's, see Module._new
            self._y = y = np.maximum(x, self._zero_for(x), out=self._new_like("y", x))
        return y

    def _zero_for(self, x: Array) -> Array | int:
        """What np.maximum compares x with: 0, or for a float32 x of 4096 entries or more a
        zero sample x[0] broadcast over the batch. NumPy's float32 maximum of an array and a
        scalar runs 2–4× slower than its loop over two arrays (measured on AVX2 CPUs; float64's
        loops do not differ so; below 4096 entries the lookup here costs more than it saves),
        and a zero array laid out as x[0] keeps both operands in x's memory order, at 1/N of
        its size. The values are the same, bit for bit."""
        if x.size < 4096 or x.dtype != np.float32 or x.ndim < 2:
            return 0
        zeros = self._zeros
        sample = x[0]
        if zeros is None or zeros.shape != sample.shape or zeros.strides != sample.strides:
            self._zeros = zeros = np.zeros_like(sample)
        return zeros

    def backward(self, grad_output: Array) -> Array:
        return grad_output * self._mask(grad_output)

    def backward_owned(self, grad_output: Array) -> Array:
        # Zeroing entries in place saves a gradient-sized array at every ReLU of a training step.
        return np.multiply(grad_output, self._mask(grad_output), out=grad_output)

    def _mask(self, grad_output: Array) -> Array:
        y = self._y
        if y is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        self._check_grad(grad_output, y.shape)
        # [y ≠ 0]: y = max(x, 0) is positive, 0 or nan, so this is [y > 0] but at nan, where the
        # gradient passes, as PyTorch's threshold_backward (not [y <= 0]) lets it
        return np.not_equal(y, 0)


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
        x = _floating(x)
        e = np.exp(-np.abs(x))
        y = 1.0 / (1.0 + e)
        self._y = y = np.where(x >= 0, y, e * y).astype(x.dtype, copy=False)
        return y

    def backward(self, grad_output: Array) -> Array:
        y = self._y
        if y is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        self._check_grad(grad_output, y.shape)
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
        self._check_grad(grad_output, y.shape)
        return grad_output * (constant(1, y.dtype) - y * y)


_SQRT_2_OVER_PI = math.sqrt(2.0 / math.pi)
_erfc = np.frompyfunc(math.erfc, 1, 1)


class GELU(Module):
    """y = x · Φ(x)        x, y: any shape
    Φ(x) = ½ erfc(−x/√2), the standard normal CDF; φ(x) = e^(−x²/2)/√(2π), its density.

    backward:  dL/dx = dL/dy ⊙ (Φ(x) + x φ(x))

    ``approximate="tanh"``:  y = ½ x (1 + tanh u),  u = √(2/π) (x + 0.044715 x³)
        backward:  dL/dx = dL/dy ⊙ (½ (1 + tanh u) + ½ x (1 − tanh² u) √(2/π) (1 + 3·0.044715 x²))

    As PyTorch's ``nn.GELU``. Φ is computed with erfc, which keeps its relative accuracy far
    into the negative tail where 1 + erf(x/√2) cancels; NumPy has no vectorised erf, so
    ``math.erfc`` runs per element (slow for large arrays, exact to the last bit or two).
    Cached: x, and Φ(x) or tanh u.
    """

    def __init__(self, approximate: str = "none") -> None:
        if approximate not in ("none", "tanh"):
            raise ValueError(f"GELU: approximate must be 'none' or 'tanh', got {approximate!r}")
        self.approximate = approximate
        self._cache: tuple[Array, Array] | None = None

    def forward(self, x: Array) -> Array:
        x = _floating(x)
        if self.approximate == "tanh":
            t = np.tanh(_SQRT_2_OVER_PI * (x + 0.044715 * x**3))
            self._cache = (x, t)
            return 0.5 * x * (1 + t)
        cdf = 0.5 * np.asarray(_erfc(-x / math.sqrt(2.0)), dtype=x.dtype)
        self._cache = (x, cdf)
        return x * cdf

    def backward(self, grad_output: Array) -> Array:
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        x, c = self._cache
        self._check_grad(grad_output, x.shape)
        if self.approximate == "tanh":
            du = _SQRT_2_OVER_PI * (1 + 3 * 0.044715 * x * x)
            return grad_output * (0.5 * (1 + c) + 0.5 * x * (1 - c * c) * du)
        pdf = np.exp(-0.5 * x * x) / math.sqrt(2 * math.pi)
        return grad_output * (c + x * pdf)

    def __repr__(self) -> str:
        return f"GELU(approximate={self.approximate!r})"


class LeakyReLU(Module):
    """y = x if x > 0, else a·x   (a = negative_slope)        x, y: any shape

    backward:  dL/dx = dL/dy ⊙ (1 if x > 0 else a)   (at x = 0 the slope a, as PyTorch)
    Cached: the mask x > 0.
    """

    def __init__(self, negative_slope: float = 0.01) -> None:
        self.negative_slope = real_number("LeakyReLU", "negative_slope", negative_slope)
        self._positive: Array | None = None

    def forward(self, x: Array) -> Array:
        self._positive = positive = x > 0
        return np.where(positive, x, x * self.negative_slope)

    def backward(self, grad_output: Array) -> Array:
        if self._positive is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        self._check_grad(grad_output, self._positive.shape)
        return np.where(self._positive, grad_output, grad_output * self.negative_slope)

    def __repr__(self) -> str:
        return f"LeakyReLU(negative_slope={self.negative_slope})"


class Softmax(Module):
    """yᵢ = e^(xᵢ − max x) / Σⱼ e^(xⱼ − max x)   along axis ``dim``        x, y: any shape

    Jacobian (along dim):  ∂yᵢ/∂xⱼ = yᵢ (δᵢⱼ − yⱼ),  i.e.  J = diag(y) − y yᵀ
    backward (its vector-Jacobian product, never building J):
        dL/dx = y ⊙ (dL/dy − Σⱼ dL/dyⱼ yⱼ)

    The max is subtracted because e^x overflows above x ≈ 709; the ratio is unchanged.
    PyTorch's default ``dim=None`` picks an axis by the input's rank (deprecated); here dim
    defaults to the last axis. Cached: y.
    """

    def __init__(self, dim: int = -1) -> None:
        self.dim = dim = whole_number(type(self).__name__, "dim", dim)
        self._axis: int | None = dim
        self._y: Array | None = None

    def forward(self, x: Array) -> Array:
        self._check_dim(x)
        if not x.size:  # nothing to normalise (and no maximum to subtract), as in PyTorch
            self._y = y = np.exp(x)
            return y
        e = np.exp(x - np.max(x, axis=self._axis, keepdims=True))
        self._y = y = e / np.sum(e, axis=self._axis, keepdims=True)
        return y

    def _check_dim(self, x: Array) -> None:
        """dim must name an axis of x (−1 and 0 for a 0-d x, as PyTorch takes them); the
        axis the sums run along, the whole of a 0-d x, is kept for the backward pass."""
        ndim = max(x.ndim, 1)
        if not -ndim <= self.dim < ndim:
            raise IndexError(
                f"{self!r}: dim {self.dim} is out of range for input of shape {x.shape} "
                f"(dims {-ndim} to {ndim - 1})"
            )
        self._axis = self.dim if x.ndim else None

    def _cached(self, grad_output: Array) -> Array:
        y = self._y
        if y is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        self._check_grad(grad_output, y.shape)
        return y

    def backward(self, grad_output: Array) -> Array:
        y = self._cached(grad_output)
        return y * (grad_output - np.sum(grad_output * y, axis=self._axis, keepdims=True))

    def __repr__(self) -> str:
        return f"{type(self).__name__}(dim={self.dim})"


class LogSoftmax(Softmax):
    """yᵢ = xᵢ − max x − log Σⱼ e^(xⱼ − max x)   along axis ``dim``        x, y: any shape

    Jacobian:  ∂yᵢ/∂xⱼ = δᵢⱼ − softmax(x)ⱼ
    backward:  dL/dx = dL/dy − softmax(x) ⊙ Σⱼ dL/dyⱼ

    Computed as a difference, never as log(softmax(x)), which is −inf once a softmax value
    underflows to 0. Cached: softmax(x) = e^y.
    """

    def forward(self, x: Array) -> Array:
        self._check_dim(x)
        if not x.size:
            self._y = np.exp(x)
            return np.array(x, copy=True)
        shifted = x - np.max(x, axis=self._axis, keepdims=True)
        y = shifted - np.log(np.sum(np.exp(shifted), axis=self._axis, keepdims=True))
        self._y = np.exp(y)  # softmax(x)
        return y

    def backward(self, grad_output: Array) -> Array:
        p = self._cached(grad_output)
        return grad_output - p * np.sum(grad_output, axis=self._axis, keepdims=True)


def _softmax_torch_config(module: Any) -> dict[str, Any]:
    if module.dim is None:
        raise ValueError("dim=None (an implicit axis) is not supported; give dim")
    return {"dim": module.dim}


for _cls in (ReLU, Sigmoid, Tanh):
    register(LayerType(_cls, elementwise=True))
register(LayerType(GELU, ("approximate",), elementwise=True))
register(LayerType(LeakyReLU, ("negative_slope",), elementwise=True))
register(LayerType(Softmax, ("dim",), elementwise=True, torch_get=_softmax_torch_config))
register(LayerType(LogSoftmax, ("dim",), elementwise=True, torch_get=_softmax_torch_config))
