"""backprop: neural-network training in NumPy, every backward pass written by hand.

    >>> import numpy as np
    >>> from backprop import Linear, MSELoss, ReLU, SGD, Sequential
    >>> rng = np.random.default_rng(0)
    >>> model = Sequential(Linear(4, 8, rng=rng), ReLU(), Linear(8, 1, rng=rng))
    >>> loss_fn, opt = MSELoss(), SGD(model.parameters(), lr=0.01)
    >>> x, y = rng.normal(size=(16, 4)), rng.normal(size=(16, 1))
    >>> loss = loss_fn(model(x), y)
    >>> opt.zero_grad(); _ = model.backward(loss_fn.backward()); opt.step()

Note: ``Linear.weight`` is (in_features, out_features), the transpose of PyTorch's.
"""

from typing import TYPE_CHECKING, Any

# check is imported here, not on first use: the function must shadow its module's name, as
# gradcheck's does (a lazily imported check would leave `backprop.check` the module).
from .check import CheckReport, check, cmp
from .gradcheck import GradCheckReport, gradcheck
from .losses import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
from .nn import (
    GELU,
    AdaptiveAvgPool2d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv2d,
    Dropout,
    Embedding,
    Flatten,
    Identity,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    MaxPool2d,
    Module,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    Unflatten,
)
from .nn.utils import clip_grad_norm_
from .optim import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop

if TYPE_CHECKING:
    from .checkpoint import load, save
    from .train import fit

# The training loop and checkpoints pull in more of the standard library (csv, json, tempfile,
# zipfile): they load on first use, so `import backprop` and `backprop slp` stay as quick as NumPy.
_LAZY = {
    "fit": "train",
    "load": "checkpoint",
    "save": "checkpoint",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module 'backprop' has no attribute {name!r}")


__all__ = [
    "GELU",
    "SGD",
    "Adagrad",
    "Adam",
    "AdamW",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BCEWithLogitsLoss",
    "BatchNorm1d",
    "BatchNorm2d",
    "CheckReport",
    "Conv2d",
    "CrossEntropyLoss",
    "Dropout",
    "Embedding",
    "Flatten",
    "GradCheckReport",
    "Identity",
    "L1Loss",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MSELoss",
    "MaxPool2d",
    "Module",
    "NLLLoss",
    "Optimizer",
    "Parameter",
    "RMSprop",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "Unflatten",
    "check",
    "clip_grad_norm_",
    "cmp",
    "fit",
    "gradcheck",
    "load",
    "save",
]
__version__ = "0.1.0"
