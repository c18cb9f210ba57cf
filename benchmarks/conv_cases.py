"""The convolution cases: one CNN training step (SGD), built for backprop and for PyTorch.

Both libraries get the same initial weights (uniform in ±1/√fan_in, as both initialise; the
Conv2d weight in PyTorch's layout (out, in, kH, kW) for both, Linear's transposed for PyTorch)
and the same standard-normal images, drawn here from NumPy with a fixed seed.

``conv_gemm_share`` times the convolutions' GEMMs inside real training steps of backprop (by
wrapping ``backprop.nn.conv.gemm``), and ``gemm_peak`` the BLAS GEMM peak of the same process:
the conv GEMMs' FLOP rate is reported as a share of that peak.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from .cases import Work, sgd_steps_backprop, sgd_steps_torch

# ("conv", in, out, kernel, padding) · ("relu",) · ("maxpool", k) · ("flatten",) · ("linear", in, out)
Layer = tuple[Any, ...]


@dataclass(frozen=True)
class ConvCase:
    name: str
    title: str
    image: tuple[int, int, int]
    layers: tuple[Layer, ...]
    batch: int = 64
    dtype: str = "float32"
    lr: float = 0.01
    target: float = 1.0
    libs: tuple[str, ...] = ("backprop", "torch", "gemm")

    def conv_gemm_flops(self) -> int:
        """2·N·H′·W′·O·(C·kH·kW + 1) for each convolution's forward product and its dL/dW (the
        + 1: backprop's patch matrix carries a column of ones, so that these products add the
        bias and give dL/db), and 2·N·H′·W′·O·C·kH·kW for its dL/dx but the first layer's (the
        input's gradient, which neither library computes)."""
        _, H, W = self.image
        total = 0
        first = True
        for layer in self.layers:
            kind = layer[0]
            if kind == "conv":
                _, cin, cout, k, pad = layer
                H, W = H + 2 * pad - k + 1, W + 2 * pad - k + 1
                one = 2 * self.batch * H * W * cout * cin * k * k
                total += 2 * (one + 2 * self.batch * H * W * cout) + (0 if first else one)
                first = False
            elif kind == "maxpool":
                H, W = H // layer[1], W // layer[1]
            elif kind == "linear":
                first = False
        return total


CONV_CASES = {
    c.name: c
    for c in [
        ConvCase(
            "digits_cnn",
            "digits CNN on 1×8×8: Conv2d(1,16,3,p=1)-ReLU-MaxPool2d(2)-Conv2d(16,32,3,p=1)-ReLU-"
            "MaxPool2d(2)-Flatten-Linear(128,10), batch 64, float32, one SGD step",
            (1, 8, 8),
            (("conv", 1, 16, 3, 1), ("relu",), ("maxpool", 2), ("conv", 16, 32, 3, 1),
             ("relu",), ("maxpool", 2), ("flatten",), ("linear", 128, 10)),
            target=1.5,
        ),
        ConvCase(
            "mnist_cnn",
            "PyTorch's MNIST example on 1×28×28: Conv2d(1,32,3)-ReLU-Conv2d(32,64,3)-ReLU-"
            "MaxPool2d(2)-Flatten-Linear(9216,128)-ReLU-Linear(128,10), batch 64, float32, "
            "one SGD step",
            (1, 28, 28),
            (("conv", 1, 32, 3, 0), ("relu",), ("conv", 32, 64, 3, 0), ("relu",),
             ("maxpool", 2), ("flatten",), ("linear", 9216, 128), ("relu",),
             ("linear", 128, 10)),
            target=0.8,
        ),
    ]
}  # fmt: skip


