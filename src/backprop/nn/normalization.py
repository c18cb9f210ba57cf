"""Normalisation: BatchNorm1d and BatchNorm2d (over the batch, per channel) and LayerNorm (over the features,
per sample). The backward passes are derived step by step in docs/layers.md."""

from __future__ import annotations

import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..arrays import Array, column_means, column_sums, constant
from ._checks import boolean, float_dtype, real_number, whole_number
from .module import Module, Parameter
from .registry import LayerType, register


class _BatchNorm(Module):
    """Batch normalisation over every axis but the channel axis 1 (the shared core).

    forward (training):  μ = mean over (N, *) of x      σ² = mean over (N, *) of (x − μ)²
                         x̂ = (x − μ) / √(σ² + ε)        y = γ ⊙ x̂ + β
    x, y: (N, C, *)   γ, β, μ, σ²: (C,)   m = N · (size of *), the values per channel

    backward (training, batch statistics; the one-line form of docs/layers.md):
        dL/dγ = Σ dL/dy ⊙ x̂      dL/dβ = Σ dL/dy      (sums over every axis but C)
        dL/dx = (γ / (m √(σ² + ε))) ⊙ (m · dL/dy − Σ dL/dy − x̂ ⊙ Σ (dL/dy ⊙ x̂))
    backward (evaluation, running statistics are constants):
        dL/dx = γ ⊙ dL/dy / √(running_var + ε)

    As PyTorch: the batch variance that normalises is the **biased** one (divided by m), but
    the running variance is updated with the **unbiased** one (m/(m − 1) times it):
        running_mean ← (1 − momentum) · running_mean + momentum · μ
        running_var  ← (1 − momentum) · running_var  + momentum · σ² · m/(m − 1)
    ``momentum=None`` takes the cumulative average (momentum = 1/num_batches_tracked).
    Evaluation uses running_mean and running_var, unless ``track_running_stats=False``: then
    there are none, and the batch statistics are used in both modes. Batch statistics of one
    value per channel (m = 1) are refused, as PyTorch refuses them (the variance would be 0/0).

    Cached by forward: x − μ, √(σ² + ε) and γ/√(σ² + ε) (the backward needs nothing else;
    x̂ = (x − μ)/√(σ² + ε)) and whether the batch statistics were used. γ starts at 1 and β at 0.
    Subclasses fix the input's number of axes: BatchNorm1d (N, C) or (N, C, L); a BatchNorm2d
    (N, C, H, W) needs only ``_check_input``.
    """

    running_mean: Array | None
    running_var: Array | None
    num_batches_tracked: Array | None

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        *,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        name = type(self).__name__
        num_features = whole_number(name, "num_features", num_features)
        eps = real_number(name, "eps", eps)
        momentum = None if momentum is None else real_number(name, "momentum", momentum)
        affine = boolean(name, "affine", affine)
        track_running_stats = boolean(name, "track_running_stats", track_running_stats)
        if num_features < 1:
            raise ValueError(f"{name}: num_features must be >= 1, got {num_features!r}")
        if not eps >= 0:
            raise ValueError(f"{name}: eps must be >= 0, got {eps!r}")
        if momentum is not None and not momentum >= 0:
            raise ValueError(f"{name}: momentum must be >= 0 or None, got {momentum!r}")
        self.num_features = num_features
        self.eps = eps
        self.momentum = momentum
        self.affine = affine
        self.track_running_stats = track_running_stats
        dtype = float_dtype(name, dtype)
        self.weight = Parameter(np.ones(num_features, dtype)) if affine else None
        self.bias = Parameter(np.zeros(num_features, dtype)) if affine else None
        tracked = track_running_stats
        self.register_buffer("running_mean", np.zeros(num_features, dtype) if tracked else None)
        self.register_buffer("running_var", np.ones(num_features, dtype) if tracked else None)
        self.register_buffer("num_batches_tracked", np.zeros((), np.int64) if tracked else None)
        self.dtype = dtype
        self._cache: tuple[Array, Array, Array, bool] | None = None
        # the running statistics' update factors, and the (momentum, m, dtype) they were for
        self._factors: tuple[Any, ...] = (None,)

    def _check_input(self, x: Array) -> None:
        raise NotImplementedError

    def forward(self, x: Array) -> Array:
        self._check_input(x)
        if x.shape[1] != self.num_features:
            raise ValueError(
                f"{self!r} expects {self.num_features} channels on axis 1, got input {x.shape}"
            )
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        m = x.size // self.num_features
        use_batch = self.training or self.running_mean is None
        if use_batch and m <= 1:
            if m == 0:
                return self._empty_batch(x)
            # as PyTorch: batch statistics of one value are refused in either mode (without
            # running statistics, evaluation uses the batch's too)
            raise ValueError(
                f"{self!r}: expected more than 1 value per channel when "
                f"{'training' if self.training else 'using batch statistics'}, "
                f"got input of shape {x.shape}"
            )
        if use_batch:
            mean = _channel_means(x)
            xc = x - _per_channel(mean, x.ndim)
            var = _channel_means_of_squares(xc)
            if self.training and self.running_mean is not None:
                self._update_running_stats(mean, var, m)
        else:
            assert self.running_mean is not None and self.running_var is not None
            mean, var = self.running_mean, self.running_var
            xc = x - _per_channel(mean, x.ndim)
        std = var + constant(self.eps, var.dtype)
        np.sqrt(std, out=std)
        # y = γ ⊙ x̂ + β = (x − μ) ⊙ (γ/√(σ² + ε)) + β: x̂ itself is never stored, a pass saved;
        # the backward pass needs only x − μ and the two per-channel factors
        scale = np.divide(1.0 if self.weight is None else self.weight.data, std)
        self._cache = (xc, std, scale, use_batch)
        y = xc * _per_channel(scale, x.ndim)
        if self.bias is not None:
            y += _per_channel(self.bias.data, x.ndim)
        return y

    def _empty_batch(self, x: Array) -> Array:
        """No values to take statistics from (N = 0, or a length of 0): as PyTorch, the output
        is as empty as x, training counts the batch in num_batches_tracked and leaves the
        running statistics alone, and the backward pass gives zero gradients for γ and β."""
        count = self.num_batches_tracked
        if self.training and count is not None:
            count.fill(count + 1)
        # backward's path for fixed statistics: dL/dx = dL/dy · γ/√(σ²+ε), empty like x; the
        # sums for dL/dγ and dL/dβ are over no values, 0
        one = np.ones(self.num_features, self.dtype)
        self._cache = (x, one, one, False)
        return np.empty(x.shape, self.dtype)

    def _update_running_stats(self, mean: Array, var: Array, m: int) -> None:
        running_mean, running_var = self.running_mean, self.running_var
        count = self.num_batches_tracked
        assert running_mean is not None and running_var is not None and count is not None
        tracked = int(count) + 1
        count.fill(tracked)  # a 0-d array: fill is one call where += is a ufunc's
        factor = 1.0 / tracked if self.momentum is None else self.momentum
        # In place: state_dict() hands out these very arrays. The factors as 0-d arrays of the
        # statistics' dtype (see arrays.constant), made again when they change.
        key = (factor, m, mean.dtype)
        if self._factors[0] != key:
            keep, take, take_unbiased = 1 - factor, factor, factor * m / (m - 1)
            self._factors = (key, *(np.array(f, mean.dtype) for f in (keep, take, take_unbiased)))
        _, keep, take, take_unbiased = self._factors
        running_mean *= keep
        running_mean += take * mean
        running_var *= keep
        running_var += take_unbiased * var

    def backward(self, grad_output: Array) -> Array:
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        xc, std, scale, use_batch = self._cache
        self._check_grad(grad_output, xc.shape)
        ndim = xc.ndim
        # Σ dL/dy and Σ dL/dy ⊙ x̂ (= 1/√(σ² + ε) ⊙ Σ dL/dy ⊙ (x − μ)) are dL/dβ and dL/dγ; the
        # same sums of dL/dx̂ = γ ⊙ dL/dy are γ times them, so each reduction runs once.
        # Right after zero_grad the sums go straight into the gradient buffers.
        weight, bias = self.weight, self.bias
        fresh_w = fresh_b = None
        if weight is not None and bias is not None:
            fresh_w, fresh_b = weight.fresh_grad(), bias.fresh_grad()
        sum_g = _channel_sums(grad_output, out=fresh_b)
        sum_gx = _channel_sums_of_products(grad_output, xc, out=fresh_w)
        sum_gx /= std
        if weight is not None and bias is not None:
            if fresh_w is None:
                weight.accumulate(sum_gx)
            if fresh_b is None:
                bias.accumulate(sum_g)
        # scale = γ/√(σ² + ε) (1/√(σ² + ε) without γ): dL/dx̂ = γ ⊙ dL/dy, and dL/dx has a
        # factor 1/√(σ² + ε)
        if not use_batch:
            return grad_output * _per_channel(scale, ndim)
        # dL/dx = (γ/√(σ²+ε)) ⊙ (dL/dy − Σ dL/dy / m − x̂ ⊙ Σ (dL/dy ⊙ x̂) / m): the one-line
        # form of the class docstring with the 1/m taken inside, γ/√(σ²+ε) folded into the
        # per-channel factors and x̂ = (x − μ)/√(σ²+ε), so that only four passes run over
        # arrays of x's size
        per_value = scale / constant(xc.size // self.num_features, scale.dtype)
        dx = xc * _per_channel(sum_gx * (per_value / std), ndim)
        np.subtract(grad_output * _per_channel(scale, ndim), dx, out=dx)
        dx -= _per_channel(sum_g * per_value, ndim)
        return dx

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.num_features}, eps={self.eps}, "
            f"momentum={self.momentum}, affine={self.affine}, "
            f"track_running_stats={self.track_running_stats})"
        )


