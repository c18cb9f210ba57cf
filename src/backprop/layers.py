"""Parameters, layers and `Sequential`: each forward pass with its hand-derived backward pass.

Conventions (as in PyTorch, with one deliberate difference):

* ``forward(x)`` returns the output and caches what the backward pass needs (one cache per
  layer, overwritten by every forward call).
* ``backward(grad_output)`` takes dL/dy, *accumulates* dL/dparam into ``param.grad`` (gradients
  add up across calls until ``zero_grad()``) and returns dL/dx: a new array, or grad_output
  itself, never an array the layer keeps.
* **`Linear.weight` has shape (in_features, out_features)** and ``y = x @ W + b``, as in the
  post ("Notes on Backpropagation"), so column n of W is the post's θ_n. PyTorch stores the
  transpose, shape (out_features, in_features), and computes ``x @ A.T + b``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import numpy as np
import numpy.typing as npt

Array = npt.NDArray[Any]


def first_nonfinite(a: Array) -> tuple[int, ...] | None:
    """Index of the first NaN or ±inf in ``a``, or None if every entry is finite."""
    bad = np.argwhere(~np.isfinite(a))
    return tuple(int(i) for i in bad[0]) if len(bad) else None


def check_finite(name: str, a: Array) -> None:
    """Raise ValueError naming the first NaN or inf in ``a`` (e.g. "target has nan at [3, 1]")."""
    where = first_nonfinite(a)
    if where is not None:
        value = a[where]
        raise ValueError(f"{name} has {value} at {list(where)}")


class Parameter:
    """A trainable array and the gradient accumulated for it.

    ``data`` and ``grad`` have the same shape and dtype. ``zero_grad()`` only marks the gradient
    as zero; the buffer is cleared when it is next read, or overwritten by the next backward pass
    instead of added to. This saves a pass over every weight per step and lets a layer write its
    gradient straight into the buffer (``np.matmul(..., out=grad)``), with no temporary.
    """

    __slots__ = ("_grad", "_grad_is_zero", "data")

    def __init__(self, data: Array) -> None:
        self.data = data
        self._grad = np.zeros_like(data)
        self._grad_is_zero = True

    @property
    def grad(self) -> Array:
        if self._grad_is_zero:
            self._grad.fill(0)
            self._grad_is_zero = False
        return self._grad

    @grad.setter
    def grad(self, value: Array) -> None:
        value = np.asarray(value, dtype=self.data.dtype)
        if value.shape != self.data.shape:
            raise ValueError(f"grad of shape {value.shape} for a parameter of shape {self.shape}")
        self._grad[...] = value
        self._grad_is_zero = False

    def accumulate(self, value: Array) -> None:
        """grad += value (or grad = value right after zero_grad)."""
        if self._grad_is_zero:
            self._grad[...] = value
            self._grad_is_zero = False
        else:
            self._grad += value

    def zero_grad(self) -> None:
        self._grad_is_zero = True

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def dtype(self) -> np.dtype[Any]:
        return self.data.dtype

    def __repr__(self) -> str:
        return f"Parameter(shape={self.shape}, dtype={self.dtype})"


class Module:
    """Base class: ``module(x)`` calls ``forward``; ``backward`` maps dL/dy to dL/dx."""

    def __call__(self, x: Array) -> Array:
        return self.forward(x)

    def forward(self, x: Array) -> Array:
        raise NotImplementedError

    def backward(self, grad_output: Array) -> Array:
        raise NotImplementedError

    def backward_params(self, grad_output: Array) -> None:
        """Accumulate the parameter gradients only; dL/dx is not needed (the network's input)."""
        self.backward(grad_output)

    def backward_owned(self, grad_output: Array) -> Array:
        """As backward, for a ``grad_output`` made in this backward pass and used by no one
        else, which the layer may overwrite (``Sequential`` calls it; see there)."""
        return self.backward(grad_output)

    def parameters(self) -> list[Parameter]:
        return []

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return []

    def zero_grad(self) -> None:
        for p in self.parameters():
            p.zero_grad()

    def __repr__(self) -> str:
        return f"{type(self).__name__}()"


class Linear(Module):
    """y = x @ W + b        x: (N, in)  W: (in, out)  b: (out,)  y: (N, out)

    backward:  dL/dW = xᵀ · dL/dy    dL/db = Σₙ dL/dy    dL/dx = dL/dy · Wᵀ

    ``weight`` is stored as (in_features, out_features), the post's layout, so y = x @ W needs
    no transpose. **PyTorch's ``nn.Linear.weight`` is the transpose**, (out_features,
    in_features); ``backprop.interop`` converts. Initialised as PyTorch does: W and b uniform
    in ±1/√in_features, drawn from ``rng`` (a ``np.random.Generator``; a fresh unseeded one if
    None).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        bias: bool = True,
        rng: np.random.Generator | None = None,
        dtype: npt.DTypeLike = np.float64,
    ) -> None:
        if in_features < 1 or out_features < 1:
            raise ValueError(
                f"Linear needs in_features >= 1 and out_features >= 1, "
                f"got ({in_features}, {out_features})"
            )
        rng = np.random.default_rng() if rng is None else rng
        self.in_features = in_features
        self.out_features = out_features
        bound = 1.0 / np.sqrt(in_features)
        self.weight = Parameter(
            rng.uniform(-bound, bound, (in_features, out_features)).astype(dtype)
        )
        self.bias = (
            Parameter(rng.uniform(-bound, bound, out_features).astype(dtype)) if bias else None
        )
        self._x: Array | None = None

    def forward(self, x: Array) -> Array:
        if x.ndim != 2 or x.shape[1] != self.in_features:
            raise ValueError(
                f"{self!r} expects input of shape (N, {self.in_features}), got {x.shape}"
            )
        if x.dtype != self.weight.data.dtype:
            # Compute in the layer's dtype, as a float32 network must stay float32 throughout.
            x = x.astype(self.weight.data.dtype)
        self._x = x
        y = x @ self.weight.data
        if self.bias is not None:
            y += self.bias.data
        return y

    def backward(self, grad_output: Array) -> Array:
        self.backward_params(grad_output)
        return grad_output @ self.weight.data.T

    def backward_params(self, grad_output: Array) -> None:
        x = self._x
        if x is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        if grad_output.shape != (x.shape[0], self.out_features):
            raise ValueError(
                f"{self!r}: backward expects grad_output of shape "
                f"({x.shape[0]}, {self.out_features}), got {grad_output.shape}"
            )
        # Right after zero_grad, dL/dW and dL/db go straight into the gradient buffers (no
        # temporary); otherwise they are added to what is there.
        W, b = self.weight, self.bias
        if W._grad_is_zero:
            np.matmul(x.T, grad_output, out=W._grad)
            W._grad_is_zero = False
        else:
            W._grad += x.T @ grad_output
        if b is not None:
            if b._grad_is_zero:
                np.add.reduce(grad_output, axis=0, out=b._grad)
                b._grad_is_zero = False
            else:
                b._grad += np.add.reduce(grad_output, axis=0)

    def parameters(self) -> list[Parameter]:
        return [self.weight] if self.bias is None else [self.weight, self.bias]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        named = [("weight", self.weight)]
        if self.bias is not None:
            named.append(("bias", self.bias))
        return named

    def __repr__(self) -> str:
        return (
            f"Linear(in_features={self.in_features}, out_features={self.out_features}, "
            f"bias={self.bias is not None}, dtype={self.weight.dtype})"
        )


class ReLU(Module):
    """y = max(x, 0)        x, y: any shape

    backward:  dL/dx = dL/dy ⊙ [y > 0]     (the subgradient at 0 is taken as 0, as in PyTorch)
    """

    def __init__(self) -> None:
        self._y: Array | None = None

    def forward(self, x: Array) -> Array:
        self._y = y = np.maximum(x, 0)
        return y

    def backward(self, grad_output: Array) -> Array:
        return grad_output * self._mask()

    def backward_owned(self, grad_output: Array) -> Array:
        # Zeroing entries in place saves a gradient-sized array at every ReLU of a training step.
        return np.multiply(grad_output, self._mask(), out=grad_output)

    def _mask(self) -> Array:
        y = self._y
        if y is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return y > 0


class Sigmoid(Module):
    """y = σ(x) = 1 / (1 + e⁻ˣ)        x, y: any shape

    backward:  dL/dx = dL/dy ⊙ y ⊙ (1 − y)

    Computed from e^(−|x|), which lies in (0, 1] and never overflows: σ(x) = 1/(1 + e^(−|x|))
    for x ≥ 0 and e^(−|x|)/(1 + e^(−|x|)) for x < 0. The naive 1/(1 + exp(−x)) overflows
    (with a warning) for x below about −709.
    """

    def __init__(self) -> None:
        self._y: Array | None = None

    def forward(self, x: Array) -> Array:
        e = np.exp(-np.abs(x))
        y = 1.0 / (1.0 + e)
        self._y = y = np.where(x >= 0, y, e * y).astype(x.dtype, copy=False)
        return y

    def backward(self, grad_output: Array) -> Array:
        y = self._y
        if y is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return grad_output * y * (1 - y)


class Tanh(Module):
    """y = tanh(x)        x, y: any shape

    backward:  dL/dx = dL/dy ⊙ (1 − y²)

    ``np.tanh`` saturates to ±1 without overflow, so no special form is needed.
    """

    def __init__(self) -> None:
        self._y: Array | None = None

    def forward(self, x: Array) -> Array:
        self._y = y = np.tanh(x)
        return y

    def backward(self, grad_output: Array) -> Array:
        y = self._y
        if y is None:
            raise RuntimeError(f"{self!r}: backward() called before forward()")
        return grad_output * (1 - y * y)


class Identity(Module):
    """y = x        backward:  dL/dx = dL/dy"""

    def forward(self, x: Array) -> Array:
        return x

    def backward(self, grad_output: Array) -> Array:
        return grad_output


class Sequential(Module):
    """Layers applied in order: y = fₖ(… f₂(f₁(x)))

    backward runs the chain rule in reverse: g ← fᵢ.backward(g) for i = k … 1, each layer
    turning dL/d(its output) into dL/d(its input). Returns dL/dx.
    """

    def __init__(self, *layers: Module) -> None:
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: item {i} is {type(layer).__name__}, not a Module")
        self.layers = list(layers)

    def forward(self, x: Array) -> Array:
        # The network's input is data: a NaN or inf there is refused with its place named. Values
        # inside the network are not checked, so a diverging run reaches the loss and is
        # reported there, by the training loop.
        # The sum is a one-pass filter with no temporary: it is finite only if every entry is
        # (NaN and ±inf propagate through sums). If it is not (a NaN or inf, or a float
        # overflow of the sum), check_finite looks at every entry and raises only for a real one.
        if not math.isfinite(np.add.reduce(x, axis=None)):
            check_finite("Sequential: input", x)
        for layer in self.layers:
            x = layer(x)
        return x

    def backward(self, grad_output: Array) -> Array:
        return self._backward_through(self.layers, grad_output)

    def backward_params(self, grad_output: Array) -> None:
        """As backward, but skips dL/dx of the first layer, which a training step never uses
        (PyTorch skips it too, since the input does not require grad)."""
        if not self.layers:
            return
        first, *rest = self.layers
        first.backward_params(self._backward_through(rest, grad_output))

    @staticmethod
    def _backward_through(layers: list[Module], grad_output: Array) -> Array:
        # Each gradient a layer returns is a new array that only this pass holds, so the next
        # layer may overwrite it (backward_owned); the caller's grad_output, which a layer such
        # as Identity may hand on unchanged, is never overwritten.
        caller = grad_output
        for layer in reversed(layers):
            if grad_output is caller:
                grad_output = layer.backward(grad_output)
            else:
                grad_output = layer.backward_owned(grad_output)
        return grad_output

    def parameters(self) -> list[Parameter]:
        return [p for layer in self.layers for p in layer.parameters()]

    def named_parameters(self) -> list[tuple[str, Parameter]]:
        return [
            (f"{i}.{name}", p)
            for i, layer in enumerate(self.layers)
            for name, p in layer.named_parameters()
        ]

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __repr__(self) -> str:
        lines = [f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)" if lines else "Sequential()"
