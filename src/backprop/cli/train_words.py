"""``backprop train --data words[:PATH.txt]``: the character-level network of "Becoming a
backprop ninja" trained on a word list, then sampled.

Called by ``cmd_train`` when ``--data`` names a word list; the options that only make sense
for tables (``--model``, ``--target``, ``--task``, ``--activation``, ``--loss``, ``--gif``,
``--resume``) are refused, with the reason, before anything is read.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

import numpy as np

from .common import Failure, UsageError, epochs_text

# The settings of a word-list run and their defaults (those of the ninja's notebook, but the
# epochs: 10 passes over the census names' training words are about 9,000 steps).
WORD_DEFAULTS: dict[str, Any] = {
    "context": 3,
    "hidden": [200],
    "optimizer": "sgd",
    "lr": 0.1,
    "momentum": 0.0,
    "weight_decay": None,  # the optimizer's (train.DEFAULT_WEIGHT_DECAY)
    "batch_size": 32,
    "epochs": 10,
    "seed": 0,
    "test_size": 0.1,
    "dtype": "float32",
    "samples": 10,
}
TABLE_ONLY = ("model", "target", "task", "activation", "loss", "gif", "kernels", "resume")


def word_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The run's settings: the options given, WORD_DEFAULTS for the rest; a UsageError for an
    option that applies to tables only."""
    for key in TABLE_ONLY:
        if getattr(args, key, None) not in (None, False):
            option = "--" + key.replace("_", "-")
            raise UsageError(
                f"{option} applies to tables (bundled datasets and CSV files), not word lists"
            )
    settings = {k: getattr(args, k) for k in WORD_DEFAULTS if getattr(args, k, None) is not None}
    settings = {**WORD_DEFAULTS, **settings}
    if settings["batch_size"] < 2:
        raise UsageError(
            "--batch-size 1: the word network's BatchNorm1d normalises with the statistics of "
            "its batch, which needs 2 examples or more"
        )
    if len(settings["hidden"]) != 1:
        raise UsageError(
            f"--hidden: the word network has one hidden layer; give one size, not "
            f"{','.join(map(str, settings['hidden'])) or 'none'}"
        )
    optimizer = settings["optimizer"]
    if "lr" not in vars(args) or args.lr is None:
        from ..train import DEFAULT_LR

        settings["lr"] = 0.1 if optimizer == "sgd" else DEFAULT_LR[optimizer]
    from ..train import DEFAULT_WEIGHT_DECAY, WITH_MOMENTUM

    if settings["weight_decay"] is None:
        settings["weight_decay"] = DEFAULT_WEIGHT_DECAY[optimizer]

    if settings["momentum"] and optimizer not in WITH_MOMENTUM:
        raise UsageError(f"--momentum applies to --optimizer {' or '.join(WITH_MOMENTUM)} only")
    settings["data"] = args.data
    return settings


def word_memory(settings: dict[str, Any], train_words: list[str], test_words: list[str]) -> int:
    """Bytes a word-list run needs, about: the network's (``run.mlp_memory``, its input the
    embedded context) and the data's. One example per letter and one per word's end, each
    example's context as a Python list while they are made, then as int64 arrays, and each
    epoch's shuffled copy of the training examples."""
    from ..run import mlp_memory

    context = settings["context"]
    rows = [sum(len(w) + 1 for w in part) for part in (train_words, test_words)]
    data = (2 * rows[0] + rows[1]) * context * 8 + sum(rows) * (context * 8 + 64)
    sizes = [10 * context, settings["hidden"][0], 27]
    return mlp_memory(sizes, settings["dtype"], settings["batch_size"], rows[0], rows[1], data=data)


