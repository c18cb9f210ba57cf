"""Running the lab: every check on one bug, and the table of which check catches which bug.

The four checks:
    differences   ``check`` against central differences of the code's own forward pass
    pytorch       ``check`` against PyTorch's autograd (only the "vs reference" rows count)
    two-step      two steps of the training loop, the update switched off, each step's
                  gradients against central differences
    curve         100 steps of SGD on a small problem: the final loss against the correct code's
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from ..check import CheckReport, check
from ..loopcheck import two_step
from ..optim import SGD
from . import BUGS, Bug, Case

CHECKS = ("differences", "pytorch", "two-step", "curve")
STEPS, LR = 100, 0.1
# The curve catches a bug when the final loss is not finite or this much above the correct one's.
CURVE_MARGIN = 1.25


@dataclass
class Outcome:
    check: str
    caught: bool
    summary: str  # the diagnosis, or the two final losses
    report: CheckReport | None = None


def first_wrong(report: CheckReport, only_reference: bool = False) -> CheckReport:
    """The report with only the rows that count for this check."""
    rows = [r for r in report.rows if r.name.endswith("vs reference") == only_reference]
    return CheckReport(report.name, rows)


def _summary(report: CheckReport) -> str:
    bad = [r for r in report.rows if not r.ok]
    noted = [r for r in report.rows if r.diagnosis.kind != "none"]
    row = bad[0] if bad else (noted[0] if noted else None)
    if row is None:
        return "ok"
    d = row.diagnosis
    if d.kind == "scaled":
        return f"scaled, c = {d.factor_name or format(d.factor, '.4g')}"
    if d.kind == "accumulated":
        return f"accumulated, k = {d.factor:.0f}"
    return d.kind


def run_check(which: str, case: Case, seed: int = 0) -> Outcome:
    if which == "differences":
        report = check(case.subject, case.x, target=case.target, name="central differences")
        return Outcome(which, not report.ok, _summary(report), report)
    if which == "pytorch":
        full = check(case.subject, case.x, target=case.target, reference=case.reference())
        report = first_wrong(full, only_reference=True)
        report.name = "PyTorch"
        return Outcome(which, not report.ok, _summary(report), report)
    if which == "two-step":
        x, y = case.data[0][:8], case.data[1][:8]
        report = two_step(case.train_step, case.network, case.loss_fn, x, y, name="two steps")
        return Outcome(which, not report.ok, _summary(report), report)
    raise ValueError(f"unknown check {which!r}")


def curve(case: Case, correct: Case) -> tuple[list[float], list[float]]:
    """The training losses of the buggy code and of the correct code, the same start and data."""
    losses = []
    for c in (case, correct):
        model, x, y = c.network, c.data[0], c.data[1]
        opt = SGD(model.parameters(), lr=LR)
        measure = type(correct.loss_fn)()
        history = []
        with np.errstate(all="ignore"):
            for _ in range(STEPS):
                c.train_step(model, c.loss_fn, opt, x, y)
                history.append(float(measure(model(x.copy()), y)))
        losses.append(history)
    return losses[0], losses[1]


def run(bug: Bug, seed: int = 0) -> list[Outcome]:
    """Every check on ``bug``, its cases drawn from ``seed``."""
    outcomes = [run_check(w, bug.setup(np.random.default_rng(seed), True)) for w in CHECKS[:3]]
    buggy_case = bug.setup(np.random.default_rng(seed), True)
    correct_case = bug.setup(np.random.default_rng(seed), False)
    mine, right = curve(buggy_case, correct_case)
    last, good = mine[-1], right[-1]
    caught = not math.isfinite(last) or last > CURVE_MARGIN * good + 1e-9
    grew = "diverged, " if not math.isfinite(last) or last > 1e6 * max(good, 1e-12) else ""
    summary = f"{grew}final loss {last:.3g} (correct code: {good:.3g})"
    outcomes.append(Outcome("curve", caught, summary))
    return outcomes


def table(seed: int = 0) -> str:
    """The Markdown table "which check catches which bug", from real runs."""
    head = "| bug | central differences | PyTorch | two steps | training curve |"
    lines = [head, "|---|---|---|---|---|"]
    for bug in BUGS:
        cells = []
        for o in run(bug, seed):
            if o.check == "curve":
                cells.append("**caught**" if o.caught else "passes")
            elif o.caught:
                cells.append(f"**caught**: {o.summary}")
            else:
                cells.append("passes" if o.summary == "ok" else f"passes ({o.summary})")
        lines.append(f"| `{bug.name}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"
