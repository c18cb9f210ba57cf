"""``backprop bugs``: the lab of classic backward-pass mistakes.

``backprop bugs`` lists them; ``backprop bugs NAME`` shows the diff against the correct code and
runs the four checks (central differences, PyTorch, two steps, the training curve), saying which
catches the mistake and which does not; ``backprop bugs --table`` prints the README's table.
Both run the check against PyTorch, so both need the ``[torch]`` extra; the list does not.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from ..extras import require
from .common import UsageError, seed

# Running a bug, or the table, includes the check against PyTorch's autograd: without torch the
# lab would say "caught by: none" of a bug only PyTorch catches (dropout-not-rescaled).
NEEDS_TORCH = "the check against PyTorch"


def add_bugs_parser(sub: Any) -> None:
    p = sub.add_parser(
        "bugs",
        help="a lab of classic backward-pass mistakes, and which check catches each",
        description="Without NAME, list the lab's bugs. With NAME, show the diff from the "
        "correct code to the bug, then run four checks on it (central differences, PyTorch, "
        "two training steps, the training curve) and say which catch it. --table prints the "
        "table of which check catches which bug, from real runs.",
    )
    p.add_argument("name", nargs="?", metavar="NAME", help="the bug to run")
    p.add_argument("--table", action="store_true", help="print the Markdown table of every bug")
    p.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="seed of the shapes and values (default: 0)",
    )
    p.add_argument("--json", action="store_true", help="with NAME: the outcomes as JSON")
    p.set_defaults(func=cmd_bugs)


def cmd_bugs(args: argparse.Namespace) -> int:
    from ..bugs import BUGS, BY_NAME

    if args.table:
        if args.name:
            raise UsageError("--table takes no NAME")
        require(NEEDS_TORCH, "torch")
        from ..bugs.lab import table

        print(table(args.seed), end="")
        return 0
    if args.name is None:
        width = max(len(b.name) for b in BUGS)
        for b in BUGS:
            print(f"{b.name:<{width}}  {b.title}")
        print("\nbackprop bugs NAME shows one: the diff, then which check catches it.")
        return 0
    bug = BY_NAME.get(args.name)
    if bug is None:
        raise UsageError(f"unknown bug {args.name!r}; the lab's bugs: {', '.join(BY_NAME)}")
    require(NEEDS_TORCH, "torch")
    from ..bugs.lab import run

    outcomes = run(bug, args.seed)
    if args.json:
        print(
            json.dumps(
                {
                    "name": bug.name,
                    "title": bug.title,
                    "checks": [
                        {
                            "check": o.check,
                            "caught": o.caught,
                            "summary": o.summary,
                            "report": None if o.report is None else o.report.to_dict(),
                        }
                        for o in outcomes
                    ],
                },
                indent=2,
                ensure_ascii=False,
            )
        )
        return 0
    print(f"{bug.name}: {bug.title}\n")
    print(bug.diff())
    for o in outcomes:
        verdict = "CAUGHT" if o.caught else "passes"
        print(f"{LABELS[o.check]:<22} {verdict:<7} {o.summary}")
    caught = [LABELS[o.check] for o in outcomes if o.caught]
    missed = [LABELS[o.check] for o in outcomes if not o.caught]
    print(f"\ncaught by: {', '.join(caught) or 'none'}; missed by: {', '.join(missed) or 'none'}")
    shown = next((o for o in outcomes if o.check == bug.found_by), None)
    if shown is not None and shown.report is not None:
        print(f"\n{shown.report}")
    return 0


LABELS = {
    "differences": "central differences",
    "pytorch": "PyTorch",
    "two-step": "two steps",
    "curve": "training curve",
}
