"""Animated GIFs of a training run, frame by frame, with one fixed palette (small and
deterministic: the same frames give the same bytes)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..arrays import Array
from ..files import atomic_write, check_suffix
from ..history import Frame
from ..nn import Linear, Module
from ..slp import SLPRun
from .diagram import check_drawable, describe


def animate(
    model: Module,
    frames: Sequence[Frame],
    losses: Sequence[float],
    path: str | os.PathLike[str],
    *,
    inputs: Array | None = None,
    targets: Array | int | None = None,
    title: str = "",
    seconds: float = 5.0,
    hold: float = 2.0,
    progress: bool = False,
) -> int:
    """Write an animated GIF of ``model`` learning, one picture per frame; returns its size.

    model: a ``Linear``, or a ``Sequential`` of ``Linear`` layers and activations (ReLU,
        Sigmoid, Tanh, Identity). Only its structure is read, never its current weights.
        Columns of up to 16 units are drawn as neurons joined by one line per weight; wider
        ones (up to 64) as strips, with the weight matrix between them as a heatmap.
    frames: ``backprop.history.Frame`` objects in step order (``snapshot(model, step, loss)``);
        ``frame.params`` are copies of ``model.parameters()``' data, in that order. Take
        60–120 of them, e.g. at ``log_spaced_steps(total, 90)``.
    losses: the loss curve: ``losses[s]`` is the loss after s updates (``losses[0]`` before
        training); the curve is drawn up to each frame's step, on a log scale.
    inputs: the one example shown on the input neurons, shape (in,) or (1, in); hidden and
        output values are computed from it with each frame's weights. If None, the outputs
        are taken from ``frame.outputs`` (if set) and the inputs are shown without values.
    targets: its target, a vector (out,) shown beside each output, or a class index
        (int) marked on its output neuron, or None.
    title: the first line of the title; the second gives the step and the loss.
    seconds, hold: how long the frames play, and how long the last one stays (seconds).
    progress: show a progress bar on stderr while frames render.

    Raises ValueError (the path does not end in .gif, the network is too large or not a
    chain of Linear layers and activations, no frames) and OSError (the path cannot be
    written). Nothing is left at ``path`` on failure.
    """
    check_suffix(path, [".gif"])
    diagram = describe(model)
    if not frames:
        raise ValueError("no frames to draw")
    expected = len(model.parameters())
    for f in frames:
        if len(f.params) != expected:
            raise ValueError(
                f"frame at step {f.step} has {len(f.params)} arrays, the model has "
                f"{expected} parameters"
            )
    x = None if inputs is None else np.asarray(inputs, dtype=np.float64).reshape(-1)
    if x is not None and x.size != diagram.widths[0]:
        raise ValueError(f"inputs has {x.size} values, the network takes {diagram.widths[0]}")

    from .scene import Scene

    scene = Scene(diagram, frames, losses, x, targets, title)
    images = _render_all(scene, len(frames), progress)
    per_frame = max(20, round(seconds * 100 / len(frames)) * 10)  # GIF counts centiseconds
    durations = [per_frame] * len(frames)
    durations[0] = max(per_frame, 800)  # the untrained network, long enough to read
    durations[-1] = per_frame + round(hold * 1000)

    def write(f: Any) -> None:
        images[0].save(
            f, format="GIF", save_all=True, append_images=images[1:], duration=durations, loop=0
        )

    return atomic_write(path, write)


def _render_all(scene: Any, count: int, progress: bool) -> list[Any]:
    """Every frame, mapped to one palette taken from the first, middle and last frames."""
    from PIL import Image

    from .scene import KEY_COLOURS

    samples = [scene.render(k) for k in sorted({0, count // 2, count - 1})]
    width, height = samples[0].size
    # a block of each key colour, large enough that median cut gives each its own entry
    keys = KEY_COLOURS
    sheet = Image.new("RGB", (width, height * len(samples) + 200 * len(keys)), "white")
    for i, im in enumerate(samples):
        sheet.paste(im, (0, height * i))
    for j, colour in enumerate(keys):
        sheet.paste(
            colour,
            (0, height * len(samples) + 200 * j, width, height * len(samples) + 200 * (j + 1)),
        )
    palette = sheet.quantize(colors=256, method=Image.Quantize.MEDIANCUT)

    def one(k: int) -> Any:
        return scene.render(k).quantize(palette=palette, dither=Image.Dither.NONE)

    if not progress:
        return [one(k) for k in range(count)]
    from rich.console import Console
    from rich.progress import Progress

    images = []
    with Progress(console=Console(stderr=True), transient=True) as bar:
        task = bar.add_task("drawing frames", total=count)
        for k in range(count):
            images.append(one(k))
            bar.advance(task)
    return images


def slp_frames(run: SLPRun) -> tuple[list[Frame], list[float]]:
    """The frames of a run of ``backprop.slp.run_slp(..., record=True)`` (taken at log-spaced
    steps), and its loss curve (losses[s] = the loss after s updates)."""
    if not run.frames:
        raise ValueError("the run was not recorded: call run_slp(..., record=True)")
    frames = [Frame(f.step, f.loss, f.params, f.outputs) for f in run.frames]
    return frames, [run.initial_loss, *run.losses]


def animate_slp(
    run: SLPRun,
    path: str | os.PathLike[str],
    *,
    progress: bool = False,
) -> int:
    """The post's picture: its perceptron o = x @ W + b learning to reproduce its training input
    x (target t = x). It learns that one vector, not to copy inputs in general (docs/notes.md).

    The first input vector x₀ is shown (the post's run has one). Returns the GIF's size.
    """
    check_suffix(path, [".gif"])
    dim = run.inputs.shape[1]
    check_drawable([dim, dim])
    frames, losses = slp_frames(run)
    samples = run.inputs.shape[0]
    which = f", sample 1 of {samples}" if samples > 1 else ""
    return animate(
        Linear(dim, dim, rng=np.random.default_rng(0)),
        frames,
        losses,
        path,
        inputs=run.inputs[0],
        targets=run.inputs[0],
        title=f"The post's perceptron: o = x·W + b learns to reproduce its training vector "
        f"(target = x{which}), lr {run.lr:g}",
        progress=progress,
    )
