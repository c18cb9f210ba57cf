"""One figure, drawn once and then updated frame by frame: the network on the left, the loss
curve on the right, the step and the loss in the title.

Colours and scales are fixed over the whole run (the largest |weight| of a layer in any frame
sets its full width), so a line that grows thicker means a weight that grew.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from ..arrays import Array
from ..history import Frame
from .curves import CURRENT, LossPanel
from .diagram import MAX_NEURONS, Diagram

BLUE, RED = "#2166ac", "#b2182b"  # a weight > 0, < 0
POSITIVE = np.array([0x21, 0x66, 0xAC]) / 255
NEGATIVE = np.array([0xB2, 0x18, 0x2B]) / 255
TARGET = "#1a7f37"  # green
# colours that must survive the GIF's 256-colour palette exactly
KEY_COLOURS = ["#ffffff", "#000000", "#e8e8e8", "#555555", TARGET, CURRENT, BLUE, RED]
WIDTH, HEIGHT, DPI = 9.0, 4.8, 100  # 900 × 480 pixels
TOP, BOTTOM, Y_LOW, Y_HIGH = 0.83, 0.2, -0.04, 1.08  # the network panel, and its y range
POINTS_PER_UNIT = (TOP - BOTTOM) * HEIGHT * 72 / (Y_HIGH - Y_LOW)


def _tint(values: Array, scale: float, floor: float = 0.0) -> Array:
    """RGB per value: white at 0, towards blue (positive) or red (negative) with |value|."""
    r = np.clip(np.abs(values) / scale, 0, 1)[:, None] * (1 - floor) + floor
    base = np.where(values[:, None] >= 0, POSITIVE, NEGATIVE)
    return np.asarray((1 - r) + r * base)


def _round(value: Any, digits: int = 2) -> float:
    """The value as printed with ``digits`` decimals, without the sign of a rounded-off zero."""
    return round(float(value), digits) + 0.0


def _font(n: int) -> float:
    """Label size for a column of n units: smaller as they crowd."""
    return 10.0 if n <= 6 else 8.0 if n <= 10 else 6.5


SUBSCRIPTS = str.maketrans("0123456789", "₀₁₂₃₄₅₆₇₈₉")


def _sub(name: str, i: int) -> str:
    # plain Unicode, not mathtext: a label whose number changes every frame would be parsed
    # again every frame, which was most of the drawing time
    return name + str(i).translate(SUBSCRIPTS)


def _span(n: int) -> tuple[float, float]:
    """Bottom and top of a column of n units: a heatmap row per unit lines up with it."""
    if n > MAX_NEURONS:
        return 0.08, 0.92
    ys = _ys(n)
    half = (ys[0] - ys[1]) / 2 if n > 1 else 0.1
    return float(ys[-1] - half), float(ys[0] + half)


def _ys(n: int) -> Array:
    """Heights of n neurons, top to bottom, centred in [0, 1]."""
    if n == 1:
        return np.array([0.5])
    gap = min(0.78 / (n - 1), 0.24)
    return 0.5 + ((n - 1) / 2 - np.arange(n)) * gap


class Scene:
    """The figure for a run; ``render(k)`` draws it for frame k and returns the RGB image.

    frames: the frames to draw, in step order; their params follow the diagram's layers.
    losses: losses[s] is the loss after s updates; drawn up to the current frame's step.
    x: the one example shown on the input units (in,), or None.
    target: its target: a vector (out,) or a class index, or None.
    """

    def __init__(
        self,
        diagram: Diagram,
        frames: Sequence[Frame],
        losses: Sequence[float],
        x: Array | None,
        target: Array | int | None,
        title: str,
    ) -> None:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.collections import LineCollection
        from matplotlib.figure import Figure
        from matplotlib.lines import Line2D

        self.diagram, self.frames, self.x, self.target = diagram, frames, x, target
        self.losses = np.asarray(losses, dtype=np.float64)
        self.total = frames[-1].step
        self.fig = fig = Figure(figsize=(WIDTH, HEIGHT), dpi=DPI)
        self.canvas = FigureCanvasAgg(fig)
        grid = fig.add_gridspec(
            1, 2, width_ratios=[1.6, 1], left=0.01, right=0.98, top=TOP, bottom=BOTTOM, wspace=0.12
        )
        self.net = net = fig.add_subplot(grid[0])
        self.curve = curve = fig.add_subplot(grid[1])
        fig.text(0.5, 0.965, title, ha="center", va="top", fontsize=11)
        self.status = fig.text(0.5, 0.905, "", ha="center", va="top", fontsize=13, weight="bold")

        columns = len(diagram.widths)
        net.set_xlim(-0.95, columns - 1 + 1.25)
        points_per_x = net.get_position().width * WIDTH * 72 / (columns - 1 + 2.2)
        net.set_ylim(Y_LOW, Y_HIGH)
        net.axis("off")
        self.values = [diagram.values(f, x) for f in frames] if x is not None else None

        # every scale is fixed over the run: the largest magnitude in any frame
        def largest(at: int | None) -> float:
            if at is None:
                return 1.0
            return max(float(np.abs(f.params[at]).max()) for f in frames) or 1.0

        self.weight_scale = [largest(c.weight_at) for c in diagram.connections]
        self.bias_scale = [largest(c.bias_at) for c in diagram.connections]
        self.value_scale = [
            max(float(np.abs(v[c]).max()) for v in self.values) or 1.0 if self.values else 1.0
            for c in range(columns)
        ]

        self.edges: list[Any] = []
        self.heatmaps: list[Any] = []
        for c in diagram.connections:
            x0, x1 = c.index, c.index + 1
            if c.as_edges:
                y0, y1 = _ys(c.in_features), _ys(c.out_features)
                segments = [
                    [(x0, y0[i]), (x1, y1[n])]
                    for i in range(c.in_features)
                    for n in range(c.out_features)
                ]
                lines = LineCollection(segments, zorder=1, capstyle="round")
                net.add_collection(lines)
                self.edges.append(lines)
                self.heatmaps.append(None)
            else:
                scale = self.weight_scale[len(self.edges)]
                image = net.imshow(
                    np.zeros((c.in_features, c.out_features)),
                    cmap="RdBu",
                    vmin=-scale,
                    vmax=scale,
                    # rows (inputs) span the column they come from
                    extent=(x0 + 0.25, x1 - 0.25, *_span(c.in_features)),
                    aspect="auto",
                    interpolation="nearest",
                    zorder=1,
                )
                # one line: a second would run into the key below
                net.text(
                    (x0 + x1) / 2,
                    0.02,
                    f"W {c.in_features}×{c.out_features}",
                    ha="center",
                    va="top",
                    fontsize=9,
                )
                self.edges.append(None)
                self.heatmaps.append(image)

        last = columns - 1
        self.neurons: list[Any] = []
        self.strips: list[Any] = []
        self.labels: list[Any] = []  # per column: Text, or (value, target, bias)
        self.inside: list[list[Any]] = []
        for col, n in enumerate(diagram.widths):
            caption = "input" if col == 0 else "output" if col == last else f"hidden {col}"
            if n > MAX_NEURONS:
                caption += f" ({n})"  # too many to count
            if diagram.activations[col]:
                caption += f"\nafter {diagram.activations[col]}"
            net.text(col, 1.07, caption, ha="center", va="top", fontsize=10, weight="bold")
            if n > MAX_NEURONS:
                scale = self.value_scale[col]
                beside = col == last and target is not None and np.ndim(target) > 0
                if beside:
                    # the target as a second strip, in the same colours, to compare cell by cell
                    t = np.ravel(np.asarray(target, dtype=np.float64))[:, None]
                    scale = max(scale, float(np.abs(t).max()))
                    net.imshow(
                        t,
                        cmap="RdBu",
                        vmin=-scale,
                        vmax=scale,
                        aspect="auto",
                        extent=(col + 0.12, col + 0.24, *_span(n)),
                        interpolation="nearest",
                    )
                    net.text(
                        col + 0.18, 0.02, "target", ha="center", va="top", fontsize=9, color=TARGET
                    )
                strip = net.imshow(
                    np.zeros((n, 1)),
                    cmap="RdBu",
                    vmin=-scale,
                    vmax=scale,
                    extent=(col - 0.06, col + 0.06, *_span(n)),
                    aspect="auto",
                    interpolation="nearest",
                    zorder=2,
                )
                self.neurons.append(None)
                self.strips.append(strip)
                self.labels.append([])
                self.inside.append([])
                continue
            ys = _ys(n)
            gap_pt = (ys[0] - ys[1]) * POINTS_PER_UNIT if n > 1 else 100.0
            size = min(26.0, 0.7 * gap_pt)
            offset = (size / 2 + 4) / points_per_x  # labels clear of the circle
            face = "#e8e8e8" if col == 0 else "white"
            dots = net.scatter(
                np.full(n, col),
                ys,
                s=size**2,
                c=face,
                edgecolors="black",
                linewidths=1.0,
                zorder=3,
            )
            self.neurons.append(dots)
            self.strips.append(None)
            self.labels.append(self._labels(col, ys, offset))
            inside = []
            if 0 < col < last and n <= 8 and self.values is not None:
                inside = [
                    net.text(col, y, "", ha="center", va="center", fontsize=7, zorder=4) for y in ys
                ]
            self.inside.append(inside)

        fig.legend(
            handles=[
                Line2D([], [], color=BLUE, lw=2.5),
                Line2D([], [], color=RED, lw=2.5),
            ],
            labels=["weight > 0", "weight < 0"],
            loc="lower left",
            bbox_to_anchor=(0.01, 0.01),
            ncol=2,
            fontsize=9,
            frameon=False,
        )
        fig.text(0.02, 0.085, self._note(), fontsize=8.5, va="bottom", color="#333333")

        self.loss_panel = LossPanel(curve, self.losses, self.total)
        gaps = np.diff([f.step for f in frames])
        if gaps.size > 2 and gaps[-1] > 4 * max(gaps[0], 1):
            # otherwise the dot's speeding up along the curve looks like a fault
            fig.text(
                0.98,
                0.015,
                "frames are spaced on a log scale of iterations: the animation speeds up",
                ha="right",
                va="bottom",
                fontsize=8,
                color="#555555",
            )

        # What changes from frame to frame, in drawing order. Everything else is drawn once
        # into a background that each frame starts from (blitting): several times faster.
        self.moving = [
            a
            for group in (self.edges, self.heatmaps, self.strips, self.neurons)
            for a in group
            if a is not None
        ]
        for texts in self.labels:
            for item in texts:
                self.moving += (
                    [t for t in item if t is not None] if isinstance(item, tuple) else [item]
                )
        self.moving += [t for texts in self.inside for t in texts]
        self.moving += [self.status, *self.loss_panel.moving]
        for a in self.moving:
            a.set_animated(True)
        self.background: Any = None

    def _labels(self, col: int, ys: Array, offset: float) -> list[Any]:
        """Texts beside the input neurons (x), or beside the outputs (value, target, bias)."""
        net, n, last = self.net, len(ys), len(self.diagram.widths) - 1
        if col == 0:
            return [
                net.text(col - offset, y, "", ha="right", va="center", fontsize=_font(n))
                for y in ys
            ]
        if col != last:
            return []
        if n > 6:
            # no room for three lines: value and target on one
            return [
                (
                    net.text(col + offset, y, "", ha="left", va="center", fontsize=_font(n)),
                    None,
                    None,
                )
                for y in ys
            ]
        step = min(0.075, 0.9 / n / 3)
        return [
            (
                net.text(col + offset, y + step, "", ha="left", va="center", fontsize=10),
                net.text(col + offset, y, "", ha="left", va="center", fontsize=10, color=TARGET),
                net.text(col + offset, y - step, "", va="center", fontsize=9, color="#555555"),
            )
            for y in ys
        ]

    def _note(self) -> str:
        """The key under the network, saying only what this picture shows."""
        d = self.diagram
        lines = []
        fill = "a neuron's fill = its bias"
        if any(c.as_edges for c in d.connections):
            if len(d.connections) == 1:
                lines.append("the line from $x_i$ to $o_n$ is the weight $θ_{n,i}$ = W[i, n]")
            lines.append(f"thicker and darker line = larger |weight|; {fill}")
        if not all(c.as_edges for c in d.connections):
            lines.append("heatmap: a wide layer's W (in × out), one cell per weight")
            if not any(c.as_edges for c in d.connections) and min(d.widths[1:]) <= MAX_NEURONS:
                lines[-1] += f"; {fill}"
        if any(s is not None for s in self.strips) and self.values is not None:
            lines.append("strip: the values of a wide column for the input x shown")
        if any(self.inside):
            lines.append("the number in a hidden neuron is its output for the input x shown")
        return "\n".join(lines)

    def render(self, k: int) -> Any:
        """Draw frame k; returns a PIL RGB image."""
        from PIL import Image

        frame = self.frames[k]
        d = self.diagram
        values = self.values[k] if self.values is not None else None
        for i, c in enumerate(d.connections):
            W = frame.params[c.weight_at]
            if self.edges[i] is not None:
                w = W.reshape(-1)  # row-major: input i, then output n, as the segments
                r = np.clip(np.abs(w) / self.weight_scale[i], 0, 1)
                colours = np.where(w[:, None] >= 0, POSITIVE, NEGATIVE)
                self.edges[i].set_color(np.column_stack([colours, 0.12 + 0.88 * r]))
                self.edges[i].set_linewidth(0.3 + 5.0 * r)
            else:
                self.heatmaps[i].set_data(W)
            if c.bias_at is not None and self.neurons[c.index + 1] is not None:
                self.neurons[c.index + 1].set_facecolor(
                    _tint(frame.params[c.bias_at], self.bias_scale[i], floor=0.0) * 0.85 + 0.15
                )
        for col, strip in enumerate(self.strips):
            if strip is not None and values is not None:
                strip.set_data(values[col][:, None])
        last = len(d.widths) - 1
        if self.labels[0]:
            for i, label in enumerate(self.labels[0]):
                value = "" if self.x is None else f" = {_round(np.ravel(self.x)[i]):+.2f}"
                label.set_text(_sub("x", i) + value)
        if self.labels[last]:
            outputs = values[last] if values is not None else frame.outputs
            out_conn = d.connections[-1]
            for n, (value, target, bias) in enumerate(self.labels[last]):
                text = _sub("o", n)
                if outputs is not None:
                    text += f" = {_round(np.ravel(outputs)[n], 3):+.3f}"
                if target is None:
                    if isinstance(self.target, int | np.integer):
                        text += "  ← target" if n == int(self.target) else ""
                    elif self.target is not None:
                        text += f"  (target {float(np.ravel(self.target)[n]):+.2f})"
                    value.set_text(text)
                    continue
                value.set_text(text)
                if isinstance(self.target, int | np.integer):
                    target.set_text("← target class" if n == int(self.target) else "")
                elif self.target is not None:
                    target.set_text(f"target {float(np.ravel(self.target)[n]):+.3f}")
                if out_conn.bias_at is not None:
                    bias.set_text(f"bias {_round(frame.params[out_conn.bias_at][n]):+.2f}")
        for col, texts in enumerate(self.inside):
            for j, text in enumerate(texts):
                assert values is not None
                text.set_text(f"{_round(values[col][j]):+.2f}")
        s = frame.step
        self.loss_panel.update(s, frame.loss)
        when = "before training" if s == 0 else f"after {s} of {self.total} updates"
        self.status.set_text(f"{when}    loss = {frame.loss:.4g}")
        if self.background is None:
            self.canvas.draw()
            self.background = self.canvas.copy_from_bbox(self.fig.bbox)
        self.canvas.restore_region(self.background)
        for a in self.moving:
            self.fig.draw_artist(a)
        width, height = self.canvas.get_width_height()
        return Image.frombuffer("RGBA", (width, height), self.canvas.buffer_rgba()).convert("RGB")
