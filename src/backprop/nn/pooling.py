"""Pooling: MaxPool2d, AvgPool2d, AdaptiveAvgPool2d; no parameters, only the routing of gradients.

Symbols as in docs/conv.md: x (N, C, H, W), y (N, C, H′, W′), window k, stride s, padding p,
dilation d. Each backward pass adds into the strided slice of the padded input read by each of
the kH·kW window offsets (i, j), the same fold as Conv2d's dL/dx.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import Array
from ._checks import boolean, whole_number
from .conv import (
    IntOrPair,
    empty_as,
    fold_slices,
    only_channels_last,
    out_size,
    pair,
    same_layout,
    windows,
)
from .module import Module
from .registry import LayerType, register


class _Pool2d(Module):
    """Arguments and shapes shared by the two windowed pools."""

    def __init__(
        self,
        kernel_size: IntOrPair,
        stride: IntOrPair | None,
        padding: IntOrPair,
        dilation: IntOrPair = 1,
    ) -> None:
        name = type(self).__name__
        self.kernel_size = pair(kernel_size, "kernel_size", name, 1)
        # PyTorch: stride defaults to the kernel size (windows side by side)
        self.stride = self.kernel_size if stride is None else pair(stride, "stride", name, 1)
        self.padding = pair(padding, "padding", name, 0)
        self.dilation = pair(dilation, "dilation", name, 1)
        for p, k, d in zip(self.padding, self.kernel_size, self.dilation, strict=True):
            if 2 * p > d * (k - 1) + 1:
                raise ValueError(
                    f"{name}: padding {self.padding} must be at most half the (dilated) "
                    f"kernel size {self.kernel_size}, as in PyTorch"
                )

    def _shapes(self, x: Array) -> tuple[int, int]:
        if x.ndim != 4:
            raise ValueError(f"{self!r} expects input of shape (N, C, H, W), got {x.shape}")
        (kH, kW), (sH, sW), (pH, pW), (dH, dW) = (
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
        )
        Ho = out_size(x.shape[2], kH, sH, 2 * pH, dH)
        Wo = out_size(x.shape[3], kW, sW, 2 * pW, dW)
        if Ho < 1 or Wo < 1:
            raise ValueError(
                f"{self!r}: input {x.shape[2]}×{x.shape[3]} is smaller than the window"
            )
        return Ho, Wo

    def _pad(self, x: Array, value: float) -> Array:
        """x with ``value`` around it, in x's memory layout."""
        pH, pW = self.padding
        if not (pH or pW):
            return x
        N, C, H, W = x.shape
        x_pad = empty_as(x, (N, C, H + 2 * pH, W + 2 * pW))
        x_pad.fill(value)
        x_pad[:, :, pH : pH + H, pW : pW + W] = x
        return x_pad

    def _crop(self, d_pad: Array, H: int, W: int) -> Array:
        pH, pW = self.padding
        return d_pad[:, :, pH : pH + H, pW : pW + W]

    def _describe(self) -> str:
        return f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}"


