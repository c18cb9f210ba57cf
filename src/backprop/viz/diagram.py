"""What a network picture shows, worked out without drawing: columns of units, the weights
between them, and the value of every unit for one example. No matplotlib here.

A network ``Linear(a, b), Tanh(), Linear(b, c)`` becomes three columns (a inputs, b hidden
units, c outputs) and two connections. Each ``Linear`` starts a new column; the activations that
follow it are folded into that column, whose values are the activations' output.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np

from ..arrays import Array
from ..history import Frame
from ..nn import Identity, Linear, Module, ReLU, Sequential, Sigmoid, Tanh

MAX_NEURONS = 16  # units per column drawn one by one; wider columns are drawn as heatmaps
MAX_UNITS = 64  # a 64-wide heatmap still has a few pixels per unit at the GIF's size
MAX_LINEARS = 6


@dataclass(frozen=True)
class Connection:
    """One ``Linear``: W (in, out) from column ``index`` to ``index + 1``, and its bias (out,)."""

    index: int
    in_features: int
    out_features: int
    weight_at: int  # where W is in ``Frame.params``
    bias_at: int | None  # where b is, or None for a Linear without bias

    @property
    def as_edges(self) -> bool:
        return self.in_features <= MAX_NEURONS and self.out_features <= MAX_NEURONS


@dataclass(frozen=True)
class Diagram:
    """The columns of units (``widths``), what follows each (``activations``) and the weights."""

    widths: tuple[int, ...]
    activations: tuple[str, ...]  # per column: "" or e.g. "Tanh"; column 0 is the input
    connections: tuple[Connection, ...]
    layers: tuple[Module, ...]

    def values(self, frame: Frame, x: Array) -> list[Array]:
        """Every column's values for the one example x (in,), computed from the frame's weights."""
        h = np.asarray(x, dtype=np.float64).reshape(1, -1)
        columns = [h[0]]
        at = 0
        for layer in self.layers:
            if isinstance(layer, Linear):
                W = frame.params[at]
                h = h @ W
                if layer.bias is not None:
                    h = h + frame.params[at + 1]
                at += 2 if layer.bias is not None else 1
                columns.append(h[0])
            else:
                # a copy, so the caller's layer keeps its own forward cache
                h = copy.copy(layer).forward(h)
                columns[-1] = h[0]
        return columns


def check_drawable(widths: list[int] | tuple[int, ...]) -> None:
    """Raise ValueError if a network with these column widths is too large to draw."""
    if len(widths) - 1 > MAX_LINEARS:
        raise ValueError(
            f"a network of {len(widths) - 1} Linear layers is too large to draw "
            f"(at most {MAX_LINEARS})"
        )
    widest = max(widths)
    if widest > MAX_UNITS:
        raise ValueError(
            f"a layer of {widest} units is too large to draw (at most {MAX_UNITS} units per "
            f"layer; up to {MAX_NEURONS} are drawn as neurons, wider ones as heatmaps)"
        )


def describe(model: Module) -> Diagram:
    """The diagram of a ``Linear`` or a ``Sequential`` of Linear layers and activations."""
    layers = list(model) if isinstance(model, Sequential) else [model]
    widths: list[int] = []
    activations: list[str] = []
    connections: list[Connection] = []
    at = 0
    for layer in layers:
        if isinstance(layer, Linear):
            if not widths:
                widths.append(layer.in_features)
                activations.append("")
            elif layer.in_features != widths[-1]:
                raise ValueError(
                    f"cannot draw {layer!r}: it takes {layer.in_features} inputs but the layer "
                    f"before gives {widths[-1]}"
                )
            has_bias = layer.bias is not None
            connections.append(
                Connection(
                    len(widths) - 1,
                    layer.in_features,
                    layer.out_features,
                    at,
                    at + 1 if has_bias else None,
                )
            )
            at += 2 if has_bias else 1
            widths.append(layer.out_features)
            activations.append("")
        elif isinstance(layer, ReLU | Sigmoid | Tanh | Identity):
            if not widths:
                raise ValueError(f"cannot draw a network that starts with {type(layer).__name__}")
            if not isinstance(layer, Identity):
                previous = activations[-1]
                name = type(layer).__name__
                activations[-1] = f"{previous}, {name}" if previous else name
        else:
            raise ValueError(f"cannot draw a network containing {type(layer).__name__}")
    if not connections:
        raise ValueError("cannot draw a network without a Linear layer")
    check_drawable(widths)
    return Diagram(tuple(widths), tuple(activations), tuple(connections), tuple(layers))
