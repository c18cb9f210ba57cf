"""docs/conv.md: each derivation implemented as written, on its own, against PyTorch's autograd."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch_reference import assert_close

F = torch.nn.functional
DOC = Path(__file__).resolve().parents[1] / "docs" / "conv.md"

# (N, C, H, W, O, kH, kW, stride, padding, dilation)
CONFIGS = [
    (2, 3, 5, 6, 4, 3, 2, 1, 0, 1),
    (1, 2, 7, 7, 3, 3, 3, 2, 1, 1),
    (2, 1, 8, 6, 2, 2, 3, 3, 2, 2),
    (1, 2, 6, 9, 2, 1, 1, 2, 0, 1),
]


def setup(config: tuple[int, ...], seed: int) -> dict[str, Any]:
    N, C, H, W, O, kH, kW, s, p, d = config
    rng = np.random.default_rng(seed)
    x, w, b = (
        rng.standard_normal((N, C, H, W)),
        rng.standard_normal((O, C, kH, kW)),
        rng.standard_normal(O),
    )
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, w, b))
    y = F.conv2d(xt, wt, bt, stride=s, padding=p, dilation=d)
    g = rng.standard_normal(tuple(y.shape))
    y.backward(torch.tensor(g))
    assert xt.grad is not None and wt.grad is not None and bt.grad is not None
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)))
    return {"x": x, "x_pad": x_pad, "W": w, "b": b, "g": g, "y": y.detach().numpy(),
            "dx": xt.grad.numpy(), "dW": wt.grad.numpy(), "db": bt.grad.numpy(),
            "s": s, "p": p, "d": d}  # fmt: skip


def crop(d_pad: np.ndarray, p: int, H: int, W: int) -> np.ndarray:
    return d_pad[:, :, p : p + H, p : p + W]


@pytest.mark.parametrize("config", CONFIGS)
def test_index_sums_match_torch(config: tuple[int, ...]) -> None:
    """Section 1: the three sums, as nested loops."""
    c = setup(config, 0)
    x_pad, W, g, s, d = c["x_pad"], c["W"], c["g"], c["s"], c["d"]
    N, O, Ho, Wo = g.shape
    _, C, kH, kW = W.shape
    dW, db, dx_pad = np.zeros_like(W), np.zeros(O), np.zeros_like(x_pad)
    for n in range(N):
        for o in range(O):
            for h in range(Ho):
                for v in range(Wo):
                    db[o] += g[n, o, h, v]
                    for ch in range(C):
                        for i in range(kH):
                            for j in range(kW):
                                P, Q = s * h + d * i, s * v + d * j
                                dW[o, ch, i, j] += g[n, o, h, v] * x_pad[n, ch, P, Q]
                                dx_pad[n, ch, P, Q] += g[n, o, h, v] * W[o, ch, i, j]
    assert_close("docs index-sum dL/dW", dW, c["dW"])
    assert_close("docs index-sum dL/db", db, c["db"])
    assert_close("docs index-sum dL/dx", crop(dx_pad, c["p"], *c["x"].shape[2:]), c["dx"])


@pytest.mark.parametrize("config", CONFIGS)
def test_im2col_gemm_matches_torch(config: tuple[int, ...]) -> None:
    """Section 2: X̂ gathered by loops, the forward and both gradients as matrix products,
    dL/dX̂ scattered back by loops."""
    c = setup(config, 1)
    x_pad, W, b, g, s, d = c["x_pad"], c["W"], c["b"], c["g"], c["s"], c["d"]
    N, O, Ho, Wo = g.shape
    _, C, kH, kW = W.shape
    rows = [(n, h, v) for n in range(N) for h in range(Ho) for v in range(Wo)]
    cols = [(ch, i, j) for ch in range(C) for i in range(kH) for j in range(kW)]
    X = np.array([[x_pad[n, ch, s * h + d * i, s * v + d * j] for ch, i, j in cols]
                  for n, h, v in rows])  # fmt: skip
    What = W.reshape(O, -1)
    Y = X @ What.T + b
    assert_close("docs im2col forward", Y.reshape(N, Ho, Wo, O).transpose(0, 3, 1, 2), c["y"])
    dY = g.transpose(0, 2, 3, 1).reshape(-1, O)  # rows (n, h′, w′), as X̂'s
    assert_close("docs im2col dL/dW", (dY.T @ X).reshape(W.shape), c["dW"])
    assert_close("docs im2col dL/db", dY.sum(axis=0), c["db"])
    dX = dY @ What
    dx_pad = np.zeros_like(x_pad)
    for r, (n, h, v) in enumerate(rows):
        for k, (ch, i, j) in enumerate(cols):
            dx_pad[n, ch, s * h + d * i, s * v + d * j] += dX[r, k]
    assert_close("docs im2col dL/dx", crop(dx_pad, c["p"], *c["x"].shape[2:]), c["dx"])


def correlate(
    a: np.ndarray, k: np.ndarray, dilation: int, stride: int, out: tuple[int, int]
) -> np.ndarray:
    """out[..., P, Q] = Σ_ij a[..., stride·P + dilation·i, stride·Q + dilation·j] · k[i, j]
    (a plain 2-D correlation of the last two axes, with zeros beyond a's edge)."""
    res = np.zeros((*a.shape[:-2], *out))
    for P in range(out[0]):
        for Q in range(out[1]):
            for i in range(k.shape[0]):
                for j in range(k.shape[1]):
                    r, t = stride * P + dilation * i, stride * Q + dilation * j
                    if r < a.shape[-2] and t < a.shape[-1]:
                        res[..., P, Q] += a[..., r, t] * k[i, j]
    return res


@pytest.mark.parametrize("config", CONFIGS)
def test_flipped_kernel_matches_torch(config: tuple[int, ...]) -> None:
    """Section 3: dL/dx as the stride-spread, zero-bordered dL/dy correlated with the flipped,
    dilated kernel; dL/dW as x_pad correlated with dL/dy."""
    c = setup(config, 2)
    x_pad, W, g, s, d = c["x_pad"], c["W"], c["g"], c["s"], c["d"]
    N, O, Ho, Wo = g.shape
    _, C, kH, kW = W.shape
    spread = np.zeros((N, O, s * (Ho - 1) + 1, s * (Wo - 1) + 1))
    spread[:, :, ::s, ::s] = g  # s − 1 zeros between neighbours
    bh, bw = d * (kH - 1), d * (kW - 1)
    bordered = np.pad(spread, ((0, 0), (0, 0), (bh, bh), (bw, bw)))
    flipped = W[:, :, ::-1, ::-1]
    covered = (s * (Ho - 1) + bh + 1, s * (Wo - 1) + bw + 1)
    dx_pad = np.zeros_like(x_pad)
    for ch in range(C):
        for o in range(O):
            dx_pad[:, ch, : covered[0], : covered[1]] += correlate(
                bordered[:, o], flipped[o, ch], d, 1, covered
            )
    assert_close("docs flipped-kernel dL/dx", crop(dx_pad, c["p"], *c["x"].shape[2:]), c["dx"])
    dW = np.zeros_like(W)
    for o in range(O):
        for ch in range(C):
            for n in range(N):
                # x_pad correlated with dL/dy as the kernel: dilated by s, output stride d
                dW[o, ch] += correlate(x_pad[n, ch], g[n, o], s, d, (kH, kW))
    assert_close("docs flipped-kernel dL/dW", dW, c["dW"])


@pytest.mark.parametrize("seed, k, s, p", [(0, 2, 1, 0), (1, 3, 2, 1), (2, 2, 2, 0), (3, 3, 1, 1)])
def test_max_pool_routing_matches_torch(seed: int, k: int, s: int, p: int) -> None:
    """Max pool: each dL/dy routed, whole, to its window's first maximum (ties included)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(-2, 3, size=(2, 2, 6, 7)).astype(np.float64)  # many ties
    xt = torch.tensor(x, requires_grad=True)
    y = F.max_pool2d(xt, k, s, p)
    g = rng.standard_normal(tuple(y.shape))
    y.backward(torch.tensor(g))
    assert xt.grad is not None
    x_pad = np.pad(x, ((0, 0), (0, 0), (p, p), (p, p)), constant_values=-np.inf)
    dx_pad = np.zeros_like(x_pad)
    N, C, Ho, Wo = g.shape
    for n in range(N):
        for ch in range(C):
            for h in range(Ho):
                for v in range(Wo):
                    best, at = -np.inf, (0, 0)
                    for i in range(k):
                        for j in range(k):
                            if x_pad[n, ch, s * h + i, s * v + j] > best:  # strict: the first wins
                                best, at = x_pad[n, ch, s * h + i, s * v + j], (i, j)
                    dx_pad[n, ch, s * h + at[0], s * v + at[1]] += g[n, ch, h, v]
    assert_close("docs max-pool routing", crop(dx_pad, p, 6, 7), xt.grad.numpy())


def test_the_doc_names_each_test_and_the_commands() -> None:
    text = DOC.read_text()
    for name in [
        "test_index_sums_match_torch",
        "test_im2col_gemm_matches_torch",
        "test_flipped_kernel_matches_torch",
        "test_max_pool_routing_matches_torch",
        "backprop explain --layer conv2d",
        "backprop explain --layer maxpool2d",
    ]:
        assert name in text, name
