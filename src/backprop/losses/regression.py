"""Losses between a prediction and a target of the same shape: ``MSELoss`` and ``L1Loss``."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from ..arrays import Array, check_finite
from ..nn._checks import as_batch
from .reduction import check_reduction, upstream

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

    def __call__(self, pred: Array | Any, target: Array | Any) -> float:
        name = type(self).__name__
        return self.forward(as_batch(name, "pred", pred), as_batch(name, "target", target))

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

    def backward(self, grad_output: float | None = None) -> Array:
        """dL/dŷ, times ``grad_output`` (dL'/dL, a number; 1 if not given) as the other losses'
        backward passes take it."""
        diff = self._diff
        if diff is None:
            raise RuntimeError("MSELoss: backward() called before the loss was computed")
        if self.reduction == "batchmean":
            scale = 2 / len(diff)
        elif self.reduction == "mean":
            scale = 2 / diff.size
        else:
            scale = 2.0
        if grad_output is not None:
            scale *= float(grad_output)
        return scale * diff

    def __repr__(self) -> str:
        return f"MSELoss(reduction={self.reduction!r})"


class L1Loss:
    """Absolute error between a prediction O and a target T of the same shape, as
    ``torch.nn.L1Loss(reduction)``.

    ℓ = |O − T|        L = 1/M Σ ℓ ("mean", M = the number of elements), Σ ℓ ("sum"), ℓ ("none")

    backward:  dL/dO = g · sign(O − T) / M     (M = 1 for "sum" and "none")

    |u| has no derivative at u = 0; like PyTorch, the subgradient 0 is taken there (sign(0) = 0).
    The cache is sign(O − T).
    """

    def __init__(self, reduction: str = "mean") -> None:
        self.reduction = check_reduction("L1Loss", reduction)
        self._sign: Array | None = None

    def __call__(self, pred: Array | Any, target: Array | Any) -> float | Array:
        name = type(self).__name__
        return self.forward(as_batch(name, "pred", pred), as_batch(name, "target", target))

    def forward(self, pred: Array, target: Array) -> float | Array:
        if pred.shape != target.shape:
            raise ValueError(
                f"L1Loss: target shape {target.shape} does not match prediction shape {pred.shape}"
            )
        diff = pred - target
        self._sign = np.sign(diff)
        per_element = np.abs(diff)
        if self.reduction == "none":
            return per_element
        total = float(np.add.reduce(per_element, axis=None))
        return total / per_element.size if self.reduction == "mean" else total

    def backward(self, grad_output: Array | float | None = None) -> Array:
        sign = self._sign
        if sign is None:
            raise RuntimeError("L1Loss: backward() called before the loss was computed")
        g = upstream("L1Loss", self.reduction, grad_output, sign.shape)
        if self.reduction == "mean":
            return sign * (g / sign.size)
        return sign * g

    def __repr__(self) -> str:
        return f"L1Loss(reduction={self.reduction!r})"