class MaxPool2d(_Pool2d):
    """y[n,c,h′,w′] = max_{i,j} x_pad[n, c, s·h′ + d·i, s·w′ + d·j]       (x_pad padded with −∞)

    x: (N, C, H, W)  y: (N, C, H′, W′)   H′ = ⌊(H + 2p − d·(k − 1) − 1) / s⌋ + 1

    backward (routing): each dL/dy[n,c,h′,w′] goes, whole, to the one input that was the
    window's maximum; every other input of the window gets 0 from it, and an input that is the
    maximum of several overlapping windows gets the sum.
        dL/dx_pad[n, c, s·h′ + d·i*, s·w′ + d·j*] += dL/dy[n,c,h′,w′],   (i*, j*) = argmax

    Among tied maxima the first in row-major order of the window wins, as in PyTorch. Padding
    is −∞, so it is never chosen, but in one case: a window whose input entries are all −∞ ties
    with its padding, and where the padding comes first its dL/dy is dropped (PyTorch, which
    never looks at the padding, routes it to the first input entry). stride defaults to
    kernel_size.

    Computed offset by offset, as Conv2d's fold: the kH·kW strided slices x_pad[…, s·h′ + d·i,
    s·w′ + d·j], one per window offset (i, j), each an (N, C, H′, W′) view. Every step is a
    whole-array operation, in the input's memory layout (channels last after a Conv2d).

    When the windows tile the input (stride = kernel_size, no dilation: MaxPool2d(2)), the
    forward pass takes the maximum of each window row, mᵢ = maxⱼ x_pad[…, i, j], then y = maxᵢ mᵢ,
    and the backward pass routes dL/dy in the same two stages (``route_first_max``): to the
    row holding the first maximum among the mᵢ, then within that row to the first maximum
    among its entries. The first maximum of the first row that holds the window's maximum is
    the window's first maximum in row-major order, so this is PyTorch's choice among ties.
    Caches the padded input, y and the mᵢ. Otherwise (overlapping windows), the backward pass
    finds, slice by slice, where each equals the maximum, keeps the first offset of each
    window among ties (``keep_first``) and routes dL/dy there. A window holding a NaN has no
    maximum to route to (both ways): its gradient is dropped.
    """

    def __init__(
        self,
        kernel_size: IntOrPair,
        stride: IntOrPair | None = None,
        padding: IntOrPair = 0,
        dilation: IntOrPair = 1,
    ) -> None:
        super().__init__(kernel_size, stride, padding, dilation)
        # (input shape, padded input, y, the window rows' maxima mᵢ when the windows tile)
        self._cache: tuple[tuple[int, ...], Array, Array, Array | None] | None = None

    def _slices(self, out_hw: tuple[int, int]) -> tuple[tuple[int, int, tuple[slice, slice]], ...]:
        return fold_slices(self.kernel_size, self.stride, self.dilation, out_hw)

    def _tiled(self) -> bool:
        return self.stride == self.kernel_size and self.dilation == (1, 1)

    def _windows6(self, a: Array, out_hw: tuple[int, int]) -> Array:
        """For tiling windows: the first H′·kH rows and W′·kW columns of the padded array a,
        viewed as (N, C, H′, kH, W′, kW), each window whole (a view: writing it writes a)."""
        (Ho, Wo), (kH, kW) = out_hw, self.kernel_size
        N, C = a.shape[:2]
        view = a[:, :, : Ho * kH, : Wo * kW].reshape(N, C, Ho, kH, Wo, kW)
        assert view.base is not None
        return view

    def forward(self, x: Array) -> Array:
        Ho, Wo = self._shapes(x)  # checks the input
        self._cache = None  # the last call's arrays can be this one's (Module._new)
        x_pad = self._pad(x, -np.inf)
        shape = (*x.shape[:2], Ho, Wo)
        if self._tiled():
            (N, C), (kH, kW) = x.shape[:2], self.kernel_size
            x6 = self._windows6(x_pad, (Ho, Wo))  # (N, C, H′, kH, W′, kW)
            cl = only_channels_last(x)
            # mᵢ of every window row i at once, (N, C, H′, kH, W′), in x's memory layout
            m = self._new("m", (N, C, Ho * kH, Wo), x.dtype, channels_last=cl)
            m = running_max([x6[..., j] for j in range(kW)], m.reshape(N, C, Ho, kH, Wo))
            y = self._new("y", shape, x.dtype, channels_last=cl)
            y = running_max([m[:, :, :, i] for i in range(kH)], y)
            self._cache = (x.shape, x_pad, y, m)
            return y
        offsets = [x_pad[:, :, rows, columns] for _, _, (rows, columns) in self._slices((Ho, Wo))]
        y = running_max(offsets, empty_as(x, shape))
        self._cache = (x.shape, x_pad, y, None)
        return y

    def backward(self, grad_output: Array) -> Array:
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        x_shape, x_pad, y, m = self._cache
        self._check_grad(grad_output, y.shape)
        grad_output = same_layout(grad_output, y)
        # a NaN in y (a window holding one) has no first maximum to route to: the general
        # path below, whose comparisons with y drop it
        # (summed in memory order: y is dense, in channels last after a Conv2d)
        if m is not None and not np.isnan(np.add.reduce(y.ravel(order="K"))):
            d_pad = self._backward_tiled(grad_output, x_pad, m)
            return self._crop(d_pad, *x_shape[2:])
        d_pad = np.zeros_like(x_pad, dtype=grad_output.dtype)
        slices = self._slices(y.shape[2:])
        hits = [x_pad[:, :, rows, columns] == y for _, _, (rows, columns) in slices]
        keep_first(hits)
        for hit, (_, _, (rows, columns)) in zip(hits, slices, strict=True):
            d_pad[:, :, rows, columns] += grad_output * hit
        return self._crop(d_pad, *x_shape[2:])

    def _backward_tiled(self, grad_output: Array, x_pad: Array, m: Array) -> Array:
        """dL/dx_pad when the windows tile the input: dL/dy routed to the window row with the
        first maximum among the rows' maxima mᵢ (every row's share at once, (N, C, H′, kH, W′)),
        then within each row to its first maximum, every share written straight into its
        strided slice of dL/dx_pad (each entry of a window gets its share, 0 or all of dL/dy)."""
        (N, C, Ho, kH, Wo), kW = m.shape, self.kernel_size[1]
        x6 = self._windows6(x_pad, (Ho, Wo))
        whole = x_pad.shape[2:] == (Ho * kH, Wo * kW)
        cl = only_channels_last(x_pad)
        # rows or columns that no window reads (a remainder below or right) get 0
        d_pad = self._new("dx", x_pad.shape, grad_output.dtype, channels_last=cl, zeros=not whole)
        d6 = self._windows6(d_pad, (Ho, Wo))
        rows = self._new("rows", (N, C, Ho * kH, Wo), grad_output.dtype, channels_last=cl)
        rows = rows.reshape(N, C, Ho, kH, Wo)
        route_first_max(
            grad_output, [m[:, :, :, i] for i in range(kH)], [rows[:, :, :, i] for i in range(kH)]
        )
        route_first_max(rows, [x6[..., j] for j in range(kW)], [d6[..., j] for j in range(kW)])
        return d_pad

    def __repr__(self) -> str:
        extra = f", dilation={self.dilation}" if self.dilation != (1, 1) else ""
        return f"MaxPool2d({self._describe()}{extra})"


