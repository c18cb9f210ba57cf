"""The post's experiment: a single-layer perceptron learns to copy its input.

The post ("Notes on Backpropagation") draws, after ``np.random.seed(0)``, weights (D, D), a bias
(D,) and inputs (N, D) from the standard normal, in that order, and trains o = x @ W + b towards
the target t = x with the loss 1/N Σₙ ‖oₙ − tₙ‖², plain gradient descent, lr 0.001, for 1000
iterations, printing the loss after every update. Here the same run is built from the library's
``Linear``, ``MSELoss`` and ``SGD``; it reproduces the post's printout bit for bit.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .arrays import Array
from .losses import MSELoss
from .nn import Linear
from .optim import SGD

POST = {"dim": 4, "samples": 1, "lr": 0.001, "epochs": 1000, "seed": 0}


class Diverged(ArithmeticError):
    """The loss stopped being a finite number."""

    def __init__(self, step: int, loss: float, lr: float) -> None:
        self.step, self.loss, self.lr = step, loss, lr
        super().__init__(
            f"the loss became {loss} at iteration {step}: lr={lr:g} is too large "
            f"for this problem; try a smaller --lr"
        )


@dataclass
class SLPRun:
    """A recorded run. ``losses[k]`` is the loss after update k (the post's "Iteration k")."""

    inputs: Array
    initial_outputs: Array
    initial_loss: float
    outputs: Array
    losses: list[float]
    lr: float
    # With record=True: weights[k], biases[k], predictions[k] before update k, plus the final
    # state at index epochs; weight_grads[k], bias_grads[k] are the gradients used by update k.
    weights: list[Array] = field(default_factory=list)
    biases: list[Array] = field(default_factory=list)
    predictions: list[Array] = field(default_factory=list)
    weight_grads: list[Array] = field(default_factory=list)
    bias_grads: list[Array] = field(default_factory=list)

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
) -> SLPRun:
    """Train the post's perceptron; raises ``Diverged`` if the loss stops being finite."""
    for name, value in (("dim", dim), ("samples", samples), ("epochs", epochs)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr}")
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
            if record:
                run.weights.append(W.data.copy())
                run.biases.append(b.data.copy())
                run.predictions.append(out.copy())
                run.weight_grads.append(W.grad.copy())
                run.bias_grads.append(b.grad.copy())
            optimizer.step()
            out = layer(x)
            loss = loss_fn(out, target)
            if not math.isfinite(loss):
                raise Diverged(step, loss, lr)
            run.losses.append(loss)
    run.outputs = out
    if record:
        run.weights.append(W.data.copy())
        run.biases.append(b.data.copy())
        run.predictions.append(out.copy())
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