def _per_channel(v: Array, ndim: int) -> Array:
    """A (C,) vector viewed to broadcast along axis 1 of an ndim-D array (N, C, *)."""
    return v if ndim == 2 else v.reshape((-1,) + (1,) * (ndim - 2))


def _channels_as_columns(a: Array) -> Array | None:
    """A (N, C, *) array as a matrix whose column c holds channel c's values, if it is one
    without a copy: (N, C) itself, or (N, C, H, W) laid out channels last as (N·H·W, C)."""
    if a.ndim == 2:
        return a
    if a.ndim == 4 and a.transpose(0, 2, 3, 1).flags.c_contiguous:
        return a.transpose(0, 2, 3, 1).reshape(-1, a.shape[1])
    return None


def _channel_sums(a: Array, out: Array | None = None) -> Array:
    """Σ of a (N, C, *) array over every axis but C: one product with a vector of ones when
    the values of each channel form a column of a matrix (``column_sums``); NumPy's reduction
    otherwise. Into ``out`` if given."""
    columns = _channels_as_columns(a)
    if columns is not None:
        return column_sums(columns, out=out)
    return np.add.reduce(a, axis=(0, *range(2, a.ndim)), out=out)


def _channel_means(a: Array) -> Array:
    """The mean of a (N, C, *) array over every axis but C, as ``_channel_sums`` (the
    division by the count taken into the product's vector)."""
    columns = _channels_as_columns(a)
    if columns is not None:
        return column_means(columns)
    sums = np.add.reduce(a, axis=(0, *range(2, a.ndim)))
    sums *= a.shape[1] / a.size
    return sums


