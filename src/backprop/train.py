"""``fit()``: the training loop over epochs and mini-batches, and the history it returns.

Each epoch shuffles the training rows with ``rng.permutation(N)`` (the only random numbers
drawn here), then takes batches of ``batch_size`` rows in that order, the last one smaller if
N is not a multiple. For each batch: forward, loss, ``optimizer.zero_grad()``,
``model.backward(loss_fn.backward())``, ``optimizer.step()``, as in a PyTorch loop and in the
README: the step a learner writes, in which a ``Sequential`` skips dL/dx of the data. After each
epoch the test split, if given, is evaluated in one pass.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .arrays import Array, check_finite
from .history import Frame, snapshot
from .losses import CrossEntropyLoss, Loss, MSELoss
from .nn import (
    Conv2d,
    Flatten,
    Linear,
    MaxPool2d,
    Module,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    Unflatten,
)
from .nn.normalization import _BatchNorm
from .optim import OPTIMIZERS, Optimizer

METRICS = {"classification": "accuracy", "regression": "r2"}

# The settings a run is started with, and their defaults. An option the user left out is not
# in ``given``, so that, when resuming, only the options given are compared with the checkpoint's.
DEFAULTS: dict[str, Any] = {
    "model": "mlp",
    "target": None,
    "task": None,
    "hidden": [128, 64],
    "activation": "relu",
    "loss": None,
    "optimizer": "adam",
    "lr": None,
    "momentum": None,
    "weight_decay": None,
    "batch_size": 32,
    "seed": 0,
    "test_size": 0.2,
    "dtype": "float32",
}
# torch.optim's default learning rates, but SGD's (0.01 here, 0.001 in torch.optim)
DEFAULT_LR = {"adam": 1e-3, "adamw": 1e-3, "sgd": 0.01, "rmsprop": 1e-2, "adagrad": 1e-2}
DEFAULT_MOMENTUM = {"adam": 0.0, "adamw": 0.0, "sgd": 0.9, "rmsprop": 0.0, "adagrad": 0.0}
# torch.optim's default weight decay: AdamW's decoupled 0.01, none for the others
DEFAULT_WEIGHT_DECAY = {"adam": 0.0, "adamw": 1e-2, "sgd": 0.0, "rmsprop": 0.0, "adagrad": 0.0}
# the optimizers that take a momentum
WITH_MOMENTUM = ("sgd", "rmsprop")
# The CNN learns the digits best (and steadily) at twice Adam's usual rate.
CNN_DEFAULT_LR = {**DEFAULT_LR, "adam": 2e-3}
MODELS = ("mlp", "cnn")
CNN_IMAGE = (1, 8, 8)
CNN_ARCHITECTURE = (
    "Unflatten(1, (1, 8, 8)) → Conv2d(1, 16, 3, padding=1) → ReLU → MaxPool2d(2) → "
    "Conv2d(16, 32, 3, padding=1) → ReLU → MaxPool2d(2) → Flatten → Linear(128, 10)"
)
DEFAULT_EPOCHS = 30


@dataclass
class FitHistory:
    """What a run recorded.

    batch_losses[s]: the loss of the batch at step s, computed with the weights after s updates.
    train_loss[e]: the mean of epoch e's batch losses, weighted by batch size.
    test_loss[e], test_metric[e]: on the test split after epoch e (empty without one); the
        metric is accuracy for classification and R² for regression (``metric``).
    seconds[e]: wall time since the start of the run at the end of epoch e.
    frames: snapshots of the parameters at the steps asked for (``fit(frame_steps=...)``).
    """

    task: str
    batch_losses: list[float] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_metric: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    frames: list[Frame] = field(default_factory=list)

    @property
    def metric(self) -> str:
        return METRICS[self.task]

    @property
    def epochs(self) -> int:
        return len(self.train_loss)

    def rows(self) -> list[dict[str, float]]:
        """One dict per epoch: epoch, train_loss, test_loss and test_accuracy or test_r2."""
        out = []
        for e, train in enumerate(self.train_loss):
            row: dict[str, float] = {"epoch": e + 1, "train_loss": train}
            if e < len(self.test_loss):
                row["test_loss"] = self.test_loss[e]
                row[f"test_{self.metric}"] = self.test_metric[e]
            out.append(row)
        return out


class Diverged(ArithmeticError):
    """The loss became NaN or infinite: raised by ``fit`` and by the post's run (``run_slp``).

    where: the place, counted as the user counts it: "epoch 3, batch 7" or "epoch 3 (test)"
        in ``fit``, "iteration 12" in the post's run; loss: its value; lr: the learning rate.
    step: the post's iteration; epoch, batch: fit's (batch None for the test pass).
    history: fit's ``FitHistory`` of the epochs completed before (None in the post's run).
    """

    def __init__(
        self,
        where: str,
        loss: float,
        lr: float,
        *,
        step: int | None = None,
        epoch: int | None = None,
        batch: int | None = None,
        history: FitHistory | None = None,
    ) -> None:
        self.where, self.loss, self.lr = where, loss, lr
        self.step, self.epoch, self.batch, self.history = step, epoch, batch, history
        super().__init__(
            f"the loss became {loss} at {where}: lr={lr:g} is too large for this problem; "
            "try a smaller --lr"
        )

    @classmethod
    def at_iteration(cls, step: int, loss: float, lr: float) -> Diverged:
        return cls(f"iteration {step}", loss, lr, step=step)


def accuracy(logits: Array, labels: Array) -> float:
    """The fraction of rows whose largest output is at the true class."""
    return float(np.mean(np.argmax(logits, axis=1) == labels))


def r2_score(pred: Array, target: Array) -> float:
    """R² = 1 − Σ(t − p)² / Σ(t − t̄)², per output column, averaged over the columns (as
    scikit-learn's ``r2_score``); 1 is perfect, 0 is no better than predicting the mean."""
    pred, target = pred.reshape(len(pred), -1), target.reshape(len(target), -1)
    ss_res = np.sum((target - pred) ** 2, axis=0)
    ss_tot = np.sum((target - target.mean(axis=0)) ** 2, axis=0)
    with np.errstate(divide="ignore", invalid="ignore"):
        r2 = np.where(ss_tot > 0, 1 - ss_res / ss_tot, np.where(ss_res > 0, 0.0, 1.0))
    return float(np.mean(r2))


def _infer_task(loss_fn: Loss) -> str:
    return "classification" if isinstance(loss_fn, CrossEntropyLoss) else "regression"


def _targets(loss_fn: Loss, task: str, y: Array, outputs: int, dtype: Any) -> Array:
    """y in the form the loss takes: labels for cross-entropy, one-hot rows for MSE on
    classes, (N, outputs) values for regression."""
    if task == "classification":
        if not np.issubdtype(y.dtype, np.integer):
            raise ValueError(f"classification needs integer class labels, got dtype {y.dtype}")
        if isinstance(loss_fn, MSELoss):
            return np.eye(outputs, dtype=dtype)[y]
        return y
    return np.asarray(y, dtype=dtype).reshape(len(y), -1)


def evaluate(
    model: Module, loss_fn: Loss, X: Array, y: Array, task: str | None = None
) -> tuple[float, float]:
    """(loss, accuracy or R²) of ``model`` on X, y in one forward pass, in evaluation mode
    (BatchNorm on its running statistics, no Dropout); each layer's mode is restored after."""
    task = task or _infer_task(loss_fn)
    modes = [(m, m.training) for m in model.modules()]
    try:
        out = model.eval()(X)
    finally:
        for m, training in modes:
            m.training = training
    target = _targets(loss_fn, task, y, out.shape[1], out.dtype)
    loss = float(loss_fn(out, target))
    metric = accuracy(out, y) if task == "classification" else r2_score(out, target)
    return loss, metric


def fit(
    model: Module,
    loss_fn: Loss,
    optimizer: Optimizer,
    X: Array,
    y: Array,
    *,
    epochs: int = 10,
    batch_size: int = 32,
    rng: np.random.Generator | int | None = None,
    X_test: Array | None = None,
    y_test: Array | None = None,
    task: str | None = None,
    history: FitHistory | None = None,
    frame_steps: Collection[int] = (),
    on_batch: Callable[[int, float], None] | None = None,
    on_epoch: Callable[[int, FitHistory], None] | None = None,
) -> FitHistory:
    """Train ``model`` on X (N, D), y for ``epochs`` epochs in total; return the history.

    y: class labels (N,) int for classification, values (N,) or (N, outputs) for regression.
    task: "classification" or "regression"; by default classification for CrossEntropyLoss,
        regression for MSELoss. MSELoss on classes compares the outputs with one-hot rows.
    rng: the generator that shuffles the rows each epoch (or a seed for one).
    history: the history of an earlier run of this model, to continue: training starts at
        epoch ``history.epochs`` and the new epochs are appended to it. With the model,
        optimizer and rng restored from a checkpoint, the result is bit for bit that of an
        unbroken run.
    frame_steps: the steps (updates made so far, counted over the whole run) at which a
        ``Frame`` of the parameters is recorded, with that step's batch loss and gradients.
    on_batch(step, loss), on_epoch(epoch, history): called after each batch and each epoch
        (epochs numbered from 1), e.g. for a progress bar or a checkpoint.

    A model that normalises with batch statistics (a BatchNorm in training mode) cannot take a
    batch of one row: a last batch of one joins the batch before it, and batch_size 1 is a
    ValueError before any step.

    Raises ``Diverged`` when a loss is NaN or infinite, at the batch it happens; the model is
    then left as it was at that point; ``history`` holds the complete epochs before it, and
    its ``batch_losses`` the finite losses of the failing epoch too.
    Raises ValueError if X or y holds NaN or inf (naming the place) or the shapes disagree.
    """
    task = task or _infer_task(loss_fn)
    if task not in METRICS:
        raise ValueError(f"task must be one of {', '.join(METRICS)}, got {task!r}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    if len(X) != len(y) or len(X) == 0:
        raise ValueError(f"X has {len(X)} rows and y has {len(y)}; need the same number, > 0")
    check_finite("X", X)
    check_finite("y", y)
    params = model.parameters()
    dtype = params[0].dtype if params else X.dtype
    # Converted once here, not per batch: a float32 network takes float32 batches. Integer
    # inputs (an Embedding's token indices) stay integers.
    if X.dtype.kind not in "iu":
        X = np.asarray(X, dtype=dtype)
    if X_test is not None and y_test is not None:
        check_finite("X_test", X_test)
        check_finite("y_test", y_test)
        if X_test.dtype.kind not in "iu":
            X_test = np.asarray(X_test, dtype=dtype)
    # the output width, from one row in evaluation mode (which leaves a BatchNorm's running
    # statistics alone)
    was_training = model.training
    try:
        out_features = model.eval()(X[:1]).shape[1]
    finally:
        model.train(was_training)
    targets = _targets(loss_fn, task, y, out_features, dtype)
    rng = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
    history = history if history is not None else FitHistory(task)
    if history.task != task:
        raise ValueError(f"history is of a {history.task} run, this one is {task}")
    n = len(X)
    steps_per_epoch = math.ceil(n / batch_size)
    # A batch of one row has no batch statistics to normalise with (BatchNorm refuses it, as
    # PyTorch does): in a model that uses them, a last batch of one row joins the batch before
    # it, and batches of one row are refused before any step.
    normalizer = _batch_statistics_layer(model)
    if normalizer is not None:
        if batch_size == 1 or n == 1:
            raise ValueError(
                f"{normalizer!r} normalises with batch statistics: it needs batches of 2 rows "
                f"or more, got {'batch_size 1' if batch_size == 1 else '1 row in all'}"
            )
        if n % batch_size == 1:
            steps_per_epoch -= 1
    frame_set = set(frame_steps)
    start = time.perf_counter() - (history.seconds[-1] if history.seconds else 0.0)
    losses = history.batch_losses
    # A diverging run overflows on its way to a NaN loss; that is reported as Diverged, once,
    # instead of as a stream of NumPy warnings.
    with np.errstate(over="ignore", invalid="ignore"):
        for epoch in range(history.epochs + 1, epochs + 1):
            step = (epoch - 1) * steps_per_epoch
            # One copy of the data per epoch; every batch is then a view (a slice), not a copy.
            order = rng.permutation(n)
            X_epoch, t_epoch = X[order], targets[order]
            for b in range(steps_per_epoch):
                rows = slice(b * batch_size, (b + 1) * batch_size)
                if b == steps_per_epoch - 1:  # the last batch: what is left, a lone row too
                    rows = slice(b * batch_size, n)
                xb, tb = X_epoch[rows], t_epoch[rows]
                out = model(xb)
                try:
                    loss = float(loss_fn(out, tb))
                except ValueError:
                    if np.all(np.isfinite(out)):
                        raise
                    loss = math.nan
                if not math.isfinite(loss):
                    raise Diverged(
                        f"epoch {epoch}, batch {b + 1}",
                        loss,
                        optimizer.lr,
                        epoch=epoch,
                        batch=b + 1,
                        history=history,
                    )
                if step in frame_set:
                    history.frames.append(snapshot(model, step, loss))
                losses.append(loss)
                optimizer.zero_grad()
                model.backward(loss_fn.backward())
                if step in frame_set:
                    history.frames[-1].grads = [p.grad.copy() for p in params]
                optimizer.step()
                step += 1
                if on_batch is not None:
                    on_batch(step, loss)
            epoch_losses = np.array(losses[-steps_per_epoch:])
            sizes = np.full(steps_per_epoch, batch_size)
            sizes[-1] = n - batch_size * (steps_per_epoch - 1)
            train_loss = float(epoch_losses @ sizes / n)
            if X_test is not None and y_test is not None:
                test_loss, metric = evaluate(model, loss_fn, X_test, y_test, task)
                if not math.isfinite(test_loss):
                    raise Diverged(
                        f"epoch {epoch} (test)",
                        test_loss,
                        optimizer.lr,
                        epoch=epoch,
                        history=history,
                    )
            history.train_loss.append(train_loss)
            if X_test is not None and y_test is not None:
                history.test_loss.append(test_loss)
                history.test_metric.append(metric)
            history.seconds.append(time.perf_counter() - start)
            if on_epoch is not None:
                on_epoch(epoch, history)
    return history


def write_history_csv(history: FitHistory, path: str) -> None:
    """One row per epoch: epoch, train_loss, test_loss, test_accuracy or test_r2 (written to a
    temporary file, then renamed, so ``path`` is never half-written)."""
    from .files import atomic_write

    rows = history.rows()
    columns = list(rows[0]) if rows else ["epoch", "train_loss"]

    def write(f: Any) -> None:
        lines = [",".join(columns)]
        for row in rows:
            lines.append(",".join(str(int(v)) if k == "epoch" else repr(v) for k, v in row.items()))
        f.write(("\n".join(lines) + "\n").encode())

    atomic_write(path, write)


def mlp(
    sizes: list[int],
    activation: str = "relu",
    *,
    rng: np.random.Generator | None = None,
    dtype: Any = np.float64,
) -> Sequential:
    """Linear(sizes[0], sizes[1]), activation, …, Linear(sizes[-2], sizes[-1]): a multilayer
    perceptron with the activation ("relu", "tanh", "sigmoid") after every layer but the last."""
    kinds: dict[str, type[Module]] = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}
    if activation not in kinds:
        raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(kinds)}")
    layers: list[Module] = []
    for i in range(len(sizes) - 1):
        if i:
            layers.append(kinds[activation]())
        layers.append(Linear(sizes[i], sizes[i + 1], rng=rng, dtype=dtype))
    return Sequential(*layers)