def initial_weights(case: ConvCase, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W, b) per conv (PyTorch's layout) and linear ((in, out), backprop's) layer."""
    rng = np.random.default_rng(seed)
    out = []
    for layer in case.layers:
        if layer[0] == "conv":
            _, cin, cout, k, _ = layer
            bound = 1 / np.sqrt(cin * k * k)
            shape: tuple[int, ...] = (cout, cin, k, k)
        elif layer[0] == "linear":
            _, cin, cout = layer
            bound = 1 / np.sqrt(cin)
            shape = (cin, cout)
        else:
            continue
        W = rng.uniform(-bound, bound, shape).astype(case.dtype)
        out.append((W, rng.uniform(-bound, bound, cout).astype(case.dtype)))
    return out


def make_data(case: ConvCase, seed: int = 1, batches: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = case.batch * batches
    x = rng.standard_normal((n, *case.image)).astype(case.dtype)
    return x, rng.integers(0, 10, size=n).astype(np.int64)


def backprop_model(case: ConvCase) -> Any:
    import backprop as bp

    weights = iter(initial_weights(case))
    layers: list[bp.Module] = []
    for layer in case.layers:
        kind = layer[0]
        if kind in ("conv", "linear"):
            if kind == "conv":
                _, cin, cout, k, pad = layer
                lay: Any = bp.Conv2d(cin, cout, k, padding=pad, dtype=case.dtype)
            else:
                lay = bp.Linear(layer[1], layer[2], dtype=case.dtype)
            W, b = next(weights)
            lay.weight.data[...] = W
            lay.bias.data[...] = b
            layers.append(lay)
        elif kind == "relu":
            layers.append(bp.ReLU())
        elif kind == "maxpool":
            layers.append(bp.MaxPool2d(layer[1]))
        else:
            layers.append(bp.Flatten())
    return bp.Sequential(*layers)


def build_backprop(case: ConvCase) -> tuple[Work, int]:
    x, y = make_data(case)
    return sgd_steps_backprop(backprop_model(case), x, y, case.batch, case.lr), case.batch


def build_torch(case: ConvCase) -> tuple[Work, int]:
    import torch

    tdtype = getattr(torch, case.dtype)
    weights = iter(initial_weights(case))
    layers: list[torch.nn.Module] = []
    for layer in case.layers:
        kind = layer[0]
        if kind in ("conv", "linear"):
            W, b = next(weights)
            if kind == "conv":
                _, cin, cout, k, pad = layer
                lay: Any = torch.nn.Conv2d(cin, cout, k, padding=pad, dtype=tdtype)
            else:
                lay = torch.nn.Linear(layer[1], layer[2], dtype=tdtype)
                W = W.T.copy()
            with torch.no_grad():
                lay.weight.copy_(torch.from_numpy(W))
                lay.bias.copy_(torch.from_numpy(b))
            layers.append(lay)
        elif kind == "relu":
            layers.append(torch.nn.ReLU())
        elif kind == "maxpool":
            layers.append(torch.nn.MaxPool2d(layer[1]))
        else:
            layers.append(torch.nn.Flatten())
    model = torch.nn.Sequential(*layers)
    x, y = make_data(case)
    return sgd_steps_torch(model, x, y, case.batch, case.lr), case.batch


def gemm_peak(dtype: str, seconds: float) -> float:
    """GFLOP/s of NumPy's GEMM on 1024×1024 · 1024×1024 into a preallocated output (the BLAS
    peak of this process), the best of several blocks of three products (at least one block)."""
    rng = np.random.default_rng(0)
    a, b = (rng.standard_normal((1024, 1024)).astype(dtype) for _ in range(2))
    c = np.empty((1024, 1024), dtype)
    np.matmul(a, b, out=c)
    best, deadline = 0.0, time.perf_counter() + seconds
    while True:
        t0 = time.perf_counter()
        for _ in range(3):
            np.matmul(a, b, out=c)
        best = max(best, 3 * 2 * 1024**3 / (time.perf_counter() - t0) / 1e9)
        if time.perf_counter() >= deadline:
            return best


def conv_gemm_share(case: ConvCase, seconds: float, pairs: int = 5) -> dict[str, float]:
    """The conv GEMMs of backprop's training steps: their GFLOP/s (FLOPs counted from the
    shapes of each product, time measured around each), their share of a step's time, and
    their share of the GEMM peak of the same process.

    Measured in ``pairs`` alternating pairs of blocks: training steps for seconds/pairs (the
    conv GEMMs' rate), then the 1024³ GEMM for a tenth of that (its best block: the peak at
    that moment). The share of the peak is the median of the pairs' ratios, so that a slow
    spell of the machine (on a shared virtual machine they come and go within seconds) lowers
    both sides of one ratio rather than one side of the whole measurement."""
    import backprop.nn.conv as conv

    spent = {"seconds": 0.0, "flops": 0.0}
    inner = conv.gemm

    def timed(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        t0 = time.perf_counter()
        result = inner(a, b, out=out)
        spent["seconds"] += time.perf_counter() - t0
        spent["flops"] += 2.0 * result.size * a.shape[-1]
        return result

    step, _ = build_backprop(case)
    rates, peaks = [], []
    gemm_seconds = flops = total = 0.0
    steps = 0
    conv.gemm = timed
    try:
        for _ in range(3):
            step()
        for _ in range(pairs):
            spent.update(seconds=0.0, flops=0.0)
            n, t0 = 0, time.perf_counter()
            while time.perf_counter() - t0 < seconds / pairs or n < 2:
                step()
                n += 1
            total += time.perf_counter() - t0
            steps += n
            gemm_seconds += spent["seconds"]
            flops += spent["flops"]
            rates.append(spent["flops"] / spent["seconds"] / 1e9)
            conv.gemm = inner
            peaks.append(gemm_peak(case.dtype, seconds / pairs / 10))
            conv.gemm = timed
    finally:
        conv.gemm = inner
    if flops / steps != case.conv_gemm_flops():
        raise SystemExit(f"{case.name}: the conv GEMMs counted disagree with the shapes' count")
    return {
        "peak_gflops": statistics.median(peaks),
        "conv_gemm_gflops": statistics.median(rates),
        "conv_gemm_share_of_peak": statistics.median(
            r / p for r, p in zip(rates, peaks, strict=True)
        ),
        "conv_gemm_time_share": gemm_seconds / total,
        "flops_per_step": flops / steps,
    }
