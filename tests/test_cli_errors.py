"""Every subcommand, driven over a table of bad arguments, bad files and missing extras.

For every row: no traceback; the exit code given (2 bad usage, 1 a failure); exactly one line
on stderr, beginning "backprop COMMAND: " and holding the text given; no new file left in the
working directory; the existing output file ``existing.*`` byte for byte as it was.

HOW TO ADD A ROW (do it with every new option or subcommand): append to ROWS below
    Row("an-id", ["COMMAND", "--option", "value"], CODE, "a piece of the one line it prints"),
and, if the row needs a module to be missing, ``hide=("matplotlib",)`` (the import names:
matplotlib, PIL, sklearn, rich, torch, starlette, uvicorn, names). Arguments may name the files
made by ``workdir`` (see FILES): a good model ``model.npz``, CSV files, bad checkpoints,
``existing.png``/``existing.npz`` (output files that must stay unchanged), ``adir.npz`` (a
directory) and ``/proc/x.*`` (a place where nothing can be written, even by root).
Rows run in-process through ``backprop.cli.main`` (fast; a warning fails the row, as it would
print a second line); SUBPROCESS_ROWS also run as real processes, where a traceback, a warning
and the exit code are seen exactly as a user sees them.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backprop
from backprop.cli import COMMANDS, main

VIZ = "pip install 'backprop-by-hand[viz]'"
DATA = "pip install 'backprop-by-hand[data]'"
TORCH = "pip install 'backprop-by-hand[torch]'"


@dataclass(frozen=True)
class Row:
    id: str
    argv: list[str]
    code: int
    message: str
    hide: tuple[str, ...] = ()


ROWS = [
    # --- slp
    Row("slp-dim-0", ["slp", "--dim", "0"], 2, "--dim: must be >= 1, got 0"),
    Row("slp-dim-huge", ["slp", "--dim", "100000"], 2, "--dim 100000 --samples 1 --epochs 1000 would need about 298.0 GiB of memory, above the limit of 4.0 GiB"),
    Row("slp-seed-range", ["slp", "--seed", "4294967296"], 2, "--seed: must lie in 0 … 4294967295"),
    Row("slp-gif-suffix", ["slp", "--gif", "out.txt"], 2, "has suffix '.txt'; expected .gif"),
    Row("slp-gif-no-matplotlib", ["slp", "--gif", "out.gif"], 1, f"--gif needs matplotlib: {VIZ}", ("matplotlib",)),
    Row("slp-gif-no-pillow", ["slp", "--gif", "out.gif"], 1, f"--gif needs Pillow: {VIZ}", ("PIL",)),
    Row("slp-plot-no-matplotlib", ["slp", "--plot", "existing.png"], 1, f"--plot needs matplotlib: {VIZ}", ("matplotlib",)),
    Row("slp-plot-unwritable", ["slp", "--plot", "/proc/x.png"], 1, "cannot write '/proc/x.png'"),
    Row("slp-plot-directory", ["slp", "--plot", "adir.png"], 1, "it is a directory"),
    Row("slp-diverges", ["slp", "--lr", "0.5", "--plot", "existing.png"], 1, "the loss became"),
    # --- explain
    Row("explain-dim-huge", ["explain", "--dim", "100000"], 2, "--dim 100000 --samples 1 would need about"),
    Row("explain-samples-huge", ["explain", "--samples", "100000"], 2, "--dim 4 --samples 100000 would need about"),
    Row("explain-step-range", ["explain", "--step", "99999999"], 2, "--step: must be <= "),
    Row("explain-graph-no-matplotlib", ["explain", "--graph", "g.png"], 1, f"--graph needs matplotlib: {VIZ}", ("matplotlib",)),
    Row("explain-graph-unwritable", ["explain", "--graph", "/proc/g.png"], 1, "cannot write '/proc/g.png'"),
    Row("explain-layer-unknown", ["explain", "--layer", "nope"], 2, "--layer: unknown layer 'nope'"),
    Row("explain-seed-range", ["explain", "--seed", "-1"], 2, "--seed: must lie in 0 … 4294967295"),
    # --- gradcheck
    Row("gradcheck-seed-range", ["gradcheck", "--seed", "4294967296"], 2, "--seed: must lie in 0 … 4294967295"),
    Row("gradcheck-seed-text", ["gradcheck", "--seed", "x"], 2, "--seed: expected a whole number, got 'x'"),
    # --- train
    Row("train-no-data", ["train"], 2, "--data is required"),
    Row("train-bundled-no-sklearn", ["train", "--data", "iris"], 1, f"--data needs scikit-learn: {DATA}", ("sklearn",)),
    Row("train-csv-no-sklearn", ["train", "--data", "good.csv"], 1, f"--data needs scikit-learn: {DATA}", ("sklearn",)),
    Row("train-resume-no-sklearn", ["train", "--resume", "model.npz", "--epochs", "3"], 1, f"--resume needs scikit-learn: {DATA}", ("sklearn",)),
    Row("train-plot-no-matplotlib", ["train", "--data", "iris", "--plot", "existing.png"], 1, f"--plot needs matplotlib: {VIZ}", ("matplotlib",)),
    Row("train-gif-no-pillow", ["train", "--data", "iris", "--hidden", "4", "--gif", "g.gif"], 1, f"--gif needs Pillow: {VIZ}", ("PIL",)),
    Row("train-save-unwritable", ["train", "--data", "iris", "--save", "/proc/x.npz"], 1, "--save: cannot write '/proc/x.npz'"),
    Row("train-history-unwritable", ["train", "--data", "iris", "--history", "/proc/x.csv"], 1, "--history: cannot write '/proc/x.csv'"),
    Row("train-plot-unwritable", ["train", "--data", "iris", "--plot", "/proc/x.png"], 1, "--plot: cannot write '/proc/x.png'"),
    Row("train-save-directory", ["train", "--data", "iris", "--save", "adir.npz"], 1, "--save 'adir.npz' is a directory"),
    Row("train-save-suffix", ["train", "--data", "iris", "--save", "x.txt"], 2, "--save 'x.txt' must end in .npz"),
    Row("train-hidden-huge", ["train", "--data", "iris", "--hidden", "10000000000"], 2, "--hidden 10000000000 on iris would need about 9.1 TiB of memory, above the limit of 4.0 GiB"),
    Row("train-hidden-large", ["train", "--data", "iris", "--hidden", "100000000"], 2, "would need about 93.1 GiB of memory"),
    Row("train-momentum", ["train", "--data", "iris", "--optimizer", "sgd", "--momentum", "1.5"], 2, "--momentum: must lie in [0, 1), got 1.5"),
    Row("train-seed-range", ["train", "--data", "iris", "--seed", "4294967296"], 2, "--seed: must lie in 0 … 4294967295, got 4294967296"),
    Row("train-one-value", ["train", "--data", "one_value.csv"], 1, "the target column 'y' holds one value only (3); there is nothing to learn"),
    Row("train-few-rows", ["train", "--data", "few_rows.csv"], 1, "3 rows are too few to split with test size 0.2 (2 to train on, 1 to test on)"),
    Row("train-csv-missing", ["train", "--data", "missing.csv"], 1, "missing.csv: no such file"),
    Row("train-csv-empty", ["train", "--data", "empty.csv"], 1, "the file is empty"),
    Row("train-diverges-keeps-save", ["train", "--data", "iris", "--optimizer", "sgd", "--lr", "1e10", "--save", "existing.npz"], 1, "existing.npz was left as it was"),
    Row("train-words-hidden-huge", ["train", "--data", "words", "--hidden", "10000000000"], 2, "--hidden 10000000000 --context 3 on census first names would need about"),
    Row("train-words-context-huge", ["train", "--data", "words", "--context", "1000000000"], 2, "--context 1000000000 on census first names would need about"),
    Row("train-words-no-names", ["train", "--data", "words"], 1, "pip install 'backprop-by-hand[words]'", ("names",)),
    Row("train-words-plot-no-matplotlib", ["train", "--data", "words", "--plot", "existing.png"], 1, f"--plot needs matplotlib: {VIZ}", ("matplotlib",)),
    Row("train-words-table-option", ["train", "--data", "words", "--task", "regression"], 2, "--task applies to tables"),
    Row("train-words-missing-file", ["train", "--data", "words:nothing.txt"], 1, "nothing.txt"),
    Row("train-cnn-not-images", ["train", "--data", "iris", "--model", "cnn"], 2, "--model cnn needs square images"),
    Row("train-cnn-gif-unwritable", ["train", "--data", "digits", "--model", "cnn", "--gif", "/proc/x.gif"], 1, "--gif: cannot write '/proc/x.gif'"),
    # --- predict
    Row("predict-overflow", ["predict", "--model", "model.npz", "--data", "overflow.csv"], 1, "overflow.csv: line 2, column 1 ('a'): 1e308 overflows float32"),
    Row("predict-not-a-number", ["predict", "--model", "model.npz", "--data", "text_cell.csv"], 1, "'x' is not a number"),
    Row("predict-missing-model", ["predict", "--model", "nothing.npz", "--data", "good.csv"], 1, "nothing.npz: no such file"),
    Row("predict-wrong-column", ["predict", "--model", "model.npz", "--data", "wrong_column.csv"], 1, "('z') is not one of the model's 2 features"),
    # --- check
    Row("check-missing-file", ["check", "nothing.py"], 2, "no such file: 'nothing.py'"),
    Row("check-not-python", ["check", "good.csv"], 2, "'good.csv' is not a Python file (FILE.py)"),
    Row("check-syntax-error", ["check", "syntax_error.py"], 2, "syntax_error.py:2: cannot import: SyntaxError"),
    Row("check-import-raises", ["check", "raises.py"], 2, "raises.py:3: cannot import: RuntimeError: boom"),
    Row("check-import-exits", ["check", "exits.py"], 2, "exits.py:1: cannot import: it called sys.exit(0)"),
    Row("check-function-exits", ["check", "check_exits.py"], 2, "check_exits.py:3: check_a called sys.exit(3)"),
    Row("check-bad-return", ["check", "bad_return.py"], 2, "bad_return.py:1: check_a returned int; expected (module, x)"),
    Row("check-no-checks", ["check", "no_checks.py"], 2, "no_checks.py: no function whose name begins with check_"),
    Row("check-unknown-name", ["check", "bad_return.py::check_zz"], 2, "no function 'check_zz' (check_ functions: check_a)"),
    Row("check-crashes", ["check", "crashes.py"], 1, "crashes.py:4: while checking check_crash: ValueError"),
    Row("check-fails", ["check", "fails.py"], 1, "1 of 1 checks failed: check_missing_n"),
    Row("check-fails-json", ["check", "fails.py", "--json"], 1, "1 of 1 checks failed: check_missing_n"),
    # --- bugs
    Row("bugs-unknown", ["bugs", "nope"], 2, "unknown bug 'nope'; the lab's bugs: missing-1/N"),
    Row("bugs-table-and-name", ["bugs", "missing-2", "--table"], 2, "--table takes no NAME"),
    Row("bugs-seed-range", ["bugs", "nope", "--seed", "4294967296"], 2, "--seed: must lie in 0 … 4294967295"),
    Row("bugs-no-torch", ["bugs", "missing-1/N"], 1, f"bugs: error: the check against PyTorch needs torch: {TORCH}", ("torch",)),
    Row("bugs-table-no-torch", ["bugs", "--table"], 1, f"bugs: error: the check against PyTorch needs torch: {TORCH}", ("torch",)),
    # --- playground
    Row("playground-no-starlette", ["playground", "--no-browser", "--port", "0"], 1, "pip install 'backprop-by-hand[web]'", ("starlette",)),
    Row("playground-no-uvicorn", ["playground", "--no-browser", "--port", "0"], 1, "playground: error: needs starlette and uvicorn: pip install 'backprop-by-hand[web]'", ("uvicorn",)),
    Row("playground-port-range", ["playground", "--no-browser", "--port", "70000"], 2, "--port: must be <= 65535, got 70000"),
    Row("playground-port-negative", ["playground", "--no-browser", "--port", "-1"], 2, "--port: must be >= 0, got -1"),
    Row("playground-port-text", ["playground", "--no-browser", "--port", "http"], 2, "--port: expected a whole number, got 'http'"),
    Row("playground-bad-host", ["playground", "--no-browser", "--port", "0", "--host", "256.1.1.1"], 1, "cannot listen on 256.1.1.1:0"),
    # --- the top level
    Row("unknown-command", ["nope"], 2, "invalid choice: 'nope'"),
]  # fmt: skip

# Every bad checkpoint, as the model of predict and the checkpoint of train --resume.
BAD_CHECKPOINTS = {
    "empty.npz": "is empty, not a checkpoint",
    "truncated.npz": "is damaged: BadZipFile",
    "random.npz": "is not an .npz (zip) file",
    "pickled.npz": "holds a pickled object; backprop checkpoints never do, so nothing was loaded",
    "renamed.npz": "is not an .npz (zip) file",
    "adir.npz": "is a directory, not a checkpoint",
    "nan.npz": "holds nan at",
}
for _name, _message in BAD_CHECKPOINTS.items():
    ROWS.append(
        Row(f"predict-{_name}", ["predict", "--model", _name, "--data", "good.csv"], 1, _message)
    )
    ROWS.append(Row(f"resume-{_name}", ["train", "--resume", _name, "--epochs", "3"], 1, _message))

# Also run as real processes: a missing extra hidden by a sitecustomize, a bad file, a size.
SUBPROCESS_ROWS = [
    "slp-gif-no-matplotlib",
    "check-import-raises",
    "check-import-exits",
    "check-function-exits",
    "train-csv-no-sklearn",
    "predict-pickled.npz",
    "predict-overflow",
    "slp-dim-huge",
    "playground-no-starlette",
    "bugs-no-torch",
]


def _good_csv(path: Path) -> None:
    rng = np.random.default_rng(0)
    lines = ["a,b,y"] + [f"{x:.3f},{z:.3f},{int(x + z > 0)}" for x, z in rng.normal(size=(40, 2))]
    path.write_text("\n".join(lines) + "\n")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("cli-errors")
    _good_csv(d / "good.csv")
    cwd = os.getcwd()
    os.chdir(d)
    try:
        assert (
            main(
                [
                    "train",
                    "--data",
                    "good.csv",
                    "--epochs",
                    "1",
                    "--hidden",
                    "3",
                    "--save",
                    "model.npz",
                ]
            )
            == 0
        )
    finally:
        os.chdir(cwd)
    (d / "one_value.csv").write_text("a,y\n1,3\n2,3\n3,3\n4,3\n5,3\n")
    (d / "few_rows.csv").write_text("a,y\n1,0.5\n2,1.5\n3,2.5\n")
    (d / "empty.csv").write_text("")
    (d / "overflow.csv").write_text("a,b,y\n1e308,1,?\n")
    (d / "text_cell.csv").write_text("a,b\n1,x\n")
    (d / "wrong_column.csv").write_text("a,z\n1,2\n")
    good = (d / "model.npz").read_bytes()
    (d / "empty.npz").write_bytes(b"")
    (d / "truncated.npz").write_bytes(good[: len(good) // 2])
    (d / "random.npz").write_bytes(
        bytes(np.random.default_rng(1).integers(1, 128, 500, dtype=np.uint8))
    )
    (d / "pickled.npz").write_bytes(pickle.dumps({"weights": [1, 2]}))
    (d / "renamed.npz").write_text("a,b\n1,2\n")
    (d / "adir.npz").mkdir()
    (d / "adir.png").mkdir()
    with np.load(d / "model.npz") as z:
        arrays = {k: z[k] for k in z.files}
    arrays["param.0.weight"] = arrays["param.0.weight"].copy()
    arrays["param.0.weight"][0, 0] = np.nan
    np.savez(d / "nan.npz", **arrays)
    # user files for backprop check
    (d / "syntax_error.py").write_text("import numpy as np\nx = 1 +\n")
    (d / "raises.py").write_text("import numpy\n\nraise RuntimeError('boom')\n")
    (d / "exits.py").write_text("raise SystemExit(0)\n")
    (d / "check_exits.py").write_text("import sys\ndef check_a():\n    sys.exit(3)\n")
    (d / "bad_return.py").write_text("def check_a():\n    return 3\n")
    (d / "no_checks.py").write_text("def helper():\n    pass\n")
    (d / "crashes.py").write_text(
        "import numpy as np\nclass Bad:\n    forward = staticmethod(lambda x: x)\n"
        "    backward = staticmethod(lambda g: g @ np.ones((7, 7)))\n"
        "def check_crash():\n    return Bad(), np.ones((2, 3))\n"
    )
    (d / "fails.py").write_text(
        "import numpy as np\nclass MSE:\n"
        "    def forward(self, p, t):\n        self.d = p - t\n"
        "        return float((self.d**2).sum() / len(p))\n"
        "    def backward(self):\n        return 2 * self.d\n"
        "def check_missing_n():\n    return MSE(), np.ones((4, 2)), np.zeros((4, 2))\n"
    )
    (d / "existing.png").write_bytes(b"an existing picture")
    (d / "existing.npz").write_bytes(good)
    return d


def snapshot(d: Path) -> dict[str, str]:
    return {
        str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest() if p.is_file() else "dir"
        for p in sorted(d.rglob("*"))
    }


def check_outcome(row: Row, code: int, out: str, err: str, before: dict[str, str], d: Path) -> None:
    assert "Traceback" not in out + err, f"{row.id}: {err}"
    assert code == row.code, f"{row.id}: exit {code}, expected {row.code}: {err}"
    assert err.count("\n") == 1 and err.endswith("\n"), f"{row.id}: not one line: {err!r}"
    assert err.startswith(f"backprop {row.argv[0]}: ") or row.argv[0] not in COMMANDS, err
    assert row.message in err, f"{row.id}: {err!r} lacks {row.message!r}"
    assert snapshot(d) == before, f"{row.id}: files changed"


def test_the_table_covers_every_subcommand() -> None:
    assert {r.argv[0] for r in ROWS} >= set(COMMANDS)
    assert len({r.id for r in ROWS}) == len(ROWS)


# a warning would be a second line on stderr: here it fails the row
@pytest.mark.filterwarnings("error")
@pytest.mark.parametrize("row", ROWS, ids=[r.id for r in ROWS])
def test_bad_input_ends_in_one_line(
    row: Row, workdir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(workdir)
    for name in row.hide:
        # `import name` now raises ImportError, and importlib.util.find_spec finds nothing
        for loaded in [m for m in sys.modules if m == name or m.startswith(name + ".")]:
            monkeypatch.delitem(sys.modules, loaded)
        monkeypatch.setitem(sys.modules, name, None)
    before = snapshot(workdir)
    try:
        code = main(row.argv)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 1
    captured = capsys.readouterr()
    check_outcome(row, code, captured.out, captured.err, before, workdir)


HIDE = """
import sys
for name in {names!r}:
    sys.modules[name] = None
"""


def _run(row: Row, workdir: Path, shim: Path) -> tuple[Row, Any]:
    # the shim, then the backprop these tests imported (not whichever one is installed)
    tested = Path(backprop.__file__).parent.parent
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(shim / row.id), str(tested)])}
    (shim / row.id).mkdir()
    (shim / row.id / "sitecustomize.py").write_text(HIDE.format(names=list(row.hide)))
    done = subprocess.run(
        [sys.executable, "-m", "backprop", *row.argv],
        cwd=workdir,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    return row, done


def test_as_real_processes(workdir: Path, tmp_path: Path) -> None:
    rows = [r for r in ROWS if r.id in SUBPROCESS_ROWS]
    assert len(rows) == len(SUBPROCESS_ROWS)
    before = snapshot(workdir)
    with ThreadPoolExecutor(max_workers=2) as pool:
        results = list(pool.map(lambda r: _run(r, workdir, tmp_path), rows))
    for row, done in results:
        check_outcome(row, done.returncode, done.stdout, done.stderr, before, workdir)
