"""The loss curve as a still picture (PNG, SVG or PDF)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from .files import atomic_write, check_suffix

SUFFIXES = (".png", ".svg", ".pdf")


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
