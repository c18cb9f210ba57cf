"""Layers against PyTorch autograd (float64, ~1e-10) and central differences."""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_reference import compare_with_torch, random_mlp

from backprop import (
    SGD,
    CrossEntropyLoss,
    Identity,
    Linear,
    MSELoss,
    Parameter,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    fit,
    gradcheck,
)
from backprop.gradcheck import numerical_gradient, rel_error

ACTIVATIONS = [ReLU, Sigmoid, Tanh, Identity]


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 9),
    d_in=st.integers(1, 9),
    d_out=st.integers(1, 9),
    bias=st.booleans(),
)
def test_linear_matches_torch(seed: int, n: int, d_in: int, d_out: int, bias: bool) -> None:
    rng = np.random.default_rng(seed)
    layer = Sequential(Linear(d_in, d_out, bias=bias, rng=rng))
    x, t = rng.normal(size=(n, d_in)), rng.normal(size=(n, d_out))
    compare_with_torch(layer, x, MSELoss("sum"), t)


@pytest.mark.parametrize("activation", ACTIVATIONS)
@settings(max_examples=15, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 9), d=st.integers(1, 9))
def test_activation_matches_torch(activation: type, seed: int, n: int, d: int) -> None:
    rng = np.random.default_rng(seed)
    x, t = 3 * rng.normal(size=(n, d)), rng.normal(size=(n, d))
    compare_with_torch(Sequential(activation()), x, MSELoss("sum"), t)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    depth=st.integers(1, 5),
    n=st.integers(1, 16),
    data=st.data(),
)
def test_random_deep_sequential_matches_torch(
    seed: int, depth: int, n: int, data: st.DataObject
) -> None:
    rng = np.random.default_rng(seed)
    sizes = data.draw(st.lists(st.integers(1, 12), min_size=depth + 1, max_size=depth + 1))
    acts = data.draw(st.lists(st.sampled_from(ACTIVATIONS), min_size=1, max_size=4))
    model = random_mlp(rng, sizes, acts)
    x = rng.normal(size=(n, sizes[0]))
    loss_fn: CrossEntropyLoss | MSELoss
    t: np.ndarray
    if data.draw(st.booleans()):
        loss_fn, t = CrossEntropyLoss(), rng.integers(0, sizes[-1], size=n)
    else:
        loss_fn, t = (
            MSELoss(data.draw(st.sampled_from(["batchmean", "mean", "sum"]))),
            rng.normal(size=(n, sizes[-1])),
        )
    compare_with_torch(model, x, loss_fn, t)


@pytest.mark.parametrize("make", [
    lambda rng: Linear(5, 3, rng=rng),
    lambda rng: Linear(5, 3, bias=False, rng=rng),
    lambda rng: ReLU(), lambda rng: Sigmoid(), lambda rng: Tanh(), lambda rng: Identity(),
    lambda rng: Sequential(Linear(5, 7, rng=rng), Tanh(), Linear(7, 4, rng=rng), Sigmoid(), Linear(4, 2, rng=rng)),
])  # fmt: skip
@pytest.mark.parametrize("seed", range(5))
def test_gradcheck_every_layer(make: Any, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 8))
    report = gradcheck(make(rng), rng.normal(size=(n, 5)), rng=rng)
    assert report.passed, str(report)
    assert report.max_rel_error < 1e-7


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_relu_edge_values_are_torchs(dtype: Any) -> None:
    # −inf, a negative number, 0, ±inf and nan: the same values as torch.relu, sign bits
    # included (a negative input gives +0.0, not −0.0, and −inf gives 0, not nan), and the
    # same dL/dx. (An input of −0.0 is left out: it may come out as either zero.)
    x = np.array([[-np.inf, -3.0, -1e-30, 0.0, 2.5, np.inf, np.nan]], dtype=dtype)
    layer = ReLU()
    y = layer(x)
    xt = torch.tensor(x, requires_grad=True)
    yt = torch.relu(xt)
    np.testing.assert_array_equal(y, yt.detach().numpy())
    np.testing.assert_array_equal(np.signbit(y), np.signbit(yt.detach().numpy()))
    assert y.dtype == dtype
    g = np.arange(1.0, 8.0, dtype=dtype).reshape(1, 7)
    yt.backward(torch.tensor(g))
    assert xt.grad is not None
    np.testing.assert_array_equal(layer.backward(g), xt.grad.numpy())