def _channel_means_of_squares(a: Array) -> Array:
    """The mean of a ⊙ a over every axis but C (``_channel_sums_of_products``, then / m)."""
    sums = _channel_sums_of_products(a, a)
    sums *= constant(a.shape[1] / a.size, sums.dtype)
    return sums


def _channel_sums_of_products(a: Array, b: Array, out: Array | None = None) -> Array:
    """Σ a ⊙ b over every axis but C, into ``out`` if given. For a large (N, C) array, einsum's
    one pass with no temporary; otherwise the products, then ``_channel_sums`` (on a small
    array the product's pass costs less than einsum's call)."""
    if a.ndim == 2 and a.size > PRODUCTS_IN_ONE_PASS_FROM:
        return np.einsum("nc,nc->c", a, b, out=out)
    return _channel_sums(a * b, out=out)


# (N, C) sizes from which Σ a ⊙ b runs as einsum's single pass (measured on a Zen 3 CPU: 2.7 µs
# against 3.7 µs for 32 × 200, 27.5 against 24.9 µs for 256 × 512)
PRODUCTS_IN_ONE_PASS_FROM = 1 << 15


class BatchNorm1d(_BatchNorm):
    __doc__ = """Batch normalisation of (N, C) or (N, C, L) input, per channel C (PyTorch's
    ``nn.BatchNorm1d``). Everything else is the shared core:

    """ + (_BatchNorm.__doc__ or "")

    def _check_input(self, x: Array) -> None:
        if x.ndim not in (2, 3):
            raise ValueError(f"{self!r} expects 2-D or 3-D input (N, C[, L]), got {x.shape}")


