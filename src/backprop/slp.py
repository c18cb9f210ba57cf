"""The post's experiment: a single-layer perceptron learns to copy its input.

The post ("Notes on Backpropagation") draws, after ``np.random.seed(0)``, weights (D, D), a bias
(D,) and inputs (N, D) from the standard normal, in that order, and trains o = x @ W + b towards
the target t = x with the loss 1/N Σₙ ‖oₙ − tₙ‖², plain gradient descent, lr 0.001, for 1000
iterations, printing the loss after every update. Here the same run is built from the library's
``Linear``, ``MSELoss`` and ``SGD``; it reproduces the post's printout bit for bit.
"""

from __future__ import annotations

import math
from collections.abc import Collection
from dataclasses import dataclass, field

import numpy as np

from .arrays import Array, check_memory
from .history import GIF_FRAMES, Frame, log_spaced_steps
from .losses import MSELoss
from .nn import Linear
from .optim import SGD
from .train import Diverged

__all__ = ["POST", "Diverged", "SLPRun", "post_setup", "report_lines", "run_slp", "slp_memory"]

POST = {"dim": 4, "samples": 1, "lr": 0.001, "epochs": 1000, "seed": 0}


def slp_memory(dim: int, samples: int, epochs: int, frames: int = 0) -> int:
    """Bytes a run of the post's perceptron needs, about: W drawn twice (the post's normal
    draw and Linear's own), its gradient and a temporary; inputs, outputs and their gradient;
    the loss of every iteration as a Python float (8 + 24 bytes); ``frames`` recorded frames."""
    floats = 4 * dim * dim + 6 * samples * dim + 8 * dim
    recorded = frames * (2 * dim * dim + samples * dim + 2 * dim)
    return 8 * (floats + recorded) + 32 * epochs


@dataclass
class SLPRun:
    """A recorded run. ``losses[k]`` is the loss after update k (the post's "Iteration k")."""

    inputs: Array
    initial_outputs: Array
    initial_loss: float
    outputs: Array
    losses: list[float]
    lr: float
    # With record=True or frame_steps: a Frame after each of those numbers of updates, in
    # step order: params [W, b], outputs (the predictions), loss, and (but for the last
    # state) grads [dL/dW, dL/db], the gradients that the next update used.
    frames: list[Frame] = field(default_factory=list)

    @property
    def final_loss(self) -> float:
        return self.losses[-1] if self.losses else self.initial_loss


def post_setup(dim: int, samples: int, seed: int) -> tuple[Linear, Array]:
    """The post's network and inputs, drawn from NumPy's global generator as the post does.

    This is the one place in the package that seeds the global generator: the post's numbers
    depend on it.
    """
    np.random.seed(seed)
    weights = np.random.normal(size=(dim, dim))
    bias = np.random.normal(size=(dim,))
    inputs = np.random.normal(size=(samples, dim))
    layer = Linear(dim, dim, rng=np.random.default_rng(seed))
    layer.weight.data[...] = weights
    assert layer.bias is not None
    layer.bias.data[...] = bias
    return layer, inputs


def run_slp(
    dim: int = 4,
    samples: int = 1,
    lr: float = 0.001,
    epochs: int = 1000,
    seed: int = 0,
    *,
    record: bool = False,
    frame_steps: Collection[int] | None = None,
) -> SLPRun:
    """Train the post's perceptron; raises ``Diverged`` if the loss stops being finite.

    record: keep the frames that ``backprop.viz.animate_slp`` draws (``GIF_FRAMES`` of them, at
        log-spaced steps), and only those. frame_steps: keep a frame at each of these numbers
        of updates instead (0 to ``epochs``), as ``fit(frame_steps=...)`` does.
    Raises ValueError for settings out of range, or a run that would need more memory than
    ``backprop.arrays.MEMORY_LIMIT``.
    """
    for name, value in (("dim", dim), ("samples", samples), ("epochs", epochs)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr}")
    if frame_steps is None:
        frame_steps = log_spaced_steps(epochs, GIF_FRAMES) if record else ()
    keep = set(frame_steps)
    check_memory(
        f"run_slp(dim={dim}, samples={samples}, epochs={epochs})",
        slp_memory(dim, samples, epochs, len(keep)),
    )
    layer, x = post_setup(dim, samples, seed)
    target = x
    loss_fn = MSELoss(reduction="batchmean")
    optimizer = SGD(layer.parameters(), lr=lr)
    W, b = layer.weight, layer.bias
    assert b is not None

    out = layer(x)
    run = SLPRun(x, out.copy(), loss_fn(out, target), out, [], lr)
    with np.errstate(over="ignore", invalid="ignore"):
        for step in range(epochs):
            # The loss of this forward pass was already reported (as the initial loss, or as the
            # loss after the previous update), so one forward pass per iteration suffices.
            optimizer.zero_grad()
            layer.backward(loss_fn.backward())
            if step in keep:
                loss = run.losses[-1] if run.losses else run.initial_loss
                params, grads = [W.data.copy(), b.data.copy()], [W.grad.copy(), b.grad.copy()]
                run.frames.append(Frame(step, loss, params, out.copy(), grads))
            optimizer.step()
            out = layer(x)
            loss = loss_fn(out, target)
            if not math.isfinite(loss):
                raise Diverged.at_iteration(step, loss, lr)
            run.losses.append(loss)
    run.outputs = out
    if epochs in keep:
        run.frames.append(Frame(epochs, run.final_loss, [W.data.copy(), b.data.copy()], out.copy()))
    return run


def report_lines(run: SLPRun, every: int = 1) -> list[str]:
    """The post's printout: before, every ``every``-th iteration (and the last), after."""
    lines = [
        "### Results before training ###",
        f"Inputs: {run.inputs}",
        f"Outputs: {run.initial_outputs}",
        f"Loss: {run.initial_loss}",
    ]
    last = len(run.losses) - 1
    lines += [
        f"Iteration {k} - MSE: {loss}"
        for k, loss in enumerate(run.losses)
        if k % every == 0 or k == last
    ]
    lines += [
        "### Results after training ###",
        f"Inputs: {run.inputs}",
        f"Outputs: {run.outputs}",
        f"Loss: {run.final_loss}",
    ]
    return lines
