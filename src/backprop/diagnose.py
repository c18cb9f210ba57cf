"""The diagnosis: what kind of mistake a wrong gradient shows, read from the numbers alone.

``diagnose(yours, correct, ...)`` compares a hand-written gradient with the correct one (central
differences, or a reference such as PyTorch) and names the signature of the mistake:

    none         the two agree
    scaled       yours ≈ c · correct; c is named when it is N, 1/N, 2, 1/2, D or 1/D
    sign         yours ≈ −correct (the case c = −1)
    transposed   yours ≈ correctᵀ (the square case, where the shapes agree) or has its shape
    unsummed     a bias gradient that kept one sample's row, or the batch's rows, not their sum
    accumulated  yours = k · correct after k backward calls (a forgotten zero_grad)
    wrong_point  an elementwise f′ evaluated at the output y instead of the input x
    batch_terms  dL/dx off by a + b·x̂ in every column: the batch statistics' terms are missing
    partial      right on some entries, wrong on others (which rows, columns, signs of the input)
    kink         wrong only within h of a non-differentiable point (found by ``check``)
    precision    float32 inputs, rerun in float64 (set by ``check``)
    unknown      none of the above

Each comes with a one-line hint for the learner.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from .arrays import Array
from .gradcheck import rel_error

# Two gradients are "the same" when their norm-wise relative error is below CLOSE: far above what
# central differences in float64 leave (about 1e-8), far below any real mistake (order 1).
CLOSE = 1e-6


@dataclass
class Diagnosis:
    kind: str
    factor: float | None = None
    hint: str = ""
    factor_name: str | None = None  # "N", "1/N", "2", "1/2", "D", "1/D" or "-1", when recognised

    def to_dict(self) -> dict[str, object]:
        return {"kind": self.kind, "factor": self.factor, "hint": self.hint}


def close(a: Array, b: Array) -> bool:
    return a.shape == b.shape and bool(np.all(np.isfinite(a))) and rel_error(a, b) < CLOSE


def entries_wrong(yours: Array, correct: Array, atol: float = 0.0) -> Array:
    """A boolean mask of the entries that disagree beyond rounding (non-finite ones included).

    atol: the absolute error the correct values may carry (the rounding of central differences).
    """
    finite = np.isfinite(yours) & np.isfinite(correct)
    scale = max(
        float(np.max(np.abs(np.where(finite, correct, 0)), initial=0.0)),
        float(np.max(np.abs(np.where(finite, yours, 0)), initial=0.0)),
    )
    with np.errstate(invalid="ignore"):
        diff = np.abs(np.where(finite, yours - correct, 0))
    return ~finite | (diff > CLOSE * scale + max(atol, 1e-12))


def factor_name(c: float, sizes: dict[str, int]) -> str | None:
    """The name of a constant factor: N, 1/N, 2, 1/2, D, 1/D (N the batch size, D the features)."""
    # the sizes first: where N = 2 a missing 1/N is the likelier story than a stray 2
    candidates = []
    for symbol in ("N", "D"):
        n = sizes.get(symbol)
        if n is not None and n > 1:
            candidates += [(float(n), symbol), (1.0 / n, f"1/{symbol}")]
    candidates += [(2.0, "2"), (0.5, "1/2")]
    for value, name in candidates:
        if abs(c - value) <= 1e-6 * abs(value):
            return name
    return None


_SCALED_HINTS = {
    "N": "a missing 1/N: the loss is averaged over the batch, its gradient must be too",
    "1/N": "divided by N once too often (or a mean where the formula has a sum)",
    "2": "a factor 2 too many",
    "1/2": "a missing 2: the derivative of a square is 2·(O − T)",
    "D": "summed over the D features where the loss averages over them",
    "1/D": "divided by D, the number of features: the loss averages over the batch only",
}


def diagnose(
    yours: Array,
    correct: Array,
    *,
    sizes: dict[str, int] | None = None,
    calls: int = 1,
    input: Array | None = None,
    per_sample: Callable[[int], Array] | None = None,
    wrong_point: Callable[[], Array | None] | None = None,
    atol: float = 0.0,
) -> Diagnosis:
    """Name the mistake that turns ``correct`` into ``yours``.

    sizes: {"N": batch size, "D": features}, to name a factor. calls: how many backward calls
    ``yours`` was accumulated over. input: the layer's input, when the gradient is dL/dx (to say
    "where the input is negative"). per_sample(n): the correct gradient of sample n's term alone
    (to recognise a bias gradient that kept one row). wrong_point(): the gradient an elementwise
    layer would give with f′ taken at its output, or None. atol: the absolute error that
    ``correct`` may carry (the rounding of central differences).
    """
    sizes = sizes or {}
    yours = np.asarray(yours, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    n = sizes.get("N")
    if yours.shape != correct.shape:
        return _shape_mismatch(yours, correct, n)
    if not np.all(np.isfinite(correct)):
        return Diagnosis(
            "unknown",
            None,
            "the central differences are not finite: the forward pass overflows at this input",
        )
    wrong = entries_wrong(yours, correct, atol)
    if not wrong.any():
        return Diagnosis("none", None, "")
    finite = bool(np.all(np.isfinite(yours)))
    if finite and float(np.vdot(correct, correct)) > 0:
        c = float(np.vdot(yours, correct) / np.vdot(correct, correct))
        if close(yours, c * correct) and abs(c - 1) > CLOSE:
            return _scaled(c, sizes, calls)
    if finite and yours.ndim == 2 and yours.shape[0] == yours.shape[1] and close(yours, correct.T):
        return Diagnosis(
            "transposed",
            None,
            "yours is the transpose of the correct gradient (a square matrix hides it): "
            "for y = x @ W, dL/dW = xᵀ · dL/dy",
        )
    if finite and per_sample is not None and n is not None and n > 1:
        for i in sorted({0, n - 1}):
            if close(yours, per_sample(i)):
                return Diagnosis(
                    "unsummed",
                    None,
                    f"yours is sample {i}'s gradient alone: sum over the batch (Σₙ dL/dyₙ)",
                )
    if finite and wrong_point is not None:
        alt = wrong_point()
        if alt is not None and close(yours, alt):
            return Diagnosis(
                "wrong_point",
                None,
                "f′ is evaluated at the output y instead of the input x "
                "(or the cached input was overwritten by the output)",
            )
    if finite and input is not None and _batch_terms(yours - correct, input):
        return Diagnosis(
            "batch_terms",
            None,
            "yours misses the terms through the batch's statistics: each column is off by "
            "a + b·x̂, as when BatchNorm's mean(g) and x̂·mean(g·x̂) are left out",
        )
    right = ~wrong & (np.abs(correct) > 1e-12)
    if right.any():
        return Diagnosis("partial", None, _where(wrong, input, yours))
    if not finite:
        return Diagnosis("unknown", None, "yours is not finite: an overflow in the forward pass?")
    return Diagnosis("unknown", None, "no known pattern: compare the formula line by line")


def _batch_terms(diff: Array, x: Array) -> bool:
    """Is every column of ``diff`` a + b·x̂ (x̂ the column of x standardised over the batch)?

    The signature of a backward pass that treats the batch mean and variance as constants.
    Needs N ≥ 4 samples, so that two coefficients cannot fit any column.
    """
    if x.ndim != 2 or x.shape != diff.shape or x.shape[0] < 4:
        return False
    z = x - x.mean(axis=0)
    basis = np.stack([np.ones_like(z), z], axis=-1)  # (N, D, 2)
    residual = 0.0
    for j in range(x.shape[1]):
        coef, *_ = np.linalg.lstsq(basis[:, j], diff[:, j], rcond=None)
        residual += float(np.sum((basis[:, j] @ coef - diff[:, j]) ** 2))
    return residual <= (CLOSE * float(np.linalg.norm(diff))) ** 2


def _scaled(c: float, sizes: dict[str, int], calls: int) -> Diagnosis:
    k = round(c)
    if calls > 1 and k == calls and abs(c - k) < 1e-6:
        return Diagnosis(
            "accumulated",
            float(k),
            f"yours is {k} × the gradient after {k} backward calls: "
            "zero the gradients (zero_grad) before each backward pass",
        )
    if abs(c + 1) < 1e-6:
        return Diagnosis(
            "sign",
            -1.0,
            "yours is −correct: a sign is flipped (the post's 2(T − O) for 2(O − T)?)",
            "-1",
        )
    name = factor_name(c, sizes)
    if name is None:
        return Diagnosis(
            "scaled",
            c,
            f"yours = {c:.6g} × correct: a constant factor is wrong "
            "(a scale missing or doubled: 1/N, 2, dropout's 1/(1 − p)…)",
        )
    return Diagnosis("scaled", c, f"yours = {name} × correct: {_SCALED_HINTS[name]}", name)


def _shape_mismatch(yours: Array, correct: Array, n: int | None) -> Diagnosis:
    if yours.ndim == 2 and yours.shape == correct.shape[::-1]:
        return Diagnosis(
            "transposed",
            None,
            f"yours has shape {yours.shape}, the transpose of {correct.shape}: "
            "for y = x @ W, dL/dW = xᵀ · dL/dy",
        )
    if n is not None and yours.shape == (n, *correct.shape):
        return Diagnosis(
            "unsummed",
            None,
            f"yours kept the batch's {n} rows, shape {yours.shape}: sum them (Σₙ dL/dyₙ)",
        )
    return Diagnosis("unknown", None, f"yours has shape {yours.shape}, expected {correct.shape}")


def _where(wrong: Array, x: Array | None, yours: Array) -> str:
    """Say which entries are wrong: whole rows, whole columns, where the input is negative…"""
    count, total = int(wrong.sum()), wrong.size
    parts = []
    if x is not None and x.shape == wrong.shape:
        # the wrong entries are (nearly) all those where the input is negative, and no others
        for sign, part in (("negative", x < 0), ("positive", x > 0)):
            if not (wrong & ~part).any() and count >= 0.9 * part.sum():
                return (
                    f"wrong where the input is {sign} ({count} of {total} entries), right elsewhere"
                )
    if wrong.ndim == 2:
        rows = np.flatnonzero(wrong.any(axis=1))
        cols = np.flatnonzero(wrong.any(axis=0))
        if wrong[rows].all():
            parts.append(f"wrong on whole rows {_list(rows)}, right on the others")
        elif wrong[:, cols].all():
            parts.append(f"wrong on whole columns {_list(cols)}, right on the others")
    if not parts:
        where = [tuple(int(i) for i in idx) for idx in np.argwhere(wrong)[:5]]
        more = "…" if count > 5 else ""
        parts.append(f"{count} of {total} entries wrong, at {', '.join(map(str, where))}{more}")
    if not np.all(np.isfinite(yours)):
        parts.append("yours is not finite there (an overflow?)")
    return "; ".join(parts)


def _list(idx: Array) -> str:
    items = [str(int(i)) for i in idx[:8]]
    return ", ".join(items) + (", …" if len(idx) > 8 else "")
