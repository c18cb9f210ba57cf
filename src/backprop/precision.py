"""float32 inputs: ``check`` reruns them in float64; here the report says so, with the error
that central differences in float32 alone would have shown (ε ≈ 1.2e-7 makes ε|L|/h large)."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from .arrays import Array
from .check import UPSTREAM_SEED, CheckReport
from .diagnose import Diagnosis
from .gradcheck import numerical_gradient, rel_error
from .subject import forward_for_input_grad, named_params, zero_grads


def note_precision(
    report: CheckReport,
    module: Any,
    x: Array,
    target: Array | None,
    upstream: Array | None,
    rng: np.random.Generator,
) -> None:
    """float32 inputs: the check ran in float64; say so, and what float32 alone would show."""
    naive = _float32_error(module, x, target, upstream)
    for r in report.rows:
        if r.diagnosis.kind == "none":
            hint = "float32 inputs: rerun in float64, where the gradient is right"
            if np.isfinite(naive):
                hint += f"; in float32, central differences of dL/dx show a relative error of {naive:.1e}"
            r.diagnosis = Diagnosis("precision", None, hint)
        else:
            r.diagnosis.hint += " (float32 inputs: checked in float64)"


def _float32_error(module: Any, x: Array, target: Array | None, upstream: Array | None) -> float:
    """The relative error of dL/dx that central differences in float32 give (h = 1e-3)."""
    m = copy.deepcopy(module)
    xv = np.array(x, dtype=np.float32)
    with np.errstate(all="ignore"):
        if target is None:
            y = np.asarray(forward_for_input_grad(m, xv.copy()))
            G = (
                np.random.default_rng(UPSTREAM_SEED).standard_normal(y.shape)
                if upstream is None
                else upstream
            )
            G = np.asarray(G, dtype=np.float32)
            zero_grads(m, named_params(m))
            mine = np.asarray(m.backward(G.copy()), dtype=np.float64)

            def loss() -> float:
                return float(np.sum(G * m.forward(xv.copy()), dtype=np.float32))
        else:
            m.forward(xv.copy(), target)
            mine = np.asarray(m.backward(), dtype=np.float64)

            def loss() -> float:
                return float(np.float32(m.forward(xv.copy(), target)))

        numeric = numerical_gradient(loss, xv, 1e-3)
    if mine.shape != numeric.shape:
        return float("nan")
    return rel_error(mine, numeric.astype(np.float64))
