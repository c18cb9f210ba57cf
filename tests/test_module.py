"""Modes, buffers, the module tree and state_dict, against PyTorch's nn.Module; Linear on (…, in)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from layer_checks import check_layer

from backprop import Linear, ReLU, Sequential, Tanh
from backprop.interop import from_torch, to_torch
from backprop.nn import Module


def torch_mlp() -> torch.nn.Sequential:
    return torch.nn.Sequential(
        torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2, bias=False), torch.nn.Tanh()
    ).double()


def test_train_and_eval_return_the_module_and_reach_every_child() -> None:
    model = from_torch(torch_mlp())
    assert model.training and all(m.training for m in model.modules())
    assert model.eval() is model
    assert not model.training and not any(m.training for m in model.modules())
    assert model.train() is model
    assert all(m.training for m in model.modules())
    model[1].eval()  # one child alone, as PyTorch allows
    assert model.training and not model[1].training and model[0].training
    with pytest.raises(TypeError, match="mode must be a bool"):
        model.train("no")


def test_module_tree_and_state_dict_names_are_pytorchs() -> None:
    tmodel = torch_mlp()
    model = from_torch(tmodel)
    assert [n for n, _ in model.named_modules()] == [n for n, _ in tmodel.named_modules()]
    assert [n for n, _ in model.named_children()] == [n for n, _ in tmodel.named_children()]
    assert len(model.children()) == len(list(tmodel.children()))
    assert [n for n, _ in model.named_parameters()] == [n for n, _ in tmodel.named_parameters()]
    assert list(model.state_dict()) == list(tmodel.state_dict())
    # our layout: Linear.weight (in, out), the transpose of PyTorch's
    assert model.state_dict()["0.weight"].shape == (3, 4)
    assert tmodel.state_dict()["0.weight"].shape == (4, 3)


def test_state_dict_holds_the_arrays_and_load_state_dict_copies_in() -> None:
    rng = np.random.default_rng(1)
    first = Linear(3, 4, rng=rng)
    a = Sequential(first, ReLU(), Linear(4, 2, rng=rng))
    b = Sequential(Linear(3, 4, rng=rng), ReLU(), Linear(4, 2, rng=rng))
    assert a.state_dict()["0.weight"] is first.weight.data
    b.load_state_dict({k: v.copy() for k, v in a.state_dict().items()})
    x = rng.standard_normal((5, 3))
    np.testing.assert_array_equal(a(x), b(x))
    assert b.state_dict()["0.weight"] is not first.weight.data


def test_load_state_dict_names_what_is_wrong() -> None:
    rng = np.random.default_rng(2)
    linear = Linear(3, 4, rng=rng)
    model = Sequential(linear, Tanh())
    state = {k: v.copy() for k, v in model.state_dict().items()}
    with pytest.raises(ValueError, match=r"missing keys \['0.bias'\], unexpected keys \['0.b'\]"):
        model.load_state_dict({"0.weight": state["0.weight"], "0.b": state["0.bias"]})
    with pytest.raises(
        ValueError, match=r"'0.weight' has shape \(4, 3\), the module's is \(3, 4\)"
    ):
        model.load_state_dict({**state, "0.weight": state["0.weight"].T})
    model.load_state_dict({"0.bias": np.zeros(4)}, strict=False)
    assert linear.bias is not None
    np.testing.assert_array_equal(linear.bias.data, np.zeros(4))


def test_buffers_are_state_but_not_parameters() -> None:
    class Counter(Module):
        def __init__(self) -> None:
            self.register_buffer("count", np.zeros((), dtype=np.int64))
            self.register_buffer("absent", None)

    c = Counter()
    assert c.parameters() == [] and [n for n, _ in c.named_buffers()] == ["count"]
    model = Sequential(Linear(2, 2, rng=np.random.default_rng(0)), c)
    assert list(model.state_dict()) == ["0.weight", "0.bias", "1.count"]
    assert [n for n, _ in model.named_buffers()] == ["1.count"]


def test_modes_cross_to_and_from_torch_per_layer() -> None:
    tmodel = torch_mlp()
    tmodel[2].eval()
    model = from_torch(tmodel)
    assert [m.training for m in model.modules()] == [m.training for m in tmodel.modules()]
    back = to_torch(model.eval())
    assert not any(m.training for m in back.modules())


@pytest.mark.parametrize("seed", range(4))
def test_linear_on_any_leading_dimensions(seed: int) -> None:
    rng = np.random.default_rng(seed)
    lead = tuple(int(n) for n in rng.integers(1, 4, size=int(rng.integers(0, 4))))
    n_in, n_out = (int(n) for n in rng.integers(1, 5, size=2))
    bias = bool(seed % 2)
    check_layer(
        "Linear",
        lambda: torch.nn.Linear(n_in, n_out, bias=bias),
        rng.standard_normal((*lead, n_in)),
        rng,
    )


def test_linear_refuses_a_wrong_last_dimension() -> None:
    layer = Linear(3, 2, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"expects input of shape \(…, 3\), got \(2, 5, 4\)"):
        layer(np.ones((2, 5, 4)))


def test_new_hands_out_only_arrays_that_nothing_references() -> None:
    """Module._new takes back one of the layer's earlier arrays only when no reference to it
    is left: not the caller's, not a view's; while one is held it makes a new array."""
    layer = Module()
    shape, f32 = (64, 1024), np.dtype(np.float32)  # 256 KiB: kept
    a = layer._new("y", shape, f32)
    a_id = id(a)
    view = layer._new("y", shape, f32)[::2]  # only a view is left of the second
    b = layer._new("y", shape, f32)
    assert b is not a and not np.shares_memory(b, view) and not np.shares_memory(b, a)
    del a
    c = layer._new("y", shape, f32)  # the first one, free again
    assert id(c) == a_id and not np.shares_memory(c, view) and not np.shares_memory(c, b)
    zeros = layer._new("dx", shape, f32, zeros=True)
    zeros += 1
    del zeros
    assert not layer._new("dx", shape, f32, zeros=True).any()
    cl = layer._new("cl", (2, 64, 32, 16), f32, channels_last=True)
    assert cl.shape == (2, 64, 32, 16) and cl.transpose(0, 2, 3, 1).flags.c_contiguous
    corner = cl[:, :, :4, :4]  # a view of a view: only it is left
    del cl
    for _ in range(2):
        again = layer._new("cl", (2, 64, 32, 16), f32, channels_last=True)
        assert not np.shares_memory(again, corner)


def test_outputs_the_caller_keeps_stay_as_they_were() -> None:
    """A training loop that keeps each step's output and dL/dx (a list of predictions, say)
    sees them unchanged by later steps, as with new arrays each step."""
    from backprop import Conv2d, MaxPool2d, ReLU, Sequential

    rng = np.random.default_rng(3)
    conv = Conv2d(1, 8, 3, padding=1, rng=rng)
    for model in (
        Sequential(conv, ReLU(), MaxPool2d(2)),
        Sequential(MaxPool2d(2, padding=1)),  # its dL/dx: a cropped view of a kept array
        Sequential(ReLU()),
    ):
        kept: list[np.ndarray] = []
        copies: list[np.ndarray] = []
        for _ in range(4):
            x = (
                rng.standard_normal((64, 1, 16, 16))
                if model[0] is conv
                else conv(
                    rng.standard_normal((64, 1, 16, 16))  # channels last, as a Conv2d gives
                )
            )
            y = model(x, requires_grad=True)
            dx = model.backward(rng.standard_normal(y.shape))
            assert dx is not None
            kept += [y, dx]
            copies += [y.copy(), dx.copy()]
        for a, b in zip(kept, copies, strict=True):
            np.testing.assert_array_equal(a, b)
