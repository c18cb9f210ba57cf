"""The ``backprop`` command: parse the arguments, call the library, print. No logic of its own.

Exit codes: 0 success, 1 a failure (the loss diverged, a gradient check failed, a file could not
be written), 2 bad usage (an unknown option, a value out of range). Errors are one line on stderr.

One module per subcommand (``slp``, ``gradcheck``, ``train``, ``predict``, ``explain``), each
with its ``add_<name>_parser(sub)`` and ``cmd_<name>(args)``; ``common`` holds what they share.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence

from .common import Failure, Parser, UsageError
from .explain import add_explain_parser, cmd_explain
from .gradcheck import add_gradcheck_parser, cmd_gradcheck
from .predict import add_predict_parser, cmd_predict
from .slp import add_slp_parser, cmd_slp
from .train import add_train_parser, cmd_train

__all__ = [
    "Failure",
    "Parser",
    "UsageError",
    "build_parser",
    "cmd_explain",
    "cmd_gradcheck",
    "cmd_predict",
    "cmd_slp",
    "cmd_train",
    "main",
]


def build_parser() -> Parser:
    parser = Parser(
        prog="backprop",
        description="Neural-network training in NumPy with every backward pass written by hand.",
    )
    parser.add_argument("--version", action="version", version="backprop 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    add_slp_parser(sub)
    add_gradcheck_parser(sub)
    add_train_parser(sub)
    add_predict_parser(sub)
    add_explain_parser(sub)
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
