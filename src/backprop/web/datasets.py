"""The playground's 2-D data sets, drawn from a seeded ``np.random.Generator``.

circle, xor, gauss and spiral follow TensorFlow Playground's definitions (its ``dataset.ts``):
points in [-6, 6]², labels ±1, ``noise`` in [0, 0.5]. moons is scikit-learn's ``make_moons``
shape, written here so the playground needs no scikit-learn. slp is the post's task in two
dimensions: Gaussian inputs whose target is the input itself (a regression, T = X). Every set
is scaled by 1/6 so that the inputs lie in about [-1, 1]², the plane the page draws.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass

import numpy as np

from ..arrays import Array

NAMES = ("circle", "xor", "gauss", "spiral", "moons", "slp")
SCALE = 6.0  # TF Playground's plane is [-6, 6]²; the network sees it divided by 6
MAX_CSV_BYTES = 64 * 1024
MAX_CSV_ROWS = 2000


class TooLarge(ValueError):
    """A body or an upload over its size limit: refused with 413."""


@dataclass
class Points:
    """x: (N, 2) inputs; y: (N,) labels 0/1 for classification, or (N, 2) targets for slp."""

    x: Array
    y: Array
    regression: bool = False


def _uniform(rng: np.random.Generator, lo: float, hi: float, n: int) -> Array:
    return rng.uniform(lo, hi, n)


def circle(n: int, noise: float, rng: np.random.Generator) -> Points:
    radius = 5.0
    half = n // 2
    pts, labels = [], []
    for lo, hi in ((0.0, radius * 0.5), (radius * 0.7, radius)):
        r = _uniform(rng, lo, hi, half)
        angle = _uniform(rng, 0, 2 * math.pi, half)
        x, y = r * np.sin(angle), r * np.cos(angle)
        nx, ny = (
            _uniform(rng, -radius, radius, half) * noise,
            _uniform(rng, -radius, radius, half) * noise,
        )
        # TF Playground labels each point by where its noisy copy falls, so noise mislabels some.
        labels.append(np.hypot(x + nx, y + ny) < radius * 0.5)
        pts.append(np.column_stack([x, y]))
    return Points(np.vstack(pts) / SCALE, np.concatenate(labels).astype(np.int64))


def xor(n: int, noise: float, rng: np.random.Generator) -> Points:
    padding = 0.3
    x, y = _uniform(rng, -5, 5, n), _uniform(rng, -5, 5, n)
    x += np.where(x > 0, padding, -padding)
    y += np.where(y > 0, padding, -padding)
    nx, ny = _uniform(rng, -5, 5, n) * noise, _uniform(rng, -5, 5, n) * noise
    labels = ((x + nx) * (y + ny) >= 0).astype(np.int64)
    return Points(np.column_stack([x, y]) / SCALE, labels)


def gauss(n: int, noise: float, rng: np.random.Generator) -> Points:
    # TF Playground: the variance grows linearly from 0.5 (noise 0) to 4 (noise 0.5).
    variance = 0.5 + noise / 0.5 * 3.5
    half = n // 2
    pos = rng.normal((2, 2), math.sqrt(variance), (half, 2))
    neg = rng.normal((-2, -2), math.sqrt(variance), (half, 2))
    labels = np.concatenate([np.ones(half), np.zeros(half)]).astype(np.int64)
    return Points(np.vstack([pos, neg]) / SCALE, labels)


def spiral(n: int, noise: float, rng: np.random.Generator) -> Points:
    half = n // 2
    pts = []
    for delta in (0.0, math.pi):
        i = np.arange(half)
        r = i / half * 5
        t = 1.75 * i / half * 2 * math.pi + delta
        x = r * np.sin(t) + _uniform(rng, -1, 1, half) * noise
        y = r * np.cos(t) + _uniform(rng, -1, 1, half) * noise
        pts.append(np.column_stack([x, y]))
    labels = np.concatenate([np.ones(half), np.zeros(half)]).astype(np.int64)
    return Points(np.vstack(pts) / SCALE, labels)


def moons(n: int, noise: float, rng: np.random.Generator) -> Points:
    # scikit-learn's make_moons, centred and scaled to about [-5, 5]; noise is a fraction of the
    # plane, as in the other sets (0.5 gives a standard deviation of 2.5).
    half = n // 2
    t = np.linspace(0, math.pi, half)
    outer = np.column_stack([np.cos(t), np.sin(t)])
    inner = np.column_stack([1 - np.cos(t), 1 - np.sin(t) - 0.5])
    pts = (np.vstack([outer, inner]) - (0.5, 0.25)) * 3.3
    pts += rng.normal(0, noise * 5, pts.shape)
    labels = np.concatenate([np.ones(half), np.zeros(half)]).astype(np.int64)
    return Points(pts / SCALE, labels)


def slp(n: int, noise: float, rng: np.random.Generator) -> Points:
    """The post's task: learn to copy the input, T = X (here with D = 2 and a noisy target)."""
    x = rng.normal(0, 2.0, (n, 2)) / SCALE
    return Points(x, x + rng.normal(0, noise / 5, x.shape), regression=True)