def cnn(
    classes: int,
    activation: str = "relu",
    *,
    image: tuple[int, int, int] = CNN_IMAGE,
    rng: np.random.Generator | None = None,
    dtype: Any = np.float64,
) -> Sequential:
    """The small CNN of ``backprop train --model cnn`` (``CNN_ARCHITECTURE`` for the digits): rows
    of C·H·W pixels unflattened to images, two 3×3 convolutions (16 and 32 channels, padding 1),
    each followed by the activation and a 2×2 max pool, then one Linear layer to the classes."""
    kinds: dict[str, type[Module]] = {"relu": ReLU, "tanh": Tanh, "sigmoid": Sigmoid}
    if activation not in kinds:
        raise ValueError(f"unknown activation {activation!r}; valid: {', '.join(kinds)}")
    C, H, W = image
    if H < 4 or W < 4:
        raise ValueError(f"cnn: images of at least 4×4 pixels are needed, got {H}×{W}")
    act = kinds[activation]
    return Sequential(
        Unflatten(1, image),
        Conv2d(C, 16, 3, padding=1, rng=rng, dtype=dtype),
        act(),
        MaxPool2d(2),
        Conv2d(16, 32, 3, padding=1, rng=rng, dtype=dtype),
        act(),
        MaxPool2d(2),
        Flatten(),
        Linear(32 * (H // 4) * (W // 4), classes, rng=rng, dtype=dtype),
    )


def _batch_statistics_layer(model: Module) -> Module | None:
    """The first layer of ``model`` that, as trained, normalises with the statistics of the
    batch (a BatchNorm in training mode, or one without running statistics), if any."""
    for _, module in model.named_modules():
        if isinstance(module, _BatchNorm) and (module.training or module.running_mean is None):
            return module
    return None


def make_optimizer(
    name: str,
    params: list[Parameter],
    lr: float,
    momentum: float = 0.0,
    weight_decay: float = 0.0,
) -> Optimizer:
    """The optimizer called ``name`` ("adam", "adamw", "sgd", "rmsprop", "adagrad": the
    ``backprop.optim`` class of that name in lower case) with ``lr`` and ``weight_decay``, and
    ``momentum`` for SGD and RMSprop; the other settings take torch.optim's defaults."""
    classes: dict[str, Any] = {cls.__name__.lower(): cls for cls in OPTIMIZERS.values()}
    if name not in classes:
        raise ValueError(f"unknown optimizer {name!r}; valid: {', '.join(classes)}")
    if name in WITH_MOMENTUM:
        return classes[name](params, lr=lr, momentum=momentum, weight_decay=weight_decay)
    if momentum:
        raise ValueError(f"momentum applies to {' and '.join(WITH_MOMENTUM)}, not {name}")
    return classes[name](params, lr=lr, weight_decay=weight_decay)
