"""The lab: every bug is diagnosed with its kind (and factor) over seeded random shapes, the
correct code beside it passes, the diff is the real one, and the README's table is the one the
command prints."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from backprop.bugs import BUGS, BY_NAME
from backprop.bugs.lab import Outcome, run, run_check, table
from backprop.cli import main

SEEDS = range(3)


def found(bug_name: str, seed: int, bug: bool = True) -> Outcome:
    b = BY_NAME[bug_name]
    return run_check(b.found_by, b.setup(np.random.default_rng(seed), bug))


def test_the_lab_has_at_least_twelve_bugs() -> None:
    assert len(BUGS) >= 12
    assert len(BY_NAME) == len(BUGS)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", [b.name for b in BUGS])
def test_each_bug_gets_its_diagnosis(name: str, seed: int) -> None:
    bug = BY_NAME[name]
    outcome = found(name, seed)
    assert outcome.report is not None
    kinds = {r.diagnosis.kind for r in outcome.report.rows}
    assert bug.kind in kinds, outcome.report
    if bug.kind in ("precision", "kink"):
        # mistakes of the check, not of the code: the code passes, and the report says why
        assert not outcome.caught, outcome.report
    else:
        assert outcome.caught, outcome.report
        first = next(r for r in outcome.report.rows if not r.ok)
        assert first.diagnosis.kind == bug.kind, outcome.report
        if bug.factor is not None:
            assert first.diagnosis.factor_name == bug.factor, outcome.report


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("name", [b.name for b in BUGS])
def test_the_correct_code_beside_each_bug_passes(name: str, seed: int) -> None:
    # against central differences and against PyTorch, on the bug's own shapes
    b = BY_NAME[name]
    for which in ("differences", "pytorch"):
        outcome = run_check(which, b.setup(np.random.default_rng(seed), False))
        assert outcome.report is not None
        assert not outcome.caught, outcome.report
        assert {r.diagnosis.kind for r in outcome.report.rows} == {"none"}, outcome.report


def test_zero_grad_passes_one_step_and_fails_the_second() -> None:
    outcomes = {o.check: o for o in run(BY_NAME["zero-grad-forgotten"])}
    assert not outcomes["differences"].caught and not outcomes["pytorch"].caught
    assert outcomes["two-step"].caught
    assert outcomes["two-step"].summary == "accumulated, k = 2"


def test_the_diff_is_the_real_change() -> None:
    diff = BY_NAME["missing-1/N"].diff().splitlines()
    assert "-        return 2 * self.diff / len(self.diff)" in diff
    assert "+        return 2 * self.diff" in diff
    loop = BY_NAME["zero-grad-forgotten"].diff().splitlines()
    assert [line for line in loop if line.startswith(("-", "+"))][2:] == [
        "-    optimizer.zero_grad()"
    ]


def readme_table() -> str:
    text = (Path(__file__).parent.parent / "README.md").read_text()
    match = re.search(r"<!-- bugs-table -->\n(.*?)<!-- /bugs-table -->", text, re.S)
    assert match, "README.md has no <!-- bugs-table --> block"
    return match.group(1)


def test_readme_table_is_the_commands_output(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bugs", "--table"]) == 0
    printed = capsys.readouterr().out
    assert printed == table()
    assert readme_table() == printed


def test_bugs_lists_and_shows(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bugs"]) == 0
    listing = capsys.readouterr().out
    assert all(b.name in listing for b in BUGS)
    assert main(["bugs", "zero-grad-forgotten"]) == 0
    out = capsys.readouterr().out
    assert "-    optimizer.zero_grad()" in out
    assert "caught by: two steps, training curve; missed by: central differences, PyTorch" in out
    assert "accumulated (k = 2)" in out


def test_unknown_bug_is_bad_usage(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["bugs", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("backprop bugs: error: unknown bug 'nope'; the lab's bugs: missing-1/N")


def test_the_labs_batchnorm_and_dropout_are_the_librarys() -> None:
    from backprop.bugs import layers
    from backprop.nn import BatchNorm1d, Dropout

    rng = np.random.default_rng(12)
    x, g = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    lab, ours = layers.BatchNorm1d(3, rng), BatchNorm1d(3)
    assert ours.weight is not None and ours.bias is not None
    ours.weight.data[...], ours.bias.data[...] = lab.weight.data, lab.bias.data
    np.testing.assert_allclose(lab.forward(x), ours.forward(x), rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(lab.backward(g), ours.backward(g), rtol=1e-10, atol=1e-14)
    for a, b in zip(lab.parameters(), ours.parameters(), strict=True):
        np.testing.assert_allclose(a.grad, b.grad, rtol=1e-12, atol=1e-14)
    drop, real = layers.Dropout(0.3, seed=5), Dropout(0.3, rng=np.random.default_rng(5))
    np.testing.assert_allclose(drop.forward(x), real.forward(x), rtol=1e-15)
    np.testing.assert_allclose(drop.backward(g), real.backward(g), rtol=1e-15)


def test_the_notes_quote_the_labs_real_output(capsys: pytest.CaptureFixture[str]) -> None:
    text = (Path(__file__).parent.parent / "docs" / "notes.md").read_text()
    start = text.index("## Checking your own backward pass\n")
    section = text[start : text.index("\n## ", start + 1)]
    quoted = re.findall(r"`backprop (bugs [^`]+)` prints:\n\n```\n(.*?)```", section, re.S)
    assert [args for args, _ in quoted] == ["bugs transposed-dW", "bugs zero-grad-forgotten"]
    for args, output in quoted:
        assert main(args.split()) == 0
        assert capsys.readouterr().out == output, args