def running_max(values: list[Array], out: Array) -> Array:
    """The elementwise maximum of values (arrays of one shape), written into out."""
    if len(values) == 1:
        out[...] = values[0]
        return out
    np.maximum(values[0], values[1], out=out)
    for v in values[2:]:
        np.maximum(out, v, out=out)
    return out


def route_first_max(g: Array, values: list[Array], out: list[Array]) -> None:
    """Each values[k]'s share of g (arrays of one shape, no NaN): g where values[k] is the
    first maximum of values[0], values[1], … (PyTorch's choice among ties), 0 elsewhere.

    values[k] is the first maximum where it is the last value above every earlier one
    (a later value equal to the maximum is not above it). Walking back from the last value,
    each takes g where it is such a value, from what the later ones left: shares_k = rest ⊙
    [vₖ > max(v₀ … vₖ₋₁)], rest −= shares_k; values[0] takes what is left. Written into
    ``out``, one array (a view is welcome) per value."""
    K = len(values)
    if K == 1:
        np.copyto(out[0], g)
        return
    above = []
    best = values[0]
    for k in range(1, K):
        above.append(values[k] > best)
        if k < K - 1:
            best = np.maximum(best, values[k])
    rest = g  # from the last value back
    for k in range(K - 1, 0, -1):
        np.multiply(rest, above[k - 1], out=out[k])
        rest = np.subtract(rest, out[k], out=out[0] if k == 1 else None)


def keep_first(hits: list[Array]) -> None:
    """hits[k]: where the window's offset k (row-major) holds its maximum. Keeps, in place,
    only the first such offset of each window: PyTorch's choice among tied maxima."""
    seen = hits[0].copy(order="K")  # in the hits' memory layout
    for hit in hits[1:]:
        hit &= ~seen  # an offset counts only where no earlier one did
        seen |= hit


