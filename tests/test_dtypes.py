"""float32 end to end, and the optimizers' block-by-block updates of large parameters.

A float32 network must compute in float32 throughout: activations, gradients, optimizer state
and every temporary in between. A float64 temporary would not change a result's dtype (it is
cast back on assignment), so the tests below watch every array as it is created: the network's
arrays are given an ndarray subclass that records the dtype of each array derived from them.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np
import pytest
import torch
from torch_reference import assert_close, torch_loss, torch_params

from backprop import (
    SGD,
    Adam,
    CrossEntropyLoss,
    Linear,
    MSELoss,
    Optimizer,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
)
from backprop.interop import to_torch
from backprop.optim import BLOCK


class DtypeSpy(np.ndarray):
    """An ndarray that records the dtype of every array made from it (results of ufuncs and
    matmul, views, copies: NumPy calls __array_finalize__ for each)."""

    seen: ClassVar[list[np.dtype[Any]]] = []

    def __array_finalize__(self, obj: Any) -> None:
        DtypeSpy.seen.append(self.dtype)


def spied(model: Sequential) -> Sequential:
    """The model with every parameter rebuilt on a DtypeSpy array: gradient buffers are made
    with zeros_like, and optimizer state too, so they are spies as well."""
    for layer in model:
        if isinstance(layer, Linear):
            layer.weight = Parameter(layer.weight.data.view(DtypeSpy))
            if layer.bias is not None:
                layer.bias = Parameter(layer.bias.data.view(DtypeSpy))
    return model


def float32_net(rng: np.random.Generator) -> Sequential:
    f32 = np.float32
    return Sequential(
        Linear(6, 9, rng=rng, dtype=f32), ReLU(), Linear(9, 7, rng=rng, dtype=f32), Sigmoid(),
        Linear(7, 5, rng=rng, dtype=f32), Tanh(), Linear(5, 4, rng=rng, dtype=f32),
    )  # fmt: skip


OPTIMIZERS: list[tuple[str, Any]] = [
    ("sgd", lambda ps: SGD(ps, lr=0.1)),
    ("sgd+momentum+wd", lambda ps: SGD(ps, lr=0.1, momentum=0.9, weight_decay=0.01)),
    ("adam", lambda ps: Adam(ps, lr=0.01)),
    ("adam+wd", lambda ps: Adam(ps, lr=0.01, weight_decay=0.01)),
]


@pytest.mark.parametrize("loss_kind", ["mse", "ce"])
@pytest.mark.parametrize(("name", "make_opt"), OPTIMIZERS, ids=[o[0] for o in OPTIMIZERS])
def test_float32_network_makes_no_float64_array(name: str, make_opt: Any, loss_kind: str) -> None:
    rng = np.random.default_rng(0)
    model = spied(float32_net(rng))
    opt: Optimizer = make_opt(model.parameters())
    loss_fn: MSELoss | CrossEntropyLoss = MSELoss() if loss_kind == "mse" else CrossEntropyLoss()
    for step in range(3):
        x = rng.normal(size=(8, 6)).astype(np.float32)
        t = (
            rng.normal(size=(8, 4)).astype(np.float32)
            if loss_kind == "mse"
            else rng.integers(0, 4, size=8)
        )
        DtypeSpy.seen.clear()
        h = x
        for layer in model:
            h = layer(h)
            assert h.dtype == np.float32, f"{layer!r} output is {h.dtype}"
        loss = loss_fn(h, t)
        assert isinstance(loss, float)
        opt.zero_grad()
        g = loss_fn.backward()
        assert g.dtype == np.float32, f"dL/dlogits is {g.dtype}"
        for layer in reversed(list(model)):
            g = layer.backward(g)
            assert g.dtype == np.float32, f"{layer!r}: dL/dx is {g.dtype}"
        opt.step()
        floats = {str(dt) for dt in DtypeSpy.seen if dt.kind in "fc"}
        assert DtypeSpy.seen, "the spy saw no array: the test would pass vacuously"
        assert floats == {"float32"}, f"step {step}: arrays of dtype {floats} were made"
    for p in model.parameters():
        assert p.data.dtype == np.float32 and p.grad.dtype == np.float32
    for key, value in opt.state_dict().items():
        if key not in ("step", "lr", "initial_lr"):  # counts and rates: Python numbers
            assert value.dtype == np.float32, f"optimizer state {key} is {value.dtype}"
    if name != "sgd":
        assert opt.state_dict(), "momentum and Adam keep state"


def test_the_spy_catches_a_float64_temporary() -> None:
    a = np.ones(3, np.float32).view(DtypeSpy)
    DtypeSpy.seen.clear()
    a += np.float64(0.5) * a.astype(np.float64)  # computed in float64, cast back on assignment
    assert a.dtype == np.float32
    assert np.dtype(np.float64) in DtypeSpy.seen


def test_optimizer_state_keeps_float32_through_state_dict() -> None:
    rng = np.random.default_rng(1)
    model = float32_net(rng)
    for make in (lambda ps: SGD(ps, lr=0.1, momentum=0.9), lambda ps: Adam(ps)):
        opt = make(model.parameters())
        loss_fn = MSELoss()
        loss_fn(model(rng.normal(size=(4, 6)).astype(np.float32)), np.zeros((4, 4), np.float32))
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
        # a checkpoint written in float64 is read back into float32 state
        state = {k: np.asarray(v, dtype=np.float64) for k, v in opt.state_dict().items()}
        other = make(model.parameters())
        other.load_state_dict(state)
        arrays = {
            k: v for k, v in other.state_dict().items() if k not in ("step", "lr", "initial_lr")
        }
        assert arrays and all(v.dtype == np.float32 for v in arrays.values())


# ---------------------------------------------------- large parameters: updated block by block


def large_model(rng: np.random.Generator, dtype: Any) -> Sequential:
    """A weight of 300 × 250 = 75,000 entries, more than one block, and small ones."""
    return Sequential(
        Linear(300, 250, rng=rng, dtype=dtype), ReLU(), Linear(250, 3, rng=rng, dtype=dtype)
    )


CASES = [
    ("sgd", SGD, torch.optim.SGD, {"lr": 0.05}),
    ("sgd+momentum+wd", SGD, torch.optim.SGD, {"lr": 0.03, "momentum": 0.8, "weight_decay": 0.1}),
    ("adam", Adam, torch.optim.Adam, {"lr": 0.01}),
    ("adam+wd", Adam, torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.05}),
]


# float64 checks the arithmetic (1e-9, as tests/test_optim.py). In float32 the two libraries'
# GEMMs round differently, and Adam's first steps move every entry by about lr whatever the size
# of its gradient, so an entry whose gradient is near zero can differ by a few 1e-4 of the scale.
@pytest.mark.parametrize(
    ("dtype", "rtol"), [(np.float64, 1e-9), (np.float32, 1e-3)], ids=["float64", "float32"]
)
@pytest.mark.parametrize(("name", "ours", "theirs", "kwargs"), CASES, ids=[c[0] for c in CASES])
def test_blocked_update_of_a_large_weight_matches_torch_optim(
    name: str, ours: Any, theirs: Any, kwargs: dict[str, Any], dtype: Any, rtol: float
) -> None:
    rng = np.random.default_rng(5)
    model = large_model(rng, dtype)
    assert model[0].weight.data.size > BLOCK  # type: ignore[attr-defined]
    tmodel = to_torch(model)
    assert next(tmodel.parameters()).dtype == getattr(torch, np.dtype(dtype).name)
    opt, topt = ours(model.parameters(), **kwargs), theirs(tmodel.parameters(), **kwargs)
    loss_fn = CrossEntropyLoss()
    for step in range(10):
        x = rng.normal(size=(16, 300)).astype(dtype)
        t = rng.integers(0, 3, size=16)
        loss_fn(model(x), t)
        opt.zero_grad()
        model.backward_params(loss_fn.backward())
        opt.step()

        topt.zero_grad()
        torch_loss(loss_fn, tmodel(torch.from_numpy(x)), torch.from_numpy(t)).backward()
        topt.step()
        for p, ref in zip(model.parameters(), torch_params(tmodel), strict=True):
            assert p.data.dtype == dtype
            # labelled by dtype: the session summary reports float32 apart from float64
            label = "parameter after" if dtype == np.float64 else "float32 parameter"
            assert_close(f"{label} step {step}", p.data, ref, rtol=rtol)
