"""Sequential: layers applied in order, and the chain rule run back through them."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any, overload

import numpy as np

from ..arrays import Array, check_finite
from ._checks import as_input
from .module import Module


class Sequential(Module):
    """Layers applied in order: y = fₖ(… f₂(f₁(x)))

    backward runs the chain rule in reverse: g ← fᵢ.backward(g) for i = k … 1, each layer
    turning dL/d(its output) into dL/d(its input) and accumulating dL/dparam on the way.

    dL/dx, the last step (f₁'s input gradient), is computed only if the forward pass asked for
    it: after ``model(x, requires_grad=True)`` backward returns dL/dx; after ``model(x)`` it
    stops at f₁'s parameter gradients and returns None. A training step never uses dL/dx of the
    data, and for a first ``Linear(784, …)`` it is a GEMM as large as dL/dW. This is PyTorch's
    rule: a tensor made from data has ``requires_grad=False``, and ``loss.backward()`` then
    computes no ``x.grad``. gradcheck and check, which compare dL/dx, ask for it. The
    flag belongs to the forward pass, as the layers' caches do: each forward sets it anew.

    A Sequential inside another: one at any place but the first is run with
    ``requires_grad=True`` (the outer one needs its dL/dx to go on); a first one with the outer
    one's flag.
    """

    def __init__(self, *layers: Module) -> None:
        seen: dict[int, int] = {}
        for i, layer in enumerate(layers):
            if not isinstance(layer, Module):
                raise TypeError(f"Sequential: item {i} is {type(layer).__name__}, not a Module")
            # A layer keeps the cache of its last forward pass, which its backward pass reads:
            # used twice in one pass, its first use's cache would be gone. (PyTorch's autograd
            # records both uses; weights shared across places need that.)
            if id(layer) in seen:
                raise ValueError(
                    f"Sequential: item {i} is item {seen[id(layer)]} again; a layer keeps one "
                    "forward pass's cache, so each may appear once (make another layer)"
                )
            seen[id(layer)] = i
        self.layers = list(layers)
        self._requires_grad = False

    def __call__(self, x: Array | Any, requires_grad: bool = False) -> Array:
        # Module.__call__'s conversion of a list, with the flag (no **kwargs: a dict per call)
        return self.forward(x if isinstance(x, np.ndarray) else as_input(self, x), requires_grad)

    def forward(self, x: Array, requires_grad: bool = False) -> Array:
        if not isinstance(requires_grad, bool):
            raise TypeError(f"Sequential: requires_grad must be a bool, got {requires_grad!r}")
        # The network's input is data: a NaN or inf there is refused with its place named. Values
        # inside the network are not checked, so a diverging run reaches the loss and is
        # reported there, by the training loop.
        # The sum is a one-pass filter with no temporary: it is finite only if every entry is
        # (NaN and ±inf propagate through sums). If it is not (a NaN or inf, or a float
        # overflow of the sum), check_finite looks at every entry and raises only for a real one.
        # Integers (an Embedding's indices) are finite by their type.
        if x.dtype.kind not in "iub" and not math.isfinite(np.add.reduce(x, axis=None)):
            check_finite("Sequential: input", x)
        self._requires_grad = requires_grad
        for i, layer in enumerate(self.layers):
            if isinstance(layer, Sequential):
                x = layer(x, requires_grad=requires_grad or i > 0)
            else:
                x = layer(x)
        return x

    # A layer's backward always returns dL/dx; this one may return None (see above), as
    # PyTorch's loss.backward() does, so the override narrows the base class's promise.
    def backward(self, grad_output: Array) -> Array | None:  # type: ignore[override]
        if self._requires_grad:
            return self._backward_through(self.layers, grad_output)
        self.backward_params(grad_output)
        return None

    def backward_params(self, grad_output: Array) -> None:
        """As backward after ``model(x)``, whatever the forward pass asked: every parameter
        gradient, and not dL/dx of the first layer."""
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

    @overload
    def __getitem__(self, index: int) -> Module: ...
    @overload
    def __getitem__(self, index: slice) -> Sequential: ...
    def __getitem__(self, index: int | slice) -> Module:
        """A layer, or for a slice a Sequential of those layers (the same objects), as in
        PyTorch."""
        if isinstance(index, slice):
            return Sequential(*self.layers[index])
        return self.layers[index]

    def __iter__(self) -> Iterator[Module]:
        return iter(self.layers)

    def __repr__(self) -> str:
        lines = [f"  ({i}): {layer!r}" for i, layer in enumerate(self.layers)]
        return "Sequential(\n" + "\n".join(lines) + "\n)" if lines else "Sequential()"