class AvgPool2d(_Pool2d):
    """y[n,c,h′,w′] = (1/D) Σ_{i,j} x_pad[n, c, s·h′ + i, s·w′ + j]       (x_pad padded with 0)

    x: (N, C, H, W)  y: (N, C, H′, W′)   H′ = ⌊(H + 2p − k) / s⌋ + 1
    D = kH·kW (count_include_pad=True, PyTorch's default: padded zeros count), or the number of
    inputs of the window inside the image (count_include_pad=False), or divisor_override.

    backward:  dL/dx_pad[n, c, s·h′ + i, s·w′ + j] += dL/dy[n,c,h′,w′] / D  for every (i, j).
    Caches the shapes and D.
    """

    def __init__(
        self,
        kernel_size: IntOrPair,
        stride: IntOrPair | None = None,
        padding: IntOrPair = 0,
        count_include_pad: bool = True,
        divisor_override: int | None = None,
    ) -> None:
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = boolean("AvgPool2d", "count_include_pad", count_include_pad)
        if divisor_override is not None:
            divisor_override = whole_number("AvgPool2d", "divisor_override", divisor_override)
            if divisor_override < 1:
                raise ValueError(
                    f"AvgPool2d: divisor_override must be >= 1, got {divisor_override}"
                )
        self.divisor_override = divisor_override
        # (input shape, padded shape, D (a number, or (H′, W′) counts))
        self._cache: tuple[tuple[int, ...], tuple[int, ...], Array] | None = None

    def _divisor(self, x: Array, out_hw: tuple[int, int]) -> Array:
        kH, kW = self.kernel_size
        if self.divisor_override is not None:
            return np.asarray(self.divisor_override, dtype=x.dtype)
        if self.count_include_pad or self.padding == (0, 0):
            return np.asarray(kH * kW, dtype=x.dtype)
        inside = self._pad(np.ones((1, 1, *x.shape[2:]), dtype=x.dtype), 0.0)
        view = windows(inside, self.kernel_size, self.stride, self.dilation)
        return view.sum(axis=(-2, -1))[0, 0]

    def forward(self, x: Array) -> Array:
        Ho, Wo = self._shapes(x)
        x_pad = self._pad(x, 0.0)
        view = windows(x_pad, self.kernel_size, self.stride, self.dilation)
        divisor = self._divisor(x, (Ho, Wo))
        self._cache = (x.shape, x_pad.shape, divisor)
        return view.sum(axis=(-2, -1)) / divisor

    def backward(self, grad_output: Array) -> Array:
        if self._cache is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        x_shape, pad_shape, divisor = self._cache
        Ho, Wo = self._shapes(np.empty((0, 0, *x_shape[2:])))
        self._check_grad(grad_output, (*x_shape[:2], Ho, Wo))
        share = grad_output / divisor
        d_pad = np.zeros(pad_shape, dtype=share.dtype)
        for _, _, (rows, columns) in fold_slices(
            self.kernel_size, self.stride, self.dilation, (Ho, Wo)
        ):
            d_pad[..., rows, columns] += share
        return self._crop(d_pad, *x_shape[2:])

    def __repr__(self) -> str:
        extra = "" if self.count_include_pad else ", count_include_pad=False"
        if self.divisor_override is not None:
            extra += f", divisor_override={self.divisor_override}"
        return f"AvgPool2d({self._describe()}{extra})"


