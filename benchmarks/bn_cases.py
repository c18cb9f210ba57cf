"""The BatchNorm case: one SGD step of a 784-512-512-10 MLP with BatchNorm1d and ReLU after each
hidden Linear, batch 256, float32, cross-entropy, built for backprop and for PyTorch.

Both libraries get the same initial weights (Linear uniform in ±1/√in, stored (in, out) for
backprop and transposed for PyTorch; BatchNorm's γ = 1, β = 0) and the same standard-normal
inputs, drawn here from NumPy with a fixed seed. Both run in training mode, so every step
normalises with the batch statistics and updates the running ones.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .cases import Work, sgd_steps_backprop, sgd_steps_torch


@dataclass(frozen=True)
class BNCase:
    name: str
    title: str
    sizes: tuple[int, ...]
    batch: int = 256
    dtype: str = "float32"
    lr: float = 0.01
    target: float = 1.0  # backprop's steps/s over PyTorch's, at least
    libs: tuple[str, ...] = ("backprop", "torch")


BN_CASES = {
    c.name: c
    for c in [
        BNCase("mlp_bn", "784-512-512-10, Linear → BatchNorm1d → ReLU, batch 256, float32, SGD",
               (784, 512, 512, 10)),
    ]
}  # fmt: skip


def initial_weights(case: BNCase, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    out = []
    for i, o in zip(case.sizes[:-1], case.sizes[1:], strict=True):
        bound = 1 / np.sqrt(i)
        out.append(
            (
                rng.uniform(-bound, bound, (i, o)).astype(case.dtype),
                rng.uniform(-bound, bound, o).astype(case.dtype),
            )
        )
    return out


def make_data(case: BNCase, seed: int = 1, batches: int = 8) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    n = case.batch * batches
    x = rng.standard_normal((n, case.sizes[0])).astype(case.dtype)
    return x, rng.integers(0, case.sizes[-1], size=n).astype(np.int64)


def backprop_model(case: BNCase) -> Any:
    import backprop as bp

    layers: list[Any] = []
    weights = initial_weights(case)
    for k, (W, b) in enumerate(weights):
        lin = bp.Linear(W.shape[0], W.shape[1], dtype=case.dtype, rng=np.random.default_rng(0))
        lin.weight.data[...] = W
        assert lin.bias is not None
        lin.bias.data[...] = b
        layers.append(lin)
        if k < len(weights) - 1:
            layers += [bp.BatchNorm1d(W.shape[1], dtype=case.dtype), bp.ReLU()]
    return bp.Sequential(*layers)


def torch_model(case: BNCase) -> Any:
    import torch

    tdtype = getattr(torch, case.dtype)
    layers: list[Any] = []
    weights = initial_weights(case)
    for k, (W, b) in enumerate(weights):
        lin = torch.nn.Linear(W.shape[0], W.shape[1], dtype=tdtype)
        with torch.no_grad():
            lin.weight.copy_(torch.from_numpy(W.T.copy()))
            lin.bias.copy_(torch.from_numpy(b))
        layers.append(lin)
        if k < len(weights) - 1:
            layers += [torch.nn.BatchNorm1d(W.shape[1], dtype=tdtype), torch.nn.ReLU()]
    return torch.nn.Sequential(*layers)


def build_backprop(case: BNCase) -> tuple[Work, int]:
    x, y = make_data(case)
    return sgd_steps_backprop(backprop_model(case), x, y, case.batch, case.lr), case.batch


def build_torch(case: BNCase) -> tuple[Work, int]:
    x, y = make_data(case)
    return sgd_steps_torch(torch_model(case), x, y, case.batch, case.lr), case.batch
