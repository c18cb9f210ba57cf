"""Optimizers: ``SGD`` and ``Adam`` with the exact update rules of ``torch.optim``.

An optimizer holds the parameters and its own state (momentum buffers, moment estimates); the
layers hold none. ``step()`` updates every parameter in place from its ``.grad``;
``zero_grad()`` clears the gradients before the next backward pass.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .arrays import Array
from .nn import Parameter

# Updates of a large parameter run block by block, BLOCK elements at a time (256 KiB of float32,
# which stays in the core's cache): the temporaries of an update rule such as lr · g are then
# small, instead of arrays as large as the weight that would raise the run's peak memory and,
# at every step, take fresh pages from the allocator. The arithmetic is the same, entry by entry.
BLOCK = 1 << 16


def blocks(*arrays: Array) -> list[tuple[Array, ...]]:
    """Matching views of ``arrays`` (all of one shape) in blocks of at most BLOCK entries.

    Writing into a block writes into the arrays. Small or non-contiguous arrays come back whole,
    as a single block.
    """
    first = arrays[0]
    if first.size <= BLOCK or not all(a.flags.c_contiguous for a in arrays):
        return [arrays]
    flat = [a.reshape(-1) for a in arrays]
    return [tuple(f[i : i + BLOCK] for f in flat) for i in range(0, first.size, BLOCK)]


class Optimizer:
    def __init__(self, params: Iterable[Parameter], lr: float) -> None:
        self.params = list(params)
        if not self.params:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        for i, p in enumerate(self.params):
            if not isinstance(p, Parameter):
                raise TypeError(
                    f"{type(self).__name__}: item {i} of params is {type(p).__name__}, "
                    "not a Parameter (pass model.parameters())"
                )
        if not lr > 0:
            raise ValueError(f"{type(self).__name__}: lr must be > 0, got {lr}")
        self.lr = lr

    def zero_grad(self) -> None:
        for p in self.params:
            p.zero_grad()

    def step(self) -> None:
        raise NotImplementedError

    def state_dict(self) -> dict[str, Array]:
        """The optimizer's state as named arrays (for checkpoints)."""
        return {}

    def load_state_dict(self, state: dict[str, Array]) -> None:
        if state:
            raise ValueError(f"{type(self).__name__}: unexpected state {sorted(state)}")


