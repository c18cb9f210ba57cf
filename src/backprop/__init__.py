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

from .checkpoint import load, save
from .gradcheck import GradCheckReport, gradcheck
from .layers import Identity, Linear, Module, Parameter, ReLU, Sequential, Sigmoid, Tanh
from .losses import CrossEntropyLoss, MSELoss
from .optim import SGD, Adam, Optimizer
from .train import fit

__all__ = [
    "SGD",
    "Adam",
    "CrossEntropyLoss",
    "GradCheckReport",
    "Identity",
    "Linear",
    "MSELoss",
    "Module",
    "Optimizer",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "fit",
    "gradcheck",
    "load",
    "save",
]
__version__ = "0.1.0"
