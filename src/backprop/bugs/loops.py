"""Mistakes in the training loop, and in the way a gradient check is set up."""

from __future__ import annotations

from typing import Any

import numpy as np

from ..arrays import Array


def train_step(model: Any, loss_fn: Any, optimizer: Any, x: Array, target: Array) -> float:
    optimizer.zero_grad()
    loss = loss_fn(model(x), target)
    model.backward(loss_fn.backward())
    optimizer.step()
    return loss


def train_step_without_zero_grad(
    model: Any, loss_fn: Any, optimizer: Any, x: Array, target: Array
) -> float:
    loss = loss_fn(model(x), target)
    model.backward(loss_fn.backward())
    optimizer.step()
    return loss


def check_input(rng: np.random.Generator, n: int, d: int) -> Array:
    return rng.standard_normal((n, d))


def check_input_float32(rng: np.random.Generator, n: int, d: int) -> Array:
    return rng.standard_normal((n, d)).astype(np.float32)


def check_input_whole_numbers(rng: np.random.Generator, n: int, d: int) -> Array:
    return np.arange(n * d, dtype=np.float64).reshape(n, d) - (n * d) // 2
