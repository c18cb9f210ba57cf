"""Helpers over a model's parameters, as ``torch.nn.utils``: ``clip_grad_norm_``."""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from .module import Parameter


def clip_grad_norm_(
    parameters: Iterable[Parameter] | Parameter,
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale the gradients of ``parameters`` in place so that their total norm is at most
    ``max_norm``; return the total norm before scaling, as ``torch.nn.utils.clip_grad_norm_``.

    ‖g‖ = (Σₚ ‖gₚ‖ᵖ)^(1/p), the p-norm (``norm_type``; ``inf`` for the largest |g|) of all the
          gradients together, as if they were one vector
    g ← g · min(1, max_norm / (‖g‖ + 10⁻⁶))

    The 10⁻⁶ (PyTorch's) keeps the division finite when every gradient is 0. As in PyTorch the
    gradients are multiplied even when the factor is 1. With ``error_if_nonfinite``, a NaN or
    infinite norm raises a ValueError instead of spreading through every gradient.
    """
    # one Parameter, or any iterable of them, as torch takes one tensor or an iterable
    params = [parameters] if isinstance(parameters, Parameter) else list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Parameter):
            raise TypeError(
                f"clip_grad_norm_: item {i} is {type(p).__name__}, not a Parameter "
                "(pass model.parameters())"
            )
    if not max_norm >= 0:
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0, got {max_norm}")
    norm_type = float(norm_type)
    if not params:
        return 0.0
    grads = [p.grad for p in params]
    # the norm of the per-parameter norms: the norm of the whole, as torch computes it
    norms = np.array([np.linalg.norm(g.reshape(-1), ord=norm_type) for g in grads])
    total = float(np.linalg.norm(norms, ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise ValueError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}"
        )
    coef = min(max_norm / (total + 1e-6), 1.0)
    for g in grads:
        g *= coef
    return total
