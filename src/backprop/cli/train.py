"""``backprop train``: train a network on a bundled dataset or a CSV file."""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any

import numpy as np

from .common import (
    Failure,
    UsageError,
    check_output,
    fraction,
    hidden_sizes,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
)

# Defaults of `backprop train`. The options default to None so that, with --resume, an option
# the user gave can be told apart from one left out and compared with the checkpoint's.
TRAIN_DEFAULTS: dict[str, Any] = {
    "target": None,
    "task": None,
    "hidden": [128, 64],
    "activation": "relu",
    "loss": None,
    "optimizer": "adam",
    "lr": None,
    "momentum": None,
    "weight_decay": 0.0,
    "batch_size": 32,
    "seed": 0,
    "test_size": 0.2,
    "dtype": "float32",
}
DEFAULT_LR = {"adam": 1e-3, "sgd": 0.01}
DEFAULT_MOMENTUM = {"adam": 0.0, "sgd": 0.9}
DEFAULT_EPOCHS = 30


def train_settings(args: argparse.Namespace, stored: dict[str, Any] | None) -> dict[str, Any]:
    """The run's settings: the checkpoint's when resuming (an option given that differs is
    bad usage, except --lr: lowering it is how a run that diverged goes on), else the options
    given, with the defaults for the rest."""
    given = {key: getattr(args, key) for key in TRAIN_DEFAULTS if getattr(args, key) is not None}
    if stored is None:
        settings = {**TRAIN_DEFAULTS, **given}
        optimizer = settings["optimizer"]
        if settings["lr"] is None:
            settings["lr"] = DEFAULT_LR[optimizer]
        if settings["momentum"] is None:
            settings["momentum"] = DEFAULT_MOMENTUM[optimizer]
        elif optimizer != "sgd" and settings["momentum"]:
            raise UsageError("--momentum applies to --optimizer sgd only")
        settings["data"] = args.data
        return settings
    for key, value in given.items():
        if stored.get(key) != value and key != "lr":
            option = "--" + key.replace("_", "-")
            raise UsageError(
                f"{option} {value} differs from the checkpoint's {stored.get(key)}; "
                "a resumed run keeps the settings it was started with"
            )
    return {**stored, "data": args.data or stored["data"], "lr": given.get("lr", stored["lr"])}


def describe_run(settings: dict[str, Any], model: Any) -> str:
    """One line for a figure's title: data, layer sizes, activation, optimizer, batch, epochs."""
    from ..layers import Linear

    sizes = [layer.in_features for layer in model if isinstance(layer, Linear)]
    sizes.append(model.parameters()[-1].shape[-1])
    optimizer = f"{settings['optimizer'].upper() if settings['optimizer'] == 'sgd' else 'Adam'}"
    optimizer += f" lr {settings['lr']:g}"
    if settings["optimizer"] == "sgd" and settings["momentum"]:
        optimizer += f" momentum {settings['momentum']:g}"
    return (
        f"{settings['data']}: {' → '.join(map(str, sizes))} with {settings['activation']}, "
        f"{optimizer}, batch {settings['batch_size']}, {settings['epochs']} epochs, "
        f"seed {settings['seed']}, {settings['dtype']}"
    )


