"""Sequential: layers applied in order, and the chain rule run back through them."""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np

from ..arrays import Array, check_finite
from .module import Module


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

    def named_children(self) -> list[tuple[str, Module]]:
        return [(str(i), layer) for i, layer in enumerate(self.layers)]

    def __len__(self) -> int:
        return len(self.layers)

    def __getitem__(self, index: int) -> Module:
        return self.layers[index]

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __repr__(self) -> str:
        lines = [f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)" if lines else "Sequential()"
