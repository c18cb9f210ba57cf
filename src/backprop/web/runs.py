"""A playground run: a data set, a network and an optimizer from the library, trained step by step.

The order of the draws from ``np.random.default_rng(seed)`` is fixed, so the same settings give
the same run (that is what Replay relies on, and what the tests rebuild with the library):
the points (``datasets.make``), then each Linear's weight and bias in order, then one
permutation of the training points per epoch, cut into batches of ``batch_size``.

For mse on a classification set the network has one output and the target is ±1 (TF
Playground's convention: the sign is the class); for cross_entropy it has two logits. slp is a
regression with two outputs, T = X. The loss is ``MSELoss(reduction="mean")`` or
``CrossEntropyLoss()``.

STATE (``Run.state()``) is what the page draws; ``Run.backward_blocks()`` is the last step's
backward pass as equations with their numbers, as ``backprop explain`` prints them.
"""

from __future__ import annotations

import math
import threading
from itertools import pairwise
from typing import Any

import numpy as np

from ..arrays import Array
from ..losses import CrossEntropyLoss, MSELoss
from ..nn import Identity, Linear, Module, ReLU, Sequential, Sigmoid, Tanh
from ..optim import SGD, Adam, Optimizer
from . import datasets
from .settings import POINTS, Settings

ACTIVATION_MODULES: dict[str, type[Module]] = {
    "tanh": Tanh,
    "relu": ReLU,
    "sigmoid": Sigmoid,
    "linear": Identity,
}
MAX_STEPS_PER_CALL = 10_000
MAX_TOTAL_STEPS = 200_000  # a run keeps one loss per step; this bounds its memory
GRID = 40  # the plane is drawn from a GRID × GRID lattice over [-1, 1]²
THUMB = 20  # each hidden neuron's picture: every second lattice point, THUMB × THUMB


def _grid() -> Array:
    ticks = np.linspace(-1, 1, GRID)
    xx, yy = np.meshgrid(ticks, ticks[::-1])  # row 0 is the top of the picture (y = 1)
    return np.column_stack([xx.ravel(), yy.ravel()])


def build_model(s: Settings, n_out: int, rng: np.random.Generator) -> Sequential:
    sizes = [2, *s.hidden, n_out]
    layers: list[Module] = []
    for i, (n_in, n) in enumerate(pairwise(sizes)):
        layers.append(Linear(n_in, n, rng=rng))
        if i < len(sizes) - 2:
            layers.append(ACTIVATION_MODULES[s.activation]())
    return Sequential(*layers)


def _mirror(model: Sequential, s: Settings) -> Sequential:
    """A second network on the same weight arrays with its own gradient buffers and caches: it
    draws the pictures without touching the gradients of the last update."""
    layers: list[Module] = []
    for layer in model:
        if isinstance(layer, Linear):
            twin = Linear(layer.in_features, layer.out_features, rng=np.random.default_rng(0))
            twin.weight.data = layer.weight.data
            assert twin.bias is not None and layer.bias is not None
            twin.bias.data = layer.bias.data
            layers.append(twin)
        else:
            layers.append(ACTIVATION_MODULES[s.activation]())
    return Sequential(*layers)


class LimitError(ValueError):
    """A request over one of the run's limits (a 4xx, as any bad value)."""


