"""The layers: one module per family, as in PyTorch's ``torch/nn/modules``.

module.py (Parameter, Module) · container.py (Sequential) · linear.py (Linear, Identity) ·
activation.py (ReLU, Sigmoid, Tanh) · conv.py (Conv2d) · flatten.py (Flatten, Unflatten) · pooling.py (MaxPool2d, AvgPool2d,
AdaptiveAvgPool2d)
"""

from .activation import ReLU, Sigmoid, Tanh
from .container import Sequential
from .conv import Conv2d
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .module import Module, Parameter
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d

__all__ = [
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "Conv2d",
    "Flatten",
    "Identity",
    "Linear",
    "MaxPool2d",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Tanh",
    "Unflatten",
]
