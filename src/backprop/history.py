"""What a training run records for pictures and reports: no plotting here, only data.

A ``Frame`` is a copy of the network's parameters at one training step, with the loss at that
step; ``backprop.viz`` draws a list of frames, ``backprop.train`` and ``backprop.slp`` make them.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .arrays import Array
from .nn import Module

# Frames in an animation: enough for smooth motion, few enough that a GIF stays under 3 MiB.
GIF_FRAMES = 90


@dataclass
class Frame:
    """The state of a network at one step of training.

    step: the number of updates made so far (0 = before training).
    loss: the loss at that state.
    params: copies of ``model.parameters()``' data, in that order.
    outputs: optionally, the network's output for the example being shown.
    grads: optionally, copies of the parameters' gradients for that step's batch (``fit``
        records them after the backward pass).
    """

    step: int
    loss: float
    params: list[Array]
    outputs: Array | None = None
    grads: list[Array] | None = None


@dataclass
class History:
    """Per-step losses of a run and the frames taken along it."""

    losses: list[float] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)


def snapshot(model: Module, step: int, loss: float, outputs: Array | None = None) -> Frame:
    return Frame(
        step,
        loss,
        [p.data.copy() for p in model.parameters()],
        None if outputs is None else outputs.copy(),
    )


def log_spaced_steps(total: int, count: int) -> list[int]:
    """About ``count`` distinct steps from 0 to ``total``, spaced evenly on a log scale.

    A loss that falls geometrically changes as much between steps 1 and 10 as between 100 and
    1000, so frames taken on a log scale show every part of the run.
    """
    if total <= 0:
        return [0]
    if count >= total + 1:
        return list(range(total + 1))
    steps: set[int] = set()
    n = count
    # log spacing collapses several early steps onto the same integer; ask for more until
    # ``count`` distinct steps remain.
    while len(steps) < count:
        steps = {0} | {round(float(s)) for s in np.geomspace(1, total, n - 1)}
        n += 1
    return sorted(steps)
