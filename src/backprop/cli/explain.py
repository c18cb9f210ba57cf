"""``backprop explain``: one training step of the post's perceptron, every equation with its
numbers."""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from .common import Failure, UsageError, non_negative_int
from .slp import add_slp_options, check_run_memory


def step_number(text: str) -> int:
    from ..explain import MAX_STEP

    value = non_negative_int(text)
    if value > MAX_STEP:
        raise argparse.ArgumentTypeError(f"must be <= {MAX_STEP}, got {value}")
    return value


def add_explain_parser(sub: Any) -> None:
    p = sub.add_parser(
        "explain",
        help="one training step of the post's perceptron, every equation with its numbers",
        description="Print one training step of the post's single-layer perceptron as a worked "
        "example following docs/notes.md: each equation with its shapes and the real numbers, "
        "from the forward pass to the loss after the update, and the predicted per-step loss "
        "ratio next to the measured one. Laid out with colour on a terminal, plain text when piped.",
    )
    add_slp_options(p)
    from ..explain import MAX_STEP

    p.add_argument(
        "--step",
        type=step_number,
        default=0,
        metavar="K",
        help=f"explain update K (0 to {MAX_STEP}), counted from 0 as the post's iterations are "
        "(default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print the numbers as one JSON object")
    p.add_argument(
        "--graph",
        nargs="?",
        const="-",
        metavar="PNG",
        help="print the step's computational graph instead, every value with its gradient; "
        "with a file name (.png), draw it there (needs the viz extra)",
    )
    from ..explain_layer import EXAMPLES

    p.add_argument(
        "--layer",
        metavar="NAME",
        help="instead, one forward and backward pass of one layer on a tiny input, every "
        f"intermediate value printed: {', '.join(EXAMPLES)} (the step's options do not apply)",
    )
    p.set_defaults(func=cmd_explain)


def cmd_explain(args: argparse.Namespace) -> int:
    from ..explain import explain_memory, explain_step, render_plain, render_rich, to_json
    from ..extras import available, require
    from ..slp import Diverged

    if args.layer is not None:
        return _explain_layer(args)
    if args.graph not in (None, "-") and not args.graph.lower().endswith(".png"):
        raise UsageError(f"--graph: {args.graph}: the figure is written as PNG; name a .png file")
    if args.graph is not None and args.json:
        raise UsageError("--graph and --json: choose one")
    if args.graph not in (None, "-"):
        require("--graph", "matplotlib")
    check_run_memory(args.dim, args.samples, 0, explain_memory)
    if args.graph not in (None, "-"):
        from ..files import check_writable

        try:
            check_writable(args.graph)
        except OSError as e:
            raise Failure(f"--graph: {e}") from None
    try:
        step = explain_step(args.dim, args.samples, args.lr, args.seed, args.step)
    except Diverged as e:
        raise Failure(
            f"the loss became {e.loss} at iteration {e.step}, before the end of step {args.step}: "
            f"lr={e.lr:g} is too large for this problem; try a smaller --lr or an earlier --step"
        ) from None
    if args.graph == "-":
        from ..explain import render_graph

        sys.stdout.write(render_graph(step))
    elif args.graph is not None:
        from ..viz.graph import draw_graph

        draw_graph(step, args.graph)
        print(f"wrote {args.graph}", file=sys.stderr)
    elif args.json:
        print(json.dumps(to_json(step)))
    elif sys.stdout.isatty() and available("rich"):  # panels need the [cli] extra
        render_rich(step)
    else:
        sys.stdout.write(render_plain(step))
    return 0


def _explain_layer(args: argparse.Namespace) -> int:
    from ..explain_layer import EXAMPLES, explain_layer, render, to_json
    from ..slp import POST

    # the options of the post's step: a layer's example is fixed, so any of them given is a
    # mistake (one left at its default cannot be told from one not given)
    given = [
        f"--{name}"
        for name, unset in (*POST.items(), ("step", 0), ("graph", None))
        if getattr(args, name, unset) != unset
    ]
    if given:
        raise UsageError(
            f"--layer explains one layer on its own tiny input: {', '.join(given)} "
            f"{'does' if len(given) == 1 else 'do'} not apply"
        )
    name = args.layer.lower()
    if name not in EXAMPLES:
        raise UsageError(
            f"--layer: unknown layer {args.layer!r}; valid: {', '.join(sorted(EXAMPLES))}"
        )
    walkthrough = explain_layer(name)
    if args.json:
        print(json.dumps(to_json(walkthrough)))
    else:
        sys.stdout.write(render(walkthrough))
    return 0
