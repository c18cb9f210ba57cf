"""RMSprop, as ``torch.optim.RMSprop``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from ..nn import Parameter
from .optimizer import Optimizer, blocks, lerp_, real


class RMSprop(Optimizer):
    """RMSprop (Hinton's lecture 6e), exactly as ``torch.optim.RMSprop`` (same arguments and
    defaults).

    g ← ∇θ + λθ                                  (weight_decay λ)
    v ← αv + (1 − α)g²                           (alpha α: the running mean of g²)
    d ← √(v − ḡ²) + ε   with ḡ ← αḡ + (1 − α)g    (centered: the running variance of g)
        √v + ε          otherwise
    b ← μb + g/d,  θ ← θ − ηb   (momentum μ > 0)   or   θ ← θ − η g/d

    ε is added outside the square root, as PyTorch does. State: ``square_avg`` v, and
    ``momentum_buffer`` b (momentum > 0) and ``grad_avg`` ḡ (centered), all starting at 0.
    """

    counts_steps = True

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ) -> None:
        super().__init__(params, lr)
        self.alpha = real(self, "alpha", alpha)
        self.eps = real(self, "eps", eps)
        self.weight_decay = real(self, "weight_decay", weight_decay)
        self.momentum = real(self, "momentum", momentum)
        self.centered = bool(centered)
        for p, state in zip(self.params, self.state, strict=True):
            for name in self.state_names():
                state[name] = np.zeros_like(p.data)

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "alpha": self.alpha,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "momentum": self.momentum,
            "centered": self.centered,
        }

    def state_names(self) -> tuple[str, ...]:
        names = ["square_avg"]
        if self.momentum > 0:
            names.append("momentum_buffer")
        if self.centered:
            names.append("grad_avg")
        return tuple(names)

    def step(self) -> None:
        self.steps += 1
        lr, alpha, eps, mu = self.lr, self.alpha, self.eps, self.momentum
        for p, state in zip(self.params, self.state, strict=True):
            g_all = p.grad
            if self.weight_decay:
                g_all = g_all + self.weight_decay * p.data
            arrays = [p.data, g_all, *(state[name] for name in self.state_names())]
            for data, g, v, *rest in blocks(*arrays):
                v *= alpha
                v += (1 - alpha) * (g * g)
                if self.centered:
                    g_avg = rest[-1]
                    lerp_(g_avg, g, 1 - alpha)
                    avg = np.sqrt(v - g_avg * g_avg)
                else:
                    avg = np.sqrt(v)
                avg += eps
                if mu > 0:
                    buf = rest[0]
                    buf *= mu
                    buf += g / avg
                    data -= lr * buf
                else:
                    data -= lr * (g / avg)
