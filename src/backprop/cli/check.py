"""``backprop check FILE.py[::check_name]``: run the user's ``check_*`` functions through
``backprop.check`` and print a diagnosed table per check.

Each ``check_*`` function takes no arguments and returns (module, x), (module, x, reference),
(loss, pred, target) or (loss, pred, target, reference). Exit 0 when every check is ok, 1
otherwise; 2 when the file cannot be imported or a function raises or returns something else,
with the file, the line and the error. A sys.exit() in the user's code is one of those errors,
never the exit of the command.
"""

from __future__ import annotations

import argparse
import importlib.util
import inspect
import json
import os
import sys
import traceback
from dataclasses import dataclass
from typing import Any

from .common import Failure, UsageError

RETURNS = (
    "(module, x), (module, x, reference), (loss, pred, target) or (loss, pred, target, reference)"
)


def add_check_parser(sub: Any) -> None:
    p = sub.add_parser(
        "check",
        help="check your own backward pass and diagnose what is wrong",
        description="Import FILE.py and run every function whose name begins with check_ "
        "(or only FILE.py::check_name). Each returns " + RETURNS + "; every gradient is "
        "compared with central differences of your own forward pass in float64 (and with the "
        "reference, if given), and each wrong one is diagnosed: scaled, sign, transposed, "
        "unsummed, accumulated, wrong_point, batch_terms, partial, kink, precision or unknown. "
        "Exit code 0 "
        "when every check is ok, 1 otherwise, 2 for a file that cannot be imported or run.",
    )
    p.add_argument("target", metavar="FILE.py[::check_name]", help="the file with check_ functions")
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_check)


@dataclass
class Job:
    name: str
    args: dict[str, Any]
    line: int


def _where(path: str, exc: BaseException, fallback: int) -> str:
    """FILE:LINE of the innermost frame of ``exc`` in the user's file."""
    if isinstance(exc, SyntaxError) and exc.filename and os.path.samefile(exc.filename, path):
        return f"{path}:{exc.lineno}"
    # from the innermost frame out: the user's code, unless backprop's own code comes first
    ours = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for frame in reversed(traceback.extract_tb(exc.__traceback__)):
        where = os.path.abspath(frame.filename)
        if where == os.path.abspath(path) and frame.lineno:
            return f"{path}:{frame.lineno}"
        if where.startswith(ours + os.sep):
            break
    return f"{path}:{fallback}"


