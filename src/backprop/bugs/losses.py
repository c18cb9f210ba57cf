"""Mistakes in a loss's backward pass. The correct loss first, each variant beside it.

The correct classes compute exactly what ``backprop.MSELoss()`` (the post's loss) and
``backprop.CrossEntropyLoss()`` compute, written in the plainest NumPy.
"""

from __future__ import annotations

import numpy as np

from ..arrays import Array


class MSELoss:
    """L = 1/N Σₙ Σᵢ (Oₙᵢ − Tₙᵢ)²        dL/dO = 2/N (O − T)        O, T: (N, D)"""

    def forward(self, pred: Array, target: Array) -> float:
        self.diff = pred - target
        return float(np.sum(self.diff**2) / len(pred))

    def backward(self) -> Array:
        return 2 * self.diff / len(self.diff)

    def __call__(self, pred: Array, target: Array) -> float:
        return self.forward(pred, target)


class MissingOneOverN(MSELoss):
    def backward(self) -> Array:
        return 2 * self.diff


class PostSign(MSELoss):
    def backward(self) -> Array:
        return 2 * (-self.diff) / len(self.diff)


class MissingTwo(MSELoss):
    def backward(self) -> Array:
        return self.diff / len(self.diff)


class DividedByD(MSELoss):
    def backward(self) -> Array:
        return 2 * self.diff / self.diff.size


class CrossEntropyLoss:
    """L = 1/N Σₙ (log Σ_c e^(Zₙc) − Zₙ,yₙ)     dL/dZ = (softmax(Z) − onehot(y)) / N

    Z: (N, C) logits, y: (N,) labels. The row maximum is subtracted before exp: every exponent
    is then ≤ 0, so nothing overflows, and softmax is unchanged.
    """

    def forward(self, logits: Array, target: Array) -> float:
        z = logits - logits.max(axis=1, keepdims=True)
        e = np.exp(z)
        self.probs = e / e.sum(axis=1, keepdims=True)
        self.target = target
        rows = np.arange(len(z))
        return float(np.mean(np.log(e.sum(axis=1)) - z[rows, target]))

    def backward(self) -> Array:
        grad = self.probs.copy()
        grad[np.arange(len(grad)), self.target] -= 1
        return grad / len(grad)

    def __call__(self, logits: Array, target: Array) -> float:
        return self.forward(logits, target)


class NoMaxShift(CrossEntropyLoss):
    def forward(self, logits: Array, target: Array) -> float:
        z = logits
        e = np.exp(z)
        self.probs = e / e.sum(axis=1, keepdims=True)
        self.target = target
        rows = np.arange(len(z))
        return float(np.mean(np.log(e.sum(axis=1)) - z[rows, target]))
