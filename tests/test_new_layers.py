"""Every normalisation, regularisation, embedding and activation layer: the three checks of
layer_checks.check_layer (central differences, PyTorch autograd through from_torch in train and
eval mode, to_torch and checkpoint round trips) over seeded random shapes, and the edge cases."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from layer_checks import check_layer, randomize
from torch_reference import assert_close

from backprop import (
    GELU,
    BatchNorm1d,
    BatchNorm2d,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    Sequential,
    Sigmoid,
    Softmax,
    Tanh,
    Unflatten,
)
from backprop.interop import from_torch, to_torch

SEEDS = range(5)


def shape(rng: np.random.Generator, ndim: int, low: int = 1, high: int = 5) -> tuple[int, ...]:
    return tuple(int(n) for n in rng.integers(low, high, size=ndim))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("ndim", [2, 3])
def test_batchnorm1d(seed: int, ndim: int) -> None:
    rng = np.random.default_rng(seed)
    n, c, length = int(rng.integers(2, 7)), int(rng.integers(1, 5)), int(rng.integers(1, 4))
    x_shape = (n, c) if ndim == 2 else (n, c, length)
    x = rng.standard_normal(x_shape) * rng.uniform(0.5, 3) + rng.normal()
    momentum = [0.1, 0.3, None][seed % 3]
    check_layer(
        "BatchNorm1d",
        lambda: torch.nn.BatchNorm1d(c, eps=[1e-5, 1e-3][seed % 2], momentum=momentum),
        x,
        rng,
    )


@pytest.mark.parametrize(
    "kwargs",
    [
        {"affine": False},
        {"track_running_stats": False},
        {"affine": False, "track_running_stats": False},
    ],
)
def test_batchnorm1d_options(kwargs: dict[str, bool]) -> None:
    rng = np.random.default_rng(7)
    for x_shape in [(5, 3), (4, 3, 2)]:
        check_layer(
            "BatchNorm1d",
            lambda: torch.nn.BatchNorm1d(3, **kwargs),
            rng.standard_normal(x_shape),
            rng,
        )


def test_batchnorm1d_n1_in_eval_and_with_length_in_train() -> None:
    rng = np.random.default_rng(8)
    # N = 1: evaluation works on the running statistics; training on (1, C, L) has L values
    check_layer(
        "BatchNorm1d",
        lambda: torch.nn.BatchNorm1d(3),
        rng.standard_normal((1, 3)),
        rng,
        modes=("eval",),
    )
    check_layer("BatchNorm1d", lambda: torch.nn.BatchNorm1d(3), rng.standard_normal((1, 3, 4)), rng)


def test_batchnorm1d_refuses_one_value_per_channel_in_training_as_pytorch() -> None:
    with pytest.raises(ValueError):
        torch.nn.BatchNorm1d(3).double()(torch.zeros(1, 3, dtype=torch.float64))
    with pytest.raises(ValueError, match="expected more than 1 value per channel when training"):
        BatchNorm1d(3)(np.zeros((1, 3)))
    with pytest.raises(ValueError, match=r"expects 3 channels on axis 1, got input \(2, 4\)"):
        BatchNorm1d(3)(np.zeros((2, 4)))
    with pytest.raises(ValueError, match="expects 2-D or 3-D input"):
        BatchNorm1d(3)(np.zeros((2, 3, 1, 1)))


@pytest.mark.parametrize("tracked", [True, False])
@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize(
    ("ours", "theirs", "shape"),
    [
        (BatchNorm1d, torch.nn.BatchNorm1d, (1, 3)),
        (BatchNorm2d, torch.nn.BatchNorm2d, (1, 3, 1, 1)),
    ],
)
def test_batchnorm_refuses_one_value_per_channel_exactly_where_pytorch_does(
    ours: type, theirs: type, shape: tuple[int, ...], training: bool, tracked: bool
) -> None:
    # batch statistics are used in training, and in evaluation without running statistics
    x = np.random.default_rng(3).standard_normal(shape)
    tlayer = theirs(3, track_running_stats=tracked).double().train(training)
    layer = ours(3, track_running_stats=tracked).train(training)
    try:
        expected = tlayer(torch.from_numpy(x)).detach().numpy()
    except ValueError:
        with pytest.raises(ValueError, match="expected more than 1 value per channel when"):
            layer(x)
        assert training or not tracked  # PyTorch refuses only when batch statistics are used
    else:
        np.testing.assert_allclose(layer(x), expected, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("momentum", [0.1, None])
def test_batchnorm1d_running_stats_equal_pytorchs_after_50_steps(momentum: float | None) -> None:
    rng = np.random.default_rng(9)
    tlayer = torch.nn.BatchNorm1d(4, momentum=momentum).double()
    layer = from_torch(tlayer)[0]
    assert isinstance(layer, BatchNorm1d)
    for step in range(50):
        n = int(rng.integers(2, 9))
        x = rng.standard_normal((n, 4, 3) if step % 2 else (n, 4)) * 2 + 1
        layer(x)
        tlayer(torch.from_numpy(x))
    count = tlayer.num_batches_tracked
    assert count is not None and layer.num_batches_tracked == count.item() == 50
    for name in ("running_mean", "running_var"):
        ours, ref = getattr(layer, name), getattr(tlayer, name).numpy()
        assert np.max(np.abs(ours - ref)) <= 1e-12 * np.max(np.abs(ref)), name


@pytest.mark.parametrize("seed", SEEDS)
def test_layernorm(seed: int) -> None:
    rng = np.random.default_rng(seed)
    # at least 2 values normalised together: over one value x̂ is 0 whatever x (degenerate)
    x = rng.standard_normal(shape(rng, int(rng.integers(2, 5)), low=2)) * 3
    d = int(rng.integers(1, min(3, x.ndim)))
    normalized = x.shape[x.ndim - d :]
    affine, bias = [(True, True), (True, False), (False, True)][seed % 3]
    check_layer(
        "LayerNorm",
        lambda: torch.nn.LayerNorm(normalized, elementwise_affine=affine, bias=bias),
        x,
        rng,
    )


def test_layernorm_with_one_sample_and_int_shape() -> None:
    rng = np.random.default_rng(10)
    check_layer(
        "LayerNorm", lambda: torch.nn.LayerNorm(6, eps=1e-3), rng.standard_normal((1, 6)), rng
    )
    assert LayerNorm(6).normalized_shape == (6,)
    with pytest.raises(ValueError, match=r"expects input of shape \(…, 6\)"):
        LayerNorm(6)(np.zeros((2, 5)))


@pytest.mark.parametrize("seed", SEEDS)
def test_embedding_with_repeated_indices(seed: int) -> None:
    rng = np.random.default_rng(seed)
    num, dim = int(rng.integers(2, 8)), int(rng.integers(1, 5))
    # more positions than rows: some indices must repeat
    x = rng.integers(0, num, size=(*shape(rng, int(rng.integers(0, 3))), num + 3))
    assert len(np.unique(x)) < x.size
    check_layer("Embedding", lambda: torch.nn.Embedding(num, dim), x, rng)


@pytest.mark.parametrize(("limit", "rows"), [(0, 256), (1 << 30, 256), (1 << 30, 0)])
def test_embedding_scatter_add_and_one_hot_paths_agree_with_torch(
    limit: int, rows: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every way of summing dL/dW (np.add.at for a large table, the one-hot product for a
    small one, its Xᵀ taken from the kept identity or written into zeros), forced in turn, on
    indices that repeat."""
    import backprop.nn.sparse as sparse

    monkeypatch.setattr(sparse, "ONE_HOT_LIMIT", limit)
    monkeypatch.setattr(sparse, "ONE_HOT_ROWS", rows)
    rng = np.random.default_rng(5)
    x = rng.integers(0, 6, size=(4, 7))
    check_layer("Embedding", lambda: torch.nn.Embedding(6, 3), x, rng)


