"""Stochastic gradient descent, as ``torch.optim.SGD``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from ..arrays import constant
from ..nn import Parameter
from .optimizer import BLOCK, Optimizer, blocks, real, spans


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum, dampening, Nesterov momentum and L2
    weight decay, exactly as ``torch.optim.SGD`` (the same arguments and defaults).

    g ← ∇θ + λθ                                        (weight_decay λ)
    b ← g  at the first step, then  b ← μb + (1 − τ)g    (momentum μ, dampening τ)
    g ← g + μb  (nesterov)   or   g ← b                  (with μ = 0, g stays as it is)
    θ ← θ − η g                                        (η = lr)

    State: ``momentum_buffer`` b per parameter, from the first step on (with μ > 0).
    """

    eager_state = False

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.momentum = real(self, "momentum", momentum)
        self.dampening = real(self, "dampening", dampening, signed=True)
        self.weight_decay = real(self, "weight_decay", weight_decay)
        self.nesterov = bool(nesterov)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("SGD: nesterov momentum needs momentum > 0 and dampening 0")
        # the spans of plain SGD's update, and the arrays they were found for (see _plain_step)
        self._members = [(p, p.data, p._grad) for p in self.params]
        self._spans = spans(self.params)

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "dampening": self.dampening,
            "weight_decay": self.weight_decay,
            "nesterov": self.nesterov,
        }

    def state_names(self) -> tuple[str, ...]:
        return ("momentum_buffer",) if self.momentum else ()

    def step(self) -> None:
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        if not (mu or wd):
            self._plain_step(lr)
            return
        for p, state in zip(self.params, self.state, strict=True):
            g = p.grad
            if wd:
                g = g + wd * p.data
            if mu:
                buf = state.get("momentum_buffer")
                if buf is None:
                    state["momentum_buffer"] = buf = g.copy()
                else:
                    buf *= mu
                    buf += g if self.dampening == 0 else (1 - self.dampening) * g
                g = g + mu * buf if self.nesterov else buf
            if g.size <= BLOCK:
                p.data -= lr * g  # the common small parameter: no blocks to make
            else:
                for data, grad in blocks(p.data, g):
                    data -= lr * grad
        self.steps += 1

    def _plain_step(self, lr: float) -> None:
        """θ ← θ − η∇θ for every parameter, one span of parameters side by side in memory at
        a time (``spans``): the spans are found again whenever a parameter's data or gradient
        is no longer the array they were found for."""
        for p, data, grad in self._members:
            if p.data is not data or p._grad is not grad:
                self._members = [(p, p.data, p._grad) for p in self.params]
                self._spans = spans(self.params)
            if p._grad_is_zero:
                p.grad  # noqa: B018  (clears the gradient that zero_grad marked)
        for data, grad in self._spans:
            data -= constant(float(lr), grad.dtype) * grad  # lr may be a NumPy number
        self.steps += 1
