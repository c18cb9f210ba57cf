"""Loss functions: ``loss_fn(pred, target)`` returns a Python float; ``loss_fn.backward()``
returns dL/dpred for the last call."""

from __future__ import annotations

import math

import numpy as np

from .layers import Array, check_finite

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
        if self.reduction == "batchmean":
            # The post's order of operations (sum over each sample's outputs, then the mean over
            # samples) is kept, so the post's printout is reproduced bit for bit.
            loss = float(sq.reshape(len(sq), -1).sum(1).mean())
        elif self.reduction == "mean":
            loss = float(sq.mean())
        else:
            loss = float(sq.sum())
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
        if not np.issubdtype(target.dtype, np.integer):
            raise ValueError(
                f"CrossEntropyLoss: target must hold integer class labels, got dtype {target.dtype}"
            )
        lo, hi = int(target.min()), int(target.max())
        if lo < 0 or hi >= c:
            i = int(np.argmax((target < 0) | (target >= c)))
            raise ValueError(
                f"CrossEntropyLoss: label {int(target[i])} at index {i} is out of range "
                f"[0, {c - 1}] for {c} classes"
            )
        shifted = logits - logits.max(axis=1, keepdims=True)
        exp = np.exp(shifted)
        sum_exp = exp.sum(axis=1, keepdims=True)
        rows = np.arange(n)
        # −log softmax at the true class, per sample: log Σ e^(z−m) − (z_y − m)
        nll = np.log(sum_exp[:, 0]) - shifted[rows, target]
        loss = float(nll.mean())
        exp /= sum_exp
        self._probs, self._labels = exp, target
        return loss

    def backward(self) -> Array:
        probs, labels = self._probs, self._labels
        if probs is None or labels is None:
            raise RuntimeError("CrossEntropyLoss: backward() called before the loss was computed")
        n = len(probs)
        grad = probs.copy()
        grad[np.arange(n), labels] -= 1
        grad /= n
        return grad

    def __repr__(self) -> str:
        return "CrossEntropyLoss()"


Loss = MSELoss | CrossEntropyLoss