def test_embedding_refuses_bad_indices() -> None:
    layer = Embedding(5, 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"index 5 is out of range \[0, 5\)"):
        layer(np.array([1, 5]))
    with pytest.raises(TypeError, match="expects integer indices, got an array of float64"):
        layer(np.array([1.0]))
    # negative indices of every integer type, for a table larger than int8's or int16's positive
    # range, and an unsigned one too large for any table
    big = Embedding(70_000, 1, rng=np.random.default_rng(0))
    for dtype in (np.int8, np.int16, np.int32, np.int64):
        with pytest.raises(ValueError, match=r"index -1 is out of range \[0, 70000\)"):
            big(np.array([3, -1], dtype=dtype))
    with pytest.raises(ValueError, match=rf"index {2**64 - 1} is out of range"):
        big(np.array([2**64 - 1], dtype=np.uint64))
    assert big(np.array([69_999], dtype=np.uint32)).shape == (1, 1)
    with pytest.raises(TypeError, match="padding_idx is not supported"):
        from_torch(torch.nn.Embedding(5, 2, padding_idx=0))


def test_sequential_takes_integer_input_through_embedding_flatten_linear() -> None:
    rng = np.random.default_rng(11)
    tmodel = torch.nn.Sequential(
        torch.nn.Embedding(7, 3), torch.nn.Flatten(), torch.nn.Linear(6, 4), torch.nn.LayerNorm(4)
    ).double()
    model = from_torch(tmodel)
    x = rng.integers(0, 7, size=(5, 2))
    out = model(x)
    np.testing.assert_allclose(
        out, tmodel(torch.from_numpy(x)).detach().numpy(), rtol=1e-12, atol=1e-12
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_flatten(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape(rng, int(rng.integers(2, 5))))
    start = int(rng.integers(0, x.ndim))
    end = int(rng.integers(start, x.ndim)) - (x.ndim if seed % 2 else 0)
    check_layer("Flatten", lambda: torch.nn.Flatten(start, end), x, rng)


def test_flatten_defaults_keep_the_batch_axis() -> None:
    assert Flatten()(np.zeros((2, 3, 4))).shape == (2, 12)
    with pytest.raises(ValueError, match="do not fit input of shape"):
        Flatten(2, 1)(np.zeros((2, 3, 4)))


ACTIVATIONS: list[tuple[str, Callable[[], torch.nn.Module]]] = [
    ("GELU", lambda: torch.nn.GELU()),
    ("GELU", lambda: torch.nn.GELU(approximate="tanh")),
    ("LeakyReLU", lambda: torch.nn.LeakyReLU()),
    ("LeakyReLU", lambda: torch.nn.LeakyReLU(0.3)),
    ("Softmax", lambda: torch.nn.Softmax(dim=-1)),
    ("Softmax", lambda: torch.nn.Softmax(dim=0)),
    ("LogSoftmax", lambda: torch.nn.LogSoftmax(dim=-1)),
    ("LogSoftmax", lambda: torch.nn.LogSoftmax(dim=1)),
]


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize(("label", "make"), ACTIVATIONS)
def test_activation(seed: int, label: str, make: Callable[[], torch.nn.Module]) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape(rng, int(rng.integers(2, 4)))) * 3
    check_layer(label, make, x, rng)


