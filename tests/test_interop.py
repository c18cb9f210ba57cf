"""The door to PyTorch: a trained model crosses over and back with identical outputs, training
continues there as it would have here, and backprop runs without torch installed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch_reference import assert_close, torch_loss, torch_params

import backprop
from backprop import SGD, Adam, CrossEntropyLoss, Identity, MSELoss, Optimizer, fit
from backprop.cli import main
from backprop.interop import from_torch, optimizer_to_torch, to_torch
from backprop.train import mlp


def trained_model(dtype: str = "float64") -> tuple[Any, Optimizer, np.ndarray]:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(64, 5))
    y = (X[:, 0] > X[:, 1]).astype(np.int64) + (X[:, 2] > 0.5)
    model = mlp([5, 9, 7, 3], "tanh", rng=rng, dtype=dtype)
    optimizer = Adam(model.parameters(), lr=0.02)
    fit(model, CrossEntropyLoss(), optimizer, X, y, epochs=3, batch_size=16, rng=1)
    return model, optimizer, X


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_a_trained_model_crosses_to_torch_and_back_unchanged(dtype: str) -> None:
    model, _, X = trained_model(dtype)
    tmodel = to_torch(model)
    x = X.astype(dtype)
    with torch.no_grad():
        theirs = tmodel(torch.from_numpy(x)).numpy()
    assert theirs.dtype == np.dtype(dtype)
    # Different matrix-multiply kernels may round differently in the last bit.
    assert_close(
        f"{dtype} output in torch", theirs, model(x), rtol=1e-13 if dtype == "float64" else 1e-6
    )
    back = from_torch(tmodel)
    assert repr(back) == repr(model)
    for a, b in zip(back.parameters(), model.parameters(), strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a.data, b.data)
    np.testing.assert_array_equal(back(x), model(x))


def test_a_saved_model_crosses_to_torch(tmp_path: Path, capsys: Any) -> None:
    """From `backprop train --save` to PyTorch: the stored model's outputs, in torch."""
    path = tmp_path / "iris.npz"
    argv = ["train", "--data", "iris", "--epochs", "3", "--dtype", "float64", "--hidden", "6"]
    assert main([*argv, "--save", str(path)]) == 0
    capsys.readouterr()
    model = backprop.load(path)
    tmodel = to_torch(model)
    x = np.random.default_rng(2).normal(size=(10, 4))
    with torch.no_grad():
        assert_close(
            "forward output of a saved model",
            tmodel(torch.from_numpy(x)).numpy(),
            model(x),
            rtol=1e-13,
        )


def test_from_torch_flattens_nested_sequentials_and_keeps_bias_free_layers() -> None:
    torch.manual_seed(0)
    tmodel = torch.nn.Sequential(
        torch.nn.Sequential(torch.nn.Linear(3, 4, dtype=torch.float64), torch.nn.Sigmoid()),
        torch.nn.Linear(4, 2, bias=False, dtype=torch.float64),
        torch.nn.Identity(),
    )
    model = from_torch(tmodel)
    assert [type(layer).__name__ for layer in model] == ["Linear", "Sigmoid", "Linear", "Identity"]
    assert isinstance(model[3], Identity) and model.parameters()[-1].shape == (4, 2)
    x = np.random.default_rng(0).normal(size=(5, 3))
    with torch.no_grad():
        assert_close(
            "forward output from torch", model(x), tmodel(torch.from_numpy(x)).numpy(), rtol=1e-13
        )


def test_unsupported_layers_are_named() -> None:
    with pytest.raises(TypeError, match=r"layer 1 is torch.nn.PReLU; supported: .*Linear, .*ReLU"):
        from_torch(torch.nn.Sequential(torch.nn.Linear(2, 2), torch.nn.PReLU()))


