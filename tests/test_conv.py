"""Conv2d and the pooling layers against PyTorch's autograd (float64, 1e-10) and central differences."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np
import pytest
import torch
from torch_reference import assert_close

from backprop.gradcheck import gradcheck
from backprop.nn.conv import Conv2d
from backprop.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

F = torch.nn.functional


def random_conv_config(rng: np.random.Generator) -> dict[str, Any]:
    """A random Conv2d configuration and an input size it fits: every argument drawn, pairs
    and non-square kernels included, padding "same" or "valid" at times."""
    groups = int(rng.choice([1, 1, 2, 3]))
    cin = groups * int(rng.integers(1, 4))
    cout = groups * int(rng.integers(1, 4))
    kernel = (int(rng.integers(1, 5)), int(rng.integers(1, 5)))
    dilation = (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    kind = rng.integers(0, 4)
    stride: Any = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    padding: Any = (int(rng.integers(0, 3)), int(rng.integers(0, 3)))
    if kind == 0:
        padding, stride = "same", 1
    elif kind == 1:
        padding = "valid"
    elif kind == 2:
        stride, padding = int(stride[0]), int(padding[0])
    span = [d * (k - 1) + 1 for d, k in zip(dilation, kernel, strict=True)]
    H, W = (int(s + rng.integers(0, 6)) for s in span)
    return {
        "args": (cin, cout, kernel if kernel[0] != kernel[1] else kernel[0]),
        "kwargs": {
            "stride": stride,
            "padding": padding,
            "dilation": dilation,
            "groups": groups,
            "bias": bool(rng.integers(0, 4) > 0),
        },
        "input": (int(rng.integers(1, 4)), cin, H, W),
    }


def torch_conv(layer: Conv2d, x: np.ndarray) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    xt = torch.tensor(x, requires_grad=True)
    wt = torch.tensor(layer.weight.data, requires_grad=True)
    bt = None if layer.bias is None else torch.tensor(layer.bias.data, requires_grad=True)
    y = F.conv2d(xt, wt, bt, layer.stride, layer.padding, layer.dilation, layer.groups)
    return xt, wt, y


CONFIG_SEEDS = range(60)

# PyTorch warns that it copies the input for an even kernel with padding="same"; so do we.
pytestmark = pytest.mark.filterwarnings("ignore:Using padding='same':UserWarning")


def check_random_conv(rng: np.random.Generator, batch: int | None = None) -> None:
    """A random configuration's forward pass, dL/dx, dL/dW and dL/db against PyTorch."""
    config = random_conv_config(rng)
    if batch is not None:
        config["input"] = (batch, *config["input"][1:])
    layer = Conv2d(*config["args"], **config["kwargs"], rng=rng)
    check_conv_step(layer, rng.standard_normal(config["input"]), rng, str(config))


def check_conv_step(layer: Conv2d, x: np.ndarray, rng: np.random.Generator, what: str) -> None:
    """One forward and backward pass of ``layer`` on x: y, dL/dx, dL/dW and dL/db against
    PyTorch's autograd, under a random upstream gradient."""
    y = layer(x)
    upstream = rng.standard_normal(y.shape)
    layer.zero_grad()
    dx = layer.backward(upstream)

    xt, wt, yt = torch_conv(layer, x)
    yt.backward(torch.tensor(upstream))
    assert_close(f"conv2d forward {what}", y, yt.detach().numpy())
    assert_close(f"conv2d dL/dx {what}", dx, xt.grad)
    assert_close(f"conv2d dL/dW {what}", layer.weight.grad, wt.grad)
    if layer.bias is not None:
        assert_close(f"conv2d dL/db {what}", layer.bias.grad, upstream.sum(axis=(0, 2, 3)))


@pytest.mark.parametrize("seed", CONFIG_SEEDS)
def test_conv2d_matches_torch_over_random_configurations(seed: int) -> None:
    check_random_conv(np.random.default_rng(seed))