def test_activations_at_their_edges() -> None:
    # LeakyReLU at exactly 0 takes the negative slope, as PyTorch
    x = np.array([[-1.0, 0.0, 2.0]])
    make = lambda: torch.nn.LeakyReLU(0.2)  # noqa: E731
    check_layer("LeakyReLU", make, x, np.random.default_rng(0), differences=False)
    # large logits: no overflow, the same values as PyTorch
    big = np.array([[1000.0, -1000.0, 0.0], [800.0, 800.0, -5.0]])
    for cls, tcls in ((Softmax, torch.nn.Softmax), (LogSoftmax, torch.nn.LogSoftmax)):
        ours = cls(dim=-1)(big)
        ref = tcls(dim=-1)(torch.from_numpy(big)).numpy()
        assert np.all(np.isfinite(ours))
        np.testing.assert_allclose(ours, ref, rtol=1e-15, atol=0)
    # GELU deep in the negative tail: PyTorch's 1 + erf(x/√2) cancels to 0, erfc keeps the
    # value: Φ(−10) = 7.619853024160527e-24 (the normal table), so GELU(−10) = −7.62e-23
    tail = np.array([-30.0, -10.0, 10.0])
    ref = torch.nn.GELU()(torch.from_numpy(tail)).numpy()
    np.testing.assert_allclose(GELU()(tail), ref, rtol=1e-15, atol=1e-20)
    np.testing.assert_allclose(GELU()(tail)[1], -10 * 7.619853024160527e-24, rtol=1e-13)
    with pytest.raises(TypeError, match="dim=None"):
        from_torch(torch.nn.Softmax())