def test_relu_matches_torch_across_shapes_and_layouts() -> None:
    # One layer fed in turn a channels-last batch, a contiguous one of its shape, one of
    # another shape, the first again, a 1-D vector and a sliced (non-contiguous) batch, with the edge values scattered
    # among normal ones: each output equals torch.relu's bit for bit, and keeps x's layout.
    rng = np.random.default_rng(7)
    edges = np.array([-np.inf, -3.0, -1e-30, 0.0, 2.5, np.inf, np.nan], dtype=np.float32)

    def batch(shape: tuple[int, ...]) -> np.ndarray:
        x = rng.standard_normal(shape).astype(np.float32)
        flat = x.reshape(-1)
        k = min(40, flat.size // 2)
        flat[rng.choice(flat.size, k, replace=False)] = rng.choice(edges, k)
        return x

    # (N, C, H, W) as Conv2d gives it; float32 batches of 4096 entries or more (all but (4, 9))
    # are compared with a zero array rather than the scalar 0
    channels_last = batch((8, 16, 16, 4)).transpose(0, 3, 1, 2)
    same_shape = batch((8, 4, 16, 16))  # contiguous, the shape of channels_last
    inputs = [channels_last, same_shape, batch((64, 96)), channels_last, batch((4, 9)),
              batch((5000,)), batch((130, 80))[::2, 1:]]  # fmt: skip
    layer = ReLU()
    for x in inputs:
        y = layer(x)
        expected = torch.relu(torch.from_numpy(np.ascontiguousarray(x))).numpy()
        np.testing.assert_array_equal(y, expected)
        np.testing.assert_array_equal(np.signbit(y), np.signbit(expected))
        assert y.dtype == np.float32
        assert np.argsort(y.strides).tolist() == np.argsort(x.strides).tolist()


def test_linear_init_is_pytorch_uniform_bound() -> None:
    rng = np.random.default_rng(0)
    layer = Linear(25, 400, rng=rng)
    bound = 1 / np.sqrt(25)
    for p in layer.parameters():
        assert np.all(np.abs(p.data) <= bound)
        # the draw fills the interval: its extremes lie close to ±bound
        assert p.data.max() > 0.9 * bound and p.data.min() < -0.9 * bound


def test_linear_weight_layout_is_the_posts_and_transposed_from_torch() -> None:
    rng = np.random.default_rng(1)
    layer = Linear(3, 2, rng=rng)
    assert layer.weight.shape == (3, 2)
    x = rng.normal(size=(4, 3))
    t = torch.nn.Linear(3, 2, dtype=torch.float64)
    assert layer.bias is not None
    with torch.no_grad():
        t.weight.copy_(torch.from_numpy(layer.weight.data.T.copy()))
        t.bias.copy_(torch.from_numpy(layer.bias.data))
    np.testing.assert_allclose(layer(x), t(torch.from_numpy(x)).detach().numpy(), rtol=1e-12)
    # o_n = b_n + θ_n · x with θ_n the n-th column of W, as in the post
    n = 1
    o = layer(x)
    np.testing.assert_allclose(
        o[:, n], layer.bias.data[n] + x @ layer.weight.data[:, n], rtol=1e-12
    )


def test_gradients_accumulate_until_zero_grad() -> None:
    rng = np.random.default_rng(2)
    model = Sequential(Linear(3, 4, rng=rng), Tanh(), Linear(4, 2, rng=rng))
    x1, x2 = rng.normal(size=(5, 3)), rng.normal(size=(6, 3))
    g1, g2 = rng.normal(size=(5, 2)), rng.normal(size=(6, 2))

    def grads_of(x: np.ndarray, g: np.ndarray) -> list[np.ndarray]:
        model.zero_grad()
        model(x)
        model.backward(g)
        return [p.grad.copy() for p in model.parameters()]

    a, b = grads_of(x1, g1), grads_of(x2, g2)
    model.zero_grad()
    model(x1)
    model.backward(g1)
    model(x2)
    model.backward(g2)
    for p, ga, gb in zip(model.parameters(), a, b, strict=True):
        np.testing.assert_allclose(p.grad, ga + gb, rtol=1e-12, atol=1e-15)
    model.zero_grad()
    assert all(np.all(p.grad == 0) for p in model.parameters())


def test_backward_params_skips_only_the_input_gradient() -> None:
    rng = np.random.default_rng(3)
    model = Sequential(Linear(3, 4, rng=rng), ReLU(), Linear(4, 2, rng=rng))
    x, g = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    model(x)
    model.zero_grad()
    model.backward(g)
    full = [p.grad.copy() for p in model.parameters()]
    model(x)
    model.zero_grad()
    model.backward_params(g)
    for p, f in zip(model.parameters(), full, strict=True):
        np.testing.assert_array_equal(p.grad, f)


class CountingLinear(Linear):
    """A Linear that counts its dL/dx products (backward; backward_params makes none)."""

    input_grads = 0

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        self.input_grads += 1
        return super().backward(grad_output)


def counting_mlp(rng: np.random.Generator) -> Sequential:
    return Sequential(CountingLinear(6, 5, rng=rng), ReLU(), CountingLinear(5, 3, rng=rng))


def chain_rule(model: Sequential, g: np.ndarray) -> np.ndarray:
    """dL/dx as each layer's backward gives it, one after the other."""
    for layer in reversed(model.layers):
        g = layer.backward(g)
    return g


def test_the_readme_training_step_computes_no_input_gradient() -> None:
    rng = np.random.default_rng(4)
    model = counting_mlp(rng)
    first, last = model[0], model[2]
    assert isinstance(first, CountingLinear) and isinstance(last, CountingLinear)
    loss_fn, optimizer = CrossEntropyLoss(), SGD(model.parameters(), lr=0.1)
    x, y = rng.normal(size=(7, 6)), rng.integers(0, 3, size=7)

    loss_fn(model(x), y)
    optimizer.zero_grad()
    returned = model.backward(loss_fn.backward())
    assert returned is None
    assert (first.input_grads, last.input_grads) == (0, 1)
    step = [p.grad.copy() for p in model.parameters()]

    # the same gradients as the chain rule run through every layer, dL/dx included
    loss_fn(model(x), y)
    model.zero_grad()
    chain_rule(model, loss_fn.backward())
    assert first.input_grads == 1
    for (name, p), a in zip(model.named_parameters(), step, strict=True):
        np.testing.assert_allclose(a, p.grad, rtol=1e-13, atol=1e-16, err_msg=name)

    optimizer.step()
    fit(model, loss_fn, optimizer, rng.normal(size=(20, 6)), rng.integers(0, 3, size=20),
        epochs=2, batch_size=8, rng=0)  # fmt: skip
    assert (first.input_grads, last.input_grads) == (1, 1 + 1 + 2 * 3)


@pytest.mark.parametrize("seed", range(3))
def test_requires_grad_returns_the_input_gradient(seed: int) -> None:
    rng = np.random.default_rng(seed)
    model = Sequential(Linear(4, 5, rng=rng), Tanh(), Linear(5, 3, rng=rng), Sigmoid())
    x, g = rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    model(x, requires_grad=True)
    dx = model.backward(g)
    assert dx is not None
    numeric = numerical_gradient(lambda: float(np.sum(g * model(x))), x)
    assert rel_error(dx, numeric) < 1e-8, f"ours\n{dx}\ncentral differences\n{numeric}"
    model(x)
    np.testing.assert_array_equal(dx, chain_rule(model, g))
    # the flag belongs to the forward pass: the next one without it asks for nothing
    model(x)
    assert model.backward(g) is None
    model([list(row) for row in x], requires_grad=True)  # a list is converted as before
    np.testing.assert_array_equal(model.backward(g), dx)
    with pytest.raises(TypeError, match="requires_grad must be a bool"):
        model(x, requires_grad=1)  # type: ignore[arg-type]


def test_nested_sequentials_pass_the_input_gradient_they_need() -> None:
    rng = np.random.default_rng(6)
    a, b, c = (CountingLinear(n, m, rng=rng) for n, m in [(4, 5), (5, 5), (5, 2)])
    inner_first = Sequential(Sequential(a), Tanh())
    inner_later = Sequential(Tanh(), c)
    nested = Sequential(inner_first, b, inner_later)
    flat = Sequential(a, Tanh(), b, Tanh(), c)
    x, g = rng.normal(size=(3, 4)), rng.normal(size=(3, 2))

    def run(model: Sequential, requires_grad: bool) -> tuple[Any, list[np.ndarray]]:
        model(x, requires_grad=requires_grad)
        model.zero_grad()
        dx = model.backward(g)
        return dx, [p.grad.copy() for p in model.parameters()]

    dx_flat, grads_flat = run(flat, True)
    counts = [m.input_grads for m in (a, b, c)]
    returned, grads = run(nested, False)
    assert returned is None
    # the first of the first skips dL/dx; the later inner one gives its dL/dx to b
    assert [m.input_grads - k for m, k in zip((a, b, c), counts, strict=True)] == [0, 1, 1]
    for ours, ref in zip(grads, grads_flat, strict=True):
        np.testing.assert_allclose(ours, ref, rtol=1e-13, atol=1e-16)
    dx, grads = run(nested, True)
    np.testing.assert_allclose(dx, dx_flat, rtol=1e-13, atol=1e-16)
    for ours, ref in zip(grads, grads_flat, strict=True):
        np.testing.assert_allclose(ours, ref, rtol=1e-13, atol=1e-16)
    # each inner one was asked what the outer one needs: the later one dL/dx, the first one the
    # outer one's flag
    nested(x)
    assert inner_first.backward(rng.normal(size=(3, 5))) is None
    assert inner_later.backward(g) is not None
    nested(x, requires_grad=True)
    assert inner_first.backward(rng.normal(size=(3, 5))) is not None


@pytest.mark.parametrize("activation", [Sigmoid, Tanh])
def test_saturating_activations_are_stable_at_extremes(activation: type) -> None:
    """Values and gradients at large |x| equal torch's autograd in float64: the gradient is the
    true tiny number where float64 holds it (σ′(−50) ≈ 1.9e-22, tanh′(±10) ≈ 8.2e-9) and 0 only
    where the exact value underflows or 1 − y rounds to 0 in both libraries."""
    x = np.array([[-1000.0, -50.0, -20.0, -10.0, -2.0, 0.0, 2.0, 10.0, 20.0, 50.0, 1000.0]])
    upstream = np.random.default_rng(0).normal(size=x.shape)
    layer: Any = activation()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        # underflow to 0 is the right answer for e^-1000; overflow and invalid are not
        with np.errstate(over="raise", invalid="raise", divide="raise"):
            y = layer(x)
            g = layer.backward(upstream)
    xt = torch.tensor(x, requires_grad=True)
    yt = getattr(torch, activation.__name__.lower())(xt)
    yt.backward(torch.from_numpy(upstream))
    assert xt.grad is not None
    ref_y, ref_g = yt.detach().numpy(), xt.grad.numpy()
    np.testing.assert_allclose(y, ref_y, rtol=1e-12, atol=0)
    # Relative to each entry (atol 0) for Sigmoid, whose tiny gradients at x < 0 are computed
    # from e^x without cancellation; tanh′ = 1 − y² cancels near ±1, so there the rounding of
    # y (1.1e-16, its ulp) is the natural scale.
    atol = 0.0 if activation is Sigmoid else 4e-16 * float(np.max(np.abs(upstream)))
    np.testing.assert_allclose(g, ref_g, rtol=1e-12, atol=atol)
    # the tiny gradients are there, not flushed to zero
    nonzero = ref_g != 0
    assert np.array_equal(g != 0, nonzero)
    assert nonzero[0, 1 if activation is Sigmoid else 3]


def test_sigmoid_keeps_relative_precision_for_negative_inputs() -> None:
    x = np.array([[-30.0, -100.0, -700.0]])
    np.testing.assert_allclose(Sigmoid()(x), 1 / (1 + np.exp(-x)), rtol=1e-14)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_layers_keep_their_dtype(dtype: type) -> None:
    rng = np.random.default_rng(4)
    model = Sequential(
        Linear(3, 5, rng=rng, dtype=dtype), ReLU(), Linear(5, 4, rng=rng, dtype=dtype), Sigmoid(),
        Linear(4, 4, rng=rng, dtype=dtype), Tanh(), Linear(4, 2, rng=rng, dtype=dtype),
    )  # fmt: skip
    x: np.ndarray = rng.normal(size=(6, 3)).astype(dtype)
    h = x
    for layer in model:
        h = layer(h)
        assert h.dtype == dtype, f"{layer!r} output is {h.dtype}"
    g = np.ones_like(h)
    for layer in reversed(list(model)):
        g = layer.backward(g)
        assert g.dtype == dtype, f"{layer!r} grad is {g.dtype}"
    for p in model.parameters():
        assert p.data.dtype == dtype and p.grad.dtype == dtype


def test_linear_casts_input_to_its_dtype() -> None:
    layer = Linear(3, 2, rng=np.random.default_rng(0), dtype=np.float32)
    assert layer(np.ones((2, 3))).dtype == np.float32


def test_linear_names_the_layer_and_shapes_on_bad_input() -> None:
    layer = Linear(4, 4, rng=np.random.default_rng(0))
    with pytest.raises(
        ValueError,
        match=r"Linear\(in_features=4, out_features=4.*expects input of shape \(…, 4\), got \(2, 3\)",
    ):
        layer(np.ones((2, 3)))


def test_backward_before_forward_is_an_error() -> None:
    with pytest.raises(RuntimeError, match="before forward"):
        Linear(2, 2, rng=np.random.default_rng(0)).backward(np.ones((1, 2)))
    with pytest.raises(RuntimeError, match="before forward"):
        ReLU().backward(np.ones((1, 2)))


def test_sequential_container_protocol_and_repr() -> None:
    rng = np.random.default_rng(0)
    model = Sequential(Linear(4, 3, rng=rng), ReLU(), Linear(3, 2, bias=False, rng=rng))
    assert len(model) == 3
    assert isinstance(model[1], ReLU)
    assert [type(m).__name__ for m in model] == ["Linear", "ReLU", "Linear"]
    assert len(model.parameters()) == 3
    assert [n for n, _ in model.named_parameters()] == ["0.weight", "0.bias", "2.weight"]
    text = repr(model)
    assert "in_features=4, out_features=3" in text and "(1): ReLU()" in text
    with pytest.raises(TypeError, match="item 1"):
        Sequential(Linear(2, 2, rng=rng), "relu")  # type: ignore[arg-type]


def test_parameter_grad_matches_data_shape_and_dtype() -> None:
    p = Parameter(np.zeros((3, 2), dtype=np.float32))
    assert p.grad.shape == (3, 2) and p.grad.dtype == np.float32
    with pytest.raises(ValueError, match="shape"):
        p.grad = np.zeros((2, 3))


def test_parameter_accumulate_adds_until_zero_grad() -> None:
    rng = np.random.default_rng(6)
    p = Parameter(rng.normal(size=(3, 2)))
    a, b, c = (rng.normal(size=(3, 2)) for _ in range(3))
    p.accumulate(a)
    np.testing.assert_array_equal(p.grad, a)
    p.accumulate(b)
    np.testing.assert_array_equal(p.grad, a + b)
    p.zero_grad()
    p.accumulate(c)  # right after zero_grad: the gradient is c, not a + b + c
    np.testing.assert_array_equal(p.grad, c)
    p.zero_grad()
    np.testing.assert_array_equal(p.grad, np.zeros((3, 2)))


def test_nan_or_inf_in_the_input_is_refused_with_its_place() -> None:
    model = Sequential(Linear(3, 2, rng=np.random.default_rng(0)))
    x = np.zeros((4, 3))
    x[2, 1] = np.inf
    with pytest.raises(ValueError, match=r"Sequential: input has inf at \[2, 1\]"):
        model(x)


@pytest.mark.parametrize("dtype", [np.float16, np.float32, np.float64])
@pytest.mark.parametrize("shape", [(5,), (4, 3), (2, 3, 4), (2, 1, 3, 3)])
@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_each_nonfinite_entry_of_the_input_is_found(
    dtype: type, shape: tuple[int, ...], bad: float
) -> None:
    # the finiteness filter is a sum: a NaN or an inf anywhere, in any layout, must reach it
    rng = np.random.default_rng(7)
    model = Sequential(Identity())
    for layout in ("C", "F"):
        for _ in range(3):
            x: np.ndarray = np.asarray(rng.normal(size=shape), dtype=dtype, order=layout)
            place = tuple(int(rng.integers(n)) for n in shape)
            x[place] = bad
            with pytest.raises(
                ValueError, match=rf"has -?(nan|inf) at \[{', '.join(map(str, place))}\]"
            ):
                model(x)


@pytest.mark.filterwarnings("ignore:invalid value:RuntimeWarning")  # NumPy's, inf − inf
def test_inf_and_minus_inf_together_in_the_input_are_found() -> None:
    x = np.zeros((3, 4), np.float32)
    x[0, 1], x[2, 3] = np.inf, -np.inf  # the sum is nan: still not finite
    with pytest.raises(ValueError, match=r"input has inf at \[0, 1\]"):
        Sequential(Identity())(x)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")  # NumPy's, from the filter's sum
def test_large_finite_input_whose_sum_overflows_is_accepted() -> None:
    x = np.full((4, 8), np.finfo(np.float32).max / 2, np.float32)
    y = Sequential(Identity())(x)  # the sum is inf; every entry is finite
    np.testing.assert_array_equal(y, x)


@pytest.mark.parametrize("last", [ReLU, Identity])
def test_backward_leaves_the_callers_gradient_as_it_was(last: type) -> None:
    # Inside a backward pass a ReLU may zero entries of a gradient in place; never the caller's.
    rng = np.random.default_rng(5)
    model = Sequential(Linear(3, 4, rng=rng), ReLU(), Linear(4, 4, rng=rng), last(), ReLU())
    model(rng.normal(size=(6, 3)))
    g = rng.normal(size=(6, 4))
    before = g.copy()
    model.backward(g)
    model.backward_params(g)
    np.testing.assert_array_equal(g, before)


def test_a_slice_of_a_sequential_is_a_sequential_of_the_same_layers() -> None:
    rng = np.random.default_rng(2)
    model = Sequential(Linear(3, 4, rng=rng), ReLU(), Linear(4, 2, rng=rng))
    head = model[:2]
    assert isinstance(head, Sequential) and head.layers == model.layers[:2]
    x = rng.normal(size=(5, 3))
    np.testing.assert_array_equal(model[2](head(x)), model(x))
    assert model[-1] is model.layers[2]


def test_a_layer_given_twice_to_a_sequential_is_refused() -> None:
    layer = Linear(2, 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="item 2 is item 0 again"):
        Sequential(layer, ReLU(), layer)
