"""fit() and `backprop train`: the same per-batch losses as PyTorch, the digits accuracy of the
defaults, the NaN stop, the history, the plot, the progress bar, exit codes."""

from __future__ import annotations

import csv
import json
import os
import pty
import re
import subprocess
import sys
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch_reference import assert_close, torch_loss, torch_params

from backprop import SGD, Adam, CrossEntropyLoss, MSELoss, Optimizer, fit
from backprop.checkpoint import load_checkpoint
from backprop.cli import main
from backprop.interop import to_torch
from backprop.train import Diverged, mlp


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backprop", *args], capture_output=True, text=True, cwd=cwd
    )


def call(argv: list[str]) -> int:
    """main(argv) in this process; argparse's usage errors exit, which is caught here."""
    try:
        return main(argv)
    except SystemExit as e:
        return int(e.code or 0)


def small_problem(task: str, n: int = 70, d: int = 5, seed: int = 3) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(n, d))
    if task == "classification":
        return X, (X[:, 0] + X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 1)
    return X, np.stack([np.sin(X[:, 0]) + X[:, 1], X[:, 2] * X[:, 3]], axis=1)


OPTIMIZERS = [
    ("sgd+momentum", SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "weight_decay": 1e-3}),
    ("adam", Adam, torch.optim.Adam, {"lr": 0.01, "weight_decay": 1e-3}),
]


@pytest.mark.parametrize("task", ["classification", "regression"])
@pytest.mark.parametrize(("name", "ours", "theirs", "kwargs"), OPTIMIZERS, ids=["sgd", "adam"])
def test_float64_run_has_pytorchs_batch_losses(
    task: str, name: str, ours: Any, theirs: Any, kwargs: dict[str, Any]
) -> None:
    """3 epochs of batches of 16 from 70 rows (the last batch has 6): every batch loss and the
    final weights equal a plain PyTorch loop's from the same weights in the same batch order."""
    X, y = small_problem(task)
    rng = np.random.default_rng(11)
    model = mlp([5, 12, 7, 3 if task == "classification" else 2], "tanh", rng=rng)
    tmodel = to_torch(model)
    loss_fn = CrossEntropyLoss() if task == "classification" else MSELoss()
    optimizer: Optimizer = ours(model.parameters(), **kwargs)
    history = fit(model, loss_fn, optimizer, X, y, epochs=3, batch_size=16, rng=5, task=task)

    topt = theirs(tmodel.parameters(), **kwargs)
    order_rng = np.random.default_rng(5)  # fit's documented order: rng.permutation(N) per epoch
    expected = []
    for _ in range(3):
        order = order_rng.permutation(len(X))
        for start in range(0, len(X), 16):
            rows = order[start : start + 16]
            tloss = torch_loss(
                loss_fn, tmodel(torch.from_numpy(X[rows])), torch.from_numpy(y[rows])
            )
            topt.zero_grad()
            tloss.backward()
            topt.step()
            expected.append(tloss.item())
    assert len(history.batch_losses) == len(expected) == 15
    assert_close("loss value per batch", history.batch_losses, expected, rtol=1e-9)
    for p, ref in zip(model.parameters(), torch_params(tmodel), strict=True):
        assert_close("parameter after training", p.data, ref, rtol=1e-9)
    sizes = np.array([16, 16, 16, 16, 6])
    for epoch in range(3):
        batch = np.array(expected[5 * epoch : 5 * epoch + 5])
        assert history.train_loss[epoch] == pytest.approx(batch @ sizes / 70, rel=1e-9)


def readme_block(starting: str) -> list[str]:
    """The lines of the README's code block that begins with ``starting``."""
    text = (Path(__file__).parents[1] / "README.md").read_text()
    block = text[text.index(starting) :]
    return block[: block.index("```")].splitlines()


def without_times(line: str) -> str:
    return re.sub(r"\s*\(\d+\.\d s\)", "", line)