@pytest.mark.parametrize(
    "cls, tcls", [(Softmax, torch.nn.Softmax), (LogSoftmax, torch.nn.LogSoftmax)]
)
def test_softmax_dims_as_pytorch_takes_them(cls: Any, tcls: Any) -> None:
    """A 0-d input (dim −1 or 0), an empty one, and a dim that names no axis: an IndexError
    that names the layer and the dims there are, as PyTorch's "Dimension out of range"."""
    for x, dim in [(np.array(2.5), -1), (np.array(2.5), 0), (np.empty((0, 3)), 0)]:
        layer = cls(dim=dim)
        xt = torch.tensor(x, requires_grad=True)
        yt = tcls(dim=dim)(xt)
        (yt * 2).sum().backward()
        assert_close(f"{cls.__name__} dim {dim} of {x.shape}", layer(x), yt.detach().numpy())
        assert xt.grad is not None
        assert_close(
            f"{cls.__name__} dL/dx", layer.backward(np.full(x.shape, 2.0)), xt.grad.numpy()
        )
    with pytest.raises(
        IndexError, match=r"dim 2 is out of range for input of shape \(2, 3\) \(dims -2 to 1\)"
    ):
        cls(dim=2)(np.ones((2, 3)))
    layer = cls()
    layer(np.ones((2, 3)))
    with pytest.raises(
        ValueError, match=r"backward expects grad_output of shape \(2, 3\), got \(3,\)"
    ):
        layer.backward(np.ones(3))


def test_dropout_drops_p_and_scales_the_rest_in_training() -> None:
    rng = np.random.default_rng(12)
    for p in (0.1, 0.5, 0.8):
        layer = Dropout(p, rng=np.random.default_rng(13))
        x = rng.uniform(1, 2, size=(200, 250))
        y = layer(x)
        dropped = y == 0
        # 50 000 draws: the fraction is within 5 standard deviations of p
        assert abs(dropped.mean() - p) < 5 * np.sqrt(p * (1 - p) / x.size)
        np.testing.assert_allclose(y[~dropped], x[~dropped] / (1 - p), rtol=1e-15)
        # the backward pass uses the same mask and scale
        g = rng.standard_normal(x.shape)
        dx = layer.backward(g)
        assert np.all(dx[dropped] == 0)
        np.testing.assert_allclose(dx[~dropped], g[~dropped] / (1 - p), rtol=1e-15)
        # a new forward draws a new mask
        assert not np.array_equal(layer(x) == 0, dropped)


def test_dropout_is_the_identity_in_eval_and_at_p_0_and_zero_at_p_1() -> None:
    rng = np.random.default_rng(14)
    x = rng.standard_normal((4, 5))
    layer = Dropout(0.5, rng=rng).eval()
    assert layer(x) is x and layer.backward(x) is x
    assert np.array_equal(Dropout(0.0, rng=rng)(x), x)
    one = Dropout(1.0, rng=rng)
    assert np.all(one(x) == 0) and np.all(one.backward(x) == 0)
    t = torch.nn.Dropout(1.0)
    assert torch.all(t(torch.from_numpy(x)) == 0)
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\]"):
        Dropout(1.5)


def test_dropout_three_checks() -> None:
    # eval against PyTorch; training only by differences and round trips (masks differ)
    rng = np.random.default_rng(15)
    check_layer(
        "Dropout",
        lambda: torch.nn.Dropout(0.3),
        rng.standard_normal((6, 4)),
        rng,
        torch_in_train=False,
    )


