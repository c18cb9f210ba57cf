"""Checkpoints: round trips, resume equal to an unbroken run, every bad file refused with one
line (and nothing in it executed), saving that never loses the previous checkpoint."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import backprop
from backprop import SGD, Adam, CrossEntropyLoss, MSELoss, Optimizer, fit
from backprop.checkpoint import CheckpointError, load_checkpoint, save
from backprop.cli import main
from backprop.data import Scaler
from backprop.train import mlp


def problem(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(90, 6))
    return X, (X[:, 0] * X[:, 1] > 0).astype(np.int64) + (X[:, 2] > 0.8)


def trained(tmp_path: Path, dtype: str = "float32") -> tuple[Path, Any]:
    X, y = problem()
    model = mlp([6, 10, 3], "tanh", rng=np.random.default_rng(0), dtype=dtype)
    opt = Adam(model.parameters(), lr=0.01)
    rng = np.random.default_rng(1)
    fit(model, CrossEntropyLoss(), opt, X, y, epochs=2, batch_size=32, rng=rng)
    path = tmp_path / "model.npz"
    save(model, path, optimizer=opt, rng=rng, epoch=2, scaler=Scaler.fit(X), info={"k": [1, 2]})
    return path, model


def test_save_and_load_round_trip(tmp_path: Path) -> None:
    path, model = trained(tmp_path)
    loaded = backprop.load(path)
    assert repr(loaded) == repr(model)
    for a, b in zip(loaded.parameters(), model.parameters(), strict=True):
        assert a.dtype == b.dtype == np.float32
        np.testing.assert_array_equal(a.data, b.data)
    x = np.random.default_rng(5).normal(size=(4, 6)).astype(np.float32)
    np.testing.assert_array_equal(loaded(x), model(x))
    ckpt = load_checkpoint(path)
    assert ckpt.epoch == 2 and ckpt.info == {"k": [1, 2]}
    # the scaler's statistics, to the bit: the training rows' column means and (population)
    # standard deviations, computed here
    X, _ = problem()
    assert ckpt.scaler is not None
    np.testing.assert_array_equal(ckpt.scaler.mean, X.mean(axis=0))
    np.testing.assert_array_equal(ckpt.scaler.std, X.std(axis=0))
    assert ckpt.target_scaler is None
    # the generator continues where the saved one stopped
    reference = np.random.default_rng(1)
    for _ in range(2):
        reference.permutation(90)
    assert ckpt.rng is not None
    np.testing.assert_array_equal(ckpt.rng.permutation(90), reference.permutation(90))


def test_a_bare_model_saves_without_training_state(tmp_path: Path) -> None:
    model = mlp([3, 2], rng=np.random.default_rng(0))
    backprop.save(model, tmp_path / "bare.npz")
    ckpt = load_checkpoint(tmp_path / "bare.npz")
    assert ckpt.optimizer is None and ckpt.rng is None and ckpt.scaler is None
    np.testing.assert_array_equal(ckpt.model.parameters()[0].data, model.parameters()[0].data)


def make_optimizer(kind: str, model: Any) -> Optimizer:
    if kind == "sgd":
        return SGD(model.parameters(), lr=0.05, momentum=0.9, weight_decay=1e-3)
    return Adam(model.parameters(), lr=0.01, weight_decay=1e-3)


@pytest.mark.parametrize("kind", ["sgd", "adam"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_resume_equals_an_unbroken_run(tmp_path: Path, kind: str, dtype: str) -> None:
    X, y = problem()

    def start() -> tuple[Any, Optimizer, np.random.Generator]:
        model = mlp([6, 10, 8, 3], "relu", rng=np.random.default_rng(0), dtype=dtype)
        return model, make_optimizer(kind, model), np.random.default_rng(2)

    model, opt, rng = start()
    unbroken = fit(model, CrossEntropyLoss(), opt, X, y, epochs=5, batch_size=16, rng=rng)

    first, opt1, rng1 = start()
    part = fit(first, CrossEntropyLoss(), opt1, X, y, epochs=2, batch_size=16, rng=rng1)
    path = tmp_path / "half.npz"
    save(first, path, optimizer=opt1, rng=rng1, epoch=2)
    del first, opt1, rng1
    ckpt = load_checkpoint(path)
    assert ckpt.optimizer is not None and ckpt.rng is not None
    resumed = fit(
        ckpt.model, CrossEntropyLoss(), ckpt.optimizer, X, y,
        epochs=5, batch_size=16, rng=ckpt.rng, history=part,
    )  # fmt: skip
    assert resumed.batch_losses == unbroken.batch_losses
    assert resumed.train_loss == unbroken.train_loss
    for a, b in zip(ckpt.model.parameters(), model.parameters(), strict=True):
        np.testing.assert_array_equal(a.data, b.data)


def test_cli_resume_equals_an_unbroken_run(tmp_path: Path, capsys: Any) -> None:
    """Every entry of the file of a run stopped at epoch 2 and resumed to 5 equals the file of
    an unbroken 5-epoch run: weights, Adam's moments, the generator, the losses."""
    common = ["train", "--data", "wine", "--hidden", "16,8", "--batch-size", "20"]
    unbroken, resumed = tmp_path / "unbroken.npz", tmp_path / "resumed.npz"
    assert main([*common, "--epochs", "5", "--save", str(unbroken)]) == 0
    assert main([*common, "--epochs", "2", "--save", str(resumed)]) == 0
    assert main(["train", "--resume", str(resumed), "--epochs", "5", "--save", str(resumed)]) == 0
    out = capsys.readouterr().out
    assert "epoch 3/5" in out and "epoch 1/5" not in out.split("epoch 2/2")[-1]
    with np.load(unbroken) as a, np.load(resumed) as b:
        assert sorted(a.files) == sorted(b.files)
        for key in a.files:
            if key not in ("meta", "history.seconds"):
                np.testing.assert_array_equal(a[key], b[key], err_msg=key)
        meta_a, meta_b = json.loads(str(a["meta"])), json.loads(str(b["meta"]))
    assert meta_a == meta_b and meta_a["epoch"] == 5