@pytest.mark.parametrize(
    "args, kwargs, shape",
    [
        ((3, 4, 1), {}, (1, 3, 5, 5)),  # 1×1 kernel, batch of 1
        ((2, 3, (1, 3)), {"padding": "same"}, (2, 2, 4, 7)),  # non-square, same
        ((2, 2, (2, 4)), {"padding": "same", "dilation": 2}, (1, 2, 6, 9)),  # even kernel, same
        ((4, 4, 3), {"groups": 4, "padding": 1}, (2, 4, 5, 5)),  # depthwise
        ((2, 6, 3), {"stride": (2, 3), "padding": (1, 2), "dilation": (1, 2)}, (2, 2, 9, 11)),
        ((1, 16, 3), {"padding": 1}, (4, 1, 8, 8)),  # the digits CNN's first layer
    ],
)
def test_conv2d_matches_torch_in_named_cases(
    args: tuple[Any, ...], kwargs: dict[str, Any], shape: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(1)
    layer = Conv2d(*args, **kwargs, rng=rng)
    x = rng.standard_normal(shape)
    y = layer(x)
    upstream = rng.standard_normal(y.shape)
    layer.zero_grad()
    dx = layer.backward(upstream)
    xt, wt, yt = torch_conv(layer, x)
    yt.backward(torch.tensor(upstream))
    assert_close("conv2d forward", y, yt.detach().numpy())
    assert_close("conv2d dL/dx", dx, xt.grad)
    assert_close("conv2d dL/dW", layer.weight.grad, wt.grad)


@pytest.mark.parametrize("seed", range(12))
def test_conv2d_matches_torch_one_image_per_block(
    seed: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """X̂ is built, and dL/dx folded, a block of images at a time: with blocks of one image
    (CHUNK_BYTES = 1) every configuration runs through several blocks."""
    import backprop.nn.conv as conv

    monkeypatch.setattr(conv, "CHUNK_BYTES", 1)
    check_random_conv(np.random.default_rng(200 + seed), batch=3)


def test_one_conv2d_over_changing_inputs_keeps_its_work_arrays_right() -> None:
    """Conv2d keeps X̂ and the padded input between calls: the same layer over batches of
    other sizes and layouts, and back, matches PyTorch every time (the ones column and the
    zero border written once must survive every rewrite of the rest)."""
    rng = np.random.default_rng(11)
    for layer in (Conv2d(3, 4, 3, padding=1, rng=rng), Conv2d(1, 4, 3, padding=1, rng=rng)):
        for n, layout in [(5, "nchw"), (2, "nhwc"), (5, "nhwc"), (5, "nchw"), (1, "nchw")]:
            x = rng.standard_normal((n, layer.in_channels, 6, 5))
            if layout == "nhwc":
                x = channels_last_copy(x)
            check_conv_step(layer, x, rng, f"{layer!r}, batch {n} {layout}")


@pytest.mark.parametrize("chunk_bytes", [None, 1])
@pytest.mark.parametrize("copy_of", [copy.copy, copy.deepcopy])
def test_a_copied_conv2d_shares_no_work_arrays(
    copy_of: Any, chunk_bytes: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A copy made between the forward and the backward pass, then run on other data, gives
    that data's output and leaves the original's cached X̂ alone: the original's gradients are
    those of its own input. A copy's own backward pass, from the forward pass it was copied
    after, gives the same gradients. With CHUNK_BYTES = 1, X̂ is a work array of one image's
    rows that the backward pass fills again from the padded input, image by image."""
    import backprop.nn.conv as conv

    if chunk_bytes is not None:
        monkeypatch.setattr(conv, "CHUNK_BYTES", chunk_bytes)
    rng = np.random.default_rng(12)
    layer = Conv2d(2, 3, 3, padding=1, rng=rng)
    x, other = rng.standard_normal((2, 2, 2, 5, 5))
    y = layer(x)
    if chunk_bytes is not None:  # X̂ is kept as one image's rows (and its ones column)
        assert vars(layer)["_workspaces"]["cols"].shape == (5 * 5, 2 * 3 * 3 + 1)
    twin, late_twin = copy_of(layer), copy_of(layer)
    _, _, y_other = torch_conv(layer, other)
    assert_close("conv2d forward of a copy", twin(other), y_other.detach().numpy())
    upstream = rng.standard_normal(y.shape)
    _, wt, yt = torch_conv(layer, x)
    yt.backward(torch.tensor(upstream))
    for which in (late_twin, layer):
        which.zero_grad()
        which.backward(upstream)
        assert_close("conv2d dL/dW after a copy ran", which.weight.grad, wt.grad)


@pytest.mark.parametrize(
    "args, kwargs, shape",
    [
        ((3, 5, 3), {"padding": 1}, (2, 3, 6, 7)),
        ((4, 2, (3, 5)), {"padding": "same", "bias": False}, (3, 4, 5, 6)),
        ((2, 3, 2), {"padding": "same"}, (2, 2, 5, 4)),  # even kernel: extra zero row below
        ((1, 4, 5), {"padding": 2}, (1, 1, 6, 6)),  # one channel, a batch of 1
        ((3, 3, 1), {}, (2, 3, 4, 4)),  # 1×1: W_flip is W
    ],
)
def test_conv2d_input_gradient_through_the_flipped_kernel(
    args: tuple[Any, ...], kwargs: dict[str, Any], shape: tuple[int, ...]
) -> None:
    """Where y has x's size (stride 1, "same"), dL/dx is the padded dL/dy's patches times the
    flipped kernel (docs/conv.md, section 3); against PyTorch, twice on the same layer (the
    padded dL/dy is a work array whose zero border is written once)."""
    rng = np.random.default_rng(13)
    layer = Conv2d(*args, **kwargs, rng=rng)
    for _ in range(2):
        x = rng.standard_normal(shape)
        y = layer(x)
        assert y.shape[2:] == x.shape[2:]
        upstream = rng.standard_normal(y.shape)
        dx = layer.backward(upstream)
        assert "g_pad" in vars(layer)["_workspaces"]  # the flipped-kernel path ran
        xt, _, yt = torch_conv(layer, x)
        yt.backward(torch.tensor(upstream))
        assert_close(f"conv2d dL/dx, flipped kernel, {args} {kwargs}", dx, xt.grad)


def channels_last_copy(a: np.ndarray) -> np.ndarray:
    """The same (N, C, H, W) values laid out (N, H, W, C) in memory."""
    return np.ascontiguousarray(a.transpose(0, 2, 3, 1)).transpose(0, 3, 1, 2)


@pytest.mark.parametrize(
    "make, channels",
    [
        (lambda: Conv2d(3, 4, 3, padding=1, rng=np.random.default_rng(0)), 3),
        (lambda: Conv2d(4, 6, (2, 3), stride=2, groups=2, rng=np.random.default_rng(0)), 4),
        (lambda: MaxPool2d(2), 3),
        (lambda: MaxPool2d(3, stride=2, padding=1), 3),
        (lambda: AvgPool2d(2), 3),
    ],
)
def test_layers_give_the_same_numbers_in_either_memory_layout(make: Any, channels: int) -> None:
    """NCHW and channels-last inputs and upstream gradients, in every combination: the same
    output and gradients (the layout changes only the order of memory)."""
    rng = np.random.default_rng(3)
    x = rng.standard_normal((2, channels, 6, 7))
    g = None
    runs = []
    for x_in in (x, channels_last_copy(x)):
        layer = make()
        y = layer(x_in)
        g = rng.standard_normal(y.shape) if g is None else g
        for g_in in (np.ascontiguousarray(g), channels_last_copy(g)):
            layer(x_in)
            layer.zero_grad()
            dx = layer.backward(g_in)
            runs.append([np.array(y), np.array(dx), *(p.grad.copy() for p in layer.parameters())])
    for run in runs[1:]:
        for got, first in zip(run, runs[0], strict=True):
            np.testing.assert_allclose(got, first, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("seed", range(4))
def test_conv2d_gradcheck(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    config = random_conv_config(rng)
    layer = Conv2d(*config["args"], **config["kwargs"], rng=rng)
    report = gradcheck(layer, rng.standard_normal(config["input"]), rng=rng)
    assert report, str(report)


def test_conv2d_init_is_pytorch_kaiming_uniform_bound() -> None:
    layer = Conv2d(6, 8, (3, 5), groups=2, rng=np.random.default_rng(0))
    bound = 1 / np.sqrt(3 * 3 * 5)  # fan_in = C/G·kH·kW
    ref = torch.nn.Conv2d(6, 8, (3, 5), groups=2)
    assert layer.weight.shape == tuple(ref.weight.shape)
    for p in layer.parameters():
        assert np.abs(p.data).max() <= bound
        assert np.abs(p.data).max() > 0.8 * bound  # spread over the whole range
    assert float(ref.weight.detach().abs().max()) <= bound


def test_conv2d_keeps_float32_and_gradients_accumulate() -> None:
    rng = np.random.default_rng(2)
    layer = Conv2d(2, 3, 3, padding=1, rng=rng, dtype=np.float32)
    x = rng.standard_normal((2, 2, 5, 5))
    y = layer(x)
    assert y.dtype == np.float32
    g = np.ones_like(y)
    layer.zero_grad()
    dx = layer.backward(g)
    assert dx.dtype == np.float32 and layer.weight.grad.dtype == np.float32
    once = layer.weight.grad.copy()
    layer(x)
    layer.backward(g)
    np.testing.assert_allclose(layer.weight.grad, 2 * once, rtol=1e-6)


@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: Conv2d(3, 4, 3, groups=2), "divisible by groups"),
        (lambda: Conv2d(2, 2, 3, stride=2, padding="same"), "stride 1"),
        (lambda: Conv2d(2, 2, 3, padding="full"), "'same' or 'valid'"),
        (lambda: Conv2d(2, 2, (3, 0)), "kernel_size must be >= 1"),
        (lambda: Conv2d(2, 2, 2.5), "kernel_size must be an int"),  # type: ignore[arg-type]
        (lambda: MaxPool2d(2, padding=2), "at most half"),
    ],
)
def test_bad_arguments_name_the_layer_and_argument(make: Any, message: str) -> None:
    with pytest.raises((ValueError, TypeError), match=message):
        make()


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"in_channels": "3"}, TypeError, "in_channels must be a whole number, got '3'"),
        ({"in_channels": 3.0}, TypeError, "in_channels must be a whole number, got 3.0"),
        ({"in_channels": 2.5}, TypeError, "in_channels must be a whole number, got 2.5"),
        ({"in_channels": True}, TypeError, "in_channels must be a whole number, got True"),
        ({"out_channels": "4"}, TypeError, "out_channels must be a whole number, got '4'"),
        ({"out_channels": 4.0}, TypeError, "out_channels must be a whole number, got 4.0"),
        ({"groups": 1.0}, TypeError, "groups must be a whole number, got 1.0"),
        ({"groups": None}, TypeError, "groups must be a whole number, got None"),
        ({"bias": "no"}, TypeError, "bias must be True or False, got 'no'"),
        ({"bias": 0}, TypeError, "bias must be True or False, got 0"),
        ({"in_channels": 0}, ValueError, r"in_channels, out_channels and groups >= 1"),
        ({"out_channels": -1}, ValueError, r"in_channels, out_channels and groups >= 1"),
        ({"groups": 0}, ValueError, r"in_channels, out_channels and groups >= 1"),
    ],
)
def test_conv2d_names_each_bad_size_and_flag(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    """One error per argument, naming it: TypeError for a wrong type (as torch, which
    refuses a float size), ValueError for a value out of range."""
    args = {"in_channels": 2, "out_channels": 4, "kernel_size": 3} | kwargs
    with pytest.raises(error, match=rf"^Conv2d:? .*{message}"):
        Conv2d(**args)


def test_conv2d_names_the_expected_input_shape() -> None:
    layer = Conv2d(3, 4, 5, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"expects input of shape \(N, 3, H, W\)"):
        layer(np.zeros((2, 2, 8, 8)))
    with pytest.raises(ValueError, match="smaller than the dilated kernel"):
        layer(np.zeros((2, 3, 4, 8)))
    with pytest.raises(RuntimeError, match="before forward"):
        Conv2d(1, 1, 1).backward(np.zeros((1, 1, 1, 1)))


def random_pool_config(rng: np.random.Generator) -> tuple[dict[str, Any], tuple[int, ...]]:
    kernel = (int(rng.integers(1, 4)), int(rng.integers(1, 4)))
    stride = None if rng.integers(0, 3) == 0 else (int(rng.integers(1, 3)), int(rng.integers(1, 3)))
    padding = tuple(int(rng.integers(0, k // 2 + 1)) for k in kernel)
    shape = (
        int(rng.integers(1, 4)),
        int(rng.integers(1, 4)),
        int(kernel[0] + rng.integers(0, 5)),
        int(kernel[1] + rng.integers(0, 5)),
    )
    return {"kernel_size": kernel, "stride": stride, "padding": padding}, shape


def check_pool(
    layer: Any, reference: Any, x: np.ndarray, rng: np.random.Generator, what: str, detail: str = ""
) -> None:
    y = layer(x)
    upstream = rng.standard_normal(y.shape)
    dx = layer.backward(upstream)
    xt = torch.tensor(x, requires_grad=True)
    yt = reference(xt)
    yt.backward(torch.tensor(upstream))
    assert_close(f"{what} forward {detail}", y, yt.detach().numpy())
    assert_close(f"{what} dL/dx {detail}", dx, xt.grad)


@pytest.mark.parametrize("seed", range(30))
def test_max_pool_matches_torch_with_ties(seed: int) -> None:
    rng = np.random.default_rng(seed)
    kwargs, shape = random_pool_config(rng)
    dilation = int(rng.integers(1, 3)) if max(kwargs["kernel_size"]) > 1 else 1
    # Whole numbers from a small range: most windows hold tied maxima, and overlapping windows
    # (stride < kernel) share them, so the routing and the choice among ties are both exercised.
    shape = (*shape[:2], shape[2] + 2, shape[3] + 2)
    x = rng.integers(-2, 3, size=shape).astype(np.float64)
    layer = MaxPool2d(**kwargs, dilation=dilation)
    ref = torch.nn.MaxPool2d(**kwargs, dilation=dilation)
    check_pool(layer, ref, x, rng, "maxpool2d", f"{kwargs} dilation {dilation} on {shape}")


def test_max_pool_picks_the_first_of_tied_maxima_as_torch() -> None:
    x = np.array([[[[1.0, 1.0], [1.0, 1.0]]]])
    layer = MaxPool2d(2)
    layer(x)
    dx = layer.backward(np.ones((1, 1, 1, 1)))
    np.testing.assert_array_equal(dx, [[[[1.0, 0.0], [0.0, 0.0]]]])
    xt = torch.tensor(x, requires_grad=True)
    F.max_pool2d(xt, 2).sum().backward()
    np.testing.assert_array_equal(dx, xt.grad)


def test_max_pool_finds_one_tie_among_many_distinct_windows() -> None:
    # A single tied window among tie-free ones, in the tiled path (MaxPool2d(2)) and the
    # general one (overlapping windows), then again beside a NaN window (which has no hit: the
    # hits then number one per window, as if there were no tie).
    rng = np.random.default_rng(5)
    for layer, ref in ((MaxPool2d(2), torch.nn.MaxPool2d(2)),
                       (MaxPool2d(3, stride=2), torch.nn.MaxPool2d(3, stride=2))):  # fmt: skip
        x = rng.standard_normal((2, 3, 9, 9))
        x[1, 2, 0, 1] = x[1, 2, 1, 0] = 10.0  # window (0, 0) of image 1, channel 2: two maxima
        check_pool(layer, ref, x, rng, "maxpool2d", f"one tie, {layer!r}")
        x[0, 0, 4, 4] = np.nan  # a window with no hit
        layer(x)
        dx = layer.backward(np.ones((2, 3, 4, 4)))
        assert dx[1, 2, 0, 1] == 1.0 and dx[1, 2, 1, 0] == 0.0  # the first of the tie only


def test_max_pool_never_picks_padding_even_when_all_inputs_are_negative() -> None:
    x = -np.ones((1, 1, 3, 3)) - np.arange(9.0).reshape(1, 1, 3, 3)
    layer = MaxPool2d(3, stride=1, padding=1)
    y = layer(x)
    assert np.all(np.isfinite(y)) and y.max() < 0
    check_pool(layer, torch.nn.MaxPool2d(3, 1, 1), x, np.random.default_rng(0), "maxpool2d")


@pytest.mark.parametrize("seed", range(20))
@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_matches_torch(seed: int, count_include_pad: bool) -> None:
    rng = np.random.default_rng(seed)
    kwargs, shape = random_pool_config(rng)
    divisor = int(rng.integers(1, 5)) if seed % 5 == 4 else None
    layer = AvgPool2d(**kwargs, count_include_pad=count_include_pad, divisor_override=divisor)
    ref = torch.nn.AvgPool2d(
        **kwargs, count_include_pad=count_include_pad, divisor_override=divisor
    )
    check_pool(layer, ref, rng.standard_normal(shape), rng, "avgpool2d", f"{kwargs}")


@pytest.mark.parametrize(
    "output_size, shape",
    [
        (1, (2, 3, 5, 4)),
        (1, (1, 1, 1, 1)),
        (2, (2, 2, 5, 7)),
        ((3, None), (1, 2, 7, 5)),
        ((4, 3), (2, 1, 5, 7)),
    ],
)
def test_adaptive_avg_pool_matches_torch(output_size: Any, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(3)
    layer = AdaptiveAvgPool2d(output_size)
    ref = torch.nn.AdaptiveAvgPool2d(output_size)
    check_pool(layer, ref, rng.standard_normal(shape), rng, "adaptiveavgpool2d", f"{output_size}")


@pytest.mark.parametrize(
    "layer",
    [
        MaxPool2d(2),
        MaxPool2d(3, stride=2, padding=1),
        AvgPool2d(3, 1, 1),
        AvgPool2d((2, 3), count_include_pad=False, padding=1),
        AdaptiveAvgPool2d(2),
    ],
    ids=repr,
)
def test_pool_gradcheck(layer: Any) -> None:
    rng = np.random.default_rng(4)
    # distinct values: a max pool is differentiable only away from ties
    x = rng.permutation(2 * 2 * 6 * 7).reshape(2, 2, 6, 7) / 10.0
    report = gradcheck(layer, x, rng=rng)
    assert report, str(report)


# ---------------------------------------------------------------- the shared three checks, and a CNN

from layer_checks import check_layer  # noqa: E402


@pytest.mark.parametrize(
    "make, shape",
    [
        (lambda: torch.nn.Conv2d(2, 4, (3, 2), stride=(2, 1), padding=1), (2, 2, 6, 5)),
        (
            lambda: torch.nn.Conv2d(4, 2, 3, padding="same", dilation=2, groups=2, bias=False),
            (1, 4, 5, 5),
        ),
        (lambda: torch.nn.Conv2d(3, 2, 1), (2, 3, 3, 4)),
        (lambda: torch.nn.MaxPool2d(3, stride=2, padding=1), (2, 2, 6, 7)),
        (lambda: torch.nn.AvgPool2d(2, padding=1, count_include_pad=False), (2, 2, 5, 4)),
        (lambda: torch.nn.AdaptiveAvgPool2d(1), (2, 3, 4, 5)),
        (lambda: torch.nn.AdaptiveAvgPool2d((2, 3)), (2, 1, 5, 7)),
        (lambda: torch.nn.BatchNorm2d(3), (4, 3, 3, 2)),
        (lambda: torch.nn.BatchNorm2d(2, momentum=None, affine=False), (3, 2, 2, 3)),
    ],
    ids=lambda v: "" if callable(v) else str(v),
)
def test_layer_three_checks(make: Any, shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(7)
    label = type(make()).__name__
    # distinct values: a max pool's differences are taken away from ties
    x = rng.permutation(int(np.prod(shape))).reshape(shape) / 10.0 + rng.uniform(0, 0.01, shape)
    check_layer(label, make, x, rng)


def _grad(p: torch.Tensor) -> np.ndarray:
    assert p.grad is not None
    return p.grad.numpy().copy()


def test_a_torch_cnn_crosses_with_the_same_loss_gradients_and_update() -> None:
    from backprop import SGD, CrossEntropyLoss
    from backprop.interop import from_torch, to_torch

    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(
        torch.nn.Unflatten(1, (1, 8, 8)),
        torch.nn.Conv2d(1, 4, 3, padding=1), torch.nn.BatchNorm2d(4), torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Conv2d(4, 6, 3, padding="same", groups=2), torch.nn.ReLU(),
        torch.nn.AvgPool2d(2), torch.nn.Flatten(), torch.nn.Linear(24, 10),
    ).double()  # fmt: skip
    model = from_torch(tmodel)
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((6, 64)), rng.integers(0, 10, 6)
    loss_fn = CrossEntropyLoss()
    loss = loss_fn(model(x), y)
    model.zero_grad()
    model.backward(loss_fn.backward())
    SGD(model.parameters(), lr=0.1, momentum=0.0).step()

    tloss = F.cross_entropy(tmodel(torch.tensor(x)), torch.tensor(y))
    tloss.backward()
    assert_close("cnn loss", loss, tloss.item())
    torch_grads = {k: _grad(p) for k, p in tmodel.named_parameters()}
    with torch.no_grad():
        for k, p in tmodel.named_parameters():
            p.sub_(0.1 * torch.from_numpy(torch_grads[k]))
    ours = dict(model.named_parameters())
    # The first convolution's bias feeds a BatchNorm, which subtracts it again: its gradient is
    # 0 up to rounding, so each gradient is measured against the gradients' common scale.
    scale = max(float(np.abs(g).max()) for g in torch_grads.values())
    for key, g in torch_grads.items():
        is_linear_weight = key == "9.weight"
        assert_close(
            f"cnn gradient {key}", ours[key].grad, g.T if is_linear_weight else g, floor=scale
        )
    back = to_torch(model)
    for (key, theirs), (key2, ref) in zip(
        back.state_dict().items(), tmodel.state_dict().items(), strict=True
    ):
        assert key == key2
        assert_close(f"cnn after SGD {key}", theirs.numpy(), ref.numpy())


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
def test_from_torch_refuses_a_conv2d_that_pads_with_other_values_than_zeros(mode: Any) -> None:
    from backprop.interop import from_torch

    with pytest.raises(TypeError, match=rf"Conv2d: padding_mode='{mode}' is not supported"):
        from_torch(torch.nn.Conv2d(1, 2, 3, padding=1, padding_mode=mode))
    # zero padding, written out, still crosses
    from_torch(torch.nn.Conv2d(1, 2, 3, padding=1, padding_mode="zeros"))


def test_a_cnn_trained_with_one_image_blocks_follows_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    """Three SGD steps on changing batches with X̂ built one image at a time (CHUNK_BYTES = 1),
    so that dL/dW comes from X̂ built again in the backward pass: the first convolution (three
    channels, parameter gradients only) from its padded copy of x, the second (no padding)
    from the ReLU's output itself, which it holds. The parameters after each step equal
    PyTorch's."""
    import backprop.nn.conv as conv
    from backprop import SGD, CrossEntropyLoss
    from backprop.interop import from_torch

    monkeypatch.setattr(conv, "CHUNK_BYTES", 1)
    torch.manual_seed(1)
    tmodel = torch.nn.Sequential(
        torch.nn.Conv2d(3, 4, 3, padding=1), torch.nn.ReLU(),
        torch.nn.Conv2d(4, 5, 3), torch.nn.ReLU(), torch.nn.Flatten(), torch.nn.Linear(80, 3),
    ).double()  # fmt: skip
    model = from_torch(tmodel)
    ours, theirs = SGD(model.parameters(), lr=0.1), torch.optim.SGD(tmodel.parameters(), lr=0.1)
    loss_fn, rng = CrossEntropyLoss(), np.random.default_rng(3)
    for step, n in enumerate((4, 2, 4)):
        x, y = rng.standard_normal((n, 3, 6, 6)), rng.integers(0, 3, n)
        loss = loss_fn(model(x), y)
        model.zero_grad()
        model.backward(loss_fn.backward())
        ours.step()
        theirs.zero_grad()
        tloss = F.cross_entropy(tmodel(torch.tensor(x)), torch.tensor(y))
        tloss.backward()
        theirs.step()
        assert_close(f"cnn loss, one-image blocks, step {step}", loss, tloss.item())
        mine = dict(model.named_parameters())
        for key, p in tmodel.named_parameters():
            ref = p.detach().numpy()
            got = mine[key].data
            assert_close(
                f"cnn after, one-image blocks, {key}", got.T if key == "5.weight" else got, ref
            )


def test_explain_conv2d_and_maxpool2d_print_pytorchs_numbers() -> None:
    from backprop.explain_layer import explain_layer

    def steps(name: str) -> dict[str, np.ndarray]:
        w = explain_layer(name)
        return {s.name: s.value for s in [*w.forward, *w.backward]}

    c = steps("conv2d")
    x = torch.tensor(c["x"][None, None], requires_grad=True)
    W = torch.tensor(c["W"][None, None], requires_grad=True)
    b = torch.tensor(np.atleast_1d(c["b"]), requires_grad=True)
    y = F.conv2d(x, W, b)
    y.backward(torch.tensor(c["dL/dy"][None, None]))
    assert_close("explain conv2d y", c["y"], y.detach()[0, 0])
    assert_close("explain conv2d dL/dx", c["dL/dx"], _grad(x)[0, 0])
    assert_close("explain conv2d dL/dW", c["dL/dW"], _grad(W)[0, 0])
    assert_close("explain conv2d dL/db", np.atleast_1d(c["dL/db"]), _grad(b))

    m = steps("maxpool2d")
    x = torch.tensor(m["x"][None, None], requires_grad=True)
    y = F.max_pool2d(x, 2, stride=1)
    y.backward(torch.tensor(m["dL/dy"][None, None]))
    assert_close("explain maxpool2d y", m["y"], y.detach()[0, 0])
    assert_close("explain maxpool2d dL/dx", m["dL/dx"], _grad(x)[0, 0])
    assert m["dL/dx"][0, 1] == m["dL/dy"][0, 1]  # the tie went to x[0,0]; x[0,1] won alone
