"""Two steps of a training loop, the update switched off: each step's gradients against central
differences. A loop that forgets ``zero_grad`` passes the first step and fails the second."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from .arrays import Array
from .check import NOISE, CheckReport, H, compare
from .gradcheck import numerical_gradient
from .subject import as_float64, grad_of, named_params, zero_grads


class _Frozen:
    """An optimizer whose step does nothing, so that two steps see the same parameters."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.params = [p for _, p in named_params(model)]

    def zero_grad(self) -> None:
        zero_grads(self.model, named_params(self.model))

    def step(self) -> None:
        pass


def two_step(
    train_step: Callable[[Any, Any, Any, Array, Array], Any],
    model: Any,
    loss_fn: Any,
    x: Array,
    target: Array,
    *,
    name: str = "two steps",
    h: float = H,
) -> CheckReport:
    """Run ``train_step(model, loss_fn, optimizer, x, target)`` twice with the update switched
    off, and check every parameter's gradient after each step against central differences.

    A loop that forgets ``zero_grad`` passes the first step and shows twice the gradient at the
    second: diagnosed ``accumulated``.
    """
    model = as_float64(model)
    x = np.array(x, dtype=np.float64)
    if target.dtype.kind == "f":
        target = np.array(target, dtype=np.float64)
    params = named_params(model)
    opt = _Frozen(model)
    zero_grads(model, params)
    n = x.shape[0]
    sizes = {"N": n, "D": target.shape[-1] if target.ndim > 1 else 1}
    report = CheckReport(name)

    def loss() -> float:
        return float(loss_fn(model.forward(x.copy()), target))

    def per_sample(t: Array) -> Callable[[int], Array]:
        # sample i's share of a loss averaged over the batch: its loss alone, divided by N
        def grad(i: int) -> Array:
            def f() -> float:
                return float(loss_fn(model.forward(x[i : i + 1].copy()), target[i : i + 1])) / n

            return numerical_gradient(f, t, h)

        return grad

    for step in (1, 2):
        train_step(model, loss_fn, opt, x.copy(), target)
        for pname, p in params:
            numeric = numerical_gradient(loss, p.data, h)
            mine = grad_of(p)
            noise = NOISE * abs(loss()) / h
            report.rows.append(
                compare(
                    f"{pname} (step {step})",
                    mine,
                    numeric,
                    sizes=sizes,
                    calls=step,
                    atol=noise,
                    per_sample=per_sample(p.data),
                )
            )
    return report
