"""PyTorch's ``reduction`` argument, shared by the losses: how per-element losses ℓ become L.

reduction="mean"   L = 1/M Σ ℓ      (M: the number of elements, or the total weight; see each loss)
reduction="sum"    L = Σ ℓ
reduction="none"   L = ℓ, an array; backward(grad_output) then takes dL'/dℓ of that shape, as
                   PyTorch's ``loss.backward(gradient)`` does, and returns Σ dL'/dℓ · dℓ/dx.
"""

from __future__ import annotations

import numpy as np

from ..arrays import Array

TORCH_REDUCTIONS = ("mean", "sum", "none")


def check_reduction(loss: str, reduction: str) -> str:
    if reduction not in TORCH_REDUCTIONS:
        raise ValueError(
            f"{loss}: unknown reduction {reduction!r}; valid: {', '.join(TORCH_REDUCTIONS)}"
        )
    return reduction


def upstream(
    loss: str, reduction: str, grad_output: Array | float | None, shape: tuple[int, ...]
) -> Array | float:
    """dL'/dℓ for backward: 1 for a scalar loss (or the number given), the array given for
    reduction="none" (its shape checked)."""
    if reduction != "none":
        return 1.0 if grad_output is None else float(grad_output)
    if grad_output is None:
        raise ValueError(
            f"{loss}: backward() of a reduction='none' loss needs grad_output of shape {shape}"
        )
    g = np.asarray(grad_output)
    if g.shape != shape:
        raise ValueError(f"{loss}: grad_output has shape {g.shape}, the loss has shape {shape}")
    return g
