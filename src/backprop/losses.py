"""Loss functions: ``loss_fn(pred, target)`` returns a Python float; ``loss_fn.backward()``
returns dL/dpred for the last call."""

from __future__ import annotations

import math

import numpy as np

from .arrays import Array, check_finite

REDUCTIONS = ("batchmean", "mean", "sum")


class MSELoss:
    """Squared error between a prediction and a target of the same shape (N, D).

    reduction="batchmean"   L = 1/N Σₙ Σᵢ (Oₙᵢ − Tₙᵢ)²    dL/dO = 2/N (O − T)      (the post's loss)
    reduction="mean"        L = 1/(N·D) Σₙ Σᵢ (Oₙᵢ − Tₙᵢ)²  dL/dO = 2/(N·D) (O − T)  (PyTorch's default)
    reduction="sum"         L = Σₙ Σᵢ (Oₙᵢ − Tₙᵢ)²        dL/dO = 2 (O − T)

    "batchmean" sums the squared errors of each sample over its D outputs and averages over the
    batch, exactly as the post computes it; PyTorch's ``MSELoss()`` averages over all N·D
    elements, so it is D times smaller, and so is its gradient.
    """

    def __init__(self, reduction: str = "batchmean") -> None:
        if reduction not in REDUCTIONS:
            raise ValueError(
                f"MSELoss: unknown reduction {reduction!r}; valid: {', '.join(REDUCTIONS)}"
            )
        self.reduction = reduction
        self._diff: Array | None = None

    def __call__(self, pred: Array, target: Array) -> float:
        return self.forward(pred, target)

    def forward(self, pred: Array, target: Array) -> float:
        if pred.shape != target.shape:
            raise ValueError(
                f"MSELoss: target shape {target.shape} does not match prediction shape {pred.shape}"
            )
        self._diff = diff = pred - target
        sq = np.square(diff)
        # Sums are taken with np.add.reduce, the loop behind .sum() and .mean(), without their
        # Python-level wrappers (a few microseconds a call); a mean is the sum divided by the
        # count, as NumPy's .mean() computes it, so the results are the same to the bit.
        if self.reduction == "batchmean":
            # The post's order of operations (sum over each sample's outputs, then the mean over
            # samples) is kept, so the post's printout is reproduced bit for bit.
            per_sample = np.add.reduce(sq if sq.ndim == 2 else sq.reshape(len(sq), -1), axis=1)
            loss = float(np.add.reduce(per_sample) / len(per_sample))
        elif self.reduction == "mean":
            loss = float(np.add.reduce(sq, axis=None) / sq.size)
        else:
            loss = float(np.add.reduce(sq, axis=None))
        if not math.isfinite(loss):
            check_finite("MSELoss: target", target)
        return loss

    def backward(self) -> Array:
        diff = self._diff
        if diff is None:
            raise RuntimeError("MSELoss: backward() called before the loss was computed")
        if self.reduction == "batchmean":
            scale = 2 / len(diff)
        elif self.reduction == "mean":
            scale = 2 / diff.size
        else:
            scale = 2.0
        return scale * diff

    def __repr__(self) -> str:
        return f"MSELoss(reduction={self.reduction!r})"


class CrossEntropyLoss:
    """Softmax cross-entropy of logits Z (N, C) against integer class labels y (N,).

    L = 1/N Σₙ (log Σ_c e^(Zₙc) − Zₙ,yₙ)        dL/dZ = (softmax(Z) − onehot(y)) / N

    log Σ e^z is computed as m + log Σ e^(z − m) with m = max z: every exponent is ≤ 0, so
    nothing overflows, and the largest term is e⁰ = 1, so the sum is ≥ 1 and its log is never
    log(0).
    """

    def __init__(self) -> None:
        self._probs: Array | None = None
        self._labels: Array | None = None
        self._arange: Array = np.arange(0)

    def __call__(self, logits: Array, target: Array) -> float:
        return self.forward(logits, target)

    def forward(self, logits: Array, target: Array) -> float:
        if logits.ndim != 2:
            raise ValueError(f"CrossEntropyLoss: logits must be (N, C), got shape {logits.shape}")
        n, c = logits.shape
        if target.shape != (n,):
            raise ValueError(
                f"CrossEntropyLoss: target must be ({n},) class labels for logits {logits.shape}, "
                f"got shape {target.shape}"
            )
        if target.dtype.kind not in "iu":
            raise ValueError(
                f"CrossEntropyLoss: target must hold integer class labels, got dtype {target.dtype}"
            )
        # Reductions below are ufunc.reduce calls, the loops behind .min(), .max(), .sum() and
        # .mean(), without their Python-level wrappers: on a small batch those cost more than
        # the arithmetic.
        lo, hi = int(np.minimum.reduce(target)), int(np.maximum.reduce(target))
        if lo < 0 or hi >= c:
            i = int(np.argmax((target < 0) | (target >= c)))
            raise ValueError(
                f"CrossEntropyLoss: label {int(target[i])} at index {i} is out of range "
                f"[0, {c - 1}] for {c} classes"
            )
        shifted = logits - np.maximum.reduce(logits, axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = np.add.reduce(exp, axis=1, keepdims=True)
        rows = self._rows(n)
        # −log softmax at the true class, per sample: log Σ e^(z−m) − (z_y − m)
        nll = np.log(sum_exp[:, 0]) - shifted[rows, target]
        loss = float(np.add.reduce(nll) / n)
        exp /= sum_exp
        self._probs, self._labels = exp, target
        return loss

    def backward(self) -> Array:
        probs, labels = self._probs, self._labels
        if probs is None or labels is None:
            raise RuntimeError("CrossEntropyLoss: backward() called before the loss was computed")
        n = len(probs)
        # 1 is taken off before dividing by N: where softmax is close to 1, p − 1 is exact,
        # while p/N − 1/N would lose the digits that the division rounded away.
        grad = probs.copy()
        grad[self._rows(n), labels] -= 1
        grad /= n
        return grad

    def _rows(self, n: int) -> Array:
        """np.arange(n), kept from call to call: the row index of every sample's true class."""
        if len(self._arange) != n:
            self._arange = np.arange(n)
        return self._arange

    def __repr__(self) -> str:
        return "CrossEntropyLoss()"


Loss = MSELoss | CrossEntropyLoss
