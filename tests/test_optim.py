"""SGD and Adam: 50-step trajectories equal to torch.optim's (float64, ~1e-9)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch_reference import assert_close, random_mlp, torch_loss, torch_params

from backprop import SGD, Adam, CrossEntropyLoss, MSELoss, Optimizer, ReLU, Tanh
from backprop.interop import to_torch

CASES: list[tuple[str, Callable[..., Optimizer], Callable[..., Any], dict[str, Any]]] = [
    ("sgd", SGD, torch.optim.SGD, {"lr": 0.05}),
    ("sgd+momentum", SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    ("sgd+wd", SGD, torch.optim.SGD, {"lr": 0.05, "weight_decay": 0.01}),
    ("sgd+momentum+wd", SGD, torch.optim.SGD, {"lr": 0.03, "momentum": 0.8, "weight_decay": 0.1}),
    ("adam", Adam, torch.optim.Adam, {"lr": 0.01}),
    ("adam+wd", Adam, torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.05}),
    ("adam+betas+eps", Adam, torch.optim.Adam, {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6}),
]


@pytest.mark.parametrize("loss_kind", ["mse", "ce"])
@pytest.mark.parametrize(
    ("name", "ours_cls", "torch_cls", "kwargs"), CASES, ids=[c[0] for c in CASES]
)
def test_trajectory_matches_torch_optim(
    name: str, ours_cls: Any, torch_cls: Any, kwargs: dict[str, Any], loss_kind: str
) -> None:
    rng = np.random.default_rng(7)
    model = random_mlp(rng, [5, 8, 6, 3], [Tanh, ReLU])
    tmodel = to_torch(model)
    opt, topt = ours_cls(model.parameters(), **kwargs), torch_cls(tmodel.parameters(), **kwargs)
    loss_fn = MSELoss("mean") if loss_kind == "mse" else CrossEntropyLoss()
    for step in range(50):
        x = rng.normal(size=(8, 5))
        t = rng.normal(size=(8, 3)) if loss_kind == "mse" else rng.integers(0, 3, size=8)
        loss = loss_fn(model(x), t)
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()

        topt.zero_grad()
        tloss = torch_loss(loss_fn, tmodel(torch.from_numpy(x)), torch.from_numpy(t))
        tloss.backward()
        topt.step()
        assert_close(f"loss value at step {step}", loss, tloss.item(), rtol=1e-9)
        for p, ref in zip(model.parameters(), torch_params(tmodel), strict=True):
            assert_close(f"parameter after step {step}", p.data, ref, rtol=1e-9)


def test_sgd_is_plain_descent() -> None:
    rng = np.random.default_rng(0)
    model = random_mlp(rng, [2, 2], [])
    (w, b) = model.parameters()
    w.grad, b.grad = np.ones((2, 2)), np.full(2, 2.0)
    before = w.data.copy(), b.data.copy()
    SGD(model.parameters(), lr=0.5).step()
    np.testing.assert_array_equal(w.data, before[0] - 0.5)
    np.testing.assert_array_equal(b.data, before[1] - 1.0)


@pytest.mark.parametrize("cls", [SGD, Adam])
def test_optimizer_state_round_trips(cls: Any) -> None:
    rng = np.random.default_rng(1)
    model = random_mlp(rng, [3, 4, 2], [ReLU])
    kwargs = {"lr": 0.1, "momentum": 0.9} if cls is SGD else {"lr": 0.1}
    opt = cls(model.parameters(), **kwargs)
    loss_fn = MSELoss()
    for _ in range(3):
        loss_fn(model(rng.normal(size=(4, 3))), rng.normal(size=(4, 2)))
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
    state = opt.state_dict()
    assert state
    other = cls(model.parameters(), **kwargs)
    other.load_state_dict({k: np.array(v) for k, v in state.items()})
    for key, value in other.state_dict().items():
        np.testing.assert_array_equal(value, state[key])


def test_optimizer_rejects_bad_arguments() -> None:
    model = random_mlp(np.random.default_rng(0), [2, 2], [])
    with pytest.raises(ValueError, match="lr must be > 0"):
        SGD(model.parameters(), lr=0)
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(TypeError, match=r"pass model.parameters\(\)"):
        SGD([np.zeros(2)], lr=0.1)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="betas"):
        Adam(model.parameters(), betas=(1.0, 0.9))
