"""``BCEWithLogitsLoss``: binary cross-entropy on logits, stable for logits of any size."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import Array
from ..nn._checks import as_batch
from .reduction import check_reduction, upstream


def sigmoid(x: Array) -> Array:
    """σ(x) = 1/(1 + e⁻ˣ), written as e⁻|ˣ|-based fractions so that no exponent is positive."""
    e = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + e), e / (1 + e))


class BCEWithLogitsLoss:
    """Binary cross-entropy of logits x against targets y ∈ [0, 1] of the same shape (any), as
    ``torch.nn.BCEWithLogitsLoss(weight, reduction, pos_weight)``.

    ℓ = −w · (p_w · y · log σ(x) + (1 − y) · log(1 − σ(x)))
      = w · ((1 − y) · x + (1 + (p_w − 1) y) · softplus(−x))        since −log σ(x) = softplus(−x)
                                                                  and −log(1 − σ(x)) = x + softplus(−x)
    L = 1/M Σ ℓ ("mean", M = the number of elements), Σ ℓ ("sum"), ℓ ("none")

    backward:  dL/dx = g · w · ((1 + (p_w − 1) y) · σ(x) − p_w · y) / M    (= g·w·(σ(x) − y)/M
               without pos_weight; M = 1 for "sum" and "none")

    Stability: softplus(−x) = log(1 + e⁻|ˣ|) + max(−x, 0) never exponentiates a positive number,
    so a logit of ±1e4 gives a finite loss and gradient, where log(σ(x)) would be log(0) = −inf.
    weight (broadcast to x's shape) rescales each element; pos_weight (broadcast along the last
    dimension, one per class) weighs the positive targets. The cache is x, y and the weights.
    """

    def __init__(
        self,
        weight: Array | None = None,
        reduction: str = "mean",
        pos_weight: Array | None = None,
    ) -> None:
        self.reduction = check_reduction("BCEWithLogitsLoss", reduction)
        self.weight = None if weight is None else np.asarray(weight)
        self.pos_weight = None if pos_weight is None else np.asarray(pos_weight)
        self._cache: tuple[Array, Array] | None = None

    def __call__(self, input: Array | Any, target: Array | Any) -> float | Array:
        name = type(self).__name__
        return self.forward(as_batch(name, "input", input), as_batch(name, "target", target))

    def _weights(
        self, shape: tuple[int, ...], dtype: np.dtype
    ) -> tuple[Array | None, Array | None]:
        out = []
        for name, w in (("weight", self.weight), ("pos_weight", self.pos_weight)):
            if w is not None:
                try:
                    broadcast = np.broadcast_shapes(w.shape, shape)
                except ValueError:
                    broadcast = None
                if broadcast != shape:
                    raise ValueError(
                        f"BCEWithLogitsLoss: {name} of shape {w.shape} does not broadcast to "
                        f"the input's shape {shape}"
                    )
                w = w.astype(dtype, copy=False)
            out.append(w)
        return out[0], out[1]

    def forward(self, input: Array, target: Array) -> float | Array:
        x = input
        if x.shape != target.shape:
            raise ValueError(
                f"BCEWithLogitsLoss: target shape {target.shape} does not match input shape "
                f"{x.shape}"
            )
        if x.dtype.kind != "f":
            raise ValueError(f"BCEWithLogitsLoss: input must hold floats, got dtype {x.dtype}")
        if target.dtype.kind not in "fiub":
            raise ValueError(
                f"BCEWithLogitsLoss: target must hold numbers in [0, 1], got dtype {target.dtype}"
            )
        if x.size == 0:
            raise ValueError("BCEWithLogitsLoss: got an empty input")
        y = target.astype(x.dtype, copy=False)
        weight, pos_weight = self._weights(x.shape, x.dtype)
        softplus_neg = np.log1p(np.exp(-np.abs(x))) + np.maximum(-x, 0)
        if pos_weight is None:
            per_element = (1 - y) * x + softplus_neg
        else:
            per_element = (1 - y) * x + (1 + (pos_weight - 1) * y) * softplus_neg
        if weight is not None:
            per_element = per_element * weight
        self._cache = (x, y)
        if self.reduction == "none":
            return per_element
        total = float(np.add.reduce(per_element, axis=None))
        return total / per_element.size if self.reduction == "mean" else total

    def backward(self, grad_output: Array | float | None = None) -> Array:
        if self._cache is None:
            raise RuntimeError("BCEWithLogitsLoss: backward() called before the loss was computed")
        x, y = self._cache
        g = upstream("BCEWithLogitsLoss", self.reduction, grad_output, x.shape)
        weight, pos_weight = self._weights(x.shape, x.dtype)
        if pos_weight is None:
            grad = sigmoid(x) - y
        else:
            # PyTorch's order: (p_w·y + 1 − y)·σ(x) − p_w·y
            positive = pos_weight * y
            grad = (positive + 1 - y) * sigmoid(x) - positive
        if weight is not None:
            grad *= weight
        if self.reduction == "mean":
            return grad * (g / x.size)
        return grad * g

    def __repr__(self) -> str:
        return f"BCEWithLogitsLoss(reduction={self.reduction!r})"