def test_cli_resume_refuses_other_settings(tmp_path: Path, capsys: Any) -> None:
    path = tmp_path / "run.npz"
    assert main(["train", "--data", "iris", "--epochs", "2", "--save", str(path)]) == 0
    capsys.readouterr()
    assert main(["train", "--resume", str(path), "--epochs", "4", "--hidden", "3"]) == 2
    err = capsys.readouterr().err
    assert "--hidden [3] differs from the checkpoint's [128, 64]" in err
    assert main(["train", "--resume", str(path), "--epochs", "2"]) == 2
    assert "has 2 epochs already" in capsys.readouterr().err


# ------------------------------------------------------------------------------- bad files


class Trap:
    """Unpickling this opens (creates) the file ``marker``: proof that code from a file ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> Any:
        return (open, (str(self.marker), "w"))


def bad_files(tmp_path: Path) -> dict[str, Path]:
    good, _ = trained(tmp_path)
    data = good.read_bytes()
    files: dict[str, Path] = {}

    def put(name: str, content: bytes) -> None:
        files[name] = tmp_path / f"{name}.npz"
        files[name].write_bytes(content)

    put("empty", b"")
    put("truncated-half", data[: len(data) // 2])
    put("truncated-last-byte", data[:-1])
    put("text", b"epoch,loss\n1,0.5\n")
    put("random", bytes(np.random.default_rng(7).integers(1, 128, 300, dtype=np.uint8)))
    (tmp_path / "folder.npz").mkdir()
    files["directory"] = tmp_path / "folder.npz"
    marker = tmp_path / "MARKER"
    put("pickle", pickle.dumps(Trap(marker)))
    np.save(tmp_path / "array.npy", np.arange(3))
    files["npy"] = tmp_path / "array.npy"
    np.savez(tmp_path / "foreign.npz", weights=np.ones(3))
    files["foreign"] = tmp_path / "foreign.npz"
    np.savez(tmp_path / "objects.npz", meta=np.array([Trap(marker)], dtype=object))
    files["object-array"] = tmp_path / "objects.npz"
    with np.load(good) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    changes: list[tuple[str, dict[str, Any]]] = [
        ("other-format", {"format": "something-else"}),
        ("newer-version", {"version": 2}),
        ("unknown-layer", {"layers": [{"type": "Conv9d"}]}),
        ("bad-rng", {"rng": {"bit_generator": "PCG64", "state": "x"}}),
        ("huge-layer", {"layers": [{"type": "Linear", "in_features": 10**6, "out_features": 10**6, "bias": True}]}),
    ]  # fmt: skip
    for name, change in changes:
        np.savez(
            tmp_path / f"{name}.npz", **{**arrays, "meta": np.array(json.dumps({**meta, **change}))}
        )
        files[name] = tmp_path / f"{name}.npz"
    nan = arrays["param.2.bias"].copy()
    nan[1] = np.nan  # a valid archive (its CRC matches) holding a NaN weight
    np.savez(tmp_path / "nan-weight.npz", **{**arrays, "param.2.bias": nan})
    files["nan-weight"] = tmp_path / "nan-weight.npz"
    wrong = {**arrays, "param.0.weight": np.zeros((3, 3), np.float32)}
    np.savez(tmp_path / "wrong-shape.npz", **wrong)
    files["wrong-shape"] = tmp_path / "wrong-shape.npz"
    missing = {k: v for k, v in arrays.items() if k != "optim.exp_avg.1"}
    np.savez(tmp_path / "missing-state.npz", **missing)
    files["missing-state"] = tmp_path / "missing-state.npz"
    # one byte of the first weight changed inside the archive: the zip's CRC catches it
    weight = arrays["param.0.weight"].tobytes()
    at = data.index(weight) + len(weight) // 2
    put("flipped-weight-byte", data[:at] + bytes([data[at] ^ 0x40]) + data[at + 1 :])
    return files


EXPECTED = {
    "empty": "is empty, not a checkpoint",
    "truncated-half": "is damaged: BadZipFile",
    "truncated-last-byte": "is damaged: BadZipFile",
    "text": "is not an .npz (zip) file, so not a backprop checkpoint",
    "random": "is not an .npz (zip) file, so not a backprop checkpoint",
    "directory": "is a directory, not a checkpoint",
    "pickle": "holds a pickled object; backprop checkpoints never do, so nothing was loaded",
    "npy": "is a bare .npy array, not an .npz checkpoint",
    "foreign": "is not a backprop checkpoint (it has no 'meta' entry)",
    "object-array": "holds a pickled object; backprop checkpoints never do, so nothing was loaded",
    "nan-weight": ": parameter '2.bias' holds nan at [1]; a model with NaN or inf weights was not loaded",
    "other-format": "is not a backprop checkpoint (no format 'backprop-checkpoint')",
    "newer-version": "is a checkpoint of format version 2; this backprop reads version 1",
    "unknown-layer": "layer 0 has unknown type 'Conv9d'",
    "bad-rng": "is damaged or inconsistent",
    "huge-layer": "has no weight of that shape",
    "wrong-shape": "has no weight of that shape",
    "missing-state": "is damaged or inconsistent: ValueError: Adam: the state lacks exp_avg.1",
    "flipped-weight-byte": "is damaged: BadZipFile: Bad CRC-32",
}


def test_every_bad_file_is_refused_and_nothing_in_it_runs(tmp_path: Path) -> None:
    files = bad_files(tmp_path)
    assert set(files) == set(EXPECTED)
    for name, path in files.items():
        with pytest.raises(CheckpointError) as e:
            load_checkpoint(path)
        message = str(e.value)
        assert message.startswith(str(path)), name
        assert EXPECTED[name] in message, f"{name}: {message}"
        assert "\n" not in message
        # never NumPy's advice to load a pickle unsafely
        assert "allow_pickle" not in message and "pickle.load" not in message, message
    with pytest.raises(CheckpointError, match="no such file"):
        load_checkpoint(tmp_path / "missing.npz")
    assert not (tmp_path / "MARKER").exists()


def test_no_damaged_byte_goes_unnoticed(tmp_path: Path) -> None:
    """Change any byte of a checkpoint: it is either refused, or (a byte the zip format does
    not read, such as a timestamp) loads with every array and the metadata unchanged."""
    good, _ = trained(tmp_path)
    data = good.read_bytes()
    with np.load(good) as z:
        original = {k: z[k] for k in z.files}
    damaged = tmp_path / "damaged.npz"
    refused = 0
    for at in range(0, len(data), 29):  # 29: a prime, so the sample drifts across the fields
        damaged.write_bytes(data[:at] + bytes([data[at] ^ 0x01]) + data[at + 1 :])
        try:
            load_checkpoint(damaged)
        except CheckpointError:
            refused += 1
            continue
        with np.load(damaged) as z:
            assert set(z.files) == set(original), at
            for k in z.files:
                np.testing.assert_array_equal(z[k], original[k], err_msg=f"byte {at}: {k}")
    # Most bytes are array data or headers the reader checks (86% when this was written).
    assert refused > len(range(0, len(data), 29)) // 2


def test_cli_refuses_bad_checkpoints_with_one_line(tmp_path: Path, capsys: Any) -> None:
    files = bad_files(tmp_path)
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n1,2\n")
    for name, path in [*files.items(), ("missing", tmp_path / "missing.npz")]:
        for argv in (
            ["predict", "--model", str(path), "--data", str(rows)],
            ["train", "--resume", str(path), "--epochs", "9"],
        ):
            assert main(argv) == 1, (name, argv)
            err = capsys.readouterr().err
            assert err.startswith(f"backprop {argv[0]}: error: {path}"), err
            assert err.count("\n") == 1, err
    assert not (tmp_path / "MARKER").exists()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"data": None}, "its recorded settings lack a valid 'data'"),
        ({"hidden": [4, "x"]}, "its recorded settings lack a valid 'hidden'"),
        ({"batch_size": True}, "its recorded settings lack a valid 'batch_size'"),
        ({"loss": "hinge"}, "its recorded settings are out of range"),
    ],
)
def test_edited_settings_are_refused_on_resume(
    tmp_path: Path, capsys: Any, change: dict[str, Any], message: str
) -> None:
    path = tmp_path / "run.npz"
    assert (
        main(["train", "--data", "iris", "--epochs", "1", "--hidden", "4", "--save", str(path)])
        == 0
    )
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays["meta"]))
    meta["info"]["train"].update(change)
    np.savez(path, **{**arrays, "meta": np.array(json.dumps(meta))})
    capsys.readouterr()
    assert main(["train", "--resume", str(path), "--epochs", "2"]) == 1
    assert capsys.readouterr().err == f"backprop train: error: {path}: {message}; cannot resume\n"


def test_a_checkpoint_without_training_state_cannot_be_resumed(tmp_path: Path, capsys: Any) -> None:
    backprop.save(mlp([3, 2]), tmp_path / "bare.npz")
    assert main(["train", "--resume", str(tmp_path / "bare.npz")]) == 1
    assert "was not written by backprop train --save" in capsys.readouterr().err


# ----------------------------------------------------------------------------------- saving


def test_a_failed_save_leaves_the_previous_checkpoint(tmp_path: Path, monkeypatch: Any) -> None:
    path, model = trained(tmp_path)
    before = path.read_bytes()

    def savez_that_fails(file: Any, **arrays: Any) -> None:
        file.write(b"PK\x03\x04 half an archive")
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(np, "savez", savez_that_fails)
    for p in model.parameters():
        p.data += 1
    with pytest.raises(OSError, match="No space left"):
        save(model, path)
    assert path.read_bytes() == before
    assert sorted(os.listdir(tmp_path)) == ["model.npz"]  # no temporary file left behind
    monkeypatch.undo()
    load_checkpoint(path)


def test_a_save_interrupted_by_an_exception_leaves_no_file(
    tmp_path: Path, monkeypatch: Any
) -> None:
    def interrupted(file: Any, **arrays: Any) -> None:
        file.write(b"PK")
        raise KeyboardInterrupt

    monkeypatch.setattr(np, "savez", interrupted)
    with pytest.raises(KeyboardInterrupt):
        save(mlp([2, 2]), tmp_path / "new.npz")
    assert os.listdir(tmp_path) == []


SAVER = """
import sys, numpy as np
from backprop import save
from backprop.train import mlp
model = mlp([400, 400, 400], rng=np.random.default_rng(0))  # about 2.5 MB per file
print("ready", flush=True)
i = 0
while True:
    i += 1
    model.parameters()[0].data[0, 0] = i
    save(model, sys.argv[1])