def _error(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"it called {_exit_call(exc)}"
    return f"{type(exc).__name__}: {exc}"


def _exit_call(exc: SystemExit) -> str:
    """``sys.exit(3)``: the call that raised ``exc`` (or ``raise SystemExit(3)``, the same)."""
    return f"sys.exit({'' if exc.code is None else repr(exc.code)})"


def load(path: str) -> Any:
    if not path.endswith(".py"):
        raise UsageError(f"{path!r} is not a Python file (FILE.py)")
    if not os.path.isfile(path):
        raise UsageError(f"no such file: {path!r}")
    folder = os.path.dirname(os.path.abspath(path))
    spec = importlib.util.spec_from_file_location("backprop_user_checks", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, folder)
    # no __pycache__ left beside the user's file
    dont_write, sys.dont_write_bytecode = sys.dont_write_bytecode, True
    try:
        spec.loader.exec_module(module)
    # SystemExit too: a sys.exit() in the user's file would otherwise end backprop with its code,
    # silently, and exit code 0 would read as every check passing
    except (Exception, SystemExit) as e:
        raise UsageError(f"{_where(path, e, 1)}: cannot import: {_error(e)}") from None
    finally:
        sys.path.remove(folder)
        sys.dont_write_bytecode = dont_write
    return module


def _interpret(path: str, name: str, line: int, value: Any) -> dict[str, Any]:
    import numpy as np

    bad = f"{path}:{line}: {name} returned"
    if not isinstance(value, tuple) or not 2 <= len(value) <= 4:
        what = f"a tuple of {len(value)}" if isinstance(value, tuple) else type(value).__name__
        raise UsageError(f"{bad} {what}; expected {RETURNS}")
    subject = value[0]
    if not (
        callable(getattr(subject, "forward", None)) and callable(getattr(subject, "backward", None))
    ):
        raise UsageError(f"{bad} {type(subject).__name__} first, which has no forward/backward")
    if not isinstance(value[1], np.ndarray) or value[1].dtype.kind != "f":
        raise UsageError(f"{bad} {type(value[1]).__name__} second; expected a float NumPy array")
    args: dict[str, Any] = {"module": subject, "x": value[1]}
    rest = list(value[2:])
    if rest and isinstance(rest[0], np.ndarray):
        args["target"] = rest.pop(0)
    elif len(value) == 4:
        raise UsageError(
            f"{bad} a 4-tuple whose third item is not a target array; expected {RETURNS}"
        )
    if rest:
        args["reference"] = rest[0]
    return args


def collect(spec: str) -> tuple[str, list[Job]]:
    path, _, only = spec.partition("::")
    module = load(path)
    funcs = {
        n: f
        for n, f in vars(module).items()
        if n.startswith("check_") and inspect.isfunction(f) and f.__module__ == module.__name__
    }
    if only:
        if only not in funcs:
            known = ", ".join(funcs) or "none"
            raise UsageError(f"{path}: no function {only!r} (check_ functions: {known})")
        funcs = {only: funcs[only]}
    if not funcs:
        raise UsageError(f"{path}: no function whose name begins with check_")
    jobs = []
    for name, f in sorted(funcs.items(), key=lambda kv: kv[1].__code__.co_firstlineno):
        line = f.__code__.co_firstlineno
        if inspect.signature(f).parameters:
            raise UsageError(f"{path}:{line}: {name} must take no arguments")
        try:
            value = f()
        except (Exception, SystemExit) as e:
            did = f"called {_exit_call(e)}" if isinstance(e, SystemExit) else f"raised {_error(e)}"
            raise UsageError(f"{_where(path, e, line)}: {name} {did}") from None
        jobs.append(Job(name, _interpret(path, name, line, value), line))
    return path, jobs


def cmd_check(args: argparse.Namespace) -> int:
    from ..check import CheckReport, check
    from ..extras import available

    path, jobs = collect(args.target)
    reports: list[CheckReport] = []
    for job in jobs:
        try:
            reports.append(check(**job.args, name=job.name))
        except (Exception, SystemExit) as e:  # the user's forward or backward ran sys.exit()
            raise Failure(
                f"{_where(path, e, job.line)}: while checking {job.name}: {_error(e)}"
            ) from None
    ok = all(r.ok for r in reports)
    if args.json:
        print(
            json.dumps(
                {"ok": ok, "checks": [r.to_dict() for r in reports]}, indent=2, ensure_ascii=False
            )
        )
    elif sys.stdout.isatty() and available("rich"):  # the table needs the [cli] extra
        render_rich(reports)
    else:
        print("\n\n".join(str(r) for r in reports))
    failed = [r.name for r in reports if not r.ok]
    if failed:
        raise Failure(f"{len(failed)} of {len(reports)} checks failed: {', '.join(failed)}")
    return 0


COLOURS = {"ok": "green", "suspicious": "yellow", "wrong": "red"}


def render_rich(reports: list[Any]) -> None:
    """A coloured table per check; the hints, too long for a column, below it."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    from ..check import kind_label

    console = Console()
    for r in reports:
        colour = "green" if r.ok else "red"
        table = Table(title=f"[bold]{r.name}[/]: [{colour}]{'ok' if r.ok else 'FAILED'}[/]")
        table.title_justify = "left"
        for col in ("tensor", "shape", "max abs diff", "rel. error", "verdict", "diagnosis"):
            table.add_column(
                col,
                justify="right" if "diff" in col or "error" in col else "left",
                no_wrap=col == "diagnosis",
            )
        for row in r.rows:
            c = COLOURS[row.verdict]
            table.add_row(
                row.name,
                "x".join(map(str, row.shape)) or "scalar",
                f"{row.max_abs_diff:.1e}",
                f"{row.relative_error:.1e}",
                f"[{c}]{row.verdict}[/{c}]",
                kind_label(row.diagnosis),
            )
        console.print(table)
        shown = set()
        for row in r.rows:
            if row.diagnosis.hint and row.diagnosis.hint not in shown:
                shown.add(row.diagnosis.hint)
                console.print(
                    Text(f"  {row.name}: ", style="bold"), Text(row.diagnosis.hint), sep=""
                )
        console.print()