class BatchNorm2d(_BatchNorm):
    __doc__ = """Batch normalisation of (N, C, H, W) input, per channel C, over the batch and
    every pixel: m = N·H·W values per channel (PyTorch's ``nn.BatchNorm2d``). Everything else
    is the shared core:

    """ + (_BatchNorm.__doc__ or "")

    def _check_input(self, x: Array) -> None:
        if x.ndim != 4:
            raise ValueError(f"{self!r} expects 4-D input (N, C, H, W), got {x.shape}")


class LayerNorm(Module):
    """Layer normalisation over the last D = len(normalized_shape) axes, per sample:

        μ = mean of x over those axes     σ² = mean of (x − μ)² over them   (biased, as PyTorch)
        x̂ = (x − μ) / √(σ² + ε)          y = γ ⊙ x̂ + β
    x, y: (…, *normalized_shape)   γ, β: normalized_shape   μ, σ²: (…) one per sample
    n = the number of values normalised together (the product of normalized_shape)

    backward:  dL/dγ = Σ over (…) of dL/dy ⊙ x̂     dL/dβ = Σ over (…) of dL/dy
               ĝ = γ ⊙ dL/dy
               dL/dx = (1 / (n √(σ² + ε))) ⊙ (n ĝ − Σ ĝ − x̂ ⊙ Σ (ĝ ⊙ x̂))   (sums over the D axes)

    The same formula as BatchNorm's, with the roles of the axes swapped: BatchNorm averages
    each feature over the batch, LayerNorm each sample over its features. So LayerNorm has no
    running statistics, the same computation in training and evaluation, and works with N = 1.
    Cached: x̂ and 1/√(σ² + ε). γ starts at 1 and β at 0. ``bias=False`` leaves β out (PyTorch
    ≥ 2.1).
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        *,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        given: Any = normalized_shape
        if isinstance(given, numbers.Integral) and not isinstance(given, bool):
            given = (given,)
        if not isinstance(given, Sequence) or isinstance(given, str):
            raise TypeError(
                f"LayerNorm: normalized_shape must be an int or a sequence of ints, "
                f"got {normalized_shape!r}"
            )
        shape = tuple(whole_number("LayerNorm", "normalized_shape", n) for n in given)
        eps = real_number("LayerNorm", "eps", eps)
        elementwise_affine = boolean("LayerNorm", "elementwise_affine", elementwise_affine)
        bias = boolean("LayerNorm", "bias", bias)
        if not shape or min(shape) < 1:
            raise ValueError(
                f"LayerNorm: normalized_shape must be an int or ints >= 1, got {normalized_shape!r}"
            )
        if not eps >= 0:
            raise ValueError(f"LayerNorm: eps must be >= 0, got {eps!r}")
        self.normalized_shape = shape
        self.eps = eps
        self.elementwise_affine = elementwise_affine
        dtype = float_dtype("LayerNorm", dtype)
        self.dtype = dtype
        self.weight = (
            Parameter(np.ones(self.normalized_shape, dtype)) if elementwise_affine else None
        )
        self.bias = (
            Parameter(np.zeros(self.normalized_shape, dtype))
            if elementwise_affine and bias
            else None
        )
        self._cache: tuple[Array, Array] | None = None

    def forward(self, x: Array) -> Array:
        d = len(self.normalized_shape)
        if x.shape[x.ndim - d :] != self.normalized_shape or x.ndim < d:
            raise ValueError(
                f"{self!r} expects input of shape (…, {', '.join(map(str, self.normalized_shape))}),"
                f" got {x.shape}"
            )
        if x.dtype != self.dtype:
            x = x.astype(self.dtype)
        axes = tuple(range(x.ndim - d, x.ndim))
        xc = x - x.mean(axis=axes, keepdims=True)
        var = np.mean(xc * xc, axis=axes, keepdims=True)
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = xc * inv_std
        self._cache = (x_hat, inv_std)
        y = x_hat
        if self.weight is not None:
            y = y * self.weight.data
        if self.bias is not None:
            y = y + self.bias.data
        return y

    def backward(self, grad_output: Array) -> Array:
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        x_hat, inv_std = self._cache
        self._check_grad(grad_output, x_hat.shape)
        d = len(self.normalized_shape)
        lead = tuple(range(x_hat.ndim - d))
        axes = tuple(range(x_hat.ndim - d, x_hat.ndim))
        g = grad_output
        if self.weight is not None:
            self.weight.accumulate(np.sum(grad_output * x_hat, axis=lead))
            g = grad_output * self.weight.data
        if self.bias is not None:
            self.bias.accumulate(np.sum(grad_output, axis=lead))
        n = int(np.prod(self.normalized_shape))
        sum_g = np.sum(g, axis=axes, keepdims=True)
        sum_gx = np.sum(g * x_hat, axis=axes, keepdims=True)
        return (inv_std / n) * (n * g - sum_g - x_hat * sum_gx)

    def __repr__(self) -> str:
        return (
            f"LayerNorm({self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None})"
        )


def _batchnorm_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    c = config.get("num_features")
    affine, tracked = config.get("affine", True), config.get("track_running_stats", True)
    if type(c) is not int or not isinstance(affine, bool) or not isinstance(tracked, bool):
        raise ValueError("BatchNorm lacks num_features, affine or track_running_stats")
    shapes: dict[str, tuple[int, ...]] = {"weight": (c,), "bias": (c,)} if affine else {}
    if tracked:
        shapes |= {"running_mean": (c,), "running_var": (c,), "num_batches_tracked": ()}
    return shapes


def _layernorm_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    shape = config.get("normalized_shape")
    shape = (shape,) if isinstance(shape, int) else shape
    affine, bias = config.get("elementwise_affine", True), config.get("bias", True)
    if not (isinstance(shape, list | tuple) and all(type(n) is int for n in shape)):
        raise ValueError("LayerNorm lacks normalized_shape")
    shape = tuple(shape)
    if not affine:
        return {}
    return {"weight": shape, "bias": shape} if bias else {"weight": shape}


def _layernorm_config(layer: Any) -> dict[str, Any]:
    return {
        "normalized_shape": tuple(layer.normalized_shape),
        "eps": layer.eps,
        "elementwise_affine": layer.elementwise_affine,
        "bias": layer.bias is not None,
    }


def batchnorm_torch_config(module: Any) -> dict[str, Any]:
    """The arguments of a torch BatchNorm*d; PyTorch ≥ 2.12's ``bias=False`` (γ without β)
    has no counterpart here and is refused by name."""
    if module.affine and module.bias is None:
        raise ValueError("bias=False (a weight without a bias) is not supported")
    return {a: getattr(module, a) for a in BATCHNORM_ARGS}


BATCHNORM_ARGS = ("num_features", "eps", "momentum", "affine", "track_running_stats")
for batchnorm in (BatchNorm1d, BatchNorm2d):
    register(
        LayerType(
            batchnorm,
            BATCHNORM_ARGS,
            state_shapes=_batchnorm_shapes,
            torch_get=batchnorm_torch_config,
        )
    )
register(
    LayerType(
        LayerNorm,
        ("normalized_shape", "eps", "elementwise_affine", "bias"),
        state_shapes=_layernorm_shapes,
        get=_layernorm_config,
        torch_get=_layernorm_config,
    )
)
