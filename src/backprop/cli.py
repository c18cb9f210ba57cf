"""The ``backprop`` command: parse the arguments, call the library, print. No logic of its own.

Exit codes: 0 success, 1 a failure (the loss diverged, a gradient check failed, a file could not
be written), 2 bad usage (an unknown option, a value out of range). Errors are one line on stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, NoReturn

import numpy as np

if TYPE_CHECKING:
    from .slp import SLPRun


class UsageError(Exception):
    """Bad input from the user: exit code 2."""


class Failure(Exception):
    """The command ran but did not succeed: exit code 1."""


class Parser(argparse.ArgumentParser):
    """argparse, with errors as one line ("backprop slp: error: ...") and exit code 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message}\n")


def positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not (value > 0 and np.isfinite(value)):
        raise argparse.ArgumentTypeError(f"must be a positive number, got {text}")
    return value


def non_negative_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be >= 0, got {value}")
    return value


# ----------------------------------------------------------------------------------------- slp


def add_slp_options(p: argparse.ArgumentParser) -> None:
    """The post's parameters, shared by the commands that rerun its experiment."""
    from .slp import POST

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
        type=non_negative_int,
        default=POST["seed"],
        help="seed of np.random.seed (default: %(default)s)",
    )


RECORD_LIMIT = 2**30  # bytes of recorded training that `slp --gif` may hold


def cmd_slp(args: argparse.Namespace) -> int:
    from .slp import Diverged, report_lines, run_slp

    if args.gif or args.plot:
        # the pictures' checks come first, so a bad path costs no training
        from .viz import SUFFIXES, check_drawable
        from .viz.files import check_suffix, check_writable

        if args.gif:
            check_suffix(args.gif, [".gif"])
            check_drawable([args.dim, args.dim])
            # the GIF is drawn from a record of every iteration (weights, bias, outputs, grads)
            floats = (args.epochs + 1) * (2 * args.dim**2 + (2 + args.samples) * args.dim)
            if 8 * floats > RECORD_LIMIT:
                raise UsageError(
                    f"--gif records every iteration: {args.epochs} iterations at --dim "
                    f"{args.dim} would need {8 * floats / 2**30:.1f} GiB; use fewer --epochs"
                )
            check_writable(args.gif)
        if args.plot:
            check_suffix(args.plot, SUFFIXES)
            check_writable(args.plot)
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


def slp_pictures(run: SLPRun, args: argparse.Namespace) -> None:
    from .viz import animate_slp, plot_losses

    terminal = sys.stderr.isatty()
    if args.gif:
        size = animate_slp(run, args.gif, progress=terminal)
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


# ----------------------------------------------------------------------------------- gradcheck


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from .gradcheck import builtin_reports

    reports = builtin_reports(seed=args.seed)
    if args.json:
        print(
            json.dumps(
                [
                    {
                        "subject": r.subject,
                        "threshold": r.threshold,
                        "passed": r.passed,
                        "gradients": [
                            {"name": row.name, "shape": list(row.shape), "rel_error": row.rel_error}
                            for row in r.rows
                        ],
                    }
                    for r in reports
                ]
            )
        )
    else:
        width = max(len(r.subject) for r in reports)
        print(f"{'subject':<{width}}  {'gradient':<10} {'shape':<10} {'rel. error':>10}  result")
        for r in reports:
            for row in r.rows:
                verdict = "ok" if row.passed(r.threshold) else "FAIL"
                shape = "x".join(map(str, row.shape))
                print(
                    f"{r.subject:<{width}}  {row.name:<10} {shape:<10} {row.rel_error:>10.1e}  {verdict}"
                )
        worst = max(r.max_rel_error for r in reports)
        print(f"worst relative error {worst:.1e} (threshold {reports[0].threshold:.0e})")
    failed = [r.subject for r in reports if not r.passed]
    if failed:
        raise Failure(f"gradient check failed for {', '.join(failed)}")
    return 0


# ------------------------------------------------------------------------------------- explain


def step_number(text: str) -> int:
    from .explain import MAX_STEP

    value = non_negative_int(text)
    if value > MAX_STEP:
        raise argparse.ArgumentTypeError(f"must be <= {MAX_STEP}, got {value}")
    return value


def cmd_explain(args: argparse.Namespace) -> int:
    from .explain import explain_step, render_plain, render_rich, to_json
    from .slp import Diverged

    try:
        step = explain_step(args.dim, args.samples, args.lr, args.seed, args.step)
    except Diverged as e:
        raise Failure(
            f"the loss became {e.loss} at iteration {e.step}, before the end of step {args.step}: "
            f"lr={e.lr:g} is too large for this problem; try a smaller --lr or an earlier --step"
        ) from None
    if args.json:
        print(json.dumps(to_json(step)))
    elif sys.stdout.isatty():
        render_rich(step)
    else:
        sys.stdout.write(render_plain(step))
    return 0


# ---------------------------------------------------------------------------------------- main


def build_parser() -> Parser:
    parser = Parser(
        prog="backprop",
        description="Neural-network training in NumPy with every backward pass written by hand.",
    )
    parser.add_argument("--version", action="version", version="backprop 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True

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

    p = sub.add_parser(
        "gradcheck",
        help="check every built-in layer and loss against central differences",
        description="Check the hand-written backward pass of every built-in layer and loss "
        "against central differences in float64, and print the relative errors.",
    )
    p.add_argument(
        "--seed",
        type=non_negative_int,
        default=0,
        help="seed of the random shapes and values (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_gradcheck)

    p = sub.add_parser(
        "explain",
        help="one training step of the post's perceptron, every equation with its numbers",
        description="Print one training step of the post's single-layer perceptron as a worked "
        "example following docs/notes.md: each equation with its shapes and the real numbers, "
        "from the forward pass to the loss after the update, and the predicted per-step loss "
        "ratio next to the measured one. Laid out with colour on a terminal, plain text when piped.",
    )
    add_slp_options(p)
    from .explain import MAX_STEP

    p.add_argument(
        "--step",
        type=step_number,
        default=0,
        metavar="K",
        help=f"explain update K (0 to {MAX_STEP}), counted from 0 as the post's iterations are "
        "(default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print the numbers as one JSON object")
    p.set_defaults(func=cmd_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Callable[[argparse.Namespace], int] = args.func
    prog = f"backprop {args.command}"
    try:
        return func(args)
    except BrokenPipeError:
        # The reader went away (`backprop slp | head`): stop quietly, as Unix tools do.
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        return 0
    except (UsageError, ValueError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 2
    except (Failure, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