def test_dropout_mask_comes_from_the_layers_rng_only() -> None:
    x = np.ones((3, 8))
    a = Dropout(0.5, rng=np.random.default_rng(5))
    b = Dropout(0.5, rng=np.random.default_rng(5))
    np.random.seed(1)
    ya = a(x)
    np.random.seed(2)
    assert np.array_equal(ya, b(x))


def torch_mix(rng: np.random.Generator) -> tuple[torch.nn.Sequential, np.ndarray]:
    """A PyTorch model of every kind of new layer, with random parameters and buffers."""
    tmodel = torch.nn.Sequential(
        torch.nn.Embedding(9, 4),
        torch.nn.Flatten(),
        torch.nn.Linear(12, 8),
        torch.nn.BatchNorm1d(8),
        torch.nn.GELU(),
        torch.nn.Linear(8, 6, bias=False),
        torch.nn.LayerNorm(6),
        torch.nn.LeakyReLU(0.1),
        torch.nn.Dropout(0.2),
        torch.nn.Linear(6, 5),
        torch.nn.LogSoftmax(dim=1),
    ).double()
    randomize(tmodel, rng)
    return tmodel, rng.integers(0, 9, size=(10, 3))


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_a_pytorch_model_of_every_layer_crosses_and_trains_the_same(mode: str) -> None:
    rng = np.random.default_rng(16)
    tmodel, x = torch_mix(rng)
    tmodel.train(mode == "train")
    tmodel[8].eval()  # dropout off: its masks cannot match; every other layer in ``mode``
    model = from_torch(tmodel)
    assert [m.training for m in model] == [m.training for m in tmodel]
    target = rng.integers(0, 5, size=10)
    lr = 0.1
    # PyTorch: NLL of the log-softmax output, one SGD step
    out_t = tmodel(torch.from_numpy(x))
    loss_t = torch.nn.functional.nll_loss(out_t, torch.from_numpy(target))
    loss_t.backward()
    with torch.no_grad():
        for tp in tmodel.parameters():
            assert tp.grad is not None
            tp.sub_(lr * tp.grad)
    # ours: the same loss written out, its gradient by hand, SGD by hand
    out = model(x)
    loss = -np.mean(out[np.arange(10), target])
    grad = np.zeros_like(out)
    grad[np.arange(10), target] = -1 / 10
    model.zero_grad()
    model.backward(grad)
    for p in model.parameters():
        p.data -= lr * p.grad
    assert abs(loss - loss_t.item()) <= 1e-12 * abs(loss_t.item())
    for (name, ours), (tname, ref) in zip(
        model.state_dict().items(), tmodel.state_dict().items(), strict=True
    ):
        assert name == tname
        owner = tmodel[int(name.split(".")[0])]
        is_linear_weight = isinstance(owner, torch.nn.Linear) and name.endswith(".weight")
        ref_np = ref.numpy().T if is_linear_weight else ref.numpy()
        err = np.max(np.abs(ours - ref_np), initial=0) / max(
            np.max(np.abs(ref_np), initial=0), 1e-300
        )
        assert err <= 1e-10, f"{name} after one SGD step: relative error {err:.2e}"
    back = to_torch(model)
    assert [m.training for m in back] == [m.training for m in model]
    ours_state = model.state_dict()
    for name, a in back.state_dict().items():
        weight = isinstance(back[int(name.split(".")[0])], torch.nn.Linear) and "weight" in name
        b = ours_state[name].T if weight else ours_state[name]
        assert np.array_equal(a.numpy(), b), f"{name} changed on the way back"


