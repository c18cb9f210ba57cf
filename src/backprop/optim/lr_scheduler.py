"""Learning-rate schedules, as ``torch.optim.lr_scheduler``: ``StepLR`` and ``CosineAnnealingLR``.

A scheduler changes ``optimizer.lr`` each time its ``step()`` is called, once per epoch (or per
batch), after ``optimizer.step()``, as in a PyTorch loop::

    scheduler = StepLR(optimizer, step_size=10, gamma=0.5)
    for epoch in range(epochs):
        ...                      # batches: optimizer.step()
        scheduler.step()

Each rule is computed as PyTorch computes it, step to step from the current lr (its "chainable"
form), not from a closed formula, so the rates agree with PyTorch's to the last bit or nearly.
"""

from __future__ import annotations

import math
from typing import Any

from .optimizer import Optimizer


class LRScheduler:
    """Base class: ``last_epoch`` counts the scheduler's steps (0 after construction), and
    ``base_lr`` is the optimizer's lr when its first schedule started (``optimizer.initial_lr``,
    PyTorch's ``group["initial_lr"]``)."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1) -> None:
        if not isinstance(optimizer, Optimizer):
            raise TypeError(
                f"{type(self).__name__}: {type(optimizer).__name__} is not an Optimizer"
            )
        self.optimizer = optimizer
        if last_epoch == -1:
            # PyTorch's setdefault: the first scheduler on an optimizer records its lr; a later
            # one starts from that record too
            if optimizer.initial_lr is None:
                optimizer.initial_lr = optimizer.lr
        elif optimizer.initial_lr is None:
            raise ValueError(
                f"{type(self).__name__}: last_epoch={last_epoch} resumes a schedule, but the "
                "optimizer has no initial_lr (set optimizer.initial_lr to the schedule's first lr)"
            )
        self.base_lr: float = optimizer.initial_lr
        self.last_epoch = last_epoch
        # The first step, made here as PyTorch makes it: last_epoch becomes 0, or, resuming, the
        # epoch after ``last_epoch``. Each rule says what it does then (``_initial``): StepLR
        # applies itself (a resumed schedule decays at that epoch), CosineAnnealingLR keeps the lr.
        self._step_count = 0
        self._initial = True
        self.step()
        self._initial = False

    def get_lr(self) -> float:
        """The lr for epoch ``last_epoch``, from the current one."""
        raise NotImplementedError

    def step(self) -> None:
        self._step_count += 1
        self.last_epoch += 1
        self.optimizer.lr = self.get_lr()
        self._last_lr = self.optimizer.lr

    def get_last_lr(self) -> list[float]:
        """The lr set by the last ``step()`` (a list of one, as PyTorch has one per group)."""
        return [self._last_lr]

    def state_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if k != "optimizer"}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)


class StepLR(LRScheduler):
    """Multiply the lr by ``gamma`` every ``step_size`` epochs, as
    ``torch.optim.lr_scheduler.StepLR``:   η_t = η₀ · γ^⌊t / step_size⌋."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ) -> None:
        if not (isinstance(step_size, int) and step_size >= 1):
            raise ValueError(f"StepLR: step_size must be a whole number >= 1, got {step_size}")
        self.step_size, self.gamma = step_size, gamma
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        lr = self.optimizer.lr
        if self.last_epoch == 0 or self.last_epoch % self.step_size != 0:
            return lr
        return lr * self.gamma


class CosineAnnealingLR(LRScheduler):
    """Cosine annealing from the initial lr η₀ down to ``eta_min`` over ``T_max`` epochs, as
    ``torch.optim.lr_scheduler.CosineAnnealingLR``:

        η_t = η_min + (η₀ − η_min) · (1 + cos(π t / T_max)) / 2

    computed, as PyTorch does, step to step from the current lr:
        η_t = η_min + (η_{t−1} − η_min) · (1 + cos(π t / T_max)) / (1 + cos(π (t − 1) / T_max)),
    and, past T_max, rising again (a period of 2·T_max) instead of stopping at η_min.
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ) -> None:
        if not (isinstance(T_max, int) and T_max >= 1):
            raise ValueError(f"CosineAnnealingLR: T_max must be a whole number >= 1, got {T_max}")
        self.T_max, self.eta_min = T_max, eta_min
        super().__init__(optimizer, last_epoch)

    def get_lr(self) -> float:
        lr, t, t_max, eta_min = self.optimizer.lr, self.last_epoch, self.T_max, self.eta_min
        if self._initial:
            return lr
        if self._step_count == 1 and t > 0:
            return eta_min + (self.base_lr - eta_min) * (1 + math.cos(t * math.pi / t_max)) / 2
        if (t - 1 - t_max) % (2 * t_max) == 0:
            return lr + (self.base_lr - eta_min) * (1 - math.cos(math.pi / t_max)) / 2
        return (1 + math.cos(math.pi * t / t_max)) / (1 + math.cos(math.pi * (t - 1) / t_max)) * (
            lr - eta_min
        ) + eta_min