def _adaptive_bounds(size: int, out: int) -> list[tuple[int, int]]:
    """PyTorch's bins: [⌊o·size/out⌋, ⌈(o + 1)·size/out⌉) for o < out (they may overlap)."""
    return [((o * size) // out, -((-(o + 1) * size) // out)) for o in range(out)]


class AdaptiveAvgPool2d(Module):
    """y[n,c,h′,w′] = mean of x[n, c, a_h′ : b_h′, a_w′ : b_w′]     a_o = ⌊o·H/H′⌋, b_o = ⌈(o+1)·H/H′⌉

    x: (N, C, H, W)  y: (N, C, H′, W′) with (H′, W′) = output_size (an int or a pair; None in a
    pair keeps that input size). AdaptiveAvgPool2d(1) is the global average pool.

    backward:  dL/dx[n, c, a_h′ : b_h′, a_w′ : b_w′] += dL/dy[n,c,h′,w′] / ((b_h′ − a_h′)(b_w′ − a_w′))
    One term per output position (H′·W′ of them, few for the usual output sizes). Caches the
    input shape.
    """

    def __init__(self, output_size: int | tuple[int | None, int | None]) -> None:
        if isinstance(output_size, int | np.integer) and not isinstance(output_size, bool):
            sizes: tuple[int | None, int | None] = (int(output_size), int(output_size))
        elif isinstance(output_size, tuple | list) and len(output_size) == 2:
            sizes = (output_size[0], output_size[1])
        else:
            raise TypeError(
                f"AdaptiveAvgPool2d: output_size must be an int or a pair, got {output_size!r}"
            )
        for s in sizes:
            if s is not None and (not isinstance(s, int | np.integer) or s < 1):
                raise ValueError(
                    f"AdaptiveAvgPool2d: output_size must hold ints >= 1 (or None), got {output_size!r}"
                )
        # plain ints, as a checkpoint's JSON holds them
        self.output_size = (
            None if sizes[0] is None else int(sizes[0]),
            None if sizes[1] is None else int(sizes[1]),
        )
        self._x_shape: tuple[int, ...] | None = None

    def _bins(self, H: int, W: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        Ho = H if self.output_size[0] is None else self.output_size[0]
        Wo = W if self.output_size[1] is None else self.output_size[1]
        return _adaptive_bounds(H, int(Ho)), _adaptive_bounds(W, int(Wo))

    def forward(self, x: Array) -> Array:
        if x.ndim != 4:
            raise ValueError(f"{self!r} expects input of shape (N, C, H, W), got {x.shape}")
        rows, columns = self._bins(*x.shape[2:])
        self._x_shape = x.shape
        if len(rows) == 1 and len(columns) == 1:
            return x.mean(axis=(2, 3), keepdims=True)
        y = np.empty((*x.shape[:2], len(rows), len(columns)), dtype=x.dtype)
        for h, (a, b) in enumerate(rows):
            for w, (c, d) in enumerate(columns):
                y[:, :, h, w] = x[:, :, a:b, c:d].mean(axis=(2, 3))
        return y

    def backward(self, grad_output: Array) -> Array:
        if self._x_shape is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        rows, columns = self._bins(*self._x_shape[2:])
        expected = (*self._x_shape[:2], len(rows), len(columns))
        self._check_grad(grad_output, expected)
        dx = np.zeros(self._x_shape, dtype=grad_output.dtype)
        for h, (a, b) in enumerate(rows):
            for w, (c, d) in enumerate(columns):
                area = (b - a) * (d - c)
                dx[:, :, a:b, c:d] += grad_output[:, :, h : h + 1, w : w + 1] / area
        return dx

    def __repr__(self) -> str:
        size = self.output_size
        return f"AdaptiveAvgPool2d(output_size={size[0] if size[0] == size[1] else size})"


def _pair_list(value: Any) -> Any:
    return [value, value] if isinstance(value, int) else list(value)


def _max_config(layer: Any) -> dict[str, Any]:
    if getattr(layer, "ceil_mode", False) or getattr(layer, "return_indices", False):
        raise ValueError("MaxPool2d: ceil_mode and return_indices are not supported")
    stride = layer.stride if layer.stride is not None else layer.kernel_size
    return {
        "kernel_size": _pair_list(layer.kernel_size),
        "stride": _pair_list(stride),
        "padding": _pair_list(layer.padding),
        "dilation": _pair_list(layer.dilation),
    }


def _avg_config(layer: Any) -> dict[str, Any]:
    if getattr(layer, "ceil_mode", False):
        raise ValueError("AvgPool2d: ceil_mode is not supported")
    stride = layer.stride if layer.stride is not None else layer.kernel_size
    return {
        "kernel_size": _pair_list(layer.kernel_size),
        "stride": _pair_list(stride),
        "padding": _pair_list(layer.padding),
        "count_include_pad": bool(layer.count_include_pad),
        "divisor_override": layer.divisor_override,
    }


def _adaptive_config(layer: Any) -> dict[str, Any]:
    size = layer.output_size
    return {"output_size": size if isinstance(size, int) else list(size)}


register(
    LayerType(
        MaxPool2d,
        ("kernel_size", "stride", "padding", "dilation"),
        get=_max_config,
        torch_get=_max_config,
    )
)
register(
    LayerType(
        AvgPool2d,
        ("kernel_size", "stride", "padding", "count_include_pad", "divisor_override"),
        get=_avg_config,
        torch_get=_avg_config,
    )
)
register(
    LayerType(AdaptiveAvgPool2d, ("output_size",), get=_adaptive_config, torch_get=_adaptive_config)
)
