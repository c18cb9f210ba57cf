"""``backprop check FILE.py``: the user's check_ functions, plain and JSON output, exit codes,
and errors in the user's file reported with the file and the line."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from backprop.cli import main

ROOT = Path(__file__).parent.parent
EXAMPLE = "docs/examples/my_layers.py"

GOOD = """
import numpy as np
from backprop import Linear, MSELoss


def check_linear():
    rng = np.random.default_rng(0)
    return Linear(3, 2, rng=rng), rng.standard_normal((4, 3))


def check_loss_with_reference():
    import torch

    rng = np.random.default_rng(1)
    ref = lambda p, t: torch.nn.functional.mse_loss(p, t, reduction="sum") / p.shape[0]
    return MSELoss(), rng.standard_normal((4, 2)), rng.standard_normal((4, 2)), ref


def helper():
    raise AssertionError("not a check: never called")
"""


def write(tmp_path: Path, text: str, name: str = "mine.py") -> str:
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def test_every_check_function_runs_and_passes(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = write(tmp_path, GOOD)
    assert main(["check", path]) == 0
    out = capsys.readouterr().out
    assert out.startswith("check_linear: ok\n")
    assert "check_loss_with_reference: ok" in out
    assert "prediction vs reference" in out


def test_json_follows_the_schema(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", EXAMPLE, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    assert set(doc) == {"ok", "checks"} and doc["ok"] is False
    assert [c["name"] for c in doc["checks"]] == ["check_linear", "check_mse"]
    for c in doc["checks"]:
        assert set(c) == {"name", "ok", "tensors"}
        for t in c["tensors"]:
            assert set(t) == {
                "name", "shape", "max_abs_diff", "relative_error", "verdict", "diagnosis"
            }  # fmt: skip
            assert t["verdict"] in ("ok", "suspicious", "wrong")
            assert set(t["diagnosis"]) == {"kind", "factor", "hint"}
    mse = doc["checks"][1]["tensors"][0]
    assert mse["shape"] == [8, 2]
    assert mse["diagnosis"]["kind"] == "scaled"
    assert mse["diagnosis"]["factor"] == pytest.approx(8, rel=1e-8)
    linear = {t["name"]: t for t in doc["checks"][0]["tensors"]}
    assert linear["W"]["diagnosis"]["kind"] == "transposed"
    assert linear["b"]["verdict"] == "ok" and linear["b"]["diagnosis"]["factor"] is None


def test_one_check_by_name(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["check", f"{EXAMPLE}::check_mse"]) == 1
    out = capsys.readouterr().out
    assert out.startswith("check_mse: FAILED") and "check_linear" not in out


def test_readme_quotes_the_real_output() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backprop", "check", EXAMPLE],
        capture_output=True,
        text=True,
        cwd=ROOT,
    )
    assert result.returncode == 1
    readme = (ROOT / "README.md").read_text()
    quoted = re.search(r"\$ backprop check docs/examples/my_layers.py\n(.*?)```", readme, re.S)
    assert quoted is not None
    assert quoted.group(1) == result.stdout


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("import numpy as np\nx = 1 +\n", "mine.py:2: cannot import: SyntaxError"),
        (
            "import numpy\n\nraise RuntimeError('boom')\n",
            "mine.py:3: cannot import: RuntimeError: boom",
        ),
        ("import no_such_module_here\n", "mine.py:1: cannot import: ModuleNotFoundError"),
        ("def check_a():\n    return 3\n", "mine.py:1: check_a returned int; expected (module, x)"),
        (
            "def check_a():\n    return (1, 2, 3, 4, 5)\n",
            "mine.py:1: check_a returned a tuple of 5; expected",
        ),
        (
            "import numpy as np\ndef check_a():\n    return object(), np.zeros(2)\n",
            "mine.py:2: check_a returned object first, which has no forward/backward",
        ),
        (
            "from backprop import ReLU\ndef check_a():\n    return ReLU(), [1.0]\n",
            "mine.py:2: check_a returned list second; expected a float NumPy array",
        ),
        ("def check_a():\n    return {}['x']\n", "mine.py:2: check_a raised KeyError: 'x'"),
        # a sys.exit() in the file is an error of the file, not the end of backprop
        ("raise SystemExit(0)\n", "mine.py:1: cannot import: it called sys.exit(0)"),
        ("import sys\n\nsys.exit()\n", "mine.py:3: cannot import: it called sys.exit()"),
        ("import sys\ndef check_a():\n    sys.exit(3)\n", "mine.py:3: check_a called sys.exit(3)"),
        ("def check_a(x):\n    pass\n", "mine.py:1: check_a must take no arguments"),
        ("def helper():\n    pass\n", "mine.py: no function whose name begins with check_"),
    ],
)
def test_errors_in_the_users_file_name_file_and_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], text: str, message: str
) -> None:
    path = write(tmp_path, text)
    assert main(["check", path]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"backprop check: error: {tmp_path}/{message}"), err
    assert len(err.strip().splitlines()) == 1


def test_missing_file_function_and_suffix(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["check", str(tmp_path / "none.py")]) == 2
    assert "no such file" in capsys.readouterr().err
    assert main(["check", "README.md"]) == 2
    assert "is not a Python file" in capsys.readouterr().err
    assert main(["check", f"{EXAMPLE}::check_nope"]) == 2
    err = capsys.readouterr().err
    assert "no function 'check_nope' (check_ functions: check_linear, check_mse)" in err


def test_a_crash_while_checking_is_a_failure_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "import numpy as np\n"
        "class Bad:\n"
        "    def forward(self, x):\n"
        "        return x\n"
        "    def backward(self, g):\n"
        "        return g @ np.ones((7, 7))\n"
        "def check_bad():\n"
        "    return Bad(), np.ones((2, 3))\n"
    )
    path = write(tmp_path, text)
    assert main(["check", path]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"backprop check: error: {path}:6: while checking check_bad: ValueError")


def test_sys_exit_while_checking_is_a_failure_with_its_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    text = (
        "import sys\n"
        "import numpy as np\n"
        "class Quits:\n"
        "    def forward(self, x):\n"
        "        return x\n"
        "    def backward(self, g):\n"
        "        sys.exit('no gradient')\n"
        "def check_quits():\n"
        "    return Quits(), np.ones((2, 3))\n"
    )
    path = write(tmp_path, text)
    assert main(["check", path]) == 1
    err = capsys.readouterr().err
    assert err == (
        f"backprop check: error: {path}:7: while checking check_quits: "
        "it called sys.exit('no gradient')\n"
    )


def test_no_traceback_from_the_command_line(tmp_path: Path) -> None:
    path = write(tmp_path, "raise RuntimeError('boom')\n")
    result = subprocess.run(
        [sys.executable, "-m", "backprop", "check", path], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert result.stderr == f"backprop check: error: {path}:1: cannot import: RuntimeError: boom\n"


def test_a_wrong_shaped_float32_gradient_is_reported_not_a_crash(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # a wrong-shaped gradient is reported in the table, not as a crash of the checker
    text = (
        "import numpy as np\n"
        "class Cut:\n"
        "    def forward(self, x):\n"
        "        return 2 * x\n"
        "    def backward(self, g):\n"
        "        return 2 * g[:, :2]\n"
        "def check_cut():\n"
        "    return Cut(), np.ones((3, 3), dtype=np.float32)\n"
    )
    assert main(["check", write(tmp_path, text)]) == 1
    out = capsys.readouterr().out
    assert "yours has shape (3, 2), expected (3, 3) (float32 inputs: checked in float64)" in out
