"""The layers: one module per family, as in PyTorch's ``torch/nn/modules``.

module.py (Parameter, Module) · container.py (Sequential) · linear.py (Linear, Identity) ·
activation.py (ReLU, Sigmoid, Tanh)
"""

from .activation import ReLU, Sigmoid, Tanh
from .container import Sequential
from .linear import Identity, Linear
from .module import Module, Parameter

__all__ = ["Identity", "Linear", "Module", "Parameter", "ReLU", "Sequential", "Sigmoid", "Tanh"]