def cmd_train_words(args: argparse.Namespace) -> int:
    from ..arrays import MemoryLimitError, check_memory
    from ..checkpoint import save
    from ..data import DataError
    from ..losses import CrossEntropyLoss
    from ..train import Diverged, FitHistory, fit, make_optimizer, write_history_csv
    from ..words import examples, load_words, network, sample, split_words

    settings = word_settings(args)
    if args.data.startswith("words:") and not args.data[len("words:") :]:
        raise UsageError("--data words: needs a path after the colon (words:PATH.txt)")
    context, seed = settings["context"], settings["seed"]
    try:
        name, words = load_words(args.data)
    except DataError as e:
        raise Failure(str(e)) from None
    repeated = len(words) - len(dict.fromkeys(words))  # split_words keeps one of each
    try:
        train_words, test_words = split_words(words, settings["test_size"], seed)
    except DataError as e:
        raise Failure(f"{name}: {e}") from None
    estimate = word_memory(settings, train_words, test_words)
    try:
        check_memory(f"--hidden {settings['hidden'][0]} --context {context} on {name}", estimate)
    except MemoryLimitError as e:
        raise UsageError(str(e)) from None
    X_train, y_train = examples(train_words, context)
    X_test, y_test = examples(test_words, context)
    rng = np.random.default_rng(seed)
    hidden = settings["hidden"][0]
    model = network(context, hidden=hidden, rng=rng, dtype=settings["dtype"])
    optimizer = make_optimizer(
        settings["optimizer"],
        model.parameters(),
        lr=settings["lr"],
        momentum=settings["momentum"],
        weight_decay=settings["weight_decay"],
    )
    epochs = settings["epochs"]
    describe = (
        f"{name}: {len(train_words)} words ({len(X_train)} examples"
        f"{f'; {repeated} repeated words left out' if repeated else ''}), context {context}, "
        f"Embedding(27, 10) → Linear({10 * context}, {hidden}) → BatchNorm1d → Tanh → "
        f"Linear({hidden}, 27), {settings['optimizer']} lr {settings['lr']:g}, "
        f"batch {settings['batch_size']}, seed {seed}"
    )
    report = sys.stderr if args.json else sys.stdout
    print(describe, file=report, flush=True)

    def on_epoch(epoch: int, h: FitHistory) -> None:
        print(
            f"epoch {epoch:>{len(str(epochs))}}/{epochs}  train loss {h.train_loss[-1]:.4f}  "
            f"test loss {h.test_loss[-1]:.4f}  test accuracy {h.test_metric[-1]:.4f}  "
            f"({h.seconds[-1]:.1f} s)",
            file=report,
            flush=True,
        )
        if args.save:
            save(
                model,
                args.save,
                optimizer=optimizer,
                rng=rng,
                epoch=epoch,
                info={"words": settings},
            )

    try:
        history = fit(
            model,
            CrossEntropyLoss(),
            optimizer,
            X_train,
            y_train,
            epochs=epochs,
            batch_size=settings["batch_size"],
            rng=rng,
            X_test=X_test,
            y_test=y_test,
            task="classification",
            on_epoch=on_epoch,
        )
    except Diverged as e:
        raise Failure(str(e)) from None
    model.eval()
    samples = sample(model, context, np.random.default_rng(seed), count=settings["samples"])
    if args.history:
        write_history_csv(history, args.history)
    if args.plot:
        from ..viz import plot_history

        title = (
            f"{name} ({len(train_words)} training words), context {context}, seed {seed}\n"
            f"Embedding(27, 10) → Linear({10 * context}, {hidden}) → BatchNorm1d → Tanh → "
            f"Linear({hidden}, 27), {settings['optimizer']} lr {settings['lr']:g}, "
            f"batch {settings['batch_size']}"
        )
        plot_history(history, args.plot, title=title, test_rows=len(X_test))
    if args.json:
        print(
            json.dumps(
                {
                    "dataset": name,
                    "words": len(words),
                    "epochs": history.epochs,
                    "train_loss": history.train_loss[-1],
                    "test_loss": history.test_loss[-1],
                    "test_accuracy": history.test_metric[-1],
                    "seconds": history.seconds[-1],
                    "samples": samples,
                    "settings": settings,
                    "saved": args.save,
                }
            )
        )
    else:
        if samples:
            # a word that ended at once (the end mark drawn first) shown as ""
            shown = " ".join(word or '""' for word in samples)
            print(f"samples (seed {seed}): {shown}")
        saved = f"; saved {args.save}" if args.save else ""
        print(
            f"test loss {history.test_loss[-1]:.4f} on {len(X_test)} examples from "
            f"{len(test_words)} held-out words after {epochs_text(history.epochs)} "
            f"({history.seconds[-1]:.1f} s){saved}"
        )
    return 0
