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
    epochs_text,
    fraction,
    hidden_sizes,
    momentum,
    non_negative_float,
    non_negative_int,
    positive_float,
    positive_int,
    seed,
)

# The most words a word-list run samples after training (each costs a forward pass per
# character, about a millisecond a word).
MAX_SAMPLES = 1000


def sample_count(text: str) -> int:
    value = non_negative_int(text)
    if value > MAX_SAMPLES:
        raise argparse.ArgumentTypeError(f"must be <= {MAX_SAMPLES}, got {value}")
    return value


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
    from ..checkpoint import CheckpointError
    from ..data import DataError
    from ..extras import available, require
    from ..run import DEFAULTS, ResumeError, SettingsError, start_run
    from ..train import Diverged, FitHistory, write_history_csv
    from ..viz import plot_history

    check_output(args.save, "--save", (".npz",))
    check_output(args.history, "--history", (".csv",))
    check_output(args.plot, "--plot", (".png",))
    check_output(args.gif, "--gif", (".gif",))
    if args.plot:
        require("--plot", "matplotlib")
    from ..words import is_words

    if is_words(args.data):
        from .train_words import cmd_train_words

        return cmd_train_words(args)
    for option in ("context", "samples"):
        if getattr(args, option) is not None:
            raise UsageError(f"--{option} applies to word lists (--data words or words:PATH.txt)")
    if args.gif and args.resume:
        raise UsageError("--gif draws a run from its first step; it cannot follow --resume")
    if args.resume is None and args.data is None:
        raise UsageError(
            "--data is required (a bundled dataset, a .csv file, or a word list: words or "
            "words:PATH.txt), or --resume"
        )
    # then the packages: a missing one costs no reading, splitting or training
    require("--data" if args.data is not None else "--resume", "sklearn")
    if args.gif:
        require("--gif", "matplotlib", "PIL")
    given = {key: getattr(args, key) for key in DEFAULTS if getattr(args, key) is not None}
    try:
        run = start_run(given, data=args.data, epochs=args.epochs, resume=args.resume)
    except SettingsError as e:
        raise UsageError(str(e)) from None
    except (ResumeError, CheckpointError, DataError) as e:
        raise Failure(str(e)) from None
    epochs, steps = run.epochs, run.steps_per_epoch
    X_train, X_test, y_test = run.prepared.X_train, run.prepared.X_test, run.prepared.y_test

    is_cnn = run.settings.get("model") == "cnn"
    check_output(args.kernels, "--kernels", (".png",))
    if args.kernels and not is_cnn:
        raise UsageError("--kernels draws a CNN's kernels; it needs --model cnn")
    frame_steps: list[int] = []
    if args.gif:
        from ..history import log_spaced_steps
        from ..viz import GIF_FRAMES, check_drawable
        from ..viz.cnn import CNN_GIF_FRAMES

        if not is_cnn:
            try:
                check_drawable(run.layer_sizes())
            except ValueError as e:
                raise UsageError(f"--gif: {e}; try a smaller --hidden") from None
        # the last step's loss is that of the last batch, so the frames end there
        frame_steps = log_spaced_steps(epochs * steps - 1, CNN_GIF_FRAMES if is_cnn else GIF_FRAMES)
    # the progress bar is drawn by rich (the [cli] extra); without it, none is drawn
    bar = sys.stderr.isatty() and available("rich")
    progress = TrainProgress(epochs, run.done, steps) if bar else None
    metric_name = "accuracy" if run.task == "classification" else "R²"

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
            run.save(args.save, epoch, h)

    try:
        if progress is not None:
            progress.bar.start()
        history = run.fit(
            frame_steps=frame_steps,
            on_batch=None if progress is None else progress.on_batch,
            on_epoch=on_epoch,
        )
    except Diverged as e:
        kept = ""
        if args.save:
            last = e.history.epochs if e.history is not None else run.done
            if last > run.done:
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
        plot_history(history, args.plot, title=run.describe(), test_rows=len(X_test))
    if args.gif and is_cnn:
        from ..viz.cnn import animate_cnn

        animate_cnn(run.model, history.frames, history.batch_losses, args.gif,
                    title=run.describe())  # fmt: skip
    elif args.gif:
        train_gif(args.gif, run.model, history, X_test[0], y_test[0], run.describe())
    if args.kernels:
        from ..viz.cnn import plot_cnn

        rows = slice(0, run.settings["batch_size"])
        grads = batch_kernel_gradients(run, run.prepared.X_train[rows], run.prepared.y_train[rows])
        label = f"{run.info['classes'][int(y_test[0])]:g}" if run.task == "classification" else ""
        plot_cnn(run.model, grads, args.kernels, image=X_test[0], label=str(label),
                 title=f"{run.describe()}: kernels, their gradients for the first training "
                 "batch, and the feature maps of the first test image")  # fmt: skip
    seconds = history.seconds[-1]
    metric_key = f"test_{history.metric}"
    if args.json:
        print(
            json.dumps(
                {
                    "dataset": run.data.name,
                    "task": run.task,
                    "epochs": history.epochs,
                    "train_loss": history.train_loss[-1],
                    "test_loss": history.test_loss[-1],
                    metric_key: history.test_metric[-1],
                    "seconds": seconds,
                    "train_rows": len(X_train),
                    "test_rows": len(X_test),
                    "settings": run.settings,
                    "saved": args.save,
                }
            )
        )
    else:
        saved = f"; saved {args.save}" if args.save else ""
        print(
            f"test {metric_name} {history.test_metric[-1]:.4f} on {len(X_test)} rows after "
            f"{epochs_text(history.epochs)} ({seconds:.1f} s){saved}"
        )
    return 0


