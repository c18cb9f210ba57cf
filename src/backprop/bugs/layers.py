"""Mistakes in a layer's backward pass (or in what its forward pass caches). The correct layer
first, each variant beside it; all are ``backprop.nn.Module``s and work in a ``Sequential``."""

from __future__ import annotations

import numpy as np

from ..arrays import Array
from ..nn import Module, Parameter


class Linear(Module):
    """y = x @ W + b        x: (N, in)  W: (in, out)  b: (out,)  y: (N, out)

    backward:  dL/dW = xᵀ · dL/dy    dL/db = Σₙ dL/dy    dL/dx = dL/dy · Wᵀ
    """

    def __init__(self, in_features: int, out_features: int, rng: np.random.Generator) -> None:
        bound = 1 / np.sqrt(in_features)
        self.weight = Parameter(rng.uniform(-bound, bound, (in_features, out_features)))
        self.bias = Parameter(rng.uniform(-bound, bound, out_features))

    def forward(self, x: Array) -> Array:
        self.x = x
        return x @ self.weight.data + self.bias.data

    def backward(self, grad_output: Array) -> Array:
        self.weight.accumulate(self.x.T @ grad_output)
        self.bias.accumulate(grad_output.sum(axis=0))
        return grad_output @ self.weight.data.T

    def parameters(self) -> list[Parameter]:
        return [self.weight, self.bias]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [("weight", self.weight), ("bias", self.bias)]


class TransposedWeightGrad(Linear):
    def backward(self, grad_output: Array) -> Array:
        self.weight.accumulate(grad_output.T @ self.x)
        self.bias.accumulate(grad_output.sum(axis=0))
        return grad_output @ self.weight.data.T


class BiasNotSummed(Linear):
    def backward(self, grad_output: Array) -> Array:
        self.weight.accumulate(self.x.T @ grad_output)
        self.bias.accumulate(grad_output[0])
        return grad_output @ self.weight.data.T


class Sigmoid(Module):
    """y = σ(x) = 1 / (1 + e⁻ˣ)        backward:  dL/dx = dL/dy ⊙ y ⊙ (1 − y)"""

    def forward(self, x: Array) -> Array:
        self.y = 1 / (1 + np.exp(-x))
        return self.y

    def backward(self, grad_output: Array) -> Array:
        return grad_output * self.y * (1 - self.y)


class SigmoidPrimeAtOutput(Sigmoid):
    def backward(self, grad_output: Array) -> Array:
        s = 1 / (1 + np.exp(-self.y))
        return grad_output * s * (1 - s)


class ReLU(Module):
    """y = max(x, 0)        backward:  dL/dx = dL/dy ⊙ [x > 0]"""

    def forward(self, x: Array) -> Array:
        self.mask = x > 0
        return np.maximum(x, 0)

    def backward(self, grad_output: Array) -> Array:
        return grad_output * self.mask


class ReLUMaskAfterInPlace(ReLU):
    def forward(self, x: Array) -> Array:
        np.maximum(x, 0, out=x)
        self.mask = x >= 0
        return x


class Tanh(Module):
    """y = tanh(x)        backward:  dL/dx = dL/dy ⊙ (1 − tanh²(x))"""

    def forward(self, x: Array) -> Array:
        self.x = x
        return np.tanh(x)

    def backward(self, grad_output: Array) -> Array:
        return grad_output * (1 - np.tanh(self.x) ** 2)


class TanhCacheOverwritten(Tanh):
    def forward(self, x: Array) -> Array:
        self.x = x
        return np.tanh(x, out=x)


class BatchNorm1d(Module):
    """y = γ ⊙ x̂ + β,  x̂ = (x − μ) / √(σ² + ε)     μ, σ²: the batch's mean and (biased) variance

    backward:  dL/dx = 1/√(σ² + ε) · (g − mean(g) − x̂ ⊙ mean(g ⊙ x̂)),  g = dL/dy ⊙ γ
               dL/dγ = Σₙ dL/dy ⊙ x̂     dL/dβ = Σₙ dL/dy          x, y: (N, D)
    Training mode only: every sample's output depends on the whole batch through μ and σ².
    """

    def __init__(self, num_features: int, rng: np.random.Generator, eps: float = 1e-5) -> None:
        self.weight = Parameter(rng.uniform(0.5, 1.5, num_features))
        self.bias = Parameter(rng.uniform(-0.5, 0.5, num_features))
        self.eps = eps

    def forward(self, x: Array) -> Array:
        mean, var = x.mean(axis=0), x.var(axis=0)
        self.inv_std = 1 / np.sqrt(var + self.eps)
        self.x_hat = (x - mean) * self.inv_std
        return self.weight.data * self.x_hat + self.bias.data

    def backward(self, grad_output: Array) -> Array:
        self.weight.accumulate((grad_output * self.x_hat).sum(axis=0))
        self.bias.accumulate(grad_output.sum(axis=0))
        g = grad_output * self.weight.data
        return self.inv_std * (g - g.mean(axis=0) - self.x_hat * (g * self.x_hat).mean(axis=0))

    def parameters(self) -> list[Parameter]:
        return [self.weight, self.bias]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [("weight", self.weight), ("bias", self.bias)]


class BatchNormWithoutMeanTerms(BatchNorm1d):
    def backward(self, grad_output: Array) -> Array:
        self.weight.accumulate((grad_output * self.x_hat).sum(axis=0))
        self.bias.accumulate(grad_output.sum(axis=0))
        g = grad_output * self.weight.data
        return self.inv_std * g


class Dropout(Module):
    """y = x ⊙ m / (1 − p),  m ~ Bernoulli(1 − p)        backward:  dL/dx = dL/dy ⊙ m / (1 − p)

    Dividing by 1 − p keeps E[y] = x, so that evaluation, which drops nothing, sees the same
    scale. The mask is drawn from a fixed seed at every call, so that a gradient check sees one
    function of x.
    """

    def __init__(self, p: float, seed: int) -> None:
        self.p, self.seed = p, seed

    def mask(self, shape: tuple[int, ...]) -> Array:
        return np.random.default_rng(self.seed).random(shape) >= self.p

    def forward(self, x: Array) -> Array:
        self.m = self.mask(x.shape)
        return x * self.m / (1 - self.p)

    def backward(self, grad_output: Array) -> Array:
        return grad_output * self.m / (1 - self.p)


class DropoutNotRescaled(Dropout):
    def forward(self, x: Array) -> Array:
        self.m = self.mask(x.shape)
        return x * self.m

    def backward(self, grad_output: Array) -> Array:
        return grad_output * self.m
