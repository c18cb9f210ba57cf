"""The command line: exit codes, one-line errors, no tracebacks, start-up cost."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from backprop.cli import main


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backprop", *args], capture_output=True, text=True)


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["slp", "--lr", "abc"],
            "backprop slp: error: argument --lr: expected a number, got 'abc'",
        ),
        (
            ["slp", "--lr", "-1"],
            "backprop slp: error: argument --lr: must be a positive number, got -1",
        ),
        (["slp", "--dim", "0"], "backprop slp: error: argument --dim: must be >= 1, got 0"),
        (["slp", "--bogus"], "backprop: error: unrecognized arguments: --bogus"),
        (["nope"], "backprop: error: argument COMMAND: invalid choice: 'nope'"),
    ],
)
def test_bad_usage_is_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = run(*args)
    assert result.returncode == 2
    assert result.stderr.startswith(message), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr


def test_divergence_is_one_line_and_exit_1() -> None:
    result = run("slp", "--lr", "0.5")
    assert result.returncode == 1
    assert (
        result.stderr.strip().splitlines() == [result.stderr.strip()]
        and "backprop slp: error: the loss became" in result.stderr
    )
    assert "iteration" in result.stderr and "smaller --lr" in result.stderr
    assert "nan" not in result.stdout


@pytest.mark.parametrize("command", [[], ["slp"], ["gradcheck"]])
def test_help(command: list[str]) -> None:
    result = run(*command, "--help")
    assert result.returncode == 0 and "usage: backprop" in result.stdout


def test_gradcheck_command_passes_and_reports_json(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["gradcheck", "--json"]) == 0
    reports = json.loads(capsys.readouterr().out)
    subjects = {r["subject"].split("(")[0] for r in reports}
    assert {
        "Linear",
        "ReLU",
        "Sigmoid",
        "Tanh",
        "Identity",
        "Sequential",
        "MSELoss",
        "CrossEntropyLoss",
    } <= subjects
    assert all(r["passed"] for r in reports)
    assert all(g["rel_error"] < 1e-7 for r in reports for g in r["gradients"])


def test_import_backprop_stays_light() -> None:
    code = (
        "import sys, backprop, backprop.cli; "
        "heavy = [m for m in ('matplotlib', 'torch', 'sklearn', 'PIL', 'rich', 'scipy') if m in sys.modules]; "
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_output_to_a_closed_pipe_is_quiet() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "backprop", "slp"], stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.readline()
    proc.stdout.close()
    proc.wait()
    assert "Traceback" not in proc.stderr.read().decode()