class Run:
    def __init__(self, run_id: str, settings: Settings) -> None:
        s = settings
        self.id = run_id
        self.settings = s
        rng = np.random.default_rng(s.seed)
        if s.dataset == "csv":
            assert s.csv is not None
            points = datasets.parse_csv(s.csv)
            order = rng.permutation(len(points.x))
            points = datasets.Points(points.x[order], points.y[order])
        else:
            points = datasets.make(s.dataset, POINTS, s.noise, rng)
        self.regression = points.regression
        n_train = max(1, min(len(points.x) - 1, round(len(points.x) * s.ratio)))
        if s.batch_size > n_train:
            raise ValueError(
                f"batch_size {s.batch_size} is larger than the {n_train} training points"
            )
        self.x_train, self.x_test = points.x[:n_train], points.x[n_train:]
        self.labels_train, self.labels_test = points.y[:n_train], points.y[n_train:]
        if self.regression:
            n_out = 2
            self.t_train, self.t_test = self.labels_train, self.labels_test
        elif s.loss == "mse":
            n_out = 1
            self.t_train = (2.0 * self.labels_train - 1)[:, None]
            self.t_test = (2.0 * self.labels_test - 1)[:, None]
        else:
            n_out = 2
            self.t_train, self.t_test = self.labels_train, self.labels_test
        self.model = build_model(s, n_out, rng)
        self.linears = [m for m in self.model if isinstance(m, Linear)]
        self.view = _mirror(self.model, s)
        self.loss_fn: MSELoss | CrossEntropyLoss = (
            MSELoss(reduction="mean") if s.loss == "mse" else CrossEntropyLoss()
        )
        self.view_loss: MSELoss | CrossEntropyLoss = (
            MSELoss(reduction="mean") if s.loss == "mse" else CrossEntropyLoss()
        )
        self.optimizer: Optimizer = (
            SGD(self.model.parameters(), lr=s.lr, momentum=s.momentum)
            if s.optimizer == "sgd"
            else Adam(self.model.parameters(), lr=s.lr)
        )
        self.rng = rng
        self.order: Array = np.arange(0)
        self.cursor = 0
        self.step_count = 0
        self.losses: list[float] = []
        self.curve: list[tuple[int, float, float]] = []
        self.before: list[Array] | None = None  # the parameters before the last update
        self.trace: dict[str, Any] | None = None  # the last step's batch, forward and backward
        self.lock = threading.Lock()
        self.grid = _grid()
        self.closed = False  # deleted: it trains no more

    def close(self) -> None:
        """The run was deleted: every later ``step`` is refused (a live player stops on it)."""
        self.closed = True

    # ------------------------------------------------------------------------------ training

    def _batch(self) -> Array:
        b = self.settings.batch_size
        if self.cursor + b > len(self.order):
            self.order = self.rng.permutation(len(self.x_train))
            self.cursor = 0
        idx = self.order[self.cursor : self.cursor + b]
        self.cursor += b
        return idx

    def step(self, steps: int = 1) -> None:
        """``steps`` updates, each on the next batch: forward, loss, backward by hand, update."""
        if self.closed:
            raise LimitError(f"run {self.id} was deleted")
        if not 1 <= steps <= MAX_STEPS_PER_CALL:
            raise LimitError(f"steps must lie in 1 … {MAX_STEPS_PER_CALL}, got {steps}")
        if self.step_count + steps > MAX_TOTAL_STEPS:
            raise LimitError(
                f"a run stops at {MAX_TOTAL_STEPS} steps; this one is at {self.step_count}: "
                "start a new run or replay"
            )
        if self.losses and not math.isfinite(self.losses[-1]):
            raise LimitError(
                f"the loss became {self.losses[-1]} at step {self.step_count}: "
                f"lr={self.settings.lr:g} is too large; replay with a smaller lr"
            )
        with self.lock, np.errstate(over="ignore", invalid="ignore"):
            for _ in range(steps):
                self._one_step()

    def _one_step(self) -> None:
        idx = self._batch()
        x, t = self.x_train[idx], self.t_train[idx]
        outputs = [x]
        for layer in self.model:
            outputs.append(layer(outputs[-1]))
        loss = float(self.loss_fn(outputs[-1], t))  # reduction "mean": a float
        self.optimizer.zero_grad()
        grads = [self.loss_fn.backward()]
        for layer in reversed(self.model.layers):
            grads.append(layer.backward(grads[-1]))
        params = self.optimizer.params
        self.before = [p.data.copy() for p in params]
        self.optimizer.step()
        self.step_count += 1
        self.losses.append(loss)
        # outputs[i] is the input of module i; grads[k] is dL/d(output of module len − k)
        self.trace = {"x": x, "t": t, "outputs": outputs, "grads": grads[::-1], "loss": loss}
        if not math.isfinite(loss):
            raise LimitError(
                f"the loss became {loss} at step {self.step_count}: lr={self.settings.lr:g} is "
                "too large; replay with a smaller lr"
            )

    def set_weight(self, layer: int, row: int | None, col: int, value: float) -> None:
        """Set weight [row, col] of Linear ``layer`` (or its bias ``col`` when row is None)."""
        if not 0 <= layer < len(self.linears):
            raise ValueError(f"layer must lie in 0 … {len(self.linears) - 1}, got {layer}")
        lin = self.linears[layer]
        if not 0 <= col < lin.out_features:
            raise ValueError(f"col must lie in 0 … {lin.out_features - 1}, got {col}")
        with self.lock:
            if row is None:
                assert lin.bias is not None
                lin.bias.data[col] = value
            else:
                if not 0 <= row < lin.in_features:
                    raise ValueError(f"row must lie in 0 … {lin.in_features - 1}, got {row}")
                lin.weight.data[row, col] = value

    # ------------------------------------------------------------------------------- viewing

    def _loss_on(self, x: Array, t: Array) -> float:
        return float(self.view_loss(self.view(x), t)) if len(x) else math.nan

    def _score(self, out: Array) -> Array:
        """What the output picture shows: the prediction in [-1, 1] (its sign is the class)."""
        if self.regression:
            return out[:, 0]
        if out.shape[1] == 1:
            return np.clip(out[:, 0], -1, 1)
        return np.tanh((out[:, 1] - out[:, 0]) / 2)  # P(class 1) − P(class 0)

    def state(self, *, points: bool = True, since: int = 0, curve_since: int = 0) -> dict[str, Any]:
        """STATE: the numbers the page draws (see the module's docstring and the README)."""
        with self.lock, np.errstate(over="ignore", invalid="ignore"):
            return self._state(points, since, curve_since)

    def _state(self, with_points: bool, since: int, curve_since: int) -> dict[str, Any]:
        loss = self._loss_on(self.x_train, self.t_train)
        test_loss = self._loss_on(self.x_test, self.t_test)
        # The curve keeps a point per view, thinned as the run grows (a step at least 1/200 of the
        # steps so far after the last point): a few thousand points for the longest run.
        last = self.curve[-1][0] if self.curve else -1
        if not self.curve or self.step_count - last >= max(1, last // 200):
            self.curve.append((self.step_count, loss, test_loss))
        # Each Linear's output on the plane, then (layer by layer) on the training points with
        # dL/da there, a = the layer's activation (its Linear output for the last layer).
        view_layers = self.view.layers
        acts_grid = self._unit_outputs(self.grid)
        acts_points = self._unit_outputs(self.x_train)
        self.view_loss(self.view(self.x_train), self.t_train)
        g = self.view_loss.backward()
        grads_points: list[Array] = []
        for i in range(len(view_layers) - 1, -1, -1):
            if self._is_unit_output(i):
                grads_points.append(g)
            g = view_layers[i].backward(g)
        grads_points.reverse()
        layers = []
        params = self.optimizer.params
        for k, lin in enumerate(self.linears):
            W, b = lin.weight, lin.bias
            assert b is not None
            entry: dict[str, Any] = {
                "weight": _list(W.data),
                "bias": _list(b.data),
                "weight_grad": _list(W.grad) if self.before else None,
                "bias_grad": _list(b.grad) if self.before else None,
                "weight_update": None,
                "bias_update": None,
                "grid": _pictures(acts_grid[k], last=k == len(self.linears) - 1),
                "activation": _rounded(acts_points[k].T),
                "activation_grad": _rounded(grads_points[k].T, 4),
            }
            if self.before:
                entry["weight_update"] = _list(W.data - self.before[params.index(W)])
                entry["bias_update"] = _list(b.data - self.before[params.index(b)])
            layers.append(entry)
        out = self.view(self.grid)
        state: dict[str, Any] = {
            "id": self.id,
            "step": self.step_count,
            "loss": _num(loss),
            "test_loss": _num(test_loss),
            "losses_from": since,
            "losses": [_num(v) for v in self.losses[since:]],
            "curve_from": curve_since,
            "curve": [[s, _num(a), _num(b)] for s, a, b in self.curve[curve_since:]],
            "layers": layers,
            "activation": self.settings.activation,
            "output": _rounded(self._score(out)),  # GRID·GRID values, row by row from the top
            "grid": {"size": GRID, "thumb": THUMB, "lo": -1.0, "hi": 1.0},
        }
        if with_points:
            state["settings"] = self.settings.to_json()
            state["regression"] = self.regression
            state["train"] = {
                "x": self.x_train.tolist(),
                "label": _labels(self.labels_train, self.regression),
            }
            state["test"] = {
                "x": self.x_test.tolist(),
                "label": _labels(self.labels_test, self.regression),
            }
        return state

    def _is_unit_output(self, i: int) -> bool:
        """Module i's output is a layer of units: an activation, or the last Linear."""
        layers = self.view.layers
        return not isinstance(layers[i], Linear) or i == len(layers) - 1

    def _unit_outputs(self, x: Array) -> list[Array]:
        outs = []
        for i, layer in enumerate(self.view.layers):
            x = layer(x)
            if self._is_unit_output(i):
                outs.append(x)
        return outs

    # ------------------------------------------------------------------------ backward steps

    def backward_blocks(self) -> list[dict[str, Any]]:
        """The last step's backward pass as equations with their numbers (see ``backward``)."""
        from .backward import backward_blocks

        with self.lock:
            return backward_blocks(self)


def _list(a: Array) -> Any:
    """An array as JSON lists; a diverged run's inf or NaN entries become null (JSON has none)."""
    if np.isfinite(a).all():
        return a.tolist()
    out = a.astype(object)
    out[~np.isfinite(a)] = None
    return out.tolist()


def _num(v: float) -> float | None:
    return v if math.isfinite(v) else None


def _rounded(a: Array, digits: int = 3) -> Any:
    """Picture values in JSON: a few significant digits are all a colour can show."""
    a = np.asarray(a, dtype=np.float64)
    if digits == 3:
        return np.round(np.nan_to_num(a), 3).tolist()
    # gradients: keep their scale (they can be tiny), with 4 significant digits
    scale = float(np.abs(a).max()) if a.size else 0.0
    if not math.isfinite(scale) or scale == 0:
        return np.zeros_like(a).tolist()
    q = 10.0 ** (math.floor(math.log10(scale)) - digits + 1)
    return (np.round(a / q) * q).tolist()


def _pictures(act: Array, *, last: bool) -> Any:
    """Each unit's output over the plane: (units, THUMB·THUMB), every second lattice point."""
    grids = act.T.reshape(-1, GRID, GRID)
    step = GRID // THUMB
    return _rounded(grids[:, ::step, ::step].reshape(len(grids), -1))


def _labels(y: Array, regression: bool) -> Any:
    return y.tolist() if regression else y.astype(int).tolist()


__all__ = ["MAX_STEPS_PER_CALL", "MAX_TOTAL_STEPS", "LimitError", "Run", "build_model"]