def test_a_mixed_model_round_trips_exactly_through_a_checkpoint_and_resumes(tmp_path: Path) -> None:
    from backprop.checkpoint import load_checkpoint, save

    rng = np.random.default_rng(17)
    model = Sequential(
        Embedding(9, 4, rng=rng), Flatten(), Linear(12, 8, rng=rng), BatchNorm1d(8), GELU(),
        Dropout(0.3, rng=np.random.default_rng(3)), Linear(8, 5, rng=rng), Softmax(),
    )  # fmt: skip
    x = rng.integers(0, 9, size=(6, 3))
    model(x)  # the running statistics move, the dropout generator advances
    save(model, tmp_path / "m.npz")
    loaded = load_checkpoint(tmp_path / "m.npz").model
    for (k, a), (_, b) in zip(model.state_dict().items(), loaded.state_dict().items(), strict=True):
        assert np.array_equal(a, b), k
    # the next training forward (new dropout mask, batch statistics) is the same to the bit
    assert np.array_equal(model(x), loaded(x))
    model.eval()
    save(model, tmp_path / "e.npz")
    assert not any(m.training for m in load_checkpoint(tmp_path / "e.npz").model.modules()[1:])


def test_backprop_gradcheck_covers_every_registered_layer() -> None:
    from backprop.gradcheck import builtin_reports
    from backprop.nn.registry import LAYERS

    reports = builtin_reports(seed=3)
    assert all(r.passed for r in reports)
    subjects = " ".join(r.subject for r in reports)
    missing = [name for name in LAYERS if name not in subjects]
    assert not missing, f"backprop gradcheck does not check {missing}"
    # the eval-mode BatchNorm and Dropout in training are among them
    assert "BatchNorm1d(" in subjects and ") eval" in subjects and "Dropout(0.3) train" in subjects


def test_unflatten_crosses_and_round_trips() -> None:
    rng = np.random.default_rng(18)
    check_layer(
        "Unflatten", lambda: torch.nn.Unflatten(1, (2, 3)), rng.standard_normal((4, 6)), rng
    )


@pytest.mark.parametrize(
    ("dim", "sizes", "x_shape"),
    [
        (1, (-1, 2), (4, 6)),
        (1, (3, -1), (4, 6)),
        (-1, (2, -1, 1), (2, 3, 4)),
        (0, (-1,), (5, 2)),
        (-2, (1, 3), (2, 3, 4)),
        (-3, (2, 1), (2, 3, 4)),
        (2, (2, 2), (2, 3, 4)),
    ],
)
def test_unflatten_matches_torch_with_negative_dims_and_an_inferred_size(
    dim: int, sizes: tuple[int, ...], x_shape: tuple[int, ...]
) -> None:
    rng = np.random.default_rng(19)
    x = rng.standard_normal(x_shape)
    expected = torch.nn.Unflatten(dim, sizes)(torch.from_numpy(x)).shape
    assert Unflatten(dim, sizes)(x).shape == expected
    check_layer("Unflatten", lambda: torch.nn.Unflatten(dim, sizes), x, rng)


def test_unflatten_infers_a_size_of_0_in_an_empty_input_as_torch() -> None:
    layer = Unflatten(1, [-1, 2])
    y = layer(np.zeros((4, 0)))
    assert y.shape == torch.nn.Unflatten(1, (-1, 2))(torch.zeros(4, 0)).shape == (4, 0, 2)
    assert layer.backward(np.zeros(y.shape)).shape == (4, 0)