"""


def test_a_process_killed_while_saving_leaves_a_whole_checkpoint(tmp_path: Path) -> None:
    """SIGKILL a process that saves in a loop, several times: the file always loads."""
    path = tmp_path / "ckpt.npz"
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", SAVER, str(path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout is not None and proc.stdout.readline() == "ready\n"
        while not path.exists():
            assert proc.poll() is None, "the saving process ended"
        with zipfile.ZipFile(path):  # a save completed; now kill during a later one
            pass
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        proc.stdout.close()
        model = backprop.load(path)
        assert model.parameters()[0].data[0, 0] >= 1
    leftovers = [n for n in os.listdir(tmp_path) if n != "ckpt.npz"]
    for name in leftovers:  # a killed process cannot clean up its temporary file...
        assert name.startswith(".ckpt.npz.") and name.endswith(".tmp")


def test_mse_model_round_trips_with_its_target_scaler(tmp_path: Path) -> None:
    model = mlp([2, 1], rng=np.random.default_rng(0), dtype="float64")
    opt = SGD(model.parameters(), lr=0.1)
    X = np.random.default_rng(0).normal(size=(10, 2))
    fit(model, MSELoss(), opt, X, X[:, :1], epochs=1)
    save(
        model,
        tmp_path / "r.npz",
        optimizer=opt,
        target_scaler=Scaler(np.array([5.0]), np.array([2.0])),
    )
    ckpt = load_checkpoint(tmp_path / "r.npz")
    assert ckpt.target_scaler is not None
    np.testing.assert_array_equal(ckpt.target_scaler.inverse(np.array([[1.0]])), [[7.0]])
    assert isinstance(ckpt.optimizer, SGD) and ckpt.optimizer.lr == 0.1


def test_resume_with_batchnorm_and_dropout_equals_an_unbroken_run(tmp_path: Path) -> None:
    """Running statistics, num_batches_tracked and the dropout generator travel in the file, so
    a resumed run draws the same masks and normalises with the same statistics; evaluation on
    a test split (running statistics, no dropout) between epochs changes none of them."""
    from backprop import SGD, BatchNorm1d, Dropout, Linear, ReLU, Sequential

    X, y = problem()

    def start() -> tuple[Any, Optimizer, np.random.Generator]:
        rng = np.random.default_rng(0)
        model = Sequential(
            Linear(6, 10, rng=rng), BatchNorm1d(10), ReLU(), Dropout(0.3, rng=np.random.default_rng(4)),
            Linear(10, 3, rng=rng),
        )  # fmt: skip
        return model, SGD(model.parameters(), lr=0.1, momentum=0.9), np.random.default_rng(2)

    common: dict[str, Any] = {"batch_size": 16, "X_test": X[:20], "y_test": y[:20]}
    model, opt, rng = start()
    unbroken = fit(model, CrossEntropyLoss(), opt, X, y, epochs=4, rng=rng, **common)
    first, opt1, rng1 = start()
    part = fit(first, CrossEntropyLoss(), opt1, X, y, epochs=2, rng=rng1, **common)
    save(first, tmp_path / "half.npz", optimizer=opt1, rng=rng1, epoch=2)
    ckpt = load_checkpoint(tmp_path / "half.npz")
    assert ckpt.optimizer is not None and ckpt.rng is not None
    resumed = fit(
        ckpt.model, CrossEntropyLoss(), ckpt.optimizer, X, y, epochs=4, rng=ckpt.rng,
        history=part, **common,
    )  # fmt: skip
    assert resumed.batch_losses == unbroken.batch_losses
    assert resumed.test_loss == unbroken.test_loss
    for (k, a), (_, b) in zip(
        ckpt.model.state_dict().items(), model.state_dict().items(), strict=True
    ):
        np.testing.assert_array_equal(a, b, err_msg=k)
    assert ckpt.model.state_dict()["1.num_batches_tracked"] > 0 and ckpt.model.training


def test_save_names_the_path_never_a_temporary_file(tmp_path: Path) -> None:
    model = mlp([2, 2], rng=np.random.default_rng(0))
    with pytest.raises(IsADirectoryError, match=r"^cannot write '.*': it is a directory$"):
        save(model, tmp_path)
    target = "/proc/model.npz"  # a place where no file can be made, even by root
    with pytest.raises(OSError) as e:
        save(model, target)
    assert str(e.value).startswith(f"cannot write {target!r}: ")
    assert ".tmp" not in str(e.value)
    assert list(tmp_path.iterdir()) == []


def test_pooling_layers_built_with_numpy_integers_round_trip(tmp_path: Path) -> None:
    """NumPy integers (as PyTorch takes them) are kept as Python ints, so the layers'
    arguments go into the checkpoint's JSON, and the loaded model pools as the saved one."""
    from backprop import nn

    # typed Any: the constructors are annotated with int, which NumPy's integers are not
    one: Any = np.int64(1)
    two: Any = np.int32(2)
    three: Any = np.int64(3)
    no: Any = np.bool_(False)
    model = nn.Sequential(
        nn.MaxPool2d(two, stride=one, padding=one),
        nn.AvgPool2d(two, padding=one, divisor_override=three),
        nn.AvgPool2d((two, one), padding=(one, 0), count_include_pad=no),
        nn.AdaptiveAvgPool2d((two, None)),
        nn.AdaptiveAvgPool2d(three),
    )
    x = np.random.default_rng(3).standard_normal((2, 3, 7, 6))
    save(model, tmp_path / "pools.npz")
    loaded = backprop.load(tmp_path / "pools.npz")
    assert [repr(layer) for layer in loaded] == [repr(layer) for layer in model]
    np.testing.assert_array_equal(loaded(x), model(x))
