"""The layers: one module per family, as in PyTorch's ``torch/nn/modules``.

module.py (Parameter, Module: modes, buffers, state_dict) · container.py (Sequential) ·
linear.py (Linear, Identity) · activation.py (ReLU, Sigmoid, Tanh, GELU, LeakyReLU, Softmax,
LogSoftmax) · normalization.py (BatchNorm1d, BatchNorm2d, LayerNorm) · dropout.py (Dropout) · sparse.py
(Embedding) · flatten.py (Flatten, Unflatten) · conv.py (Conv2d) · pooling.py (MaxPool2d,
AvgPool2d, AdaptiveAvgPool2d) · registry.py (the table interop and checkpoints read)
"""

from .activation import GELU, LeakyReLU, LogSoftmax, ReLU, Sigmoid, Softmax, Tanh
from .container import Sequential
from .conv import Conv2d
from .dropout import Dropout
from .flatten import Flatten, Unflatten
from .linear import Identity, Linear
from .module import Module, Parameter
from .normalization import BatchNorm1d, BatchNorm2d, LayerNorm
from .pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from .sparse import Embedding

__all__ = [
    "GELU",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "LayerNorm",
    "LeakyReLU",
    "Linear",
    "LogSoftmax",
    "MaxPool2d",
    "Module",
    "Parameter",
    "ReLU",
    "Sequential",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "Unflatten",
]
