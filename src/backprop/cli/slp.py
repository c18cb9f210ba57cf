"""``backprop slp``: rerun the post's single-layer perceptron and print what its program prints."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING, Any

from .common import Failure, UsageError, positive_float, positive_int, seed

if TYPE_CHECKING:
    from ..slp import SLPRun


def add_slp_options(p: argparse.ArgumentParser) -> None:
    """The post's parameters, shared by the commands that rerun its experiment."""
    from ..slp import POST

    p.add_argument(
        "--dim",
        type=positive_int,
        default=POST["dim"],
        help="D, input and output size (default: %(default)s)",
    )
    p.add_argument(
        "--samples",
        type=positive_int,
        default=POST["samples"],
        help="N, number of input vectors (default: %(default)s)",
    )
    p.add_argument(
        "--lr", type=positive_float, default=POST["lr"], help="learning rate (default: %(default)s)"
    )
    p.add_argument(
        "--seed",
        type=seed,
        default=POST["seed"],
        help="seed of np.random.seed (default: %(default)s)",
    )


def add_slp_parser(sub: Any) -> None:
    p = sub.add_parser(
        "slp",
        help="rerun the post's single-layer perceptron and print what its program prints",
        description="Train the post's single-layer perceptron (o = x @ W + b, target = x) with "
        "backprop's Linear, MSELoss and SGD, and print what the post's program prints.",
    )
    add_slp_options(p)
    p.add_argument(
        "--epochs",
        type=positive_int,
        default=1000,
        help="training iterations (default: %(default)s)",
    )
    p.add_argument(
        "--every",
        type=positive_int,
        default=1,
        metavar="N",
        help="print every N-th iteration (and the last) (default: %(default)s)",
    )
    p.add_argument(
        "--json", action="store_true", help="print one JSON object instead of the report"
    )
    p.add_argument(
        "--gif",
        metavar="PATH",
        help="also write an animated GIF of the network learning (PATH must end in .gif)",
    )
    p.add_argument(
        "--plot",
        metavar="PATH",
        help="also write the loss curve (PATH ending in .png, .svg or .pdf)",
    )
    p.set_defaults(func=cmd_slp)


def cmd_slp(args: argparse.Namespace) -> int:
    from ..extras import require

    # Every check before the run: the pictures' paths, the packages they need, the memory.
    from ..files import check_suffix, check_writable
    from ..history import GIF_FRAMES
    from ..slp import Diverged, report_lines, run_slp, slp_memory

    if args.gif or args.plot:
        from ..viz import SUFFIXES, check_drawable

        if args.gif:
            check_suffix(args.gif, [".gif"])
            check_drawable([args.dim, args.dim])
        if args.plot:
            check_suffix(args.plot, SUFFIXES)
        if args.gif:
            require("--gif", "matplotlib", "PIL")
        if args.plot:
            require("--plot", "matplotlib")
    frames = GIF_FRAMES if args.gif else 0
    check_run_memory(
        args.dim, args.samples, args.epochs, lambda d, n, e: slp_memory(d, n, e, frames)
    )
    for path in (args.gif, args.plot):
        if path:
            check_writable(path)
    try:
        run = run_slp(
            args.dim, args.samples, args.lr, args.epochs, args.seed, record=bool(args.gif)
        )
    except Diverged as e:
        raise Failure(str(e)) from None
    if args.json:
        print(
            json.dumps(
                {
                    "dim": args.dim,
                    "samples": args.samples,
                    "lr": args.lr,
                    "epochs": args.epochs,
                    "seed": args.seed,
                    "initial_loss": run.initial_loss,
                    "final_loss": run.final_loss,
                    "losses": run.losses,
                    "inputs": run.inputs.tolist(),
                    "outputs": run.outputs.tolist(),
                }
            )
        )
    else:
        print("\n".join(report_lines(run, args.every)))
    if args.gif or args.plot:
        sys.stdout.flush()
        slp_pictures(run, args)
    return 0


def check_run_memory(dim: int, samples: int, epochs: int, estimate: Any) -> None:
    """Bad usage, naming the options and the estimate, if the run would need more memory than
    ``backprop.arrays.MEMORY_LIMIT``."""
    from ..arrays import MemoryLimitError, check_memory

    given = f"--dim {dim} --samples {samples}" + (f" --epochs {epochs}" if epochs else "")
    try:
        check_memory(given, estimate(dim, samples, epochs))
    except MemoryLimitError as e:
        raise UsageError(str(e)) from None


def slp_pictures(run: SLPRun, args: argparse.Namespace) -> None:
    from ..extras import available
    from ..viz import animate_slp, plot_losses

    terminal = sys.stderr.isatty()
    if args.gif:
        size = animate_slp(run, args.gif, progress=terminal and available("rich"))
        if terminal:
            print(f"wrote {args.gif} ({size / 2**20:.1f} MiB)", file=sys.stderr)
    if args.plot:
        title = (
            f"The post's perceptron: D={args.dim}, N={args.samples}, lr={args.lr:g}, "
            f"{args.epochs} iterations, seed {args.seed}"
        )
        plot_losses(
            [run.initial_loss, *run.losses],
            args.plot,
            title=title,
            ylabel="loss  1/N Σₙ ‖oₙ − tₙ‖²  (log scale)",
        )
        if terminal:
            print(f"wrote {args.plot}", file=sys.stderr)
