"""Conv2d: the 2-D convolution (a cross-correlation, as in PyTorch) as one im2col view and a GEMM.

Symbols, as in docs/conv.md: the input x is (N, C, H, W), the weight W is (O, C/G, kH, kW), the
output y is (N, O, H′, W′); G groups, stride s, padding p, dilation d. The patch matrix X̂
(im2col) has one row per output position (n, h′, w′) and one column per kernel entry (c, i, j):
X̂[(n,h′,w′), (c,i,j)] = x_pad[n, c, s·h′ + d·i, s·w′ + d·j].
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt
from numpy.lib.stride_tricks import sliding_window_view

from ..arrays import Array
from ._checks import boolean, float_dtype, whole_number
from .module import Module, Parameter
from .registry import LayerType, register

IntOrPair = int | tuple[int, int]


def pair(value: IntOrPair, name: str, layer: str, minimum: int) -> tuple[int, int]:
    """(value, value) for an int, the pair itself for a pair; each at least ``minimum``."""
    if isinstance(value, int | np.integer) and not isinstance(value, bool):
        out = (int(value), int(value))
    elif (
        isinstance(value, tuple | list)
        and len(value) == 2
        and all(isinstance(v, int | np.integer) and not isinstance(v, bool) for v in value)
    ):
        out = (int(value[0]), int(value[1]))
    else:
        raise TypeError(f"{layer}: {name} must be an int or a pair of ints, got {value!r}")
    if min(out) < minimum:
        raise ValueError(f"{layer}: {name} must be >= {minimum}, got {value!r}")
    return out


def out_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int) -> int:
    """⌊(size + pad_total − d·(k − 1) − 1) / s⌋ + 1, PyTorch's output length."""
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def windows(
    x_pad: Array, kernel: tuple[int, int], stride: tuple[int, int], dilation: tuple[int, int]
) -> Array:
    """The view x_pad[n, c, s·h′ + d·i, s·w′ + d·j] of shape (N, C, H′, W′, kH, kW): no copy."""
    (kH, kW), (sH, sW), (dH, dW) = kernel, stride, dilation
    span = (dH * (kH - 1) + 1, dW * (kW - 1) + 1)
    view = sliding_window_view(x_pad, span, axis=(2, 3))
    return view[:, :, ::sH, ::sW, ::dH, ::dW]


def gemm(a: Array, b: Array, out: Array | None = None) -> Array:
    """a · b (either may be a transposed view): the one place the convolutions multiply
    matrices, so that a benchmark can time them."""
    return np.matmul(a, b, out=out)


