"""Every optimizer, scheduler and clip_grad_norm_: 50-step trajectories equal to torch.optim's
(float64, ~1e-9), their state through state_dict, checkpoints and optimizer_to_torch."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import torch
from torch_reference import assert_close, random_mlp, torch_loss, torch_params

from backprop import (
    SGD,
    Adagrad,
    Adam,
    AdamW,
    CrossEntropyLoss,
    MSELoss,
    Optimizer,
    ReLU,
    RMSprop,
    Tanh,
)
from backprop.checkpoint import load_checkpoint, save
from backprop.interop import optimizer_to_torch, to_torch
from backprop.nn import Parameter
from backprop.nn.utils import clip_grad_norm_
from backprop.optim import OPTIMIZERS
from backprop.optim.lr_scheduler import CosineAnnealingLR, LRScheduler, StepLR

CASES: list[tuple[str, Callable[..., Optimizer], Callable[..., Any], dict[str, Any]]] = [
    ("sgd", SGD, torch.optim.SGD, {"lr": 0.05}),
    ("sgd+momentum", SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9}),
    ("sgd+wd", SGD, torch.optim.SGD, {"lr": 0.05, "weight_decay": 0.01}),
    ("sgd+momentum+wd", SGD, torch.optim.SGD, {"lr": 0.03, "momentum": 0.8, "weight_decay": 0.1}),
    ("adam", Adam, torch.optim.Adam, {"lr": 0.01}),
    ("adam+wd", Adam, torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.05}),
    ("adam+betas+eps", Adam, torch.optim.Adam, {"lr": 0.02, "betas": (0.8, 0.99), "eps": 1e-6}),
    ("adam+amsgrad", Adam, torch.optim.Adam, {"lr": 0.01, "weight_decay": 0.05, "amsgrad": True}),
    ("adamw+amsgrad", AdamW, torch.optim.AdamW, {"lr": 0.01, "amsgrad": True}),
    ("sgd+nesterov", SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "nesterov": True}),
    ("sgd+dampening", SGD, torch.optim.SGD, {"lr": 0.05, "momentum": 0.9, "dampening": 0.3}),
    ("adamw", AdamW, torch.optim.AdamW, {"lr": 0.01}),
    ("adamw+wd", AdamW, torch.optim.AdamW, {"lr": 0.02, "weight_decay": 0.3, "betas": (0.7, 0.9)}),
    ("rmsprop", RMSprop, torch.optim.RMSprop, {}),
    ("rmsprop+all", RMSprop, torch.optim.RMSprop, {"lr": 0.005, "alpha": 0.9, "eps": 1e-6, "weight_decay": 0.1, "momentum": 0.8, "centered": True}),
    ("rmsprop+alpha<0.5", RMSprop, torch.optim.RMSprop, {"lr": 0.003, "alpha": 0.3, "centered": True}),
    ("adagrad", Adagrad, torch.optim.Adagrad, {"lr": 0.1}),
    ("adagrad+all", Adagrad, torch.optim.Adagrad, {"lr": 0.1, "lr_decay": 0.05, "weight_decay": 0.1, "initial_accumulator_value": 0.5, "eps": 1e-6}),
]  # fmt: skip


# Each case with both losses would double the time for little: the update rules do not see the
# loss. The first seven (SGD and Adam) keep both; the rest run with cross-entropy.
GRID = [(*c, loss) for i, c in enumerate(CASES) for loss in (("mse", "ce") if i < 7 else ("ce",))]


@pytest.mark.parametrize(
    ("name", "ours_cls", "torch_cls", "kwargs", "loss_kind"),
    GRID,
    ids=[f"{c[0]}-{c[4]}" for c in GRID],
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
        assert_close(f"{ours_cls.__name__} loss at step {step}", loss, tloss.item(), rtol=1e-9)
        for p, ref in zip(model.parameters(), torch_params(tmodel), strict=True):
            assert_close(f"{ours_cls.__name__} parameters after step {step}", p.data, ref, 1e-9)


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
    with pytest.raises(ValueError, match="lr must be >= 0, got -1"):
        SGD(model.parameters(), lr=-1)
    with pytest.raises(ValueError, match="empty parameter list"):
        Adam([])
    with pytest.raises(TypeError, match=r"pass model.parameters\(\)"):
        SGD([np.zeros(2)], lr=0.1)  # type: ignore[list-item]
    with pytest.raises(ValueError, match="betas"):
        Adam(model.parameters(), betas=(1.0, 0.9))


def _train_both(
    opt: Optimizer,
    topt: Any,
    model: Any,
    tmodel: Any,
    rng: np.random.Generator,
    steps: int,
    after_backward: Callable[[], tuple[float, float] | None] = lambda: None,
    after_step: Callable[[int], None] = lambda step: None,
) -> None:
    """``steps`` steps of cross-entropy training here and in PyTorch on the same batches; the
    losses, the parameters and whatever ``after_backward`` returns compared at every step."""
    loss_fn = CrossEntropyLoss()
    for step in range(steps):
        x, t = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
        loss = loss_fn(model(x), t)
        opt.zero_grad()
        model.backward(loss_fn.backward())
        topt.zero_grad()
        tloss = torch_loss(loss_fn, tmodel(torch.from_numpy(x)), torch.from_numpy(t))
        tloss.backward()
        pair = after_backward()
        if pair is not None:
            assert_close(f"clip_grad_norm_ total-norm at step {step}", pair[0], pair[1], rtol=1e-9)
        opt.step()
        topt.step()
        after_step(step)
        name = type(opt).__name__
        assert_close(f"{name} loss at step {step}", loss, tloss.item(), rtol=1e-9)
        for p, ref in zip(model.parameters(), torch_params(tmodel), strict=True):
            assert_close(f"{name} parameters after step {step}", p.data, ref, rtol=1e-9)


SCHEDULED = [c for c in CASES if c[0] in ("sgd+momentum", "adamw+wd", "rmsprop+all", "adagrad+all")]


@pytest.mark.parametrize(("schedule", "norm_type"), [("step", 2.0), ("cosine", float("inf"))])
@pytest.mark.parametrize(
    ("name", "ours_cls", "torch_cls", "kwargs"), SCHEDULED, ids=[c[0] for c in SCHEDULED]
)
def test_trajectory_with_scheduler_and_clipping_matches_torch(
    name: str,
    ours_cls: Any,
    torch_cls: Any,
    kwargs: dict[str, Any],
    schedule: str,
    norm_type: float,
) -> None:
    rng = np.random.default_rng(11)
    model = random_mlp(rng, [5, 8, 6, 3], [Tanh, ReLU])
    tmodel = to_torch(model)
    opt, topt = ours_cls(model.parameters(), **kwargs), torch_cls(tmodel.parameters(), **kwargs)
    sched: LRScheduler
    tsched: Any
    if schedule == "step":
        sched, tsched = StepLR(opt, 7, gamma=0.5), torch.optim.lr_scheduler.StepLR(topt, 7, 0.5)
    else:
        # T_max 20 < 50 steps: the cosine goes down, and back up past T_max, as PyTorch's does
        sched = CosineAnnealingLR(opt, T_max=20, eta_min=1e-4)
        tsched = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=20, eta_min=1e-4)
    # max_norm below the typical norm, so that most steps are clipped
    max_norm = 0.3

    def clip() -> tuple[float, float]:
        total = clip_grad_norm_(model.parameters(), max_norm, norm_type)
        ttotal = torch.nn.utils.clip_grad_norm_(tmodel.parameters(), max_norm, norm_type)
        return total, ttotal.item()

    def schedule_step(step: int) -> None:
        sched.step()
        tsched.step()
        what = f"{type(sched).__name__} lr after step {step}"
        assert_close(what, sched.get_last_lr(), tsched.get_last_lr(), 1e-12)

    _train_both(opt, topt, model, tmodel, rng, 50, clip, schedule_step)


def test_schedules_follow_their_formulas() -> None:
    model = random_mlp(np.random.default_rng(0), [2, 2], [])
    opt = SGD(model.parameters(), lr=0.8)
    sched = StepLR(opt, step_size=3, gamma=0.5)
    lrs = [opt.lr]
    for _ in range(7):
        sched.step()
        lrs.append(opt.lr)
    assert lrs == [0.8, 0.8, 0.8, 0.4, 0.4, 0.4, 0.2, 0.2]
    opt = SGD(model.parameters(), lr=1.0)
    cosine = CosineAnnealingLR(opt, T_max=10, eta_min=0.1)
    for t in range(1, 11):
        cosine.step()
        assert opt.lr == pytest.approx(0.1 + 0.9 * (1 + np.cos(np.pi * t / 10)) / 2, abs=1e-14)


def test_a_second_scheduler_starts_from_the_first_ones_initial_lr_as_in_torch() -> None:
    model = random_mlp(np.random.default_rng(0), [2, 2], [])
    tmodel = to_torch(model)
    opt, topt = SGD(model.parameters(), lr=1.0), torch.optim.SGD(tmodel.parameters(), lr=1.0)
    first, tfirst = StepLR(opt, 2, 0.5), torch.optim.lr_scheduler.StepLR(topt, 2, 0.5)
    for _ in range(3):
        opt.step()  # zero gradients: only the order of the calls matters here
        topt.step()
        first.step()
        tfirst.step()
    second = CosineAnnealingLR(opt, T_max=4)
    tsecond = torch.optim.lr_scheduler.CosineAnnealingLR(topt, T_max=4)
    assert second.base_lr == tsecond.base_lrs[0] == 1.0
    for _ in range(6):
        opt.step()
        topt.step()
        second.step()
        tsecond.step()
        assert second.get_last_lr() == pytest.approx(tsecond.get_last_lr(), rel=1e-15)


def test_clip_grad_norm_returns_the_norm_and_clips_to_max_norm() -> None:
    model = random_mlp(np.random.default_rng(0), [3, 2], [])
    w, b = model.parameters()
    w.grad, b.grad = np.full((3, 2), 2.0), np.full(2, 2.0)  # 8 entries of 2: norm √32
    total = clip_grad_norm_(model.parameters(), max_norm=1.0)
    assert total == pytest.approx(np.sqrt(32), rel=1e-15)
    after = np.sqrt(np.sum(w.grad**2) + np.sum(b.grad**2))
    assert after == pytest.approx(1.0, rel=1e-5)  # 1 − 1e-6/√32: PyTorch's ε in the divisor
    # below max_norm: left as it was
    w.grad, b.grad = np.full((3, 2), 0.1), np.full(2, 0.1)
    clip_grad_norm_(model.parameters(), max_norm=1.0)
    np.testing.assert_array_equal(w.grad, np.full((3, 2), 0.1))
    with pytest.raises(ValueError, match=r"total norm of order 2\.0 of the gradients is nan"):
        w.grad = np.full((3, 2), np.nan)
        clip_grad_norm_(model.parameters(), 1.0, error_if_nonfinite=True)


# One case per optimizer, each with most of its options set.
FULL = ("sgd+momentum+wd", "sgd+nesterov", "adam+wd", "adam+amsgrad", "adamw+wd", "rmsprop+all",
        "adagrad+all")  # fmt: skip
ALL = [(c[1], c[3]) for name in FULL for c in CASES if c[0] == name]


@pytest.mark.parametrize(("cls", "kwargs"), ALL, ids=FULL)
def test_state_dict_resume_is_exact(cls: Any, kwargs: dict[str, Any]) -> None:
    """5 steps, state_dict into a fresh optimizer, 5 more: bit for bit the unbroken 10 steps."""

    def run(split: bool) -> list[np.ndarray]:
        rng = np.random.default_rng(3)
        model = random_mlp(rng, [3, 4, 2], [ReLU])
        opt = cls(model.parameters(), **kwargs)
        loss_fn = MSELoss()
        for step in range(10):
            if split and step == 5:
                state = {k: np.array(v) for k, v in opt.state_dict().items()}
                opt = cls(model.parameters(), **kwargs)
                opt.load_state_dict(state)
            loss_fn(model(rng.normal(size=(4, 3))), rng.normal(size=(4, 2)))
            opt.zero_grad()
            model.backward(loss_fn.backward())
            opt.step()
        return [p.data.copy() for p in model.parameters()]

    for a, b in zip(run(False), run(True), strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize(("cls", "kwargs"), ALL, ids=FULL)
def test_optimizer_to_torch_continues_exactly(cls: Any, kwargs: dict[str, Any]) -> None:
    """10 steps here, then the optimizer crosses to PyTorch: 10 more steps on each side agree."""
    rng = np.random.default_rng(5)
    model = random_mlp(rng, [5, 8, 6, 3], [Tanh, ReLU])
    opt = cls(model.parameters(), **kwargs)
    loss_fn = CrossEntropyLoss()
    for _ in range(10):
        loss_fn(model(rng.normal(size=(8, 5))), rng.integers(0, 3, size=8))
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
    tmodel = to_torch(model)
    topt = optimizer_to_torch(opt, tmodel)
    _train_both(opt, topt, model, tmodel, rng, 10)


@pytest.mark.parametrize(("cls", "kwargs"), ALL, ids=FULL)
def test_checkpoint_keeps_every_optimizer(cls: Any, kwargs: dict[str, Any], tmp_path: Any) -> None:
    rng = np.random.default_rng(2)
    model = random_mlp(rng, [3, 4, 2], [ReLU])
    opt = cls(model.parameters(), **kwargs)
    loss_fn = MSELoss()
    for _ in range(3):
        loss_fn(model(rng.normal(size=(4, 3))), rng.normal(size=(4, 2)))
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
    save(model, tmp_path / "c.npz", optimizer=opt)
    restored = load_checkpoint(tmp_path / "c.npz").optimizer
    assert restored is not None and type(restored) is cls
    assert restored.hyperparameters() == opt.hyperparameters()
    assert restored.steps == opt.steps or not opt.counts_steps
    state = opt.state_dict()
    assert restored.state_dict().keys() == state.keys()
    for key, value in restored.state_dict().items():
        np.testing.assert_array_equal(value, state[key])


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda ps: RMSprop(ps, alpha=-0.1), "RMSprop: alpha must be >= 0, got -0.1"),
        (lambda ps: Adagrad(ps, lr_decay=-1), "Adagrad: lr_decay must be >= 0, got -1"),
        (lambda ps: AdamW(ps, betas=(0.9, 1.0)), r"AdamW: betas\[1\] must be in \[0, 1\), got 1.0"),
        (lambda ps: SGD(ps, nesterov=True), "nesterov momentum needs momentum > 0"),
        (lambda ps: StepLR(SGD(ps), step_size=0), "StepLR: step_size must be a whole number >= 1"),
        (lambda ps: CosineAnnealingLR(SGD(ps), T_max=0), "T_max must be a whole number >= 1"),
        (lambda ps: StepLR(SGD(ps), 2, last_epoch=3), "optimizer has no initial_lr"),
    ],
)
def test_bad_optimizer_arguments_are_named(make: Any, message: str) -> None:
    model = random_mlp(np.random.default_rng(0), [2, 2], [])
    with pytest.raises(ValueError, match=message):
        make(model.parameters())


HYPERPARAMETERS = {
    "SGD": ["lr", "momentum", "dampening", "weight_decay"],
    "Adam": ["lr", "eps", "weight_decay", "betas"],
    "AdamW": ["lr", "eps", "weight_decay", "betas"],
    "RMSprop": ["lr", "alpha", "eps", "weight_decay", "momentum"],
    "Adagrad": ["lr", "lr_decay", "weight_decay", "initial_accumulator_value", "eps"],
}
VALUES = [0.0, 0.3, -0.5, math.inf, math.nan, np.float32(0.25), np.int64(2), np.array(0.5), "0.1"]


@pytest.mark.parametrize("name", list(HYPERPARAMETERS))
def test_hyperparameters_are_accepted_and_refused_as_torch_optim_does(name: str) -> None:
    """Each hyperparameter over numbers in and out of range, NumPy numbers and a string: accepted
    exactly when torch.optim accepts it, and then kept as a Python float (a checkpoint writes it
    as JSON). NaN, strings and betas that are not a pair are refused everywhere (torch.optim lets
    a NaN lr or momentum, a string dampening and three betas through, to fail at a step)."""
    cls, torch_cls = OPTIMIZERS[name], getattr(torch.optim, name)
    model = random_mlp(np.random.default_rng(0), [2, 2], [])
    for argument in HYPERPARAMETERS[name]:
        values: list[Any] = VALUES
        if argument == "betas":
            # Python numbers only: torch.optim refuses a NumPy number beside a float ("betas
            # must be either both floats or both Tensors"), which is taken here
            values = [(0.9, v) for v in VALUES if type(v) in (float, int, str)]
            values += [(v, 0.9) for v in (1.0, 0.999)]
            values += [(0.9, 0.99, 0.1), (0.9,)]
        for value in values:
            try:
                if "0.1" in np.atleast_1d(np.asarray(value, dtype=object)).tolist():
                    raise TypeError("a string")
                if argument == "betas" and len(value) != 2:  # torch.optim fails at the step
                    raise TypeError("not a pair")
                if np.isnan(np.asarray(value, dtype=object).astype(float)).any():
                    raise ValueError("NaN")
                if not isinstance(value, np.ndarray):  # a 0-d array: taken as its number
                    torch_cls([torch.zeros(2, requires_grad=True)], **{argument: value})
            except (ValueError, TypeError, IndexError):
                with pytest.raises((ValueError, TypeError), match=f"{name}: {argument}"):
                    cls(model.parameters(), **{argument: value})
                continue
            opt = cls(model.parameters(), **{argument: value})
            kept = opt.hyperparameters()[argument]
            assert json.loads(json.dumps(kept, allow_nan=True)) == pytest.approx(kept, nan_ok=True)
            assert all(type(v) is float for v in np.atleast_1d(kept).tolist())


def test_defaults_are_torch_optims() -> None:
    import inspect

    for cls in (SGD, Adam, AdamW, RMSprop, Adagrad):
        ours = inspect.signature(cls).parameters
        theirs = inspect.signature(getattr(torch.optim, cls.__name__)).parameters
        for name, parameter in ours.items():
            if name != "params":
                assert parameter.default == theirs[name].default, f"{cls.__name__}.{name}"


def test_plain_sgd_updates_spans_of_side_by_side_parameters_and_nothing_else() -> None:
    """Plain SGD updates small parameters made one after another with one call per span of
    memory. Layers made in between by someone else are not inside any span: their values stay
    as they are, although their gradients are non-zero; a parameter whose data or gradient array
    was replaced is updated in its new array; one that got no gradient since zero_grad stays."""
    from backprop import Linear

    rng = np.random.default_rng(3)
    first = Linear(4, 3, rng=rng)
    other = Linear(3, 3, rng=rng)  # lies between the optimizer's two layers in memory
    last = Linear(3, 2, rng=rng)
    frozen = Linear(2, 2, rng=rng)
    params = first.parameters() + last.parameters() + frozen.parameters()
    opt = SGD(params, lr=0.1)
    for p in first.parameters() + last.parameters() + other.parameters():
        p.grad = rng.normal(size=p.shape)
    assert last.bias is not None
    old_array = last.bias.data
    last.bias.data = old_array.copy()  # a new array, after the optimizer found its spans
    before = {id(p): p.data.copy() for p in params + other.parameters()}
    opt.step()
    for p in first.parameters() + last.parameters():
        np.testing.assert_array_equal(p.data, before[id(p)] - 0.1 * p.grad)
    for p in other.parameters() + frozen.parameters():
        np.testing.assert_array_equal(p.data, before[id(p)])
    np.testing.assert_array_equal(old_array, before[id(last.bias)])  # the array it had: untouched
    # a second step with the same gradients: the spans found again still cover every parameter
    opt.step()
    for p in first.parameters() + last.parameters():
        np.testing.assert_array_equal(p.data, before[id(p)] - 0.1 * p.grad - 0.1 * p.grad)


def test_a_small_parameter_is_a_copy_beside_the_one_before_and_a_large_one_is_kept() -> None:
    from backprop.nn.module import ARENA_LARGEST, Parameter

    small = np.arange(6.0).reshape(2, 3)
    a, b = Parameter(small), Parameter(np.ones(4))
    assert a.data is not small and np.array_equal(a.data, small) and a.data.flags.writeable
    small[0, 0] = 99.0  # the parameter holds its own copy
    assert a.data[0, 0] == 0.0
    assert a.data.base is b.data.base and a.grad.base is b.grad.base
    large = np.zeros(ARENA_LARGEST + 1, np.float32)
    assert Parameter(large).data is large
    assert Parameter(np.array([1, 2])).data.dtype == np.int64  # not a float: kept as given


@pytest.mark.parametrize("lr", [0.5, np.float32(0.5), np.array(0.5), 1])
def test_sgd_takes_lr_as_any_number(lr: Any) -> None:
    """A Python or NumPy number, or a 0-d array, as torch.optim takes a float or a tensor."""
    rng = np.random.default_rng(2)
    model = random_mlp(rng, [3, 2], [])
    before = [p.data.copy() for p in model.parameters()]
    for p in model.parameters():
        p.grad = np.ones(p.shape)
    SGD(model.parameters(), lr=lr).step()
    for p, b in zip(model.parameters(), before, strict=True):
        np.testing.assert_array_equal(p.data, b - float(lr))


SCHEDULES = {
    "cosine": (
        lambda o, **k: CosineAnnealingLR(o, T_max=10, eta_min=0.01, **k),
        lambda o, **k: torch.optim.lr_scheduler.CosineAnnealingLR(o, T_max=10, eta_min=0.01, **k),
    ),
    "step": (
        lambda o, **k: StepLR(o, step_size=3, gamma=0.5, **k),
        lambda o, **k: torch.optim.lr_scheduler.StepLR(o, step_size=3, gamma=0.5, **k),
    ),
}


@pytest.mark.parametrize("schedule", list(SCHEDULES))
def test_a_schedule_resumed_from_state_dicts_continues_as_pytorchs(schedule: str) -> None:
    """4 steps, both state_dicts saved, a new optimizer (its constructor's lr) and scheduler,
    both loaded, 4 steps more: the rates of an unbroken run in PyTorch (the optimizer's state
    carries the lr the schedule had reached, and initial_lr, as PyTorch's param group does)."""
    make, make_torch = SCHEDULES[schedule]
    tp = torch.zeros(2, requires_grad=True)
    tp.grad = torch.ones(2)
    topt = torch.optim.Adam([tp], lr=1.0)
    tsched = make_torch(topt)
    expected = []
    for _ in range(8):
        topt.step()
        tsched.step()
        expected.append(topt.param_groups[0]["lr"])
    p = Parameter(np.zeros(2))
    p.accumulate(np.ones(2))
    opt = Adam([p], lr=1.0)
    sched = make(opt)
    rates = []
    for k in range(8):
        if k == 4:
            saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
            opt = Adam([p], lr=1.0)
            sched = make(opt)
            opt.load_state_dict(saved_opt)
            sched.load_state_dict(saved_sched)
        opt.step()
        sched.step()
        rates.append(opt.lr)
    np.testing.assert_allclose(rates, expected, rtol=1e-13)


@pytest.mark.parametrize("schedule", list(SCHEDULES))
@pytest.mark.parametrize("last_epoch", [0, 2, 5, 6, 8])
def test_a_schedule_started_at_last_epoch_follows_pytorchs(schedule: str, last_epoch: int) -> None:
    make, make_torch = SCHEDULES[schedule]
    tp = torch.zeros(2, requires_grad=True)
    topt = torch.optim.SGD([tp], lr=0.5)
    topt.param_groups[0]["initial_lr"] = 1.0
    tsched = make_torch(topt, last_epoch=last_epoch)
    opt = SGD([Parameter(np.zeros(2))], lr=0.5)
    opt.initial_lr = 1.0
    sched = make(opt, last_epoch=last_epoch)
    ours, theirs = [opt.lr], [topt.param_groups[0]["lr"]]
    for _ in range(6):
        topt.step()  # (no gradient: nothing moves; PyTorch wants it before the schedule's)
        sched.step()
        tsched.step()
        ours.append(opt.lr)
        theirs.append(topt.param_groups[0]["lr"])
    assert sched.last_epoch == tsched.last_epoch
    np.testing.assert_allclose(ours, theirs, rtol=1e-13)


def test_clip_grad_norm_takes_one_parameter_as_torch_takes_one_tensor() -> None:
    p = Parameter(np.zeros(3))
    p.accumulate(np.array([3.0, 4.0, 0.0]))
    tp = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    tp.grad = torch.tensor([3.0, 4.0, 0.0], dtype=torch.float64)
    norm = clip_grad_norm_(p, 1.0)
    tnorm = torch.nn.utils.clip_grad_norm_(tp, 1.0)
    assert norm == pytest.approx(float(tnorm)) == 5.0
    np.testing.assert_allclose(p.grad, tp.grad.numpy(), rtol=1e-15)


def test_optimizer_state_given_as_lists_is_taken() -> None:
    model = random_mlp(np.random.default_rng(0), [2, 2], [])
    opt = Adam(model.parameters())
    state = {k: np.asarray(v).tolist() for k, v in opt.state_dict().items()}
    other = Adam(model.parameters())
    other.load_state_dict(state)
    for key, value in opt.state_dict().items():
        np.testing.assert_array_equal(other.state_dict()[key], value)
