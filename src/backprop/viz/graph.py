"""The computational graph of one step of the post's training, with its real numbers.

X →(× W)→ P →(+ b)→ O →((O − T)², summed, ÷ N)→ L, drawn left to right: each edge carries the
value the forward pass sent along it (blue, above) and the gradient the backward pass sent back
(red, below). The numbers are ``backprop.explain.graph_nodes``: the library's own forward and
backward pass, nothing computed here.
"""

from __future__ import annotations

import os
from typing import Any

import numpy as np

from ..explain import ExplainedStep, GraphNode, graph_nodes
from ..files import atomic_write, check_suffix

BLUE, RED, GREY = "#1f4e9c", "#b3261e", "#555555"


def _text(a: Any) -> str:
    """A value as the learner would write it: rows of 2-decimal numbers."""
    a = np.atleast_2d(np.asarray(a, dtype=np.float64))
    rows = ["  ".join(f"{v:6.2f}" for v in row) for row in a]
    return "\n".join(f"[{r}]" for r in rows) if len(rows) > 1 or a.size > 1 else rows[0].strip()


def draw_graph(step: ExplainedStep, path: str | os.PathLike[str]) -> int:
    """Draw the graph of ``step`` to a PNG at ``path`` (atomically); returns the file size."""
    check_suffix(path, [".png"])
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    nodes: dict[str, GraphNode] = {n.name: n for n in graph_nodes(step)}
    fig = Figure(figsize=(14.5, 6.4), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(-0.9, 16.2)
    ax.set_ylim(-0.6, 6.6)
    ax.axis("off")
    mono: dict[str, Any] = {"family": "monospace", "fontsize": 11}

    def node(x: float, y: float, name: str, fc: str = "white") -> None:
        ax.text(
            x, y, name, ha="center", va="center", fontsize=17, fontweight="bold",
            bbox={"boxstyle": "circle,pad=0.35", "fc": fc, "ec": "black", "lw": 1.3},
        )  # fmt: skip

    def arrow(x0: float, y0: float, x1: float, y1: float) -> None:
        ax.annotate(
            "", xy=(x1, y1), xytext=(x0, y0),
            arrowprops={"arrowstyle": "-|>", "lw": 1.4, "color": "black", "shrinkA": 17, "shrinkB": 17},
        )  # fmt: skip

    def op(x: float, y: float, label: str) -> None:
        ax.text(
            x, y, label, ha="center", va="center", fontsize=12.5, style="italic", color=GREY,
            bbox={"boxstyle": "round,pad=0.25", "fc": "#f2f2f2", "ec": GREY, "lw": 0.8},
        )  # fmt: skip

    chain_y = 4.2
    xs = {"X": 0.0, "P": 4.8, "O": 9.6, "L": 14.9}
    for name, x in xs.items():
        node(x, chain_y, name, fc="#fff4d6" if name == "L" else "white")
    ops = [("X", "P", "× W", "W"), ("P", "O", "+ b", "b"), ("O", "L", "(O − T)²\nsummed, ÷ N", "T")]
    for left, right, label, side in ops:
        x0, x1 = xs[left], xs[right]
        at = x0 + (0.72 if side != "T" else 0.7) * (
            x1 - x0
        )  # the operation, with its side input below it
        text_x = x0 + (0.34 if side != "T" else 0.3) * (x1 - x0)
        arrow(x0, chain_y, x1, chain_y)
        # the value sent forward along the edge, and the gradient sent back along it
        sent = nodes[left]
        ax.text(
            text_x, chain_y + 0.5, _text(sent.value), ha="center", va="bottom", color=BLUE, **mono
        )
        ax.text(text_x, chain_y - 0.5, _text(sent.grad), ha="center", va="top", color=RED, **mono)
        op(at, chain_y, label)
        side_y = 1.9
        node(at, side_y, side, fc="#eef3fb" if side != "T" else "#eeeeee")
        arrow(at, side_y, at, chain_y - 0.05)
        s = nodes[side]
        if side == "W":  # a matrix: value on the left, gradient on the right
            ax.text(at - 0.45, side_y, _text(s.value), ha="right", va="center", color=BLUE, **mono)
            ax.text(at + 0.45, side_y, _text(s.grad), ha="left", va="center", color=RED, **mono)
        elif side == "b":
            ax.text(
                at + 0.45, side_y + 0.12, _text(s.value), ha="left", va="bottom", color=BLUE, **mono
            )
            ax.text(at + 0.45, side_y - 0.12, _text(s.grad), ha="left", va="top", color=RED, **mono)
        else:
            ax.text(at + 0.45, side_y, "the target,\nT = X: no\ngradient", ha="left",
                    va="center", color=GREY, fontsize=11.5)  # fmt: skip
    loss = nodes["L"]
    ax.text(xs["L"], chain_y + 0.7, f"L = {loss.value:.3f}", ha="center", va="bottom", color=BLUE,
            fontsize=12.5)  # fmt: skip
    ax.text(xs["L"], chain_y - 0.7, "∂L/∂L = 1", ha="center", va="top", color=RED, fontsize=12.5)
    ax.text(
        -0.7, 6.35,
        f"One step of the post's training (step {step.step}, N = {step.samples}, d = {step.dim})",
        fontsize=15, fontweight="bold", va="top",
    )  # fmt: skip
    ax.text(
        -0.7, 5.9, "blue: the value the forward pass sends along an edge      "
        "red: ∂L/∂(that value), sent back by the backward pass", fontsize=12.5, va="top", color=GREY,
    )  # fmt: skip
    ax.text(
        -0.7, -0.4,
        "The local rules.  × W: a product swaps its inputs: W gets Xᵀ times the red after it, "
        "X gets the red after it times Wᵀ.\n"
        "+ b: an add passes the red after it to both inputs; b, added to each of the N rows, "
        "gets it summed over the rows.\nThe loss sends back ∂L/∂O = 2(O − T)/N.",
        fontsize=12, color=GREY, va="bottom", linespacing=1.5,
    )  # fmt: skip

    def write(f: Any) -> None:
        fig.savefig(f, format="png", metadata={"Software": None})

    return atomic_write(path, write)
