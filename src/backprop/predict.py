"""Predictions of a saved model: the class labels (with their probabilities) or the values, in
the units of the training data's target column."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .arrays import Array
from .checkpoint import Checkpoint


def softmax(logits: Array) -> Array:
    """pₙₖ = exp(zₙₖ) / Σⱼ exp(zₙⱼ), row by row        logits: (N, K)  p: (N, K)

    The row's largest logit is subtracted first: the same p, and exp never overflows."""
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return shifted / shifted.sum(axis=1, keepdims=True)


def label(value: float) -> int | float:
    """A class label as the target column wrote it: 3.0 -> 3, 0.5 -> 0.5."""
    return int(value) if float(value).is_integer() else float(value)


@dataclass
class Prediction:
    """task: "classification" or "regression".

    predictions: one per row: the class label, or the value (a list for several outputs).
    classes: the label of each output column (classification); class_names: their names,
        when the training data had them (bundled datasets), else empty.
    predicted_names: each row's predicted class name, when class_names is known.
    probabilities: softmax of the outputs (N, classes), for a cross-entropy model; else None.
    """

    task: str
    predictions: list[Any]
    classes: list[int | float] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    predicted_names: list[str] = field(default_factory=list)
    probabilities: list[list[float]] | None = None


def predict(ckpt: Checkpoint, X: Array) -> Prediction:
    """The predictions of the checkpoint's model for the raw features X (N, D): standardised
    with its scaler, run through the model, decoded with the class labels or the target's
    scaler it stores. ValueError if the checkpoint's class labels do not fit its outputs."""
    info = ckpt.info
    task = info.get("task")
    if ckpt.scaler is not None:
        X = ckpt.scaler.transform(X)
    model = ckpt.model
    out = model(np.asarray(X, dtype=model.parameters()[0].dtype)).astype(np.float64)
    if task != "classification":
        values = out if ckpt.target_scaler is None else ckpt.target_scaler.inverse(out)
        rows = values[:, 0].tolist() if values.shape[1] == 1 else values.tolist()
        return Prediction("regression", rows)
    try:
        classes = np.asarray(info.get("classes", []), dtype=np.float64).reshape(-1)
    except (TypeError, ValueError):
        raise ValueError("its class labels are not numbers") from None
    if classes.size != out.shape[1]:
        raise ValueError(f"{classes.size} class labels for {out.shape[1]} outputs")
    index = np.argmax(out, axis=1)
    names = info.get("class_names") or []
    names = [str(n) for n in names] if len(names) == classes.size else []
    probabilities = None
    if info.get("train", {}).get("loss") == "cross_entropy":
        probabilities = softmax(out).tolist()
    return Prediction(
        "classification",
        [label(v) for v in classes[index]],
        [label(v) for v in classes],
        names,
        [names[i] for i in index] if names else [],
        probabilities,
    )
