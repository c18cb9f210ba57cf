"""The digits CNN of `backprop train --model cnn`: its layers, its settings, its accuracy."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_reference import assert_close

from backprop import Flatten, Unflatten
from backprop.data import Scaler
from backprop.train import cnn


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "backprop", *args], capture_output=True, text=True)


def test_flatten_and_unflatten_match_torch() -> None:
    rng = np.random.default_rng(0)
    x = rng.standard_normal((3, 2, 4, 5))
    for ours, ref in [
        (Flatten(), torch.nn.Flatten()),
        (Flatten(2, 3), torch.nn.Flatten(2, 3)),
        (Unflatten(3, (5, 1)), torch.nn.Unflatten(3, (5, 1))),
    ]:
        y = ours(x)
        g = rng.standard_normal(y.shape)
        xt = torch.tensor(x, requires_grad=True)
        yt = ref(xt)
        yt.backward(torch.tensor(g))
        assert y.shape == tuple(yt.shape)
        assert_close("flatten forward", y, yt.detach().numpy())
        assert_close("flatten dL/dx", ours.backward(g), xt.grad)


def test_the_digits_cnn_has_the_documented_shape() -> None:
    model = cnn(10, rng=np.random.default_rng(0))
    x = np.zeros((5, 64))
    shapes = []
    for layer in model:
        x = layer(x)
        shapes.append(x.shape[1:])
    assert shapes == [
        (1, 8, 8), (16, 8, 8), (16, 8, 8), (16, 4, 4),
        (32, 4, 4), (32, 4, 4), (32, 2, 2), (128,), (10,),
    ]  # fmt: skip
    assert sum(p.data.size for p in model.parameters()) == 16 * 9 + 16 + 32 * 16 * 9 + 32 + 1290


def test_pooled_scaler_keeps_one_scale_for_all_pixels() -> None:
    X = np.array([[0.0, 2.0], [4.0, 6.0]])
    scaler = Scaler.fit(X, pooled=True)
    np.testing.assert_allclose(scaler.mean, [3.0, 3.0])
    np.testing.assert_allclose(scaler.std, [np.sqrt(5.0)] * 2)


def test_train_cnn_runs_one_epoch_and_reports_json() -> None:
    result = run("train", "--data", "digits", "--model", "cnn", "--epochs", "1", "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["settings"]["model"] == "cnn" and report["settings"]["lr"] == 0.002
    assert report["test_accuracy"] > 0.5


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--data", "digits", "--hidden", "32"], "--hidden applies to --model mlp"),
        (["--data", "iris"], "--model cnn needs square images of at least 4×4 pixels"),
    ],
)
def test_cnn_settings_that_do_not_apply_are_bad_usage(args: list[str], message: str) -> None:
    result = run("train", "--model", "cnn", *args)
    assert result.returncode == 2
    assert message in result.stderr and len(result.stderr.strip().splitlines()) == 1


@pytest.mark.slow
def test_digits_cnn_reaches_0985_with_its_defaults() -> None:
    result = run("train", "--data", "digits", "--model", "cnn", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["test_accuracy"] >= 0.985


def test_a_cnn_checkpoint_resumes_as_the_unbroken_run(tmp_path: Path) -> None:
    ckpt = str(tmp_path / "c.npz")
    common = ("train", "--data", "digits", "--model", "cnn", "--json")
    first = run(*common, "--epochs", "1", "--save", ckpt)
    assert first.returncode == 0, first.stderr
    resumed = run("train", "--resume", ckpt, "--epochs", "2", "--json")
    unbroken = run(*common, "--epochs", "2")
    assert resumed.returncode == 0 and unbroken.returncode == 0, resumed.stderr
    a, b = json.loads(resumed.stdout), json.loads(unbroken.stdout)
    assert (a["test_loss"], a["test_accuracy"]) == (b["test_loss"], b["test_accuracy"])


def test_train_kernels_draws_the_cnn_and_is_refused_for_an_mlp(tmp_path: Path) -> None:
    png = tmp_path / "k.png"
    result = run("train", "--data", "digits", "--model", "cnn", "--epochs", "1",
                 "--kernels", str(png))  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    refused = run("train", "--data", "iris", "--kernels", str(tmp_path / "m.png"))
    assert refused.returncode == 2 and "--kernels" in refused.stderr
    assert not (tmp_path / "m.png").exists()