def test_digits_with_the_defaults_reaches_0975(tmp_path: Path, capsys: Any) -> None:
    """`backprop train --data digits` and nothing else. The accuracy is recomputed here from the
    saved model, on scikit-learn's stratified 20% split with seed 0, scaled in this test; the
    README shows the same lines."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    path = tmp_path / "digits.npz"
    assert main(["train", "--data", "digits", "--save", str(path)]) == 0
    lines = [without_times(line) for line in capsys.readouterr().out.splitlines()]
    X, y = load_digits(return_X_y=True)
    X_train, X_test, _, y_test = train_test_split(X, y, test_size=0.2, random_state=0, stratify=y)
    mean, std = X_train.mean(axis=0), X_train.std(axis=0)
    std[std == 0] = 1
    model = load_checkpoint(path).model
    logits = model(((X_test - mean) / std).astype(np.float32))
    accuracy = np.mean(np.argmax(logits, axis=1) == y_test)
    assert accuracy >= 0.975
    notes = " ".join((Path(__file__).parents[1] / "docs" / "notes.md").read_text().split())
    wrong = round((1 - accuracy) * 360)
    assert f"reaches a test accuracy of {accuracy:.4f} ({wrong} of 360 wrong)" in notes
    assert lines[-1] == f"test accuracy {accuracy:.4f} on 360 rows after 30 epochs; saved {path}"
    printed = [*lines[:-1], lines[-1].split(";")[0]]
    shown = readme_block("$ backprop train --data digits")[1:]
    assert len(shown) == 5
    for line in shown:
        assert line == "..." or without_times(line) in printed, line


def test_r2_and_accuracy_match_scikit_learn() -> None:
    from sklearn.metrics import accuracy_score, r2_score

    from backprop.train import accuracy
    from backprop.train import r2_score as ours_r2

    rng = np.random.default_rng(0)
    target, pred = rng.normal(size=(50, 3)), rng.normal(size=(50, 3))
    assert ours_r2(pred, target) == pytest.approx(r2_score(target, pred), rel=1e-12)
    assert ours_r2(pred[:, :1], target[:, :1]) == pytest.approx(r2_score(target[:, 0], pred[:, 0]))
    labels = rng.integers(0, 3, size=50)
    assert accuracy(pred, labels) == accuracy_score(labels, np.argmax(pred, axis=1))


def test_frames_are_the_weights_at_their_steps() -> None:
    X, y = small_problem("classification")
    model = mlp([5, 4, 3], rng=np.random.default_rng(0))
    initial = [p.data.copy() for p in model.parameters()]
    history = fit(
        model, CrossEntropyLoss(), SGD(model.parameters(), lr=0.1), X, y,
        epochs=2, batch_size=16, rng=0, frame_steps=[0, 4, 9],
    )  # fmt: skip
    assert [f.step for f in history.frames] == [0, 4, 9]
    for a, b in zip(history.frames[0].params, initial, strict=True):
        np.testing.assert_array_equal(a, b)
    assert [f.loss for f in history.frames] == [history.batch_losses[s] for s in (0, 4, 9)]


def test_a_diverging_run_stops_at_its_epoch() -> None:
    X, y = small_problem("regression")
    model = mlp([5, 8, 2], rng=np.random.default_rng(0))
    optimizer = SGD(model.parameters(), lr=0.01)

    def sabotage(epoch: int, history: Any) -> None:
        if epoch == 2:  # as if an update had blown the weights up
            model.parameters()[0].data[0, 0] = np.inf

    with pytest.raises(Diverged, match=r"epoch 3, batch 1: lr=0.01 .* smaller --lr") as e:
        fit(model, MSELoss(), optimizer, X, y, epochs=5, batch_size=16, on_epoch=sabotage)
    assert e.value.history is not None
    assert e.value.history.epochs == 2 and e.value.epoch == 3


def test_a_large_learning_rate_diverges_without_warnings() -> None:
    """Plain gradient descent on a least-squares problem with lr far above 2/λmax: the
    weights grow geometrically until the loss overflows."""
    X, y = small_problem("regression")
    model = mlp([5, 2], rng=np.random.default_rng(0))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow warning would fail the test
        with pytest.raises(Diverged, match=r"the loss became (nan|inf) at epoch"):
            fit(model, MSELoss(), SGD(model.parameters(), lr=10.0), X, y, epochs=100)


@pytest.mark.parametrize("where", ["X", "y"])
def test_nan_in_the_data_is_refused_up_front(where: str) -> None:
    X, y = small_problem("regression")
    (X if where == "X" else y)[4, 1] = np.nan
    model = mlp([5, 2], rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=rf"^{where} has nan at \[4, 1\]$"):
        fit(model, MSELoss(), SGD(model.parameters(), lr=0.1), X, y)


def test_cli_nan_stop_keeps_the_last_finite_checkpoint(
    tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    """The weights become inf in the 40th update (epoch 3 of 4-batch epochs on iris): the run
    stops with exit 1 and one line, and the checkpoint holds epoch 2, finite."""
    real_step = Adam.step
    calls = {"n": 0}

    def step(self: Adam) -> None:
        real_step(self)
        calls["n"] += 1
        if calls["n"] == 10:
            self.params[0].data[0, 0] = np.inf

    monkeypatch.setattr(Adam, "step", step)
    path = tmp_path / "run.npz"
    code = main(["train", "--data", "iris", "--epochs", "5", "--save", str(path)])
    err = capsys.readouterr().err
    assert code == 1
    assert err.count("\n") == 1
    assert err.startswith("backprop train: error: the loss became nan at epoch 3, batch 3")
    assert "smaller --lr" in err and f"{path} keeps epoch 2" in err
    ckpt = load_checkpoint(path)
    assert ckpt.epoch == 2
    assert all(np.all(np.isfinite(p.data)) for p in ckpt.model.parameters())
    # as the message says: continue from epoch 2 with another learning rate
    assert f"--resume {path} --lr <smaller>" in err
    monkeypatch.undo()
    assert main(["train", "--resume", str(path), "--lr", "0.0005", "--save", str(path)]) == 0
    ckpt = load_checkpoint(path)
    assert ckpt.epoch == 5 and ckpt.optimizer is not None and ckpt.optimizer.lr == 0.0005
    assert ckpt.info["train"]["lr"] == 0.0005


def test_cli_divergence_in_the_first_epoch_saves_nothing(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "run.npz"
    argv = ["train", "--data", "digits", "--optimizer", "sgd", "--lr", "100", "--epochs", "2"]
    assert main([*argv, "--save", str(path)]) == 1
    err = capsys.readouterr().err
    assert "the loss became nan at epoch 1" in err and "nothing was saved" in err
    assert not path.exists()


def test_history_csv_and_json_agree(tmp_path: Path, capsys: Any) -> None:
    history = tmp_path / "h.csv"
    plot = tmp_path / "h.png"
    argv = ["train", "--data", "wine", "--epochs", "4", "--hidden", "16", "--json"]
    assert main([*argv, "--history", str(history), "--plot", str(plot)]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    rows = list(csv.DictReader(history.open()))
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]
    assert list(rows[0]) == ["epoch", "train_loss", "test_loss", "test_accuracy"]
    assert float(rows[-1]["test_loss"]) == report["test_loss"]
    assert float(rows[-1]["test_accuracy"]) == report["test_accuracy"]
    assert report["test_accuracy"] * 36 == pytest.approx(round(report["test_accuracy"] * 36))
    # with --json the epoch lines go to stderr, one per epoch
    assert [line.split()[1] for line in err.splitlines()] == ["1/4", "2/4", "3/4", "4/4"]
    assert plot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_regression_reports_r2(tmp_path: Path, capsys: Any) -> None:
    """The reported R² is scikit-learn's r2_score of the saved model's predictions on
    scikit-learn's 20% split with seed 0, standardised here and mapped back to the target's
    units (R² is the same in either scale)."""
    from sklearn.datasets import load_diabetes
    from sklearn.metrics import r2_score
    from sklearn.model_selection import train_test_split

    path = tmp_path / "diabetes.npz"
    argv = ["train", "--data", "diabetes", "--epochs", "3", "--hidden", "8", "--json"]
    assert main([*argv, "--dtype", "float64", "--save", str(path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["task"] == "regression" and "test_accuracy" not in report
    assert report["test_rows"] == 89
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X, y, test_size=0.2, random_state=0)
    assert len(y_test) == 89
    pred = load_checkpoint(path).model((X_test - X_train.mean(axis=0)) / X_train.std(axis=0))
    pred = pred[:, 0] * y_train.std() + y_train.mean()
    expected = r2_score(y_test, pred)
    assert 0 < expected < 1  # a real fit after 3 epochs, not a degenerate value
    assert report["test_r2"] == pytest.approx(expected, rel=1e-10)


def test_epoch_lines_on_stdout_and_no_progress_bar_when_piped(capsys: Any) -> None:
    assert main(["train", "--data", "iris", "--epochs", "2"]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    lines = out.splitlines()
    assert lines[0].startswith("epoch 1/2  train loss") and "test accuracy" in lines[0]
    assert lines[-1].startswith("test accuracy") and len(lines) == 3


def test_progress_bar_on_a_terminal() -> None:
    """stderr is a terminal, stdout a pipe: the bar goes to stderr, the report to stdout."""
    leader, follower = pty.openpty()
    proc = subprocess.Popen(
        [sys.executable, "-m", "backprop", "train", "--data", "iris", "--epochs", "3"],
        stdout=subprocess.PIPE,
        stderr=follower,
        env={**os.environ, "COLUMNS": "100", "TERM": "xterm"},
    )
    os.close(follower)
    chunks = []
    while True:
        try:
            chunk = os.read(leader, 4096)
        except OSError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    assert proc.stdout is not None
    out = proc.stdout.read().decode()
    assert proc.wait() == 0
    os.close(leader)
    terminal = b"".join(chunks).decode(errors="replace")
    assert "epoch" in terminal and "batch" in terminal and "loss" in terminal
    assert "━" in terminal  # rich's bar
    assert out.splitlines()[0].startswith("epoch 1/3")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--data", "digits", "--hidden", "12,x"], 2, "argument --hidden: expected sizes"),
        (["--data", "digits", "--test-size", "1.5"], 2, "argument --test-size: must lie"),
        (["--data", "nope"], 2, "--data 'nope' is neither a bundled dataset"),
        (["--data", "nope.csv"], 1, "nope.csv: no such file"),
        (["--data", "diabetes", "--loss", "cross_entropy"], 2, "--loss cross_entropy needs"),
        (["--data", "digits", "--momentum", "0.5"], 2, "--momentum applies to --optimizer sgd"),
        (["--data", "digits", "--save", "model.txt"], 2, "--save 'model.txt' must end in .npz"),
        (["--data", "digits", "--plot", "no/such/dir/p.png"], 1, "no directory 'no/such/dir'"),
        (["--data", "digits", "--target", "x"], 2, "--target applies to CSV files"),
        ([], 2, "--data is required"),
        (["--resume", "missing.npz"], 1, "missing.npz: no such file"),
        (["--data", "digits", "--gif", "a.gif"], 2, "--gif: a layer of 128 units is too large"),
        (["--data", "iris", "--gif", "a.png"], 2, "--gif 'a.png' must end in .gif"),
        (["--resume", "a.npz", "--gif", "a.gif"], 2, "--gif draws a run from its first step"),
    ],
)
def test_bad_train_usage_is_one_line(
    args: list[str], code: int, message: str, tmp_path: Path, capsys: Any, monkeypatch: Any
) -> None:
    monkeypatch.chdir(tmp_path)
    assert call(["train", *args]) == code
    err = capsys.readouterr().err
    assert err.startswith("backprop train: error: ") and message in err, err
    assert err.count("\n") == 1


def test_errors_have_no_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "bad.csv"
    bad.write_text("a,b,y\n1,2,0\n1,x,1\n")
    result = run_cli("train", "--data", str(bad))
    assert result.returncode == 1
    assert result.stderr == (
        f"backprop train: error: {bad}: line 3, column 2 ('b'): 'x' is not a number\n"
    )


@pytest.mark.parametrize("command", ["train", "predict"])
def test_help(command: str) -> None:
    result = run_cli(command, "--help")
    assert result.returncode == 0 and "usage: backprop" in result.stdout


def test_gif_of_a_small_network(tmp_path: Path, capsys: Any) -> None:
    """iris, 4 → 3 → 3, 2 epochs of 4 batches: a frame for each of the 8 steps with a loss."""
    from PIL import Image

    path = tmp_path / "iris.gif"
    argv = ["train", "--data", "iris", "--hidden", "3", "--epochs", "2", "--gif", str(path)]
    assert main(argv) == 0
    assert capsys.readouterr().err == ""
    gif: Any = Image.open(path)  # GIF frames (n_frames) are not in Pillow's type stubs
    with gif:
        assert gif.format == "GIF" and gif.n_frames == 8