@pytest.mark.parametrize(
    ("dim", "sizes", "error", "message"),
    [
        ("a", (2, 2), TypeError, r"^Unflatten: dim must be a whole number, got 'a'"),
        (1.0, (2, 2), TypeError, r"^Unflatten: dim must be a whole number"),
        (True, (2, 2), TypeError, r"^Unflatten: dim must be a whole number"),
        (1, (2.5, 2), TypeError, r"^Unflatten: unflattened_size\[0\] must be a whole number"),
        (1, (2, 2.0), TypeError, r"^Unflatten: unflattened_size\[1\] must be a whole number"),
        (1, 4, TypeError, r"^Unflatten: unflattened_size must be a tuple"),
        (1, (), ValueError, r"^Unflatten: unflattened_size must hold sizes >= 1"),
        (1, (0, 2), ValueError, r"^Unflatten: unflattened_size must hold sizes >= 1"),
        (1, (-2, 2), ValueError, r"^Unflatten: unflattened_size must hold sizes >= 1"),
        (1, (-1, -1), ValueError, r"one of them may be -1"),
    ],
)
def test_unflatten_refuses_bad_arguments_when_made(
    dim: Any, sizes: Any, error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        Unflatten(dim, sizes)


@pytest.mark.parametrize(
    ("dim", "sizes", "x", "message"),
    [
        (2, (2, 2), np.zeros((4, 4)), r"dim 2 is out of range for input of shape \(4, 4\) "),
        (-3, (2, 2), np.zeros((4, 4)), r"dim -3 is out of range .* \(dims -2 to 1\)"),
        (0, (1,), np.array(1.0), r"dim 0 is out of range .* \(a 0-d input has none to split\)"),
        (1, (2, 2), np.zeros((4, 6)), r"expects dimension 1 of size 4, got input \(4, 6\)"),
        (1, (-1, 4), np.zeros((4, 6)), r"expects dimension 1 of a size divisible by 4"),
    ],
)
def test_unflatten_refuses_an_input_it_cannot_split_where_torch_does(
    dim: int, sizes: tuple[int, ...], x: np.ndarray, message: str
) -> None:
    with pytest.raises((IndexError, RuntimeError)):
        torch.nn.Unflatten(dim, sizes)(torch.from_numpy(x))
    with pytest.raises(ValueError, match=r"^Unflatten\(dim=.*\):? " + message):
        Unflatten(dim, sizes)(x)


def test_the_batchnorm_core_serves_a_2d_subclass() -> None:
    """A BatchNorm2d needs only _check_input: the core normalises over every axis but 1."""
    from backprop.nn.normalization import _BatchNorm

    class BatchNorm2d(_BatchNorm):
        def _check_input(self, x: np.ndarray) -> None:
            if x.ndim != 4:
                raise ValueError("4-D input expected")

    rng = np.random.default_rng(19)
    x, g = rng.standard_normal((3, 2, 4, 5)), rng.standard_normal((3, 2, 4, 5))
    tlayer = torch.nn.BatchNorm2d(2).double()
    randomize(tlayer, rng)
    layer = BatchNorm2d(2)
    layer.load_state_dict({k: v.numpy().copy() for k, v in tlayer.state_dict().items()})
    for training in (True, False):
        layer.train(training)
        tlayer.train(training)
        xt = torch.tensor(x, requires_grad=True)
        out_t = tlayer(xt)
        out_t.backward(torch.from_numpy(g))
        out = layer(x)
        layer.zero_grad()
        dx = layer.backward(g)
        np.testing.assert_allclose(out, out_t.detach().numpy(), rtol=1e-10, atol=1e-12)
        assert xt.grad is not None
        np.testing.assert_allclose(dx, xt.grad.numpy(), rtol=1e-10, atol=1e-12)
        for name, p in layer.named_parameters():
            tp = dict(tlayer.named_parameters())[name].grad
            assert tp is not None
            np.testing.assert_allclose(p.grad, tp.numpy(), rtol=1e-10, atol=1e-12)
            tp.zero_()
        for k, v in tlayer.state_dict().items():
            np.testing.assert_allclose(layer.state_dict()[k], v.numpy(), rtol=1e-12)


def test_batchnorm_without_its_bias_is_refused_by_name() -> None:
    with pytest.raises(TypeError, match=r"layer 0 \(BatchNorm1d\): bias=False .* not supported"):
        from_torch(torch.nn.BatchNorm1d(3, bias=False))


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda: Sigmoid(), torch.sigmoid),
        (lambda: Tanh(), torch.tanh),
        (lambda: GELU(), torch.nn.functional.gelu),
        (lambda: GELU("tanh"), lambda t: torch.nn.functional.gelu(t, approximate="tanh")),
        (lambda: LeakyReLU(0.1), lambda t: torch.nn.functional.leaky_relu(t, 0.1)),
    ],
)
def test_activations_of_integer_input_are_those_of_its_values(ours: Any, theirs: Any) -> None:
    # an int64 array is computed in float64 (as np.tanh does), not in integers
    x = np.array([[-3, -1, 0, 1, 2, 5]])
    y = ours()(x)
    assert y.dtype == np.float64
    np.testing.assert_allclose(y, theirs(torch.tensor(x, dtype=torch.float64)).numpy(), rtol=1e-13)