def batch_kernel_gradients(run: Any, X: Any, y: Any) -> list[Any]:
    """dL/dW of every Conv2d of the trained model for one batch (the gradients are then
    cleared: the model is left as trained)."""
    from ..nn import Conv2d

    model, loss_fn = run.model, run.loss_fn
    loss_fn(model(X.astype(model.parameters()[0].dtype)), y)
    model.zero_grad()
    model.backward(loss_fn.backward())
    grads = [layer.weight.grad.copy() for layer in model if isinstance(layer, Conv2d)]
    model.zero_grad()
    return grads


def train_gif(path: str, model: Any, history: Any, x: Any, target: Any, title: str) -> None:
    """The network learning, drawn by ``backprop.viz`` from the frames ``fit`` recorded, with
    the first test row on its input neurons (a row it never trains on)."""
    from ..extras import available
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
        progress=terminal and available("rich"),
    )
    if terminal:
        print(f"wrote {path} ({size / 2**20:.1f} MiB)", file=sys.stderr)


def add_train_parser(sub: Any) -> None:
    from ..train import CNN_ARCHITECTURE, DEFAULT_EPOCHS

    p = sub.add_parser(
        "train",
        help="train a network on a bundled dataset or a CSV file",
        description="Train a multilayer perceptron (or, with --model cnn, a small convolutional "
        "network) with backprop's hand-written backward passes "
        "on one of scikit-learn's bundled datasets or on a CSV file, testing on a held-out "
        "split after every epoch. The defaults (--hidden 128,64 --activation relu --optimizer "
        f"adam --lr 0.001 --batch-size 32 --epochs {DEFAULT_EPOCHS} --dtype float32 --seed 0 "
        "--test-size 0.2) reach 0.978 test accuracy on digits. A --save checkpoint "
        "continues with --resume exactly as if the run had not stopped. On a word list "
        "(--data words or words:PATH.txt) it trains Embedding(27, 10) → Flatten → "
        "Linear(30, 200, bias=False) → BatchNorm1d(200) → Tanh → Linear(200, 27) to predict "
        "each next character (defaults: --context 3 --hidden 200 --optimizer sgd --lr 0.1 "
        "--epochs 10 --test-size 0.1), then prints words sampled from it.",
    )
    p.add_argument(
        "--model",
        choices=["mlp", "cnn"],
        help="mlp (default): Linear layers of --hidden sizes; cnn: for square images (digits: "
        f"1×8×8), {CNN_ARCHITECTURE}, pixels scaled by one mean and std for all of them, "
        "Adam lr 0.002 by default (0.989 test accuracy on digits, in a few times the MLP's time)",
    )
    p.add_argument(
        "--data",
        metavar="NAME|PATH.csv",
        help="digits, iris, wine, breast_cancer, diabetes, or a CSV file with a header row; "
        "or a word list: words (U.S. Census first names) or words:PATH.txt (one word of "
        "letters a-z per line), on which the network of 'Becoming a backprop ninja' learns "
        "to spell new words",
    )
    p.add_argument(
        "--context",
        type=positive_int,
        help="word lists: the characters the network sees before the next one (default: 3)",
    )
    p.add_argument(
        "--samples",
        type=sample_count,
        help=f"word lists: words to sample from the trained network, at most {MAX_SAMPLES} "
        "(default: 10)",
    )
    p.add_argument(
        "--target", metavar="COLUMN", help="the CSV column to predict (default: the last one)"
    )
    p.add_argument(
        "--task",
        choices=["classification", "regression"],
        help="default: classification if the target holds 2 to 20 distinct whole numbers, "
        "else regression",
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
    p.add_argument(
        "--optimizer",
        choices=["adam", "adamw", "sgd", "rmsprop", "adagrad"],
        help="default: adam (each with torch.optim's settings but --lr, --momentum and "
        "--weight-decay)",
    )
    p.add_argument(
        "--lr",
        type=positive_float,
        help="learning rate (default: 0.001 for adam and adamw, 0.002 for adam with --model cnn; "
        "0.01 for the others)",
    )
    p.add_argument(
        "--momentum",
        type=momentum,
        help="momentum of sgd (default: 0.9; 0 for a word list) or rmsprop (default: 0)",
    )
    p.add_argument(
        "--weight-decay",
        type=non_negative_float,
        help="weight decay: decoupled for adamw (default: 0.01), an L2 term in the gradient for "
        "the others (default: 0)",
    )
    p.add_argument("--batch-size", type=positive_int, help="rows per batch (default: 32)")
    p.add_argument(
        "--epochs",
        type=positive_int,
        help=f"epochs in total, counting those of --resume (default: {DEFAULT_EPOCHS})",
    )
    p.add_argument(
        "--seed",
        type=seed,
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
        "--kernels",
        metavar="PATH.png",
        help="with --model cnn: draw the trained kernels with their gradients for one batch "
        "beside them, and the feature maps of the first test image (--gif: kernels and "
        "gradients over training)",
    )
    p.add_argument(
        "--json",
        action="store_true",
        help="print one JSON object at the end (the epoch lines go to stderr)",
    )
    p.set_defaults(func=cmd_train)