STORED_TYPES: dict[str, tuple[type, ...]] = {
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


def check_stored_settings(path: str, stored: dict[str, Any]) -> None:
    """A Failure if a checkpoint's recorded settings are incomplete or of the wrong type (the
    file is then not one that `backprop train --save` wrote, or it was edited)."""
    for key, types in STORED_TYPES.items():
        if not isinstance(stored.get(key), types) or isinstance(stored.get(key), bool):
            raise Failure(f"{path}: its recorded settings lack a valid {key!r}; cannot resume")
    if not all(type(h) is int and h > 0 for h in stored["hidden"]):
        raise Failure(f"{path}: its recorded settings lack a valid 'hidden'; cannot resume")
    choices = {
        "task": ("classification", "regression"),
        "loss": ("cross_entropy", "mse"),
        "activation": ("relu", "tanh", "sigmoid"),
        "optimizer": ("adam", "sgd"),
        "dtype": ("float32", "float64"),
    }
    ranges_ok = stored["data"] != "" and stored["batch_size"] >= 1 and 0 < stored["test_size"] < 1
    if not ranges_ok or any(stored[key] not in valid for key, valid in choices.items()):
        raise Failure(f"{path}: its recorded settings are out of range; cannot resume")


def load_training_data(settings: dict[str, Any]) -> Any:
    from ..data import BUNDLED, load_bundled, read_csv

    source = settings["data"]
    if source in BUNDLED:
        if settings["target"] is not None:
            raise UsageError(f"--target applies to CSV files; {source!r} has its own target")
        return load_bundled(source)
    if not source.lower().endswith(".csv") and not os.path.exists(source):
        raise UsageError(
            f"--data {source!r} is neither a bundled dataset ({', '.join(BUNDLED)}) nor a .csv file"
        )
    return read_csv(source, settings["target"])


class TrainProgress:
    """Progress bars (epochs, batches of this epoch, the current loss) on stderr, on a terminal."""

    def __init__(self, epochs: int, done: int, steps: int) -> None:
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

        self.console = Console(stderr=True)
        self.bar = Progress(
            TextColumn("{task.description:>7}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[loss]}"),
            console=self.console,
            transient=True,
            redirect_stdout=False,
            redirect_stderr=False,
        )
        self.epochs = self.bar.add_task("epoch", total=epochs, completed=done, loss="")
        self.batches = self.bar.add_task("batch", total=steps, loss="")

    def on_batch(self, step: int, loss: float) -> None:
        self.bar.update(self.batches, advance=1, loss=f"loss {loss:.4f}")

    def end_epoch(self) -> None:
        self.bar.update(self.epochs, advance=1)
        self.bar.reset(self.batches)

    def print(self, line: str) -> None:
        self.bar.console.print(line, markup=False, highlight=False, soft_wrap=True)


def cmd_train(args: argparse.Namespace) -> int:
    from ..checkpoint import HISTORY_KEYS, CheckpointError, load_checkpoint, save
    from ..data import DataError, prepare
    from ..losses import CrossEntropyLoss, MSELoss
    from ..optim import Optimizer
    from ..train import (
        Diverged,
        FitHistory,
        fit,
        make_optimizer,
        mlp,
        plot_history,
        write_history_csv,
    )

    check_output(args.save, "--save", (".npz",))
    check_output(args.history, "--history", (".csv",))
    check_output(args.plot, "--plot", (".png",))
    check_output(args.gif, "--gif", (".gif",))
    if args.gif and args.resume:
        raise UsageError("--gif draws a run from its first step; it cannot follow --resume")
    if args.resume is None and args.data is None:
        raise UsageError("--data is required (a bundled dataset or a .csv file), or --resume")
    ckpt = None
    if args.resume is not None:
        try:
            ckpt = load_checkpoint(args.resume)
        except CheckpointError as e:
            raise Failure(str(e)) from None
        stored = ckpt.info.get("train")
        if not isinstance(stored, dict) or ckpt.optimizer is None or ckpt.rng is None:
            raise Failure(f"{args.resume} was not written by backprop train --save; cannot resume")
        check_stored_settings(args.resume, stored)
    settings = train_settings(args, None if ckpt is None else ckpt.info["train"])
    epochs = args.epochs or (ckpt.info["train"].get("epochs") if ckpt else None) or DEFAULT_EPOCHS
    if ckpt is not None and epochs <= ckpt.epoch:
        raise UsageError(
            f"{args.resume} has {ckpt.epoch} epochs already; give --epochs larger than that"
        )
    settings["epochs"] = epochs

    try:
        data = load_training_data(settings)
        prepared = prepare(
            data,
            settings["task"],
            settings["test_size"],
            settings["seed"],
            ckpt.scaler if ckpt is not None else None,
            ckpt.target_scaler if ckpt is not None else None,
        )
    except DataError as e:
        raise Failure(str(e)) from None
    task, classes = prepared.task, prepared.classes
    X_train, X_test = prepared.X_train, prepared.X_test
    y_train, y_test = prepared.y_train, prepared.y_test
    scaler, target_scaler = prepared.scaler, prepared.target_scaler
    settings["task"] = task
    loss_name = settings["loss"] or ("cross_entropy" if task == "classification" else "mse")
    if loss_name == "cross_entropy" and task == "regression":
        raise UsageError("--loss cross_entropy needs class labels; this is a regression task")
    settings["loss"] = loss_name
    info = {
        "train": settings,
        "task": task,
        "dataset": data.name,
        "feature_names": data.feature_names,
        "target_name": data.target_name,
        "classes": classes.tolist(),
        "class_names": data.class_names,
    }
    if ckpt is not None:
        for key in ("feature_names", "target_name", "classes"):
            if ckpt.info.get(key) != info[key]:
                raise Failure(f"--data {settings['data']!r} does not match the checkpoint's {key}")

    loss_fn = CrossEntropyLoss() if loss_name == "cross_entropy" else MSELoss()
    optimizer: Optimizer
    history: FitHistory | None = None
    if ckpt is not None:
        assert ckpt.optimizer is not None and ckpt.rng is not None
        model, optimizer, rng, done = ckpt.model, ckpt.optimizer, ckpt.rng, ckpt.epoch
        optimizer.lr = settings["lr"]
        stored_history = {k: ckpt.history.get(k, []) for k in HISTORY_KEYS}
        history = FitHistory(
            task,
            batch_losses=stored_history["batch_losses"],
            train_loss=stored_history["train_loss"],
            test_loss=stored_history["test_loss"],
            test_metric=stored_history["test_metric"],
            seconds=stored_history["seconds"],
        )
        if history.epochs != done:
            raise Failure(f"{args.resume}: its history has {history.epochs} epochs, not {done}")
    else:
        rng = np.random.default_rng(settings["seed"])
        sizes = [data.X.shape[1], *settings["hidden"], max(len(classes), 1)]
        model = mlp(sizes, settings["activation"], rng=rng, dtype=settings["dtype"])
        optimizer = make_optimizer(
            settings["optimizer"],
            model.parameters(),
            lr=settings["lr"],
            momentum=settings["momentum"],
            weight_decay=settings["weight_decay"],
        )
        done = 0

    steps = -(-len(X_train) // settings["batch_size"])
    frame_steps: list[int] = []
    if args.gif:
        from ..history import log_spaced_steps
        from ..viz import GIF_FRAMES, check_drawable

        sizes = [data.X.shape[1], *settings["hidden"], model.parameters()[-1].shape[-1]]
        try:
            check_drawable(sizes)
        except ValueError as e:
            raise UsageError(f"--gif: {e}; try a smaller --hidden") from None
        # the last step's loss is that of the last batch, so the frames end there
        frame_steps = log_spaced_steps(epochs * steps - 1, GIF_FRAMES)
    progress = TrainProgress(epochs, done, steps) if sys.stderr.isatty() else None
    metric_name = "accuracy" if task == "classification" else "R²"

    def emit(line: str) -> None:
        # The epoch lines are the report (stdout); with --json they go to stderr. On a
        # terminal they are printed through the progress bar so that it stays below them.
        if progress is not None and (args.json or sys.stdout.isatty()):
            progress.print(line)
        else:
            print(line, file=sys.stderr if args.json else sys.stdout, flush=True)

    def on_epoch(epoch: int, h: FitHistory) -> None:
        if progress is not None:
            progress.end_epoch()
        emit(
            f"epoch {epoch:>{len(str(epochs))}}/{epochs}  train loss {h.train_loss[-1]:.4f}  "
            f"test loss {h.test_loss[-1]:.4f}  test {metric_name} {h.test_metric[-1]:.4f}  "
            f"({h.seconds[-1]:.1f} s)"
        )
        if args.save:
            record = {
                "batch_losses": h.batch_losses,
                "train_loss": h.train_loss,
                "test_loss": h.test_loss,
                "test_metric": h.test_metric,
                "seconds": h.seconds,
            }
            save(
                model,
                args.save,
                optimizer=optimizer,
                rng=rng,
                epoch=epoch,
                scaler=scaler,
                target_scaler=target_scaler,
                info=info,
                history=record,
            )

    try:
        if progress is not None:
            progress.bar.start()
        history = fit(
            model,
            loss_fn,
            optimizer,
            X_train,
            y_train,
            epochs=epochs,
            batch_size=settings["batch_size"],
            rng=rng,
            X_test=X_test,
            y_test=y_test,
            task=task,
            history=history,
            frame_steps=frame_steps,
            on_batch=None if progress is None else progress.on_batch,
            on_epoch=on_epoch,
        )
    except Diverged as e:
        kept = ""
        if args.save:
            last = e.history.epochs
            if last > done:
                kept = (
                    f"; {args.save} keeps epoch {last}, the last with a finite loss "
                    f"(continue it with --resume {args.save} --lr <smaller>)"
                )
            elif os.path.exists(args.save):
                kept = f"; {args.save} was left as it was"
            else:
                kept = "; nothing was saved"
        raise Failure(f"{e}{kept}") from None
    finally:
        if progress is not None:
            progress.bar.stop()

    if args.history:
        write_history_csv(history, args.history)
    if args.plot:
        plot_history(history, args.plot, title=describe_run(settings, model), test_rows=len(X_test))
    if args.gif:
        train_gif(args.gif, model, history, X_test[0], y_test[0], describe_run(settings, model))
    seconds = history.seconds[-1]
    metric_key = f"test_{history.metric}"
    if args.json:
        print(
            json.dumps(
                {
                    "dataset": data.name,
                    "task": task,
                    "epochs": history.epochs,
                    "train_loss": history.train_loss[-1],
                    "test_loss": history.test_loss[-1],
                    metric_key: history.test_metric[-1],
                    "seconds": seconds,
                    "train_rows": len(X_train),
                    "test_rows": len(X_test),
                    "settings": settings,
                    "saved": args.save,
                }
            )
        )
    else:
        saved = f"; saved {args.save}" if args.save else ""
        print(
            f"test {metric_name} {history.test_metric[-1]:.4f} on {len(X_test)} rows after "
            f"{history.epochs} epochs ({seconds:.1f} s){saved}"
        )
    return 0


def train_gif(path: str, model: Any, history: Any, x: Any, target: Any, title: str) -> None:
    """The network learning, drawn by ``backprop.viz`` from the frames ``fit`` recorded, with
    the first test row on its input neurons (a row it never trains on)."""
    from ..viz import animate

    terminal = sys.stderr.isatty()
    shown = int(target) if history.task == "classification" else np.atleast_1d(target)
    size = animate(
        model,
        history.frames,
        history.batch_losses,
        path,
        inputs=x,
        targets=shown,
        title=title,
        progress=terminal,
    )
    if terminal:
        print(f"wrote {path} ({size / 2**20:.1f} MiB)", file=sys.stderr)


def add_train_parser(sub: Any) -> None:
    p = sub.add_parser(
        "train",
        help="train a network on a bundled dataset or a CSV file",
        description="Train a multilayer perceptron with backprop's hand-written backward passes "
        "on one of scikit-learn's bundled datasets or on a CSV file, testing on a held-out "
        "split after every epoch. The defaults (--hidden 128,64 --activation relu --optimizer "
        f"adam --lr 0.001 --batch-size 32 --epochs {DEFAULT_EPOCHS} --dtype float32 --seed 0 "
        "--test-size 0.2) reach 0.978 test accuracy on digits. A --save checkpoint "
        "continues with --resume exactly as if the run had not stopped.",
    )
    p.add_argument(
        "--data",
        metavar="NAME|PATH.csv",
        help="digits, iris, wine, breast_cancer, diabetes, or a CSV file with a header row",
    )
    p.add_argument(
        "--target", metavar="COLUMN", help="the CSV column to predict (default: the last one)"
    )
    p.add_argument(
        "--task",
        choices=["classification", "regression"],
        help="default: classification if the target holds at most 20 distinct whole numbers",
    )
    p.add_argument(
        "--hidden",
        type=hidden_sizes,
        metavar="SIZES",
        help="hidden layer sizes, e.g. 128,64 (default), or none",
    )
    p.add_argument("--activation", choices=["relu", "tanh", "sigmoid"], help="default: relu")
    p.add_argument(
        "--loss",
        choices=["cross_entropy", "mse"],
        help="default: cross_entropy for classification, mse for regression",
    )
    p.add_argument("--optimizer", choices=["adam", "sgd"], help="default: adam")
    p.add_argument(
        "--lr", type=positive_float, help="learning rate (default: 0.001 for adam, 0.01 for sgd)"
    )
    p.add_argument("--momentum", type=non_negative_float, help="SGD momentum (default: 0.9)")
    p.add_argument("--weight-decay", type=non_negative_float, help="L2 weight decay (default: 0)")
    p.add_argument("--batch-size", type=positive_int, help="rows per batch (default: 32)")
    p.add_argument(
        "--epochs",
        type=positive_int,
        help=f"epochs in total, counting those of --resume (default: {DEFAULT_EPOCHS})",
    )
    p.add_argument(
        "--seed",
        type=non_negative_int,
        help="seed of the split, the initial weights and the shuffles (default: 0)",
    )
    p.add_argument(
        "--test-size", type=fraction, help="fraction of rows held out for testing (default: 0.2)"
    )
    p.add_argument("--dtype", choices=["float32", "float64"], help="default: float32")
    p.add_argument(
        "--save",
        metavar="PATH.npz",
        help="write a checkpoint after every epoch (atomically: the last one is never lost)",
    )
    p.add_argument(
        "--resume",
        metavar="PATH.npz",
        help="continue the run saved in this checkpoint, with its settings (--lr may be "
        "lowered), up to --epochs",
    )
    p.add_argument("--history", metavar="PATH.csv", help="write the per-epoch losses as CSV")
    p.add_argument("--plot", metavar="PATH.png", help="draw the loss and accuracy curves")
    p.add_argument(
        "--gif",
        metavar="PATH.gif",
        help="draw the network learning, as an animated GIF (layers of at most 64 units)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object at the end (the epoch lines go to stderr)",
    )
    p.set_defaults(func=cmd_train)
