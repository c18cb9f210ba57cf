"""The ``backprop`` command: parse the arguments, call the library, print. No logic of its own.

Exit codes: 0 success, 1 a failure (the loss diverged, a gradient check failed, a file could not
be written, an option needs a package that is not installed), 2 bad usage (an unknown option, a value out of range). Errors are one line on stderr.

One module per subcommand (``slp``, ``gradcheck``, ``train``, ``predict``, ``explain``,
``check``, ``bugs``, ``playground``), each with its ``add_<name>_parser(sub)`` and ``cmd_<name>(args)``; ``common``
holds what they share.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable, Sequence
from importlib import import_module

from ..extras import MissingExtra
from .common import Failure, Parser, UsageError

__all__ = ["COMMANDS", "Failure", "Parser", "UsageError", "build_parser", "main"]

# Each subcommand lives in its own module, with add_<name>_parser(sub) and cmd_<name>(args).
# Only the module of the command being run is imported, so `backprop slp` does not pay for
# building (and importing) the training command's options.
COMMANDS = ("slp", "gradcheck", "train", "predict", "explain", "check", "bugs", "playground")


def build_parser(only: str | None = None) -> Parser:
    """The parser of every subcommand, or of ``only`` that one (same options, same messages)."""
    parser = Parser(
        prog="backprop",
        description="Neural-network training in NumPy with every backward pass written by hand.",
    )
    parser.add_argument("--version", action="version", version="backprop 0.1.0")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    for name in COMMANDS if only is None else (only,):
        getattr(import_module(f".{name}", __name__), f"add_{name}_parser")(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(first if first in COMMANDS else None)
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
    except (Failure, MissingExtra, OSError) as e:
        print(f"{prog}: error: {e}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print(f"{prog}: interrupted", file=sys.stderr)
        return 130