class SGD(Optimizer):
    """Stochastic gradient descent, with optional momentum and L2 weight decay.

    g ← ∇θ + λθ                     (weight_decay λ)
    b ← g  at the first step, then  b ← μb + g     (momentum μ)
    θ ← θ − η b                     (η = lr; with μ = 0, θ ← θ − η g)

    The same as ``torch.optim.SGD(params, lr, momentum, weight_decay=λ)`` (dampening 0, no
    Nesterov).
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float,
        momentum: float = 0.0,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        if momentum < 0:
            raise ValueError(f"SGD: momentum must be >= 0, got {momentum}")
        if weight_decay < 0:
            raise ValueError(f"SGD: weight_decay must be >= 0, got {weight_decay}")
        self.momentum = momentum
        self.weight_decay = weight_decay
        self.buffers: list[Array | None] = [None] * len(self.params)

    def step(self) -> None:
        lr, mu, wd = self.lr, self.momentum, self.weight_decay
        for i, p in enumerate(self.params):
            g = p.grad
            if wd:
                g = g + wd * p.data
            if mu:
                buf = self.buffers[i]
                if buf is None:
                    self.buffers[i] = buf = g.copy()
                else:
                    buf *= mu
                    buf += g
                g = buf
            for data, grad in blocks(p.data, g):
                data -= lr * grad

    def state_dict(self) -> dict[str, Array]:
        return {f"momentum_buffer.{i}": b for i, b in enumerate(self.buffers) if b is not None}

    def load_state_dict(self, state: dict[str, Array]) -> None:
        buffers: list[Array | None] = [None] * len(self.params)
        for key, value in state.items():
            prefix, _, index = key.partition(".")
            if prefix != "momentum_buffer" or not index.isdigit() or int(index) >= len(buffers):
                raise ValueError(f"SGD: unexpected state entry {key!r}")
            i = int(index)
            if value.shape != self.params[i].shape:
                raise ValueError(
                    f"SGD: {key} has shape {value.shape}, expected {self.params[i].shape}"
                )
            buffers[i] = value.astype(self.params[i].dtype)
        self.buffers = buffers


class Adam(Optimizer):
    """Adam (Kingma & Ba), exactly as ``torch.optim.Adam`` (amsgrad off).

    g ← ∇θ + λθ                                  (weight_decay λ: L2, not AdamW's decoupled decay)
    m ← β₁m + (1 − β₁)g        v ← β₂v + (1 − β₂)g²
    θ ← θ − η/(1 − β₁ᵗ) · m / (√v / √(1 − β₂ᵗ) + ε)

    The bias corrections undo the pull of m and v towards their zero initial value; ε is added
    after the correction, where PyTorch adds it.
    """

    def __init__(
        self,
        params: Iterable[Parameter],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr)
        beta1, beta2 = betas
        if not (0 <= beta1 < 1 and 0 <= beta2 < 1):
            raise ValueError(f"Adam: betas must lie in [0, 1), got {betas}")
        if eps < 0 or weight_decay < 0:
            raise ValueError(f"Adam: eps and weight_decay must be >= 0, got {eps}, {weight_decay}")
        self.betas = (beta1, beta2)
        self.eps = eps
        self.weight_decay = weight_decay
        self.t = 0
        self.exp_avg = [np.zeros_like(p.data) for p in self.params]
        self.exp_avg_sq = [np.zeros_like(p.data) for p in self.params]

    def step(self) -> None:
        self.t += 1
        beta1, beta2 = self.betas
        step_size = self.lr / (1 - beta1**self.t)
        bias_correction2_sqrt = math.sqrt(1 - beta2**self.t)
        for p, m_all, v_all in zip(self.params, self.exp_avg, self.exp_avg_sq, strict=True):
            g_all = p.grad
            if self.weight_decay:
                g_all = g_all + self.weight_decay * p.data
            for data, g, m, v in blocks(p.data, g_all, m_all, v_all):
                # m ← m + (1 − β₁)(g − m): PyTorch's lerp form of β₁m + (1 − β₁)g
                m += (1 - beta1) * (g - m)
                v *= beta2
                v += (1 - beta2) * (g * g)
                denom = np.sqrt(v)
                denom /= bias_correction2_sqrt
                denom += self.eps
                # θ ← θ − step_size · (m / denom), in PyTorch's order (addcdiv)
                data -= step_size * (m / denom)

    def state_dict(self) -> dict[str, Array]:
        state: dict[str, Array] = {"step": np.array(self.t)}
        for i, (m, v) in enumerate(zip(self.exp_avg, self.exp_avg_sq, strict=True)):
            state[f"exp_avg.{i}"] = m
            state[f"exp_avg_sq.{i}"] = v
        return state

    def load_state_dict(self, state: dict[str, Array]) -> None:
        expected = {"step"} | {
            f"{name}.{i}" for name in ("exp_avg", "exp_avg_sq") for i in range(len(self.params))
        }
        if set(state) != expected:
            raise ValueError(f"Adam: state entries {sorted(state)} do not match the parameters")
        for i, p in enumerate(self.params):
            for name in ("exp_avg", "exp_avg_sq"):
                value = state[f"{name}.{i}"]
                if value.shape != p.shape:
                    raise ValueError(
                        f"Adam: {name}.{i} has shape {value.shape}, expected {p.shape}"
                    )
        self.t = int(state["step"])
        self.exp_avg = [state[f"exp_avg.{i}"].astype(p.dtype) for i, p in enumerate(self.params)]
        self.exp_avg_sq = [
            state[f"exp_avg_sq.{i}"].astype(p.dtype) for i, p in enumerate(self.params)
        ]
