"""A learner's own layer and loss, checked with `backprop check docs/examples/my_layers.py`."""

import numpy as np


class Param:
    def __init__(self, data):
        self.data = data
        self.grad = np.zeros_like(data)


class MyLinear:
    """y = x @ W + b"""

    def __init__(self, n_in, n_out, rng):
        self.W = Param(rng.standard_normal((n_in, n_out)))
        self.b = Param(np.zeros(n_out))

    def parameters(self):
        return [self.W, self.b]

    def forward(self, x):
        self.x = x
        return x @ self.W.data + self.b.data

    def backward(self, grad_output):
        self.W.grad += grad_output.T @ self.x  # should be self.x.T @ grad_output
        self.b.grad += grad_output.sum(axis=0)
        return grad_output @ self.W.data.T


class MyMSE:
    """L = 1/N Σ (O − T)²"""

    def forward(self, pred, target):
        self.diff = pred - target
        return float(np.sum(self.diff**2) / len(pred))

    def backward(self):
        return 2 * self.diff  # the 1/N of the forward pass is missing


def check_linear():
    rng = np.random.default_rng(0)
    return MyLinear(3, 3, rng), rng.standard_normal((4, 3))


def check_mse():
    rng = np.random.default_rng(1)
    return MyMSE(), rng.standard_normal((8, 2)), rng.standard_normal((8, 2))
