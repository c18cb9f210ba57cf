"""Loss functions: ``loss_fn(pred, target)`` returns the loss (a Python float, or an array for
``reduction="none"``); ``loss_fn.backward()`` returns dL/dpred for the last call.

regression.py (MSELoss, L1Loss) · classification.py (CrossEntropyLoss, NLLLoss) ·
binary.py (BCEWithLogitsLoss) · reduction.py (PyTorch's ``reduction`` argument)
"""

from .binary import BCEWithLogitsLoss
from .classification import CrossEntropyLoss, NLLLoss
from .regression import REDUCTIONS, L1Loss, MSELoss

Loss = MSELoss | CrossEntropyLoss | L1Loss | NLLLoss | BCEWithLogitsLoss

__all__ = [
    "REDUCTIONS",
    "BCEWithLogitsLoss",
    "CrossEntropyLoss",
    "L1Loss",
    "Loss",
    "MSELoss",
    "NLLLoss",
]
