"""The array type and the finiteness checks that every part of backprop shares."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]


def first_nonfinite(a: Array) -> tuple[int, ...] | None:
    """Index of the first NaN or ±inf in ``a``, or None if every entry is finite."""
    bad = np.argwhere(~np.isfinite(a))
    return tuple(int(i) for i in bad[0]) if len(bad) else None


def check_finite(name: str, a: Array) -> None:
    """Raise ValueError naming the first NaN or inf in ``a`` (e.g. "target has nan at [3, 1]")."""
    where = first_nonfinite(a)
    if where is not None:
        value = a[where]
        raise ValueError(f"{name} has {value} at {list(where)}")
