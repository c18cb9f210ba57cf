"""start_run() and Run: the default network, a resumed run equal to an unbroken one, the
settings refused (the library side of `backprop train`, without the command line)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from backprop import Adam, Linear, save
from backprop.data import DataError
from backprop.run import ResumeError, SettingsError, start_run


def test_a_new_run_has_the_documented_defaults() -> None:
    """iris: 4 → 128 → 64 → 3, ReLU, Adam lr 0.001, float32, weights drawn from seed 0 in
    layer order, as a network built by hand from the same generator."""
    run = start_run({}, data="iris")
    assert run.settings["epochs"] == 30 and run.settings["batch_size"] == 32
    assert run.task == "classification" and run.settings["loss"] == "cross_entropy"
    assert isinstance(run.optimizer, Adam) and run.optimizer.lr == 0.001
    rng = np.random.default_rng(0)
    by_hand = [
        Linear(4, 128, rng=rng, dtype="float32"),
        Linear(128, 64, rng=rng, dtype="float32"),
        Linear(64, 3, rng=rng, dtype="float32"),
    ]
    expected = [p.data for layer in by_hand for p in layer.parameters()]
    ours = [p.data for p in run.model.parameters()]
    assert len(ours) == len(expected)
    for a, b in zip(ours, expected, strict=True):
        assert a.dtype == np.float32 and np.array_equal(a, b)
    assert run.layer_sizes() == [4, 128, 64, 3]
    assert run.steps_per_epoch == 4  # 120 training rows in batches of 32


@pytest.mark.parametrize("optimizer", ["sgd", "adamw", "rmsprop", "adagrad"])
def test_a_resumed_run_continues_bit_for_bit(tmp_path: Path, optimizer: str) -> None:
    path = str(tmp_path / "run.npz")
    given = {"hidden": [8], "optimizer": optimizer, "dtype": "float64"}
    first = start_run(given, data="wine", epochs=2)
    first.fit(on_epoch=lambda epoch, h: first.save(path, epoch, h))
    resumed = start_run({}, epochs=5, resume=path)
    assert resumed.done == 2
    assert resumed.settings["momentum"] == (0.9 if optimizer == "sgd" else 0.0)
    assert type(resumed.optimizer).__name__.lower() == optimizer
    continued = resumed.fit()
    unbroken_run = start_run(given, data="wine", epochs=5)
    unbroken = unbroken_run.fit()
    assert continued.batch_losses == unbroken.batch_losses
    assert continued.test_metric == unbroken.test_metric
    for a, b in zip(resumed.model.parameters(), unbroken_run.model.parameters(), strict=True):
        assert np.array_equal(a.data, b.data)


@pytest.mark.parametrize("optimizer", ["adam", "adamw", "sgd", "rmsprop", "adagrad"])
def test_each_optimizer_starts_with_torch_optims_weight_decay(optimizer: str) -> None:
    import inspect

    import torch

    torch_class = {c.__name__.lower(): c for c in vars(torch.optim).values() if inspect.isclass(c)}
    expected = inspect.signature(torch_class[optimizer]).parameters["weight_decay"].default
    run = start_run({"hidden": [4], "optimizer": optimizer}, data="iris", epochs=1)
    assert run.settings["weight_decay"] == expected  # AdamW's 0.01: without it, AdamW is Adam
    assert run.optimizer.hyperparameters()["weight_decay"] == expected
    given = start_run({"hidden": [4], "optimizer": optimizer, "weight_decay": 0.5}, data="iris")
    assert given.optimizer.hyperparameters()["weight_decay"] == 0.5


def test_settings_that_cannot_be_used_are_refused(tmp_path: Path) -> None:
    with pytest.raises(
        SettingsError, match=r"^--momentum applies to --optimizer sgd or rmsprop only$"
    ):
        start_run({"momentum": 0.5}, data="iris")
    with pytest.raises(SettingsError, match=r"^--loss cross_entropy needs class labels"):
        start_run({"loss": "cross_entropy"}, data="diabetes")
    path = str(tmp_path / "run.npz")
    run = start_run({"hidden": [4]}, data="iris", epochs=1)
    run.fit(on_epoch=lambda epoch, h: run.save(path, epoch, h))
    with pytest.raises(SettingsError, match=r"^--hidden \[5\] differs from the checkpoint's \[4\]"):
        start_run({"hidden": [5]}, epochs=3, resume=path)
    with pytest.raises(SettingsError, match="has 1 epochs already"):
        start_run({}, epochs=1, resume=path)
    with pytest.raises(DataError, match=r"^wine has 13 features; the model was trained on 4$"):
        start_run({}, data="wine", epochs=3, resume=path)
    bare = str(tmp_path / "bare.npz")
    save(Linear(2, 2, rng=np.random.default_rng(0)), bare)
    with pytest.raises(ResumeError, match="was not written by backprop train --save"):
        start_run({}, epochs=3, resume=bare)