@pytest.mark.parametrize(
    ("make", "kind"),
    [
        (lambda ps: SGD(ps, lr=0.05, momentum=0.9, weight_decay=1e-3), "sgd"),
        (lambda ps: SGD(ps, lr=0.05), "plain sgd"),
        (lambda ps: Adam(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-7, weight_decay=1e-3), "adam"),
    ],
)
@pytest.mark.parametrize("loss_kind", ["ce", "mse"])
def test_training_continues_in_torch_as_it_would_here(make: Any, kind: str, loss_kind: str) -> None:
    """Train 3 epochs here, cross over with the optimizer's state, then take 10 more steps in
    both: the same losses and weights (float64, 1e-9)."""
    rng = np.random.default_rng(4)
    X = rng.normal(size=(48, 5))
    y = (X[:, 0] > 0).astype(np.int64) + (X[:, 1] > 0)
    target = y if loss_kind == "ce" else np.eye(3)[y]
    loss_fn = CrossEntropyLoss() if loss_kind == "ce" else MSELoss()
    model = mlp([5, 8, 3], "relu", rng=rng)
    optimizer = make(model.parameters())
    task = "classification"
    fit(model, loss_fn, optimizer, X, y, epochs=3, batch_size=16, rng=0, task=task)
    tmodel = to_torch(model)
    topt = optimizer_to_torch(optimizer, tmodel)
    for step in range(10):
        rows = rng.choice(48, size=12, replace=False)
        ours = loss_fn(model(X[rows]), target[rows])
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        optimizer.step()
        tloss = torch_loss(
            loss_fn, tmodel(torch.from_numpy(X[rows])), torch.from_numpy(target[rows])
        )
        topt.zero_grad()
        tloss.backward()
        topt.step()
        assert_close(f"loss value after crossing, step {step}", ours, tloss.item(), rtol=1e-9)
    for p, ref in zip(model.parameters(), torch_params(tmodel), strict=True):
        assert_close("parameter after crossing", p.data, ref, rtol=1e-9)


def test_optimizer_to_torch_checks_the_module() -> None:
    model = mlp([3, 4, 2], rng=np.random.default_rng(0))
    other = to_torch(mlp([3, 5, 2], rng=np.random.default_rng(0)))
    with pytest.raises(ValueError, match=r"parameter 0: shape \(3, 4\) here, \(5, 3\) in torch"):
        optimizer_to_torch(SGD(model.parameters(), lr=0.1), other)


def test_without_torch_a_clear_message(monkeypatch: Any) -> None:
    monkeypatch.setitem(sys.modules, "torch", None)  # `import torch` now fails
    model = mlp([2, 2], rng=np.random.default_rng(0))
    for call in (lambda: to_torch(model), lambda: from_torch(object())):
        with pytest.raises(
            ImportError,
            match=r"needs PyTorch, which is not installed .*: pip install 'backprop-by-hand\[torch\]'",
        ):
            call()
    # and the rest of backprop does not mind
    optimizer = SGD(model.parameters(), lr=0.1)
    x = np.ones((4, 2))
    history = fit(model, MSELoss(), optimizer, x, x, epochs=1)
    assert history.epochs == 1


def test_a_nested_sequential_crosses_to_torch_with_its_keys_and_back() -> None:
    import torch

    from backprop import BatchNorm1d, Linear, ReLU, Sequential
    from backprop.interop import from_torch, to_torch

    rng = np.random.default_rng(5)
    inner = Sequential(Linear(4, 3, rng=rng), BatchNorm1d(3), ReLU())
    model = Sequential(Linear(2, 4, rng=rng), inner, Linear(3, 1, rng=rng))
    model(rng.normal(size=(6, 2)))  # running statistics that are not the initial ones
    inner.eval()
    tmodel = to_torch(model)
    assert isinstance(tmodel[1], torch.nn.Sequential) and not tmodel[1].training
    ours, theirs = model.state_dict(), tmodel.state_dict()
    assert list(ours) == list(theirs)
    for key, value in theirs.items():
        ref = value.numpy().T if key.endswith("weight") and value.ndim == 2 else value.numpy()
        np.testing.assert_array_equal(ours[key], ref)
    x = rng.normal(size=(5, 2))
    np.testing.assert_allclose(model(x), tmodel(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)
    back = from_torch(tmodel)  # flattened, the same computation
    np.testing.assert_allclose(back(x), model(x), rtol=1e-15)
