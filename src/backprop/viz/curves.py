"""The loss curve: as a still picture (PNG, SVG or PDF), and as a panel of an animation; and
the curves of a ``fit`` run, loss and test metric per epoch."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

import numpy as np

from ..arrays import Array
from ..files import atomic_write, check_suffix

if TYPE_CHECKING:
    from ..train import FitHistory

SUFFIXES = (".png", ".svg", ".pdf")
CURRENT = "#e66100"  # orange: the loss now


class LossPanel:
    """The loss curve in an animation: drawn up to the current step, on fixed axes.

    losses[s] is the loss after s updates; the axes span the whole run from the first frame,
    so the curve grows into a frame that does not move.
    """

    def __init__(self, ax: Any, losses: Array, total: int) -> None:
        self.losses, self.steps = losses, np.arange(len(losses))
        positive = losses[losses > 0]
        low, high = (positive.min(), positive.max()) if positive.size else (1e-3, 1.0)
        ax.set_yscale("log")
        ax.set_xlim(0, max(total, 1))
        ax.set_ylim(low / 1.6, high * 1.6)
        ax.set_xlabel("iteration (updates made)", fontsize=10)
        ax.set_ylabel("loss (log scale)", fontsize=10)
        ax.set_title("loss so far", fontsize=10)
        ax.tick_params(labelsize=9)
        ax.grid(True, which="major", alpha=0.3)
        (self.line,) = ax.plot([], [], color="black", lw=1.6)
        (self.dot,) = ax.plot([], [], "o", color=CURRENT, ms=7, zorder=3, clip_on=False)
        self.moving = [self.line, self.dot]

    def update(self, step: int, loss: float) -> None:
        upto = min(step, len(self.losses) - 1)
        self.line.set_data(self.steps[: upto + 1], self.losses[: upto + 1])
        self.dot.set_data([step], [loss])


def plot_losses(
    losses: Sequence[float],
    path: str | os.PathLike[str],
    *,
    title: str = "",
    xlabel: str = "iteration (updates made)",
    ylabel: str = "loss (log scale)",
) -> int:
    """Write the loss curve, losses[s] against s on a log-scaled y axis; returns the file size.

    The format follows the suffix: .png, .svg or .pdf (ValueError otherwise). The file has no
    date in it, so the same losses give the same bytes.
    """
    suffix = check_suffix(path, SUFFIXES)
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    y = np.asarray(losses, dtype=np.float64)
    fig = Figure(figsize=(7.0, 4.2), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.plot(np.arange(y.size), y, color="black", lw=1.6)
    ax.set_yscale("log")
    ax.set_xlim(0, max(y.size - 1, 1))
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    ax.grid(True, which="both", alpha=0.25)
    fig.tight_layout()
    fmt = suffix[1:]
    metadata: dict[str, Any] = {"png": {"Software": None}, "svg": {"Date": None}}.get(
        fmt, {"CreationDate": None}
    )

    def write(f: Any) -> None:
        import matplotlib

        with matplotlib.rc_context({"svg.hashsalt": "backprop"}):
            fig.savefig(f, format=fmt, metadata=metadata)

    return atomic_write(path, write)


def plot_history(
    history: FitHistory, path: str, title: str = "", test_rows: int | None = None
) -> None:
    """The loss per epoch (train and test, log scale) beside the test accuracy or R², as PNG.

    The epoch of the lowest test loss is marked: after it the network fits the training rows
    ever better and the test rows no better (it overfits). With ``test_rows``, the last
    accuracy is also given as a count of misclassified rows.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import MaxNLocator

    epochs = np.arange(1, history.epochs + 1)
    fig = Figure(figsize=(9.5, 4.0), dpi=110)
    FigureCanvasAgg(fig)
    ax_loss, ax_metric = fig.subplots(1, 2)
    ax_loss.plot(epochs, history.train_loss, "o-", ms=3, label="train (mean over the epoch)")
    if history.test_loss:
        ax_loss.plot(epochs, history.test_loss, "s-", ms=3, label="test (after the epoch)")
        low = int(np.argmin(history.test_loss))
        ax_loss.axvline(
            low + 1, color="0.5", ls=":", lw=1, label=f"lowest test loss (epoch {low + 1})"
        )
    ax_loss.set_yscale("log")
    ax_loss.set_xlabel("epoch")
    ax_loss.set_ylabel(
        "loss (log scale)"
        if history.task == "classification"
        else "MSE of the standardised target (log scale)"
    )
    ax_loss.set_title("loss")
    ax_loss.legend(fontsize=8)
    name = "accuracy" if history.task == "classification" else "R²"
    if history.test_metric:
        last = history.test_metric[-1]
        best = int(np.argmax(history.test_metric))
        ax_metric.plot(epochs, history.test_metric, "o-", ms=3, color="C2")
        note = f"last {last:.4f}"
        if test_rows and history.task == "classification":
            note += f" ({round((1 - last) * test_rows)} of {test_rows} wrong)"
        # In a corner box rather than beside the last point, where it would cross the curve.
        ax_metric.text(
            0.98, 0.04, note, transform=ax_metric.transAxes, ha="right", va="bottom",
            bbox={"facecolor": "white", "edgecolor": "0.8", "alpha": 0.9},
        )  # fmt: skip
        ax_metric.set_title(f"test {name} (best {history.test_metric[best]:.4f}, epoch {best + 1})")
    else:
        ax_metric.set_title(f"test {name}: no test split")
    ax_metric.set_xlabel("epoch")
    ax_metric.set_ylabel(f"test {name}")
    for ax in (ax_loss, ax_metric):
        ax.grid(True, which="both", alpha=0.25)
        ax.set_xlim(0.5, max(history.epochs, 1) + 0.5)
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()

    def write(f: Any) -> None:
        fig.savefig(f, format="png", metadata={"Software": None})

    atomic_write(path, write)
