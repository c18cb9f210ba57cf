"""Argument checks shared by the layers: each error names the layer and the argument."""

from __future__ import annotations

import numbers
from typing import Any

import numpy as np
import numpy.typing as npt

from ..arrays import Array


def whole_number(layer: str, name: str, value: Any) -> int:
    """``value`` as an int; TypeError if it is not a whole number (2.5, "4", True). NumPy's
    integers (np.int64(3)) are taken, as PyTorch takes them, and stored as a plain int, which a
    checkpoint's JSON can hold."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{layer}: {name} must be a whole number, got {value!r}")
    return int(value)


def real_number(layer: str, name: str, value: Any) -> float:
    """``value`` as a float; TypeError if it is not a real number ("0.5", None, True). NumPy's
    scalars (np.float32(0.5), np.int64(1)) are taken, as PyTorch takes them, and stored as a
    plain float, which a checkpoint's JSON can hold."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{layer}: {name} must be a number, got {value!r}")
    return float(value)


def boolean(layer: str, name: str, value: Any) -> bool:
    """``value`` as a bool; TypeError for anything else ("no", 1, None), which ``if value:``
    would quietly take as true or false."""
    if not isinstance(value, bool | np.bool_):
        raise TypeError(f"{layer}: {name} must be True or False, got {value!r}")
    return bool(value)


def float_dtype(layer: str, dtype: npt.DTypeLike) -> np.dtype[Any]:
    """``dtype`` as a NumPy dtype; TypeError unless it is a floating type (float16, float32, float64):
    an integer weight would round every initial value to 0."""
    try:
        d = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{layer}: dtype {dtype!r} is not a NumPy dtype") from None
    if not np.issubdtype(d, np.floating):
        raise TypeError(
            f"{layer}: dtype must be a floating type (float16, float32, float64), got {d.name}"
        )
    return d


def as_input(layer: Any, x: Any) -> Array:
    """The input of a layer as an array: a list or tuple is converted (np.asarray), anything
    that does not become an array of numbers is a TypeError naming the layer."""
    if isinstance(x, np.ndarray):
        return x
    try:
        a = np.asarray(x)
    except (TypeError, ValueError) as e:
        raise TypeError(f"{layer!r}: input is not an array of numbers ({e})") from None
    if a.dtype.kind not in "biuf":
        raise TypeError(
            f"{layer!r}: input must be an array of numbers, got {type(x).__name__} "
            f"of dtype {a.dtype}"
        )
    return a


def as_batch(loss: str, name: str, x: Any) -> Array:
    """A loss's input or target as an array (lists converted); ValueError for an empty batch,
    whose mean would be 0/0."""
    a = x if isinstance(x, np.ndarray) else np.asarray(x)
    if a.ndim == 0 or a.shape[0] == 0:
        raise ValueError(
            f"{loss}: {name} holds no rows (shape {a.shape}); a batch needs at least one"
        )
    return a