def patch_view(
    x_pad: Array,
    groups: int,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> Array:
    """X̂ as a read-only view of the channels-last x_pad (N, H_pad, W_pad, C), no copy: shape
    (N, H′, W′, G, kH, kW, C/G), entry x_pad[n, s·h′ + d·i, s·w′ + d·j, g·C/G + c] (``windows``
    with the channels split by group and moved last). The patch matrix is a copy of it. With
    d = 1 and one group, the kW·C numbers of a kernel row are contiguous in x_pad, so that copy
    runs over long contiguous stretches."""
    view = windows(x_pad.transpose(0, 3, 1, 2), kernel, stride, dilation)  # (N, C, H′, W′, kH, kW)
    N, C, Ho, Wo, kH, kW = view.shape
    by_group = view.reshape(N, groups, C // groups, Ho, Wo, kH, kW)  # a view: one axis split
    return by_group.transpose(0, 3, 4, 1, 5, 6, 2)


@functools.lru_cache(maxsize=256)
def fold_slices(
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
    out_hw: tuple[int, int],
) -> tuple[tuple[int, int, tuple[slice, slice]], ...]:
    """For each kernel offset (i, j), the strided slice of x_pad it reads: rows d·i + s·h′ and
    columns d·j + s·w′ for h′ < H′, w′ < W′. The backward passes add into these slices."""
    (kH, kW), (sH, sW), (dH, dW), (Ho, Wo) = kernel, stride, dilation, out_hw
    return tuple(
        (
            i,
            j,
            (
                slice(dH * i, dH * i + sH * (Ho - 1) + 1, sH),
                slice(dW * j, dW * j + sW * (Wo - 1) + 1, sW),
            ),
        )
        for i in range(kH)
        for j in range(kW)
    )


# Bytes handled together by Conv2d: a block of X̂ that stays in the cache between the copy
# that builds it and the product that reads it (2048 rows of a 3×3 kernel over 64 channels),
# or of dL/dY's rows with the dL/dX̂ block the fold makes of them.
CHUNK_BYTES = 2**21


def image_chunks(n_images: int, rows_per_image: int, row_bytes: int) -> tuple[tuple[int, int], ...]:
    """((n0, n1), …): consecutive runs of images with about CHUNK_BYTES of X̂ each (rows of
    ``row_bytes``), at least one image a run; for an empty batch, one empty run, so that the
    passes run as for any batch (their products of no rows give an empty y and dL/dx, and
    zero for dL/dW)."""
    if not n_images:
        return ((0, 0),)
    return _runs(n_images, max(1, CHUNK_BYTES // (rows_per_image * row_bytes)))


@functools.lru_cache(maxsize=256)
def _runs(n: int, step: int) -> tuple[tuple[int, int], ...]:
    return tuple((n0, min(n0 + step, n)) for n0 in range(0, n, step))


def channels_last(x: Array) -> bool:
    """Whether the (N, C, H, W) array x is laid out (N, H, W, C) in memory, PyTorch's
    "channels last": what Conv2d returns, and what the layers after it keep."""
    return bool(x.transpose(0, 2, 3, 1).flags.c_contiguous)


def axis_order(a: Array) -> list[int]:
    """a's axes from the largest stride to the smallest: [0, 1, 2, 3] for (N, C, H, W) laid out
    as it reads, [0, 2, 3, 1] for channels last, whether or not a is a cropped view."""
    strides = a.strides
    return sorted(range(a.ndim), key=lambda k: -abs(strides[k]))


def only_channels_last(x: Array) -> bool:
    """Whether x is laid out channels last and not also as it reads (a tensor with H = W = 1
    or C = 1 is both): the layout that ``empty_as`` and ``Module._new`` then make."""
    return channels_last(x) and not x.flags.c_contiguous


def same_layout(a: Array, like: Array) -> Array:
    """a, or a copy of it in the memory layout of ``like`` if their axes lie in memory in
    another order (an elementwise operation on arrays of different layouts walks one of them
    out of order, several times slower than the copy; a cropped view in the same order, as
    Conv2d's dL/dx with padding, is walked in order as it is)."""
    if a.strides == like.strides or axis_order(a) == axis_order(like):
        return a
    out = empty_as(like, a.shape, a.dtype)
    out[...] = a
    return out


def empty_as(like: Array, shape: tuple[int, int, int, int], dtype: Any = None) -> Array:
    """An uninitialised (N, C, H, W) array in the memory layout of ``like`` (NCHW or channels
    last): elementwise work between the two is then a pass over contiguous memory."""
    dtype = like.dtype if dtype is None else dtype
    if only_channels_last(like):
        N, C, H, W = shape
        return np.empty((N, H, W, C), dtype).transpose(0, 3, 1, 2)
    return np.empty(shape, dtype)


class Conv2d(Module):
    """y[n,o,h′,w′] = b[o] + Σ_{c,i,j} W[o,c,i,j] · x_pad[n, g·C/G + c, s·h′ + d·i, s·w′ + d·j]
    (o in group g; c over that group's C/G channels)

    x: (N, C, H, W)  W: (O, C/G, kH, kW)  b: (O,)  y: (N, O, H′, W′)
    H′ = ⌊(H + pad_top + pad_bottom − d·(kH − 1) − 1) / s⌋ + 1, and W′ likewise.

    forward, per group:  Y = X̂ · Ŵᵀ      X̂: (N·H′·W′, kH·kW·C/G) the patches  Ŵ: (O/G, kH·kW·C/G)
    backward:  dL/dŴ = (dL/dY)ᵀ · X̂      dL/db = Σ_{n,h′,w′} dL/dy
               dL/dX̂ = dL/dY · Ŵ, folded back: dL/dx_pad[…, s·h′ + d·i, s·w′ + d·j] += dL/dX̂[…, i, j]
               for each of the kH·kW kernel offsets (i, j), then the padding cropped off;
               or, when y has x's size (stride 1, "same", no dilation, one group), as the
               correlation of the zero-padded dL/dy with the flipped kernel: one more
               patch copy and one GEMM, no fold (``_input_grad_flipped``).

    kernel_size, stride, padding and dilation are each an int or a pair (rows, columns), as in
    PyTorch; padding may also be "valid" (no padding) or "same" (stride 1 only; an odd total
    puts the extra row and column at the bottom and right, as PyTorch does). Initialised as
    PyTorch does (Kaiming-uniform with a = √5): W and b uniform in ±1/√fan_in, fan_in =
    C/G·kH·kW, drawn from ``rng`` (weight first). The weight layout is PyTorch's, so interop
    copies it unchanged.

    Memory layout. The work is done channels last, (N, H, W, C) in memory, as PyTorch's
    ``channels_last`` format: a row of X̂ is then kH runs of kW·C contiguous numbers, copied
    from one strided view of x_pad, and Y = X̂ · Ŵᵀ, with one row per (n, h′, w′), *is* the output
    in that layout. So y is returned as an (N, O, H′, W′) view of Y, no transpose copied, and
    the ReLU, pooling and BatchNorm2d after it keep that layout. The columns of X̂ are ordered
    (i, j, c) rather than (c, i, j), and Ŵ is the weight's matching reordering (a copy the size
    of the weight); the products are the same sums in another order of terms.

    The bias is a column of Ŵ against a column of ones in X̂ (see ``forward``). Caches the
    patch matrix X̂ (the only thing both gradients need besides dL/dy and Ŵ) until the
    backward pass has used it, when X̂ is one block of images (``CHUNK_BYTES``); a larger X̂ is
    built a block at a time into a work array of one block's rows, and built again, block by
    block, for dL/dŴ, from the cached x_pad (so x must not be changed in place between the
    two passes, as for Linear, which caches x itself). X̂, the padded x and the padded dL/dy
    are work arrays kept from one step to the next.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: IntOrPair,
        stride: IntOrPair = 1,
        padding: IntOrPair | str = 0,
        dilation: IntOrPair = 1,
        groups: int = 1,
        bias: bool = True,
        *,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        name = "Conv2d"
        in_channels = whole_number(name, "in_channels", in_channels)
        out_channels = whole_number(name, "out_channels", out_channels)
        groups = whole_number(name, "groups", groups)
        bias = boolean(name, "bias", bias)
        dtype = float_dtype(name, dtype)
        if in_channels < 1 or out_channels < 1 or groups < 1:
            raise ValueError(
                f"{name} needs in_channels, out_channels and groups >= 1, "
                f"got ({in_channels}, {out_channels}, groups={groups})"
            )
        if in_channels % groups or out_channels % groups:
            raise ValueError(
                f"{name}: in_channels ({in_channels}) and out_channels ({out_channels}) "
                f"must both be divisible by groups ({groups})"
            )
        self.in_channels, self.out_channels, self.groups = in_channels, out_channels, groups
        self.kernel_size = pair(kernel_size, "kernel_size", name, 1)
        self.stride = pair(stride, "stride", name, 1)
        self.dilation = pair(dilation, "dilation", name, 1)
        self.padding: tuple[int, int] | str
        if isinstance(padding, str):
            if padding not in ("same", "valid"):
                raise ValueError(
                    f"{name}: padding must be an int, a pair, 'same' or 'valid', got {padding!r}"
                )
            if padding == "same" and self.stride != (1, 1):
                raise ValueError(f"{name}: padding='same' needs stride 1, got {stride!r}")
            self.padding = padding
        else:
            self.padding = pair(padding, "padding", name, 0)
        # (top, bottom, left, right)
        self._pads = self._pad_amounts()

        rng = np.random.default_rng() if rng is None else rng
        kH, kW = self.kernel_size
        fan_in = in_channels // groups * kH * kW
        bound = 1.0 / math.sqrt(fan_in)
        shape = (out_channels, in_channels // groups, kH, kW)
        self.weight = Parameter(rng.uniform(-bound, bound, shape).astype(dtype))
        self.bias = (
            Parameter(rng.uniform(-bound, bound, out_channels).astype(dtype)) if bias else None
        )
        # (input shape, padded input shape, output (H′, W′), X̂ (the whole of it, or the work
        # array of one block of images), x_pad, the blocks of images)
        self._cache: tuple[Any, ...] | None = None

    def _pad_amounts(self) -> tuple[int, int, int, int]:
        if self.padding == "valid":
            return (0, 0, 0, 0)
        if self.padding == "same":
            totals = [d * (k - 1) for d, k in zip(self.dilation, self.kernel_size, strict=True)]
            (tH, tW) = totals
            return (tH // 2, tH - tH // 2, tW // 2, tW - tW // 2)
        assert isinstance(self.padding, tuple)
        pH, pW = self.padding
        return (pH, pH, pW, pW)

    def forward(self, x: Array) -> Array:
        C, G, O = self.in_channels, self.groups, self.out_channels
        if x.ndim != 4 or x.shape[1] != C:
            raise ValueError(f"{self!r} expects input of shape (N, {C}, H, W), got {x.shape}")
        dtype = self.weight.data.dtype
        top, bottom, left, right = self._pads
        N, _, H, W_ = x.shape
        (kH, kW), (sH, sW), (dH, dW) = self.kernel_size, self.stride, self.dilation
        Ho = out_size(H, kH, sH, top + bottom, dH)
        Wo = out_size(W_, kW, sW, left + right, dW)
        if Ho < 1 or Wo < 1:
            raise ValueError(
                f"{self!r}: input {H}×{W_} (padded {H + top + bottom}×{W_ + left + right}) is "
                f"smaller than the dilated kernel {dH * (kH - 1) + 1}×{dW * (kW - 1) + 1}"
            )
        x_pad = self._padded(x, dtype)
        Og, Kb = O // G, kH * kW * (C // G) + (self.bias is not None)
        chunks = image_chunks(N, Ho * Wo, G * Kb * x_pad.itemsize)
        cols, patches, view = self._patch_matrix(x_pad, (N, Ho, Wo), chunks)
        whole = len(cols) == N * Ho * Wo  # X̂ whole, or one block of images at a time
        w = self._weight_matrix()  # [Ŵ b]: (G, O/G, Kb)
        Y = self._new("y", (N * Ho * Wo, O), dtype)
        # X̂ built and multiplied a few images at a time, so that each block of X̂ is still in
        # the cache when the GEMM reads it
        for n0, n1 in chunks:
            rows_of = slice(n0 * Ho * Wo, n1 * Ho * Wo)
            block = cols[rows_of] if whole else cols[: (n1 - n0) * Ho * Wo]
            # one copy: X̂[(n,h′,w′), (g,i,j,c)] = x_pad[n, s·h′ + d·i, s·w′ + d·j, g·C/G + c]
            if patches.ndim == 7:  # (N, H′, W′, G, kH, kW, C/G), or a block's images
                patches[slice(n0, n1) if whole else slice(n1 - n0)] = view[n0:n1]
            else:  # one channel per group, X̂ transposed: (G, kH, kW, N, H′, W′)
                patches[:, :, :, n0:n1] = view[:, :, :, n0:n1]
            for k in range(G):
                if G == 1:
                    gemm(block[:, :Kb], w[0].T, out=Y[rows_of])
                else:  # each group's outputs are a block of Y's columns
                    Y[rows_of, k * Og : (k + 1) * Og] = gemm(
                        block[:, k * Kb : (k + 1) * Kb], w[k].T
                    )
        self._cache = (x.shape, (N, *x_pad.shape[1:]), (Ho, Wo), cols, x_pad, chunks)
        # Y is (N, H′, W′, O) in memory: y (N, O, H′, W′) is a view of it, channels last
        return Y.reshape(N, Ho, Wo, O).transpose(0, 3, 1, 2)

    def _patch_matrix(
        self, x_pad: Array, out_shape: tuple[int, int, int], chunks: tuple[tuple[int, int], ...]
    ) -> tuple[Array, Array, Array]:
        """X̂, a work array with a column of ones after each group's K columns when there is a
        bias (b is then one more column of Ŵ, the weight of a constant input 1: the forward
        product adds it, and the product for dL/dŴ gives dL/db as its last row; the ones are
        written once, when the work array is made); the view of X̂ that the patches are copied
        into; and the strided view of x_pad they are copied from.

        With several channels per group X̂ is (N·H′·W′, G·(K + 1)), a row per output position
        (n, h′, w′), and a patch is copied as kH runs of kW·C/G numbers that lie side by side
        in x_pad. With one channel per group (a first layer on grey images) such a row would
        be runs of kW numbers, so X̂ is kept transposed, a row per kernel offset (g, i, j),
        copied as runs of W′; ``cols`` is then the transposed view, (N·H′·W′, G·(K + 1)) all
        the same, which the GEMMs read as it is."""
        N, Ho, Wo = out_shape
        G, (kH, kW) = self.groups, self.kernel_size
        Cg = self.in_channels // G
        K = kH * kW * Cg
        Kb = K + (self.bias is not None)
        dtype = x_pad.dtype
        kernel, stride, dilation = self.kernel_size, self.stride, self.dilation
        if Cg > 1:
            # the whole X̂, or when it takes more than one block of images, one block's rows
            # (built again, block by block, for dL/dŴ)
            rows = N if len(chunks) == 1 else max(n1 - n0 for n0, n1 in chunks)
            cols, made = self._workspace("cols", (rows * Ho * Wo, G * Kb), dtype)
            if made and Kb > K:
                cols.reshape(-1, G, Kb)[:, :, K] = 1
            patches, view = self._patch_blocks(cols, x_pad, (Ho, Wo))
        else:
            cols_t, made = self._workspace("cols_t", (G * Kb, N * Ho * Wo), dtype)
            by_group = cols_t.reshape(G, Kb, N, Ho, Wo)
            if made and Kb > K:
                by_group[:, K] = 1
            patches = by_group[:, :K].reshape(G, kH, kW, N, Ho, Wo)
            view = self._view_of(
                "x_pad",
                x_pad,
                lambda a: windows(a.transpose(0, 3, 1, 2), kernel, stride, dilation).transpose(
                    1, 4, 5, 0, 2, 3
                ),
            )
            cols = cols_t.T
        assert not patches.flags.owndata  # a view: writing it writes X̂
        return cols, patches, view

    def _patch_blocks(
        self, cols: Array, x_pad: Array, out_hw: tuple[int, int]
    ) -> tuple[Array, Array]:
        """With several channels per group: X̂ (``cols``, the whole of it or a block of images'
        rows) as the (images, H′, W′, G, kH, kW, C/G) view that patches are copied into, and the
        (N, H′, W′, G, kH, kW, C/G) strided view of x_pad they are copied from."""
        G, (kH, kW), (Ho, Wo) = self.groups, self.kernel_size, out_hw
        Cg = self.in_channels // G
        images = len(cols) // (Ho * Wo)
        by_group = cols.reshape(images, Ho, Wo, G, cols.shape[1] // G)
        patches = by_group[..., : kH * kW * Cg].reshape(images, Ho, Wo, G, kH, kW, Cg)
        kernel, stride, dilation = self.kernel_size, self.stride, self.dilation
        view = self._view_of("x_pad", x_pad, lambda a: patch_view(a, G, kernel, stride, dilation))
        return patches, view

    def _padded(self, x: Array, dtype: Any) -> Array:
        """x_pad, channels last (N, H + pads, W + pads, C), in the layer's dtype: x itself for a
        channels-last input without padding, else a work array whose zero border is made
        once (each call writes only the inside)."""
        top, bottom, left, right = self._pads
        N, C, H, W_ = x.shape
        x_hwc = x.transpose(0, 2, 3, 1)
        if not any(self._pads) and x_hwc.flags.c_contiguous and x.dtype == dtype:
            return x_hwc
        shape = (N, H + top + bottom, W_ + left + right, C)
        x_pad, _ = self._workspace("x_pad", shape, dtype, zeros=True)
        x_pad[:, top : top + H, left : left + W_] = x_hwc
        return x_pad

    def _view_of(self, name: str, a: Array, build: Callable[[Array], Array]) -> Array:
        """build(a), a strided view of the work array ``name`` (which a is, or is not), kept
        while a is that work array: building a view with sliding_window_view costs about as
        much as copying a small X̂."""
        if a is not self.__dict__.get("_workspaces", {}).get(name):
            return build(a)
        views: dict[str, tuple[Array, Array]] = self.__dict__.setdefault("_views", {})
        kept = views.get(name)
        if kept is None or kept[0] is not a:
            kept = views[name] = (a, build(a))
        return kept[1]

    def _weight_matrix(self) -> Array:
        """[Ŵ b]: the weight (O, C/G, kH, kW) as (G, O/G, kH·kW·C/G), columns ordered (i, j, c),
        with the bias as one more column when there is one."""
        G, O = self.groups, self.out_channels
        w = self.weight.data.transpose(0, 2, 3, 1).reshape(G, O // G, -1)  # (O, kH, kW, C/G)
        if self.bias is None:
            return np.ascontiguousarray(w)
        out = np.empty((G, O // G, w.shape[2] + 1), w.dtype)
        out[:, :, :-1] = w
        out[:, :, -1] = self.bias.data.reshape(G, O // G)
        return out

    def _grad_matrix(self, grad_output: Array) -> tuple[Array, tuple[Any, ...]]:
        cache = self._cache
        if cache is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        x_shape, _, (Ho, Wo) = cache[:3]
        N, O = x_shape[0], self.out_channels
        self._check_grad(grad_output, (N, O, Ho, Wo))
        # dL/dY, rows (n, h′, w′) as in X̂: (N·H′·W′, O), a view of a channels-last dL/dy
        g = grad_output.transpose(0, 2, 3, 1).reshape(N * Ho * Wo, O)
        return g.astype(self.weight.data.dtype, copy=False), cache

    def backward_params(self, grad_output: Array) -> None:
        self._param_grads(*self._grad_matrix(grad_output))
        self._cache = None

    def _param_grads(self, g: Array, cache: tuple[Any, ...]) -> None:
        _, _, (Ho, Wo), cols, x_pad, chunks = cache
        G, O = self.groups, self.out_channels
        Og, Kb = O // G, cols.shape[1] // G
        kH, kW = self.kernel_size
        K = kH * kW * (self.in_channels // G)
        # [dL/dŴ dL/db]ᵀ = [X̂ 1]ᵀ · dL/dY, (Kb, O/G) per group: the row of ones in [X̂ 1]ᵀ sums
        # dL/dY over its rows, which is dL/db. (X̂ᵀ · dL/dY, not (dL/dY)ᵀ · X̂: OpenBLAS has
        # run the latter at a fraction of the speed for this shape, a long inner dimension
        # N·H′·W′ and a small output, on an earlier 2-core AMD EPYC; on a Zen 3 EPYC the two
        # measured within 5% of each other.)
        dW_t = np.empty((G, Kb, Og), dtype=cols.dtype)
        if len(cols) == len(g):  # the whole X̂
            for k in range(G):
                gemm(cols[:, k * Kb : (k + 1) * Kb].T, g[:, k * Og : (k + 1) * Og], out=dW_t[k])
        else:
            # X̂ built again, a block of images at a time, and each block multiplied while it
            # is in the cache: Σ over the blocks of X̂_blockᵀ · dL/dY_block. (A whole X̂ kept
            # from the forward pass would be read back from memory, and take memory: 40.5 MiB for
            # the MNIST example's second convolution at batch 64.)
            patches, view = self._patch_blocks(cols, x_pad, (Ho, Wo))
            part = np.empty_like(dW_t)
            for b, (n0, n1) in enumerate(chunks):
                patches[: n1 - n0] = view[n0:n1]
                block, g_block = cols[: (n1 - n0) * Ho * Wo], g[n0 * Ho * Wo : n1 * Ho * Wo]
                out = part if b else dW_t
                for k in range(G):
                    gemm(
                        block[:, k * Kb : (k + 1) * Kb].T,
                        g_block[:, k * Og : (k + 1) * Og],
                        out=out[k],
                    )
                if b:
                    dW_t += part
        # back to the weight's layout (O, C/G, kH, kW)
        dW = dW_t[:, :K].transpose(0, 2, 1).reshape(O, kH, kW, K // (kH * kW))
        self.weight.accumulate(dW.transpose(0, 3, 1, 2))
        if self.bias is not None:
            self.bias.accumulate(dW_t[:, K].reshape(O))

    def backward(self, grad_output: Array) -> Array:
        g, cache = self._grad_matrix(grad_output)
        x_shape, pad_shape, (Ho, Wo) = cache[:3]
        # a second backward pass without a forward one is an error, as in PyTorch
        self._cache = None
        # dL/dx first, while dL/dy is still in the cache from the layer above (the product
        # for dL/dŴ then streams X̂ through, whole or built again block by block)
        if (
            self.groups == 1
            and self.stride == (1, 1)
            and self.dilation == (1, 1)
            and (Ho, Wo) == x_shape[2:]
        ):
            dx = self._input_grad_flipped(g, x_shape)
        else:
            dx = self._input_grad_folded(g, x_shape, pad_shape, (Ho, Wo))
        self._param_grads(g, cache)
        return dx

    def _input_grad_folded(
        self,
        g: Array,
        x_shape: tuple[int, ...],
        pad_shape: tuple[int, ...],
        out_hw: tuple[int, int],
    ) -> Array:
        N, C, H, W_ = x_shape
        (Ho, Wo), G, O = out_hw, self.groups, self.out_channels
        Og, Cg = O // G, C // G
        kH, kW = self.kernel_size
        # dL/dx, one kernel offset (i, j) and a few images at a time: dL/dX̂[…, i, j] = dL/dY ·
        # Ŵ[:, i, j] is added into the strided slice of dL/dx_pad that X̂[…, i, j] was read
        # from. A block of dL/dx_pad stays in the cache across its kH·kW additions, and the
        # whole dL/dX̂ (as large as X̂) is never made.
        w = self.weight.data.transpose(0, 2, 3, 1).reshape(G, Og, kH * kW, Cg)
        w_ij = np.ascontiguousarray(w.transpose(0, 2, 1, 3))  # (G, kH·kW, O/G, C/G)
        d_pad = self._new("dx", pad_shape, g.dtype, zeros=True)
        d_pad_g = d_pad.reshape(*pad_shape[:3], G, Cg)
        slices = fold_slices(self.kernel_size, self.stride, self.dilation, (Ho, Wo))
        # blocks of dL/dY rows (O numbers) with their dL/dX̂ offset block (C/G) in CHUNK_BYTES
        chunks = image_chunks(N, Ho * Wo, (O + Cg) * g.itemsize)
        most = max(n1 - n0 for n0, n1 in chunks) * Ho * Wo
        d_patch_ws, _ = self._workspace("d_patch", (most, Cg), g.dtype)
        for n0, n1 in chunks:
            g_block = g[n0 * Ho * Wo : n1 * Ho * Wo]
            d_patch = d_patch_ws[: len(g_block)]
            for k in range(G):
                g_group = g_block[:, k * Og : (k + 1) * Og]
                for i, j, (rows, columns) in slices:
                    gemm(g_group, w_ij[k, i * kW + j], out=d_patch)
                    d_pad_g[n0:n1, rows, columns, k] += d_patch.reshape(n1 - n0, Ho, Wo, Cg)
        top, _, left, _ = self._pads
        return d_pad[:, top : top + H, left : left + W_].transpose(0, 3, 1, 2)

    def _input_grad_flipped(self, g: Array, x_shape: tuple[int, ...]) -> Array:
        """dL/dx as the correlation of the zero-padded dL/dy with the flipped kernel (docs/conv.md,
        section 3), for stride 1, no dilation, one group and an output the size of the input
        ("same"): dL/dY_pad's patches (one copy, as X̂ in the forward pass) times W_flip, one
        GEMM of as many products as the forward one, straight into a channels-last dL/dx,
        with no fold.
            dL/dx[n,h,w,c] = Σ_{i,j,o} dL/dy_pad[n, h + i, w + j, o] · W[o, c, kH − 1 − i, kW − 1 − j]
        dL/dy_pad: dL/dy with kH − 1 − pad_top rows of zeros above (kW − 1 − pad_left columns
        left), and the rest below (right) up to H + kH − 1 rows (W + kW − 1 columns)."""
        N, C, H, W_ = x_shape
        O = self.out_channels
        kH, kW = self.kernel_size
        top, _, left, _ = self._pads
        shape = (N, H + kH - 1, W_ + kW - 1, O)
        g_pad, _ = self._workspace("g_pad", shape, g.dtype, zeros=True)  # zero border: once
        g_pad[:, kH - 1 - top : kH - 1 - top + H, kW - 1 - left : kW - 1 - left + W_] = g.reshape(
            N, H, W_, O
        )
        kernel = self.kernel_size
        view = self._view_of("g_pad", g_pad, lambda a: patch_view(a, 1, kernel, (1, 1), (1, 1)))
        # W_flip as a (kH·kW·O, C) matrix, rows ordered (i, j, o) as the patches' columns
        K = kH * kW * O
        w_flip = self.weight.data[:, :, ::-1, ::-1].transpose(2, 3, 0, 1).reshape(K, C)
        w_flip = np.ascontiguousarray(w_flip, dtype=g.dtype)
        dx = self._new("dx", (N, C, H, W_), g.dtype, channels_last=True)
        dX = dx.transpose(0, 2, 3, 1).reshape(N * H * W_, C)  # a view: dx's rows (n, h, w)
        chunks = image_chunks(N, H * W_, K * g.itemsize)
        most = max(n1 - n0 for n0, n1 in chunks)
        patches, _ = self._workspace("g_cols", (most, *view.shape[1:]), g.dtype)
        for n0, n1 in chunks:
            block = patches[: n1 - n0]
            block[...] = view[n0:n1]
            gemm(block.reshape(-1, K), w_flip, out=dX[n0 * H * W_ : n1 * H * W_])
        return dx

    def parameters(self) -> list[Parameter]:
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        named = [("weight", self.weight)]
        if self.bias is not None:
            named.append(("bias", self.bias))
        return named

    def __repr__(self) -> str:
        extra = ""
        if self.stride != (1, 1):
            extra += f", stride={self.stride}"
        if self.padding not in ((0, 0), "valid"):
            extra += f", padding={self.padding!r}"
        if self.dilation != (1, 1):
            extra += f", dilation={self.dilation}"
        if self.groups != 1:
            extra += f", groups={self.groups}"
        if self.bias is None:
            extra += ", bias=False"
        return (
            f"Conv2d({self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}"
            f"{extra}, dtype={self.weight.dtype})"
        )


def _conv_config(layer: Any) -> dict[str, Any]:
    """The constructor arguments of a backprop or a PyTorch Conv2d (the same names). PyTorch's
    padding_mode other than "zeros" (reflect, replicate, circular) pads with other values than
    the zeros computed here, and is refused by name."""
    mode = getattr(layer, "padding_mode", "zeros")
    if mode != "zeros":
        raise ValueError(f"Conv2d: padding_mode={mode!r} is not supported (only 'zeros')")
    padding = layer.padding
    return {
        "in_channels": int(layer.in_channels),
        "out_channels": int(layer.out_channels),
        "kernel_size": list(layer.kernel_size),
        "stride": list(layer.stride),
        "padding": padding if isinstance(padding, str) else list(padding),
        "dilation": list(layer.dilation),
        "groups": int(layer.groups),
        "bias": layer.bias is not None,
    }


def _conv_shapes(config: dict[str, Any]) -> dict[str, tuple[int, ...]]:
    cin, cout, groups = config.get("in_channels"), config.get("out_channels"), config.get("groups")
    kernel, bias = config.get("kernel_size"), config.get("bias")
    kernel = [kernel, kernel] if type(kernel) is int else kernel
    ints = (cin, cout, groups, *(kernel if isinstance(kernel, list | tuple) else [None]))
    if not (all(type(v) is int and v > 0 for v in ints) and isinstance(bias, bool)):
        raise ValueError("Conv2d lacks in_channels, out_channels, kernel_size, groups or bias")
    assert isinstance(kernel, list | tuple) and isinstance(cin, int) and isinstance(cout, int)
    assert isinstance(groups, int)
    if len(kernel) != 2 or cin % groups or cout % groups:
        raise ValueError("Conv2d: kernel_size is not a pair, or channels not divisible by groups")
    weight = (cout, cin // groups, kernel[0], kernel[1])
    return {"weight": weight, "bias": (cout,)} if bias else {"weight": weight}


register(
    LayerType(
        Conv2d,
        ("in_channels", "out_channels", "kernel_size", "stride", "padding", "dilation",
         "groups", "bias"),
        state_shapes=_conv_shapes,
        get=_conv_config,
        torch_get=_conv_config,
    )
)  # fmt: skip
