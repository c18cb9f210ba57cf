"""A training run from its settings, as ``backprop train`` starts one.

``start_run`` settles the settings (the options given, the defaults for the rest; a
checkpoint's when resuming), reads and splits the data, and builds the model, loss and
optimizer, or restores them from the checkpoint; ``Run.fit`` then trains, ``Run.save`` writes
the checkpoint after an epoch. A resumed run is the unbroken one continued: model, optimizer,
generator, scalers and history all come from the checkpoint, so ``fit`` goes on bit for bit.

The errors name the options of ``backprop train`` (``--lr``, ``--data``), which is how a user
gave the settings.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Any

import numpy as np

from .arrays import check_memory
from .checkpoint import HISTORY_KEYS, Checkpoint, load_checkpoint, save
from .data import BUNDLED, Dataset, Prepared, load_bundled, prepare, read_csv
from .losses import CrossEntropyLoss, Loss, MSELoss
from .nn import Linear, Sequential
from .optim import Optimizer
from .train import (
    CNN_DEFAULT_LR,
    DEFAULT_EPOCHS,
    DEFAULT_LR,
    DEFAULT_MOMENTUM,
    DEFAULT_WEIGHT_DECAY,
    DEFAULTS,
    WITH_MOMENTUM,
    FitHistory,
    cnn,
    fit,
    make_optimizer,
    mlp,
)

# What a checkpoint written by ``Run.save`` records of its settings, and the types they have.
STORED_TYPES: dict[str, tuple[type, ...]] = {
    "model": (str,),
    "data": (str,),
    "target": (str, type(None)),
    "task": (str,),
    "hidden": (list,),
    "activation": (str,),
    "loss": (str,),
    "optimizer": (str,),
    "lr": (float, int),
    "momentum": (float, int),
    "weight_decay": (float, int),
    "batch_size": (int,),
    "seed": (int,),
    "test_size": (float,),
    "dtype": (str,),
    "epochs": (int,),
}


class SettingsError(ValueError):
    """Settings that do not go together, or that a resumed run cannot take (bad usage)."""


class ResumeError(Exception):
    """A checkpoint that cannot be resumed, or data that does not match it (a failure)."""


def resolve_settings(
    given: dict[str, Any], data: str | None, stored: dict[str, Any] | None
) -> dict[str, Any]:
    """The run's settings: the checkpoint's ``stored`` ones when resuming (a setting given that
    differs is a SettingsError, except lr: lowering it is how a run that diverged goes on),
    else the ``given`` ones, with the defaults for the rest."""
    if stored is None:
        settings = {**DEFAULTS, **given}
        optimizer = settings["optimizer"]
        if settings["model"] == "cnn" and "hidden" in given:
            raise SettingsError("--hidden applies to --model mlp; the CNN's layers are fixed")
        if settings["lr"] is None:
            lrs = CNN_DEFAULT_LR if settings["model"] == "cnn" else DEFAULT_LR
            settings["lr"] = lrs[optimizer]
        if settings["momentum"] is None:
            settings["momentum"] = DEFAULT_MOMENTUM[optimizer]
        elif optimizer not in WITH_MOMENTUM and settings["momentum"]:
            raise SettingsError(
                f"--momentum applies to --optimizer {' or '.join(WITH_MOMENTUM)} only"
            )
        if settings["weight_decay"] is None:
            settings["weight_decay"] = DEFAULT_WEIGHT_DECAY[optimizer]
        settings["data"] = data
        return settings
    for key, value in given.items():
        if stored.get(key) != value and key != "lr":
            option = "--" + key.replace("_", "-")
            raise SettingsError(
                f"{option} {value} differs from the checkpoint's {stored.get(key)}; "
                "a resumed run keeps the settings it was started with"
            )
    return {**stored, "data": data or stored["data"], "lr": given.get("lr", stored["lr"])}


def check_stored_settings(path: str, stored: dict[str, Any]) -> None:
    """A ResumeError if a checkpoint's recorded settings are incomplete or of the wrong type
    (the file is then not one that `backprop train --save` wrote, or it was edited)."""
    for key, types in STORED_TYPES.items():
        if not isinstance(stored.get(key), types) or isinstance(stored.get(key), bool):
            raise ResumeError(f"{path}: its recorded settings lack a valid {key!r}; cannot resume")
    if not all(type(h) is int and h > 0 for h in stored["hidden"]):
        raise ResumeError(f"{path}: its recorded settings lack a valid 'hidden'; cannot resume")
    choices = {
        "model": ("mlp", "cnn"),
        "task": ("classification", "regression"),
        "loss": ("cross_entropy", "mse"),
        "activation": ("relu", "tanh", "sigmoid"),
        "optimizer": tuple(DEFAULT_LR),
        "dtype": ("float32", "float64"),
    }
    ranges_ok = stored["data"] != "" and stored["batch_size"] >= 1 and 0 < stored["test_size"] < 1
    if not ranges_ok or any(stored[key] not in valid for key, valid in choices.items()):
        raise ResumeError(f"{path}: its recorded settings are out of range; cannot resume")


def load_training_data(settings: dict[str, Any]) -> Dataset:
    """The bundled dataset named by ``settings["data"]``, or the CSV file at that path."""
    source = settings["data"]
    if source in BUNDLED:
        if settings["target"] is not None:
            raise SettingsError(f"--target applies to CSV files; {source!r} has its own target")
        return load_bundled(source)
    if not source.lower().endswith(".csv") and not os.path.exists(source):
        raise SettingsError(
            f"--data {source!r} is neither a bundled dataset ({', '.join(BUNDLED)}) nor a .csv file"
        )
    return read_csv(source, settings["target"])


@dataclass
class Run:
    """Everything ``fit`` needs, and what a checkpoint records.

    settings: every setting decided (defaults filled in, the task, the loss, the epochs);
    info: what a checkpoint keeps beside the weights (the settings, column names, classes);
    done: the epochs already trained (a resumed run's); history: theirs, to continue.
    """

    settings: dict[str, Any]
    info: dict[str, Any]
    data: Dataset
    prepared: Prepared
    model: Sequential
    loss_fn: Loss
    optimizer: Optimizer
    rng: np.random.Generator
    done: int = 0
    history: FitHistory | None = None

    @property
    def epochs(self) -> int:
        return int(self.settings["epochs"])

    @property
    def task(self) -> str:
        return self.prepared.task

    @property
    def steps_per_epoch(self) -> int:
        return -(-len(self.prepared.X_train) // self.settings["batch_size"])

    def layer_sizes(self) -> list[int]:
        """Inputs, the hidden layers, outputs: the widths of the network's layers of units."""
        return [self.data.X.shape[1], *self.settings["hidden"], self.outputs()]

    def outputs(self) -> int:
        return int(self.model.parameters()[-1].shape[-1])

    def fit(
        self,
        frame_steps: Collection[int] = (),
        on_batch: Callable[[int, float], None] | None = None,
        on_epoch: Callable[[int, FitHistory], None] | None = None,
    ) -> FitHistory:
        """``train.fit`` from epoch ``done`` up to ``epochs``, on the training split, testing on
        the test split after each epoch."""
        p = self.prepared
        return fit(
            self.model,
            self.loss_fn,
            self.optimizer,
            p.X_train,
            p.y_train,
            epochs=self.epochs,
            batch_size=self.settings["batch_size"],
            rng=self.rng,
            X_test=p.X_test,
            y_test=p.y_test,
            task=p.task,
            history=self.history,
            frame_steps=frame_steps,
            on_batch=on_batch,
            on_epoch=on_epoch,
        )

    def save(self, path: str, epoch: int, history: FitHistory) -> None:
        """The checkpoint after ``epoch``: what ``start_run(resume=path)`` continues from."""
        record = {
            "batch_losses": history.batch_losses,
            "train_loss": history.train_loss,
            "test_loss": history.test_loss,
            "test_metric": history.test_metric,
            "seconds": history.seconds,
        }
        save(
            self.model,
            path,
            optimizer=self.optimizer,
            rng=self.rng,
            epoch=epoch,
            scaler=self.prepared.scaler,
            target_scaler=self.prepared.target_scaler,
            info=self.info,
            history=record,
        )

    def describe(self) -> str:
        """One line for a figure's title: data, layer sizes, activation, optimizer, batch,
        epochs."""
        settings = self.settings
        sizes: list[int | str] = [
            layer.in_features for layer in self.model if isinstance(layer, Linear)
        ]
        sizes.append(self.outputs())
        if settings.get("model") == "cnn":
            side = round(self.data.X.shape[1] ** 0.5)
            sizes = [f"CNN 1×{side}×{side}", "conv 16", "pool", "conv 32", "pool", sizes[-1]]
        names = {"sgd": "SGD", "adam": "Adam", "adamw": "AdamW", "rmsprop": "RMSprop"}
        optimizer = names.get(settings["optimizer"], settings["optimizer"].capitalize())
        optimizer += f" lr {settings['lr']:g}"
        if settings["momentum"]:
            optimizer += f" momentum {settings['momentum']:g}"
        return (
            f"{settings['data']}: {' → '.join(map(str, sizes))} with {settings['activation']}, "
            f"{optimizer}, batch {settings['batch_size']}, {settings['epochs']} epochs, "
            f"seed {settings['seed']}, {settings['dtype']}"
        )


def image_shape(features: int) -> tuple[int, int, int]:
    """(1, s, s) for s² features (the digits' 64 pixels are 8×8), at least 4×4 for the CNN's
    two 2×2 pools; a SettingsError otherwise."""
    side = round(features**0.5)
    if side * side != features or side < 4:
        raise SettingsError(
            f"--model cnn needs square images of at least 4×4 pixels (16, 25, … 64 features, "
            f"one per pixel), this data has {features} features"
        )
    return (1, side, side)


def mlp_memory(
    sizes: list[int],
    dtype: str,
    batch_size: int,
    train_rows: int,
    test_rows: int,
    data: int | None = None,
) -> int:
    """Bytes a run of ``mlp(sizes)`` needs, about, before any is allocated: each parameter,
    its gradient and two optimizer moments (Adam's, the most any optimizer keeps); each
    layer's output, cache and gradient for a batch, and its output and cache for the whole
    test split (evaluated in one pass); the data's bytes ``data``, by default a table's: as
    float64, in four copies (read, split, standardised, each epoch's shuffle)."""
    item = np.dtype(dtype).itemsize
    params = sum((a + 1) * b for a, b in itertools.pairwise(sizes))
    units = sum(sizes[1:])
    batch = min(batch_size, train_rows)
    if data is None:
        data = 4 * (train_rows + test_rows) * sizes[0] * 8
    return 4 * params * item + (4 * batch + 3 * test_rows) * units * item + data


def start_run(
    given: dict[str, Any],
    *,
    data: str | None = None,
    epochs: int | None = None,
    resume: str | None = None,
) -> Run:
    """A run ready to ``fit``: new, from the settings ``given`` (keys of ``DEFAULTS``) and the
    dataset ``data``, or continued from the checkpoint at ``resume`` (with its settings and,
    unless given, its data) up to ``epochs`` in total.

    Raises SettingsError for settings that cannot be used, ResumeError for a checkpoint that
    cannot be continued, CheckpointError for one that cannot be read and DataError for data
    that cannot be read or split.
    """
    ckpt = None
    if resume is not None:
        ckpt = load_checkpoint(resume)
        stored = ckpt.info.get("train")
        if "words" in ckpt.info:
            raise ResumeError(
                f"{resume} holds a word-list run (backprop train --data words…); only runs on "
                "tables can be resumed"
            )
        if not isinstance(stored, dict) or ckpt.optimizer is None or ckpt.rng is None:
            raise ResumeError(f"{resume} was not written by backprop train --save; cannot resume")
        stored.setdefault("model", "mlp")  # checkpoints from before --model were all MLPs
        check_stored_settings(resume, stored)
    settings = resolve_settings(given, data, None if ckpt is None else ckpt.info["train"])
    epochs = epochs or (ckpt.info["train"].get("epochs") if ckpt else None) or DEFAULT_EPOCHS
    if ckpt is not None and epochs <= ckpt.epoch:
        raise SettingsError(
            f"{resume} has {ckpt.epoch} epochs already; give --epochs larger than that"
        )
    settings["epochs"] = epochs

    dataset = load_training_data(settings)
    image = None
    if settings["model"] == "cnn":
        image = image_shape(dataset.X.shape[1])
    prepared = prepare(
        dataset,
        settings["task"],
        settings["test_size"],
        settings["seed"],
        ckpt.scaler if ckpt is not None else None,
        ckpt.target_scaler if ckpt is not None else None,
        pooled=image is not None,
    )
    task = settings["task"] = prepared.task
    loss_name = settings["loss"] or ("cross_entropy" if task == "classification" else "mse")
    if loss_name == "cross_entropy" and task == "regression":
        raise SettingsError("--loss cross_entropy needs class labels; this is a regression task")
    settings["loss"] = loss_name
    info = {
        "train": settings,
        "task": task,
        "dataset": dataset.name,
        "feature_names": dataset.feature_names,
        "target_name": dataset.target_name,
        "classes": prepared.classes.tolist(),
        "class_names": dataset.class_names,
    }
    loss_fn = CrossEntropyLoss() if loss_name == "cross_entropy" else MSELoss()
    if ckpt is not None:
        assert resume is not None
        return _resumed(ckpt, resume, settings, info, dataset, prepared, loss_fn)

    rng = np.random.default_rng(settings["seed"])
    outputs = max(len(prepared.classes), 1)
    if image is not None:
        model = cnn(outputs, settings["activation"], image=image, rng=rng, dtype=settings["dtype"])
    else:
        sizes = [dataset.X.shape[1], *settings["hidden"], outputs]
        hidden = ",".join(map(str, settings["hidden"])) or "none"
        estimate = mlp_memory(
            sizes,
            settings["dtype"],
            settings["batch_size"],
            len(prepared.X_train),
            len(prepared.X_test),
        )
        check_memory(f"--hidden {hidden} on {dataset.name}", estimate)
        model = mlp(sizes, settings["activation"], rng=rng, dtype=settings["dtype"])
    optimizer = make_optimizer(
        settings["optimizer"],
        model.parameters(),
        lr=settings["lr"],
        momentum=settings["momentum"],
        weight_decay=settings["weight_decay"],
    )
    return Run(settings, info, dataset, prepared, model, loss_fn, optimizer, rng)


def _resumed(
    ckpt: Checkpoint,
    path: str,
    settings: dict[str, Any],
    info: dict[str, Any],
    dataset: Dataset,
    prepared: Prepared,
    loss_fn: Loss,
) -> Run:
    """The run saved at ``path``, with the learning rate of ``settings`` (which may be lower)."""
    for key in ("feature_names", "target_name", "classes"):
        if ckpt.info.get(key) != info[key]:
            raise ResumeError(f"--data {settings['data']!r} does not match the checkpoint's {key}")
    assert ckpt.optimizer is not None and ckpt.rng is not None
    ckpt.optimizer.lr = settings["lr"]
    stored = {k: ckpt.history.get(k, []) for k in HISTORY_KEYS}
    history = FitHistory(
        prepared.task,
        batch_losses=stored["batch_losses"],
        train_loss=stored["train_loss"],
        test_loss=stored["test_loss"],
        test_metric=stored["test_metric"],
        seconds=stored["seconds"],
    )
    if history.epochs != ckpt.epoch:
        raise ResumeError(f"{path}: its history has {history.epochs} epochs, not {ckpt.epoch}")
    return Run(
        settings,
        info,
        dataset,
        prepared,
        ckpt.model,
        loss_fn,
        ckpt.optimizer,
        ckpt.rng,
        done=ckpt.epoch,
        history=history,
    )
