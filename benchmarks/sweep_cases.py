"""The width × batch sweep's cases: ReLU MLPs in-w-w-10 for every width, batch, input size and dtype.

Each point is an ordinary step case of ``benchmarks/cases.py`` (cross-entropy, plain SGD lr 0.01,
the batches cycling through 4096 standard-normal samples, the same initial weights for both
libraries), so ``build_backprop``, ``build_torch`` and ``gemm_buffers`` build it as they build
the others. 4 widths × 3 batches × 2 input sizes × 2 dtypes = 48 points.
"""

from __future__ import annotations

import itertools

from .cases import Case

WIDTHS = (32, 128, 512, 2048)
BATCHES = (16, 64, 256)
INPUTS = (784, 64)
DTYPES = ("float32", "float64")
LIBS = ("backprop", "torch")


def point_name(in_dim: int, width: int, batch: int, dtype: str) -> str:
    return f"sweep-{in_dim}-{width}-b{batch}-{dtype}"


def sweep_case(in_dim: int, width: int, batch: int, dtype: str) -> Case:
    return Case(
        point_name(in_dim, width, batch, dtype),
        f"{in_dim}-{width}-{width}-10 ReLU, batch {batch}, {dtype}, SGD",
        (in_dim, width, width, 10), batch, dtype, "ce", "sgd", 1e-2, LIBS, samples=4096,
    )  # fmt: skip


SWEEP = {
    c.name: c
    for c in (
        sweep_case(in_dim, w, b, dtype)
        for in_dim, dtype, w, b in itertools.product(INPUTS, DTYPES, WIDTHS, BATCHES)
    )
}

# One worker process per library, round and group measures every point of the group.
GROUPS: dict[tuple[int, str], list[str]] = {
    (in_dim, dtype): [point_name(in_dim, w, b, dtype) for w in WIDTHS for b in BATCHES]
    for in_dim in INPUTS
    for dtype in DTYPES
}
