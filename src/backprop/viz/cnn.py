"""Pictures of a CNN: each layer's kernels with their gradients beside them, the feature maps of
one input, and an animated GIF of kernels and gradients over training.

Only arrays are read: the kernels (``Conv2d.weight``, (O, C, kH, kW)), their gradients for one
batch (same shapes), and frames recorded by ``fit`` (``Frame.params``/``Frame.grads``).

Every kernel is drawn as C tiles of kH×kW (one per input channel, top to bottom), in blue and
red (negative, positive; white is 0); its gradient dL/dW is drawn in the same layout just to its
right, in purple and green. Each layer has its own colour scale, given under its panel.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..arrays import Array
from ..files import atomic_write, check_suffix
from ..history import Frame
from ..nn import Conv2d, Module, Sequential
from .curves import LossPanel

KERNEL_CMAP, GRAD_CMAP, MAP_CMAP = "RdBu_r", "PRGn", "magma"
CNN_GIF_FRAMES = 60


def conv_layers(model: Module) -> list[tuple[int, Conv2d]]:
    """(index among the parameters of its weight, layer) for every Conv2d of a Sequential."""
    layers = list(model) if isinstance(model, Sequential) else [model]
    out, index = [], 0
    for layer in layers:
        if isinstance(layer, Conv2d):
            out.append((index, layer))
        index += len(layer.parameters())
    if not out:
        raise ValueError("the model has no Conv2d layer to draw")
    return out


def pair_mosaics(
    weight: Array, grad: Array | None, per_row: int
) -> tuple[Array, Array, list[tuple[float, float, int]]]:
    """Two images of the same size, NaN where the other one (or a gap) is: the kernels, and
    their gradients just to the right of each; and (x, y, o) where to label kernel o.

    weight, grad: (O, C, kH, kW). Each kernel is a row of its C channel tiles, left to right,
    and its gradient the same row again to its right; the pairs wrap after ``per_row``.
    """
    O, C, kH, kW = weight.shape
    half = C * (kW + 1) - 1  # one kernel's row of channel tiles
    # 2 px between kernel and gradient, 3 between pairs side by side; above each pair a band
    # for its label: 3 px over one-channel kernels (large tiles), 4 over the thin rows of many
    band = 3 if C == 1 else 4
    cell_w, cell_h = 2 * half + 2 + 3, kH + band
    rows = -(-O // per_row)
    kern = np.full((rows * cell_h, min(O, per_row) * cell_w - 3), np.nan)
    grads = np.full_like(kern, np.nan)
    labels = []
    for o in range(O):
        r, c = divmod(o, per_row)
        top, left = r * cell_h + band, c * cell_w
        labels.append((left - 0.5, top - 0.6, o))  # the label's lower left corner
        for ch in range(C):
            x = left + ch * (kW + 1)
            kern[top : top + kH, x : x + kW] = weight[o, ch]
            if grad is not None:
                g = x + half + 2
                grads[top : top + kH, g : g + kW] = grad[o, ch]
    return kern, grads, labels


def panel_layout(weight: Array) -> tuple[int, float]:
    """Pairs per row, and the panel's height for a 12-inch-wide panel (inches)."""
    O, C, _, kW = weight.shape
    per_row = 8 if C == 1 else max(1, min(O, 300 // (2 * C * (kW + 1))))
    kern, _, _ = pair_mosaics(weight, None, per_row)
    width = 6.0 if C == 1 else 12.0
    return per_row, min(5.0, width * kern.shape[0] / kern.shape[1]) + 0.7


def map_mosaic(maps: Array, per_row: int) -> Array:
    """(C, H, W) feature maps tiled ``per_row`` to a row, NaN in the one-pixel gaps."""
    C, H, W = maps.shape
    rows = -(-C // per_row)
    out = np.full((rows * (H + 1) - 1, min(C, per_row) * (W + 1) - 1), np.nan)
    for c in range(C):
        r, k = divmod(c, per_row)
        out[r * (H + 1) : r * (H + 1) + H, k * (W + 1) : k * (W + 1) + W] = maps[c]
    return out


def _cmap(name: str) -> Any:
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad=(0, 0, 0, 0))


def _scale(a: Array | None) -> float:
    if a is None:
        return 1.0
    m = float(np.max(np.abs(a)))
    return m if m > 0 else 1.0


class KernelPanel:
    """One conv layer's kernels and gradients on one axes; ``update`` swaps in new arrays."""

    def __init__(self, fig: Any, ax: Any, name: str, weight: Array, grad: Array | None) -> None:
        self.per_row = panel_layout(weight)[0]
        self.name, self.ax = name, ax
        kern, grads, labels = pair_mosaics(weight, grad, self.per_row)
        self.k_scale = _scale(weight)
        self.kern = ax.imshow(
            kern, cmap=_cmap(KERNEL_CMAP), vmin=-self.k_scale, vmax=self.k_scale,
            interpolation="nearest",
        )  # fmt: skip
        self.grad = ax.imshow(
            grads, cmap=_cmap(GRAD_CMAP), vmin=-1, vmax=1, interpolation="nearest"
        )
        ax.set_xticks([])
        ax.set_yticks([])
        for spine in ax.spines.values():
            spine.set_visible(False)
        for x, y, o in labels:
            ax.text(x, y, f"kernel {o}", ha="left", va="bottom", fontsize=6.5,
                    color="#444444")  # fmt: skip
        O, C, kH, kW = weight.shape
        tiles = f"its {C} input channels left to right" if C > 1 else "one input channel"
        ax.set_title(
            f"{name}: {O} kernels of {C}×{kH}×{kW} ({tiles}), each with its gradient "
            "dL/dW just to its right",
            fontsize=9,
            loc="left",
        )
        self.caption = ax.text(0, -0.02, "", transform=ax.transAxes, ha="left", va="top",
                               fontsize=8)  # fmt: skip
        self.update(weight, grad)

    def update(self, weight: Array, grad: Array | None) -> None:
        g_scale = _scale(grad)
        kern, grads, _ = pair_mosaics(
            weight, None if grad is None else grad / g_scale, self.per_row
        )
        self.kern.set_data(kern)
        self.grad.set_data(grads)
        grad_text = (
            f"gradient (purple −, green +) scaled to its largest |dL/dW| = {g_scale:.2g}"
            if grad is not None
            else "no gradient recorded"
        )
        self.caption.set_text(
            f"kernel weights (blue −, red +) from −{self.k_scale:.2g} to +{self.k_scale:.2g};  "
            + grad_text
        )


def _save_png(fig: Any, path: str | os.PathLike[str]) -> int:
    def write(f: Any) -> None:
        fig.savefig(f, format="png", metadata={"Software": None})

    return atomic_write(path, write)


def plot_cnn(
    model: Module,
    grads: Sequence[Array] | None,
    path: str | os.PathLike[str],
    *,
    image: Array | None = None,
    label: str = "",
    title: str = "",
) -> int:
    """A PNG of a CNN: each Conv2d's kernels with their gradients beside them (``grads``, one
    array per Conv2d weight, e.g. for one batch; None for none), then, if ``image`` is given
    (one input row), the feature maps it makes after every layer (the model is run on it).
    Returns the file's size."""
    check_suffix(path, [".png"])
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    convs = conv_layers(model)
    if grads is not None and len(grads) != len(convs):
        raise ValueError(f"{len(grads)} gradients for {len(convs)} Conv2d layers")
    stages: list[tuple[str, Array]] = []
    if image is not None:
        h = np.asarray(image, dtype=model.parameters()[0].dtype).reshape(1, -1)
        layers = list(model) if isinstance(model, Sequential) else [model]
        for layer in layers:
            h = layer(h)
            if h.ndim == 4:
                stages.append((repr(layer).split(",")[0].split("(")[0], h[0]))
        probs = np.exp(h[0] - h[0].max())
        probs /= probs.sum()
    heights = [panel_layout(conv.weight.data)[1] for _, conv in convs]
    if stages:
        heights.append(2.6)
    fig = Figure(figsize=(13, sum(heights) + 1.0), dpi=100)
    FigureCanvasAgg(fig)
    import textwrap

    fig.suptitle(textwrap.fill(title or "A trained CNN: kernels and their gradients", 120),
                 fontsize=10)  # fmt: skip
    grid = fig.add_gridspec(len(heights), 1, height_ratios=heights, hspace=0.5,
                            left=0.03, right=0.97, top=1 - 0.8 / sum(heights), bottom=0.04)  # fmt: skip
    for k, (_, conv) in enumerate(convs):
        ax = fig.add_subplot(grid[k])
        KernelPanel(
            fig, ax, f"Conv2d {k + 1}", conv.weight.data, None if grads is None else grads[k]
        )
    if stages:
        sub = grid[len(convs)].subgridspec(1, len(stages) + 1, wspace=0.25,
                                           width_ratios=[*(1.0 for _ in stages), 0.8])  # fmt: skip
        for j, (name, maps) in enumerate(stages):
            ax = fig.add_subplot(sub[j])
            per_row = 1 if maps.shape[0] == 1 else 4 if maps.shape[0] <= 16 else 8
            ax.imshow(map_mosaic(maps, per_row), cmap=_cmap(MAP_CMAP), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            what = "input" if j == 0 else f"after {name}"
            ax.set_title(f"{what}\n{maps.shape[0]}×{maps.shape[1]}×{maps.shape[2]}", fontsize=8)
        ax = fig.add_subplot(sub[len(stages)])
        ax.barh(np.arange(len(probs)), probs, color="#4477aa")
        ax.set_yticks(np.arange(len(probs)))
        ax.tick_params(labelsize=7)
        ax.invert_yaxis()
        ax.set_xlim(0, 1)
        ax.set_title("softmax output" + (f"\n(true class {label})" if label else ""), fontsize=8)
        fig.text(0.01, 0.005, "feature maps: black low, yellow high (each stage its own scale)",
                 fontsize=8)  # fmt: skip
    return _save_png(fig, path)


def animate_cnn(
    model: Module,
    frames: Sequence[Frame],
    losses: Sequence[float],
    path: str | os.PathLike[str],
    *,
    title: str = "",
    seconds: float = 6.0,
    hold: float = 2.0,
    progress: bool = False,
) -> int:
    """An animated GIF of every Conv2d's kernels and their gradients over training, one
    picture per frame (``Frame.params`` and ``Frame.grads``, as ``fit`` records them with
    ``frame_steps``), with the loss curve. Kernels keep one colour scale over the whole run, so
    their growth shows; each frame's gradients are scaled to their own largest entry (printed),
    since they shrink by orders of magnitude as the loss falls. Returns the file's size."""
    check_suffix(path, [".gif"])
    if not frames:
        raise ValueError("no frames to draw")
    import textwrap

    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from PIL import Image

    convs = conv_layers(model)
    heights = [panel_layout(conv.weight.data)[1] for _, conv in convs]
    fig = Figure(figsize=(13, sum(heights) + 3.2), dpi=80)
    canvas = FigureCanvasAgg(fig)
    grid = fig.add_gridspec(len(heights) + 1, 1, height_ratios=[*heights, 1.8], hspace=0.55,
                            left=0.08, right=0.97, top=1 - 0.9 / (sum(heights) + 3.2),
                            bottom=0.07)  # fmt: skip
    panels = []
    for k, (i, _) in enumerate(convs):
        # the largest weight of the run, so one scale holds for every frame
        largest = max(float(np.max(np.abs(f.params[i]))) for f in frames)
        first = frames[0]
        panel = KernelPanel(fig, fig.add_subplot(grid[k]), f"Conv2d {k + 1}",
                            first.params[i], _grad_of(first, i))  # fmt: skip
        panel.k_scale = largest
        panel.kern.set_clim(-largest, largest)
        panels.append((i, panel))
    loss_ax = fig.add_subplot(grid[len(convs)])
    loss_panel = LossPanel(loss_ax, np.asarray(losses, dtype=np.float64), len(losses) - 1)
    heading = fig.suptitle("", fontsize=10)

    images = []
    for f in frames:
        for i, panel in panels:
            panel.update(f.params[i], _grad_of(f, i))
        loss_panel.update(f.step, f.loss)
        heading.set_text(f"{textwrap.fill(title, 120)}\nstep {f.step}, loss {f.loss:.4f}")
        canvas.draw()
        images.append(Image.fromarray(np.asarray(canvas.buffer_rgba())[..., :3]))
    # one palette for every frame, from the first, middle and last (the colours move a lot)
    # and every colour of the two colour maps, in blocks large enough for median cut to keep
    picks = [images[0], images[len(images) // 2], images[-1]]
    w, h = picks[0].size
    swatches = [_cmap(name)(np.linspace(0, 1, 32)) for name in (KERNEL_CMAP, GRAD_CMAP)]
    colours = [tuple(int(255 * v) for v in c[:3]) for sw in swatches for c in sw]
    sheet = Image.new("RGB", (w, h * len(picks) + 40 * len(colours)), "white")
    for k, im in enumerate(picks):
        sheet.paste(im, (0, h * k))
    for j, colour in enumerate(colours):
        y = h * len(picks) + 40 * j
        sheet.paste(colour, (0, y, w, y + 40))
    palette = sheet.quantize(colors=255, method=Image.Quantize.MEDIANCUT)
    gif = [im.quantize(palette=palette, dither=Image.Dither.NONE) for im in images]
    per_frame = max(20, round(seconds * 100 / len(gif)) * 10)
    durations = [per_frame] * len(gif)
    durations[-1] = per_frame + round(hold * 1000)

    def write(out: Any) -> None:
        gif[0].save(out, format="GIF", save_all=True, append_images=gif[1:],
                    duration=durations, loop=0)  # fmt: skip

    return atomic_write(path, write)


def _grad_of(frame: Frame, i: int) -> Array | None:
    return None if frame.grads is None else frame.grads[i]