GENERATORS = {
    "circle": circle,
    "xor": xor,
    "gauss": gauss,
    "spiral": spiral,
    "moons": moons,
    "slp": slp,
}


def make(name: str, n: int, noise: float, rng: np.random.Generator) -> Points:
    """``n`` points of data set ``name``, shuffled."""
    points = GENERATORS[name](n, noise, rng)
    order = rng.permutation(len(points.x))
    return Points(points.x[order], points.y[order], points.regression)


def parse_csv(text: str) -> Points:
    """A user's points: rows ``x1,x2,label``, blank lines skipped, and a header line first when
    that line holds no number (``x1,x2,label``; a line with a number in it is data).

    The labels are 0 and 1, or -1 and 1 (not both 0 and -1: each file says which class is which
    one way). The inputs are scaled by one factor so the largest |coordinate| is 0.9, inside the
    drawn plane [-1, 1]². Raises ValueError naming the line of the text where the problem is.
    """
    if len(text.encode()) > MAX_CSV_BYTES:
        raise TooLarge(f"csv is larger than {MAX_CSV_BYTES // 1024} KiB")
    rows: list[tuple[int, list[str]]] = []  # (the row's first line, its cells)
    reader = csv.reader(io.StringIO(text, newline=""))
    line = 0
    try:
        for row in reader:
            if any(c.strip() for c in row):
                rows.append((line + 1, row))
            line = reader.line_num
    except csv.Error as e:
        raise ValueError(f"csv line {reader.line_num}: {e}") from None
    if rows and not any(_is_number(c) for c in rows[0][1]):
        rows = rows[1:]  # a header
    if len(rows) < 4:
        raise ValueError("csv needs at least 4 rows of x1,x2,label")
    if len(rows) > MAX_CSV_ROWS:
        raise ValueError(f"csv has {len(rows)} rows; the limit is {MAX_CSV_ROWS}")
    values = []
    for n, row in rows:
        if len(row) != 3 or not all(_is_number(c) for c in row):
            empty = [k for k, c in enumerate(row, 1) if not c.strip()]
            what = f"cell {empty[0]} is empty; " if len(row) == 3 and empty else ""
            raise ValueError(
                f"csv line {n}: {what}expected three numbers x1,x2,label, got {','.join(row)!r}"
            )
        values.append([float(c) for c in row])
    data = np.array(values)
    labels = data[:, 2]
    lines = [n for n, _ in rows]
    bad = np.flatnonzero(~np.isin(labels, (-1, 0, 1)))
    if bad.size:
        i = bad[0]
        raise ValueError(f"csv line {lines[i]}: label {labels[i]:g}; labels must be 0/1 or -1/1")
    if (labels == 0).any() and (labels == -1).any():
        zero, minus = lines[np.argmax(labels == 0)], lines[np.argmax(labels == -1)]
        raise ValueError(
            f"csv labels must be 0/1 or -1/1, not both: line {zero} has 0, line {minus} has -1"
        )
    x = data[:, :2]
    scale = float(np.abs(x).max())
    # x / scale first: 0.9 / scale overflows when scale is tiny (a subnormal such as 1e-310)
    return Points(x / scale * 0.9 if scale > 0 else x, (labels > 0).astype(np.int64))


def _is_number(text: str) -> bool:
    try:
        return math.isfinite(float(text))
    except ValueError:
        return False
