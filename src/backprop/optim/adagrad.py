"""Adagrad, as ``torch.optim.Adagrad``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..nn import Parameter
from .optimizer import Optimizer, blocks, real


class Adagrad(Optimizer):
    """Adagrad (Duchi, Hazan & Singer), exactly as ``torch.optim.Adagrad`` (same arguments and
    defaults).

    g ← ∇θ + λθ                        (weight_decay λ)
    η_t = η / (1 + (t − 1) · lr_decay)  (t: this step's number, from 1)
    s ← s + g²                         (s starts at initial_accumulator_value)
    θ ← θ − η_t · g / (√s + ε)

    Each weight's step shrinks with the sum of its own squared gradients: rarely updated weights
    keep large steps. State: ``sum`` s per parameter, and the step count t.
    """

    counts_steps = True

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ) -> None:
        super().__init__(params, lr)
        self.lr_decay = real(self, "lr_decay", lr_decay)
        self.weight_decay = real(self, "weight_decay", weight_decay)
        self.initial_accumulator_value = real(
            self, "initial_accumulator_value", initial_accumulator_value
        )
        self.eps = real(self, "eps", eps)
        for p, state in zip(self.params, self.state, strict=True):
            state["sum"] = np.full_like(p.data, self.initial_accumulator_value)

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "lr_decay": self.lr_decay,
            "weight_decay": self.weight_decay,
            "initial_accumulator_value": self.initial_accumulator_value,
            "eps": self.eps,
        }

    def state_names(self) -> tuple[str, ...]:
        return ("sum",)

    def step(self) -> None:
        self.steps += 1
        clr = self.lr / (1 + (self.steps - 1) * self.lr_decay)
        for p, state in zip(self.params, self.state, strict=True):
            g_all = p.grad
            if self.weight_decay:
                g_all = g_all + self.weight_decay * p.data
            for data, g, s in blocks(p.data, g_all, state["sum"]):
                s += g * g
                std = np.sqrt(s)
                std += self.eps
                data -= clr * (g / std)
