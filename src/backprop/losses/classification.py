"""Losses over class labels: ``CrossEntropyLoss`` (from logits) and ``NLLLoss`` (from
log-probabilities), with PyTorch's ``weight``, ``ignore_index`` and ``reduction``.

Symbols: Z (N, C) logits, y (N,) class labels, p = softmax(Z) row by row, log p = log_softmax(Z),
w (C,) class weights (1 when not given), ε label smoothing, g the upstream gradient dL'/dℓ
(1 for a scalar loss). Rows whose label is ``ignore_index`` count for nothing: ℓₙ = 0, no
weight in the mean, a zero gradient row.
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import numpy as np

from ..arrays import Array, constant, row_sums, vector_sum
from ..nn._checks import as_batch
from .reduction import check_reduction, upstream

_UNSIGNED = {np.dtype(t).itemsize: np.dtype(t) for t in (np.uint8, np.uint16, np.uint32, np.uint64)}


def check_labels(loss: str, scores: Array, target: Array, ignore_index: int) -> Array | None:
    """Check (N, C) scores and (N,) integer labels in [0, C) (or ``ignore_index``); return the
    mask of rows to count, or None when every row counts."""
    if scores.ndim != 2:
        raise ValueError(f"{loss}: input must be (N, C), got shape {scores.shape}")
    n, c = scores.shape
    if target.shape != (n,):
        raise ValueError(
            f"{loss}: target must be ({n},) class labels for input {scores.shape}, "
            f"got shape {target.shape}"
        )
    if target.dtype.kind not in "iu":
        raise ValueError(f"{loss}: target must hold integer class labels, got dtype {target.dtype}")
    if n == 0:
        raise ValueError(f"{loss}: got an empty batch (N = 0)")
    # ufunc.reduce: the loops behind .min() and .max(), without their Python-level wrappers,
    # which on a small batch cost more than the arithmetic. The common case takes one pass:
    # viewed as unsigned, a negative b-bit label is 2^(b−1) or more (two's complement), so when
    # C is no larger, every label lies in [0, C) exactly when the largest of them, so viewed,
    # is below C.
    bits = 8 * target.dtype.itemsize
    if target.dtype.kind == "u" or c <= 1 << (bits - 1):
        top = int(np.maximum.reduce(target.view(_UNSIGNED[target.dtype.itemsize])))
        if top < c and not 0 <= ignore_index < c:
            return None  # every label a class, and ignore_index (-100 by default) none of them
    lo, hi = int(np.minimum.reduce(target)), int(np.maximum.reduce(target))
    ignored = target == ignore_index
    if lo >= 0 and hi < c:
        return ~ignored if ignored.any() else None
    bad = ((target < 0) | (target >= c)) & ~ignored
    if bad.any():
        i = int(np.argmax(bad))
        raise ValueError(
            f"{loss}: label {int(target[i])} at index {i} is out of range [0, {c - 1}] "
            f"for {c} classes"
        )
    return ~ignored


def check_weight(loss: str, weight: Array | None, c: int, dtype: np.dtype) -> Array | None:
    if weight is None:
        return None
    if weight.shape != (c,):
        raise ValueError(
            f"{loss}: weight must have shape ({c},) for {c} classes, got {weight.shape}"
        )
    return weight.astype(dtype, copy=False)


class CrossEntropyLoss:
    """Softmax cross-entropy of logits Z (N, C) against class labels y (N,), as
    ``torch.nn.CrossEntropyLoss(weight, ignore_index, reduction, label_smoothing)``.

    ℓₙ = (1 − ε) · wᵧₙ · (−log pₙ,ᵧₙ) + ε/C · Σ_c w_c · (−log pₙ,c)
    L  = Σₙ ℓₙ / Σₙ wᵧₙ   ("mean": a weighted mean, PyTorch's; with no weight, / N)
         Σₙ ℓₙ            ("sum"),   ℓ (N,)  ("none")

    backward:  dL/dZₙ = gₙ/D · ( pₙ · ((1 − ε) wᵧₙ + ε/C Σ_c w_c) − (1 − ε) wᵧₙ onehot(yₙ) − ε/C w )
               with D = Σₙ wᵧₙ for "mean", 1 otherwise; with no weights and ε = 0 this is the
               familiar dL/dZ = (p − onehot(y)) / N.

    Label smoothing mixes the one-hot target with the uniform distribution: q = (1 − ε) onehot(y)
    + ε/C, and ℓ = −Σ_c q_c log p_c (with no weights, dL/dZ = g/D · (p − q)).

    log p is computed as (z − m) − log Σ e^(z − m) with m = max z: every exponent is ≤ 0, so
    nothing overflows, and the largest term is e⁰ = 1, so the sum is ≥ 1 and its log is never
    log(0). The cache is p (N, C) and what the gradient's coefficients need.
    Labels only (not class probabilities) as targets.
    """

    def __init__(
        self,
        weight: Array | None = None,
        ignore_index: int = -100,
        reduction: str = "mean",
        label_smoothing: float = 0.0,
    ) -> None:
        self.reduction = check_reduction("CrossEntropyLoss", reduction)
        given: Any = label_smoothing  # anything a caller passed
        if isinstance(given, bool) or not isinstance(given, numbers.Real):
            raise TypeError(f"CrossEntropyLoss: label_smoothing must be a number, got {given!r}")
        if not 0.0 <= label_smoothing <= 1.0:
            raise ValueError(
                f"CrossEntropyLoss: label_smoothing must lie in [0, 1], got {label_smoothing}"
            )
        self.weight = None if weight is None else np.asarray(weight)
        self.ignore_index = int(ignore_index)
        self.label_smoothing = float(label_smoothing)
        self._probs: Array | None = None
        # the labels yₙ; in the common case (no weights, ignored rows or smoothing, the mean:
        # _general is None), their places n·C + yₙ in the flat view of p
        self._labels: Array | None = None
        # the general case's per-row coefficients: wᵧ (0 for ignored rows), ε/C-weighted
        # mask, and D
        self._general: tuple[Array, Array, float] | None = None
        self._starts: Array = np.arange(0)
        self._starts_step = 0

    def __call__(self, logits: Array | Any, target: Array | Any) -> float | Array:
        if type(logits) is np.ndarray and logits.ndim == 2 and len(logits):
            # check_labels then checks the target's type and shape, and every label
            return self.forward(
                logits, target if type(target) is np.ndarray else np.asarray(target)
            )
        name = type(self).__name__
        return self.forward(as_batch(name, "logits", logits), as_batch(name, "target", target))

    def forward(self, logits: Array, target: Array) -> float | Array:
        counted = check_labels("CrossEntropyLoss", logits, target, self.ignore_index)
        n, c = logits.shape
        weight = (
            None
            if self.weight is None
            else check_weight("CrossEntropyLoss", self.weight, c, logits.dtype)
        )
        shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = row_sums(exp)[:, None]
        eps = self.label_smoothing
        if counted is None and weight is None and eps == 0 and self.reduction == "mean":
            # The common case, kept short: −log p at the true class, averaged. Entry (n, yₙ)
            # of an (N, C) array is entry n·C + yₙ of its flat view.
            at_label = self._row_starts(n, c) + target.astype(np.intp, copy=False)
            nll = np.log(sum_exp[:, 0]) - shifted.reshape(-1).take(at_label)
            loss = float(vector_sum(nll) / n)
            exp /= sum_exp
            self._probs, self._labels, self._general = exp, at_label, None
            return loss
        rows = self._row_starts(n, 1)  # 0, 1, …, N − 1
        labels = target if counted is None else np.where(counted, target, 0)
        log_probs = shifted - np.log(sum_exp)
        w_y = np.ones(n, logits.dtype) if weight is None else weight[labels]
        if counted is not None:
            w_y = w_y * counted
        per_row = -w_y * log_probs[rows, labels]
        if eps:
            smooth = -(log_probs @ weight) if weight is not None else -log_probs.sum(axis=1)
            if counted is not None:
                smooth = smooth * counted
            per_row = (1 - eps) * per_row + (eps / c) * smooth
        total_weight = float(w_y.sum()) if self.reduction == "mean" else 1.0
        exp /= sum_exp
        self._probs, self._labels = exp, labels
        self._general = (
            w_y,
            np.ones(n, logits.dtype) if counted is None else counted,
            total_weight,
        )
        if self.reduction == "none":
            return per_row
        if total_weight == 0:
            # a mean over no weight (every row ignored, or weighted 0): nan, as in PyTorch,
            # even where label smoothing's share would make it x/0 = inf
            return math.nan
        return float(np.float64(per_row.sum()) / total_weight)

    def backward(self, grad_output: Array | float | None = None) -> Array:
        probs, labels = self._probs, self._labels
        if probs is None or labels is None:
            raise RuntimeError("CrossEntropyLoss: backward() called before the loss was computed")
        n, c = probs.shape
        g = (
            1.0
            if grad_output is None and self.reduction != "none"
            else upstream("CrossEntropyLoss", self.reduction, grad_output, (n,))
        )
        if self._general is None:
            # 1 is taken off before dividing by N: where softmax is close to 1, p − 1 is exact,
            # while p/N − 1/N would lose the digits that the division rounded away. (The
            # labels are cached as places in the flat (N·C,) view: n·C + yₙ.)
            grad = probs.copy()
            grad.reshape(-1)[labels] -= constant(1, grad.dtype)
            grad /= constant(n, grad.dtype)
            if not (isinstance(g, float) and g == 1.0):
                grad *= g
            return grad
        rows = self._row_starts(n, 1)  # 0, 1, …, N − 1
        w_y, counted, total_weight = self._general
        eps = self.label_smoothing
        weight = check_weight("CrossEntropyLoss", self.weight, c, probs.dtype)
        weight_sum = float(weight.sum()) if weight is not None else float(c)
        hit = (1 - eps) * w_y
        # D = 0 (every row ignored, or the classes present weighted 0): g/D is nan, which the
        # counted rows' gradient takes, as PyTorch's does; an ignored row's is 0, as there
        with np.errstate(invalid="ignore", divide="ignore"):
            coef = np.divide(g, np.float64(total_weight)) * np.ones(n)
            coef = np.where(counted != 0, coef, 0).astype(probs.dtype)
            grad = probs * (coef * (hit + (eps / c) * weight_sum * counted))[:, None]
            grad[rows, labels] -= coef * hit
            if eps:
                smooth = (coef * (eps / c) * counted)[:, None]
                grad -= smooth * weight if weight is not None else smooth
        return grad

    def _row_starts(self, n: int, c: int) -> Array:
        """n·C for every row n, kept from call to call: where row n begins in the flat view of
        an (N, C) array (with C = 1, the row indices)."""
        if self._starts.shape != (n,) or self._starts_step != c:
            self._starts = np.arange(0, n * c, c)
            self._starts_step = c
        return self._starts

    def __repr__(self) -> str:
        args = []
        if self.weight is not None:
            args.append(f"weight={self.weight.tolist()}")
        if self.ignore_index != -100:
            args.append(f"ignore_index={self.ignore_index}")
        if self.reduction != "mean":
            args.append(f"reduction={self.reduction!r}")
        if self.label_smoothing:
            args.append(f"label_smoothing={self.label_smoothing}")
        return f"CrossEntropyLoss({', '.join(args)})"


class NLLLoss:
    """Negative log-likelihood of log-probabilities X (N, C) (a LogSoftmax's output) at the
    class labels y (N,), as ``torch.nn.NLLLoss(weight, ignore_index, reduction)``.

    ℓₙ = −wᵧₙ · Xₙ,ᵧₙ
    L  = Σₙ ℓₙ / Σₙ wᵧₙ   ("mean", a weighted mean),   Σₙ ℓₙ ("sum"),   ℓ (N,) ("none")

    backward:  dL/dXₙ,c = −gₙ · wᵧₙ / D  where c = yₙ, 0 elsewhere   (D = Σₙ wᵧₙ for "mean", else 1)

    The cache is the labels and wᵧ. X is not checked to hold log-probabilities; PyTorch
    does not check it either.
    """

    def __init__(
        self, weight: Array | None = None, ignore_index: int = -100, reduction: str = "mean"
    ) -> None:
        self.reduction = check_reduction("NLLLoss", reduction)
        self.weight = None if weight is None else np.asarray(weight)
        self.ignore_index = int(ignore_index)
        self._cache: tuple[Array, Array, Array | None, float, tuple[int, int], np.dtype] | None = (
            None
        )

    def __call__(self, input: Array | Any, target: Array | Any) -> float | Array:
        name = type(self).__name__
        return self.forward(as_batch(name, "input", input), as_batch(name, "target", target))

    def forward(self, input: Array, target: Array) -> float | Array:
        counted = check_labels("NLLLoss", input, target, self.ignore_index)
        n, c = input.shape
        weight = check_weight("NLLLoss", self.weight, c, input.dtype)
        labels = target if counted is None else np.where(counted, target, 0)
        w_y = np.ones(n, input.dtype) if weight is None else weight[labels]
        if counted is not None:
            w_y = w_y * counted
        per_row = -w_y * input[np.arange(n), labels]
        total_weight = float(w_y.sum()) if self.reduction == "mean" else 1.0
        self._cache = (labels, w_y, counted, total_weight, input.shape, input.dtype)
        if self.reduction == "none":
            return per_row
        with np.errstate(invalid="ignore", divide="ignore"):
            return float(np.float64(per_row.sum()) / total_weight)

    def backward(self, grad_output: Array | float | None = None) -> Array:
        if self._cache is None:
            raise RuntimeError("NLLLoss: backward() called before the loss was computed")
        labels, w_y, counted, total_weight, shape, dtype = self._cache
        g = upstream("NLLLoss", self.reduction, grad_output, (shape[0],))
        grad = np.zeros(shape, dtype)
        with np.errstate(invalid="ignore", divide="ignore"):
            at_label = -w_y * np.divide(g, np.float64(total_weight))
        if counted is not None:  # an ignored row's gradient is 0, even where D = 0 makes nan
            at_label = np.where(counted, at_label, 0)
        grad[np.arange(shape[0]), labels] = at_label
        return grad

    def __repr__(self) -> str:
        return f"NLLLoss(reduction={self.reduction!r})"
