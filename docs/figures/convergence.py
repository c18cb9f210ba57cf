"""Draw docs/figures/convergence.png: the post's run against the formula of docs/notes.md.

    python docs/figures/convergence.py docs/figures/convergence.png

Left: the loss of the post's run (backprop.slp.run_slp, measured) and L₀ rᵏ with
r = (1 − 2η(‖x‖² + 1))² (predicted). Right: the per-step loss ratio over a range of learning
rates, measured on the first update of a real run and predicted by the same formula.
"""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import numpy as np

from backprop.slp import POST, run_slp


def main(out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    run = run_slp()
    x = run.inputs
    sq = float(np.square(x).sum())
    lr = POST["lr"]
    ratio = (1 - 2 * lr * (sq + 1)) ** 2
    threshold = 1 / (sq + 1)
    losses = np.array([run.initial_loss, *run.losses])
    steps = np.arange(len(losses))

    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.3), constrained_layout=True)

    left.semilogy(
        steps,
        run.initial_loss * ratio**steps,
        color="C0",
        lw=2,
        label=f"predicted: L₀ · {ratio:.5f}ᵏ",
    )
    every = 40
    left.semilogy(
        steps[::every],
        losses[::every],
        "o",
        color="C1",
        ms=5,
        label=f"measured: backprop slp (every {every}th step)",
    )
    worst = float(np.max(np.abs(losses[1:] / losses[:-1] / ratio - 1)))
    left.text(
        0.03, 0.05,
        f"measured L′/L against {ratio:.5f}:\nlargest relative difference\nover all {len(run.losses)} steps {worst:.1e}",
        transform=left.transAxes, fontsize=9, va="bottom",
    )  # fmt: skip
    left.set_xlabel("step k (updates made)")
    left.set_ylabel("loss L (log scale)")
    left.set_title(f"The post's run: η = {lr:g}, ‖x‖² = {sq:.4f}")
    left.legend(loc="upper right")
    left.grid(True, which="major", alpha=0.3)

    etas = np.linspace(0, 0.125, 400)
    right.plot(
        etas,
        (1 - 2 * etas * (sq + 1)) ** 2,
        color="C0",
        lw=2,
        label="predicted: (1 − 2η(‖x‖² + 1))²",
    )
    sample_etas = np.array(
        [0.001, 0.01, 0.02, 0.03, 0.04, 0.0541, 0.07, 0.08, 0.09, 0.1, 0.105, 0.11, 0.115, 0.12]
    )
    measured = []
    for eta in sample_etas:
        r = run_slp(lr=float(eta), epochs=1)
        measured.append(r.losses[0] / r.initial_loss)
    right.plot(
        sample_etas,
        measured,
        "o",
        color="C1",
        ms=5,
        label="measured: L after / L before, first step",
    )
    right.axhline(1, color="grey", lw=1)
    right.axvline(threshold, color="C3", ls="--", lw=1.2)
    right.text(
        threshold - 0.002, 1.25, f"η = 1/(‖x‖² + 1)\n= {threshold:.4f}\ndiverges to the right",
        color="C3", ha="right", va="center", fontsize=9,
    )  # fmt: skip
    right.annotate(
        f"the post: η = {lr:g}, ratio {ratio:.5f}",
        xy=(lr, ratio),
        xytext=(0.028, 0.78),
        arrowprops={"arrowstyle": "->", "color": "black"},
        fontsize=9,
    )
    one_step = 1 / (2 * (sq + 1))
    right.annotate(
        f"η = 1/(2(‖x‖² + 1)) = {one_step:.4f}:\nthe error is gone in one step",
        xy=(one_step, 0.0),
        xytext=(one_step, 0.3),
        ha="center",
        arrowprops={"arrowstyle": "->", "color": "black"},
        fontsize=9,
    )
    right.set_xlim(0, 0.125)
    right.set_ylim(0, 1.5)
    right.set_xlabel("learning rate η")
    right.set_ylabel("loss ratio per step, L′/L")
    right.set_title("One sample, target = input: ratio per step against η")
    right.legend(loc="upper left", fontsize=9)
    right.grid(True, alpha=0.3)

    fig.suptitle("Predicted against measured convergence of the post's perceptron")
    out.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(suffix=out.suffix, dir=out.parent)
    os.close(fd)
    try:
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, out)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    plt.close(fig)


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "docs/figures/convergence.png"))
