"""Adam and AdamW, as ``torch.optim.Adam`` and ``torch.optim.AdamW`` (amsgrad too)."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from ..nn import Parameter
from .optimizer import Optimizer, blocks, lerp_, real


class Adam(Optimizer):
    """Adam (Kingma & Ba), exactly as ``torch.optim.Adam``.

    g ← ∇θ + λθ                                  (weight_decay λ: L2, not AdamW's decoupled decay)
    m ← β₁m + (1 − β₁)g        v ← β₂v + (1 − β₂)g²
    θ ← θ − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)

    The bias corrections undo the pull of m and v towards their zero initial value; ε is added
    after the correction, where PyTorch adds it. With ``amsgrad``, v̂ ← max(v̂, v) takes v's
    place in the denominator, so a weight's step never grows back after a spell of large
    gradients. State: ``exp_avg`` m and ``exp_avg_sq`` v per parameter (and ``max_exp_avg_sq``
    v̂), and the step count t.
    """

    counts_steps = True
    decoupled_weight_decay = False

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr)
        if not (isinstance(betas, tuple | list) and len(betas) == 2):
            raise TypeError(f"{type(self).__name__}: betas must be a pair (β₁, β₂), got {betas!r}")
        self.betas = (real(self, "betas[0]", betas[0], 1), real(self, "betas[1]", betas[1], 1))
        self.eps = real(self, "eps", eps)
        self.weight_decay = real(self, "weight_decay", weight_decay)
        self.amsgrad = bool(amsgrad)
        for p, state in zip(self.params, self.state, strict=True):
            for name in self.state_names():
                state[name] = np.zeros_like(p.data)

    def hyperparameters(self) -> dict[str, Any]:
        return {
            "lr": self.lr,
            "betas": self.betas,
            "eps": self.eps,
            "weight_decay": self.weight_decay,
            "amsgrad": self.amsgrad,
        }

    def state_names(self) -> tuple[str, ...]:
        return (
            ("exp_avg", "exp_avg_sq", "max_exp_avg_sq")
            if self.amsgrad
            else ("exp_avg", "exp_avg_sq")
        )

    def step(self) -> None:
        self.steps += 1
        beta1, beta2 = self.betas
        lr, wd = self.lr, self.weight_decay
        step_size = lr / (1 - beta1**self.steps)
        bias_correction2_sqrt = math.sqrt(1 - beta2**self.steps)
        for p, state in zip(self.params, self.state, strict=True):
            g_all = p.grad
            if wd and not self.decoupled_weight_decay:
                g_all = g_all + wd * p.data
            arrays = [p.data, g_all, *(state[name] for name in self.state_names())]
            for data, g, m, v, *v_max in blocks(*arrays):
                if wd and self.decoupled_weight_decay:
                    data *= 1 - lr * wd
                lerp_(m, g, 1 - beta1)  # m ← β₁m + (1 − β₁)g, as PyTorch's lerp
                v *= beta2
                v += (1 - beta2) * (g * g)
                if v_max:
                    np.maximum(v_max[0], v, out=v_max[0])
                denom = np.sqrt(v_max[0] if v_max else v)
                denom /= bias_correction2_sqrt
                denom += self.eps
                # θ ← θ − step_size · (m / denom), in PyTorch's order (addcdiv)
                data -= step_size * (m / denom)


class AdamW(Adam):
    """AdamW (Loshchilov & Hutter), exactly as ``torch.optim.AdamW``: Adam with the weight decay
    taken out of the gradient and applied to the weights directly ("decoupled").

    θ ← θ · (1 − ηλ)                              (weight_decay λ, default 1e-2)
    m ← β₁m + (1 − β₁)∇θ       v ← β₂v + (1 − β₂)(∇θ)²
    θ ← θ − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)

    With Adam's L2 decay, λθ passes through m/√v and is rescaled per weight; here every weight
    shrinks by the same factor, whatever its gradient history.
    """

    decoupled_weight_decay = True

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad)
