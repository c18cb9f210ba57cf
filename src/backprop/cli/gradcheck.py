"""``backprop gradcheck``: every built-in layer and loss against central differences."""

from __future__ import annotations

import argparse
import json
from typing import Any

from .common import Failure, seed


def add_gradcheck_parser(sub: Any) -> None:
    p = sub.add_parser(
        "gradcheck",
        help="check every built-in layer and loss against central differences",
        description="Check the hand-written backward pass of every built-in layer and loss "
        "against central differences in float64, and print the relative errors.",
    )
    p.add_argument(
        "--seed",
        type=seed,
        default=0,
        help="seed of the random shapes and values (default: %(default)s)",
    )
    p.add_argument("--json", action="store_true", help="print the results as JSON")
    p.set_defaults(func=cmd_gradcheck)


def cmd_gradcheck(args: argparse.Namespace) -> int:
    from ..gradcheck import builtin_reports

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
