"""The three proofs every layer passes, from one helper: ``check_layer``.

(a) Central differences in float64 under a random upstream gradient G (never all ones, which
    would hide a wrong transpose or a missing term): for L = Σ G ⊙ layer(x), backward(G) must
    equal the centred differences of L with respect to x and to every parameter.
(b) PyTorch's autograd on the same weights: a PyTorch layer with random parameters and buffers
    crosses with ``from_torch`` (so the layout conversion is tested too); forward, dL/dx, every
    parameter gradient and every buffer after the step within 1e-10 relative, in train and
    eval mode; then every parameter gradient again after a second backward pass without
    zero_grad, which adds to it.
(c) Round trips: ``to_torch`` gives back the same state and mode exactly, and so does a
    checkpoint, whose model computes the same output to the last bit.

Usage, over seeded random shapes::

    check_layer("BatchNorm1d", lambda: torch.nn.BatchNorm1d(4), rng.standard_normal((8, 4)), rng)

Layers whose training forward is random (Dropout) pass ``torch_in_train=False``: PyTorch's mask
cannot be ours, so in training mode only (a) and (c) run, against our own mask (the layer's rng
is rewound before every forward call of the differences).
"""

from __future__ import annotations

import copy
import os
import tempfile
from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from torch_reference import RTOL, WORST, rel_err

from backprop import Module, Sequential
from backprop.checkpoint import load_checkpoint, model_spec, save
from backprop.interop import from_torch, to_torch

DIFF_H = 1e-6
DIFF_TOL = 1e-7


def central_differences(f: Callable[[], float], a: np.ndarray, h: float = DIFF_H) -> np.ndarray:
    """(f(a + h eᵢ) − f(a − h eᵢ)) / 2h for every entry i of ``a`` (changed in place, restored)."""
    grad = np.zeros(a.shape)
    flat, gflat = a.reshape(-1), grad.reshape(-1)
    assert np.shares_memory(flat, a), "the differences must perturb the array itself"
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def diff_error(analytic: np.ndarray, numeric: np.ndarray) -> float:
    """‖a − n‖ / (‖a‖ + ‖n‖), norm-wise, so entries that are zero up to rounding do not count."""
    denom = float(np.linalg.norm(analytic) + np.linalg.norm(numeric))
    return 0.0 if denom == 0 else float(np.linalg.norm(analytic - numeric)) / denom


def randomize(module: torch.nn.Module, rng: np.random.Generator) -> None:
    """Random parameters and buffers, so no check passes by an initial value (ones, zeros)."""
    with torch.no_grad():
        for _, p in module.named_parameters():
            p.copy_(torch.from_numpy(rng.standard_normal(tuple(p.shape))))
        for name, b in module.named_buffers():
            if name.endswith("running_var"):
                b.copy_(torch.from_numpy(rng.uniform(0.5, 2.0, tuple(b.shape))))
            elif b.dtype.is_floating_point:
                b.copy_(torch.from_numpy(rng.standard_normal(tuple(b.shape))))
            else:
                b.fill_(int(rng.integers(0, 100)))


def _ours_layout(layer: torch.nn.Module, name: str, a: np.ndarray) -> np.ndarray:
    """PyTorch's Linear weight is (out, in), ours (in, out): written here independently of
    the registry that interop reads, so a wrong entry there fails."""
    leaf = name.rsplit(".", 1)[-1]
    owner = layer.get_submodule(name.rsplit(".", 1)[0]) if "." in name else layer
    return a.T if isinstance(owner, torch.nn.Linear) and leaf == "weight" else a


def _rngs(module: Module) -> list[np.random.Generator]:
    found = (getattr(m, "rng", None) for m in module.modules())
    return [g for g in found if isinstance(g, np.random.Generator)]


def _close(what: str, ours: Any, ref: Any, rtol: float) -> float:
    err = rel_err(np.asarray(ours), np.asarray(ref))
    assert err <= rtol, (
        f"{what}: relative error {err:.3e} > {rtol:.0e}\nours:\n{ours}\nreference:\n{ref}"
    )
    return err


def _record(label: str, err: float) -> float:
    WORST[label] = max(WORST.get(label, 0.0), err)
    return err


def check_differences(
    label: str, layer: Module, x: np.ndarray, upstream: np.ndarray, dx: Any
) -> None:
    """(a): backward(G) (already run: dx, and every p.grad) against centred differences."""
    rngs = _rngs(layer)
    states = [g.bit_generator.state for g in rngs]

    def loss() -> float:
        for g, s in zip(rngs, states, strict=True):
            g.bit_generator.state = s
        return float(np.sum(upstream * layer(x)))

    # The differences themselves are only good to about ε·|L|/h per entry (rounding of L):
    # a gradient that is zero up to rounding (LayerNorm over 2 values) is held to that.
    noise = 100 * np.finfo(np.float64).eps * max(1.0, abs(loss())) / DIFF_H

    def check(what: str, analytic: np.ndarray, numeric: np.ndarray) -> None:
        err = diff_error(analytic, numeric)
        gap = float(np.linalg.norm(analytic - numeric))
        assert err <= DIFF_TOL or gap <= noise * np.sqrt(numeric.size), (
            f"{label}: {what} against central differences: {err:.2e} (gap {gap:.2e})"
        )

    if np.issubdtype(x.dtype, np.floating):
        x = x.copy()
        check("dL/dx", dx, central_differences(loss, x))
    for name, p in layer.named_parameters():
        check(f"dL/d{name}", p.grad, central_differences(loss, p.data))


def check_round_trips(label: str, layer: Module, x: np.ndarray) -> None:
    """(c): to_torch and a checkpoint give back the same layer: arguments, state, mode."""
    model = Sequential(layer)
    tmodel = to_torch(model)
    assert type(tmodel[0]).__name__ == type(layer).__name__
    assert tmodel[0].training == layer.training, f"{label}: mode lost in to_torch"
    tstate = tmodel[0].state_dict()
    ours = layer.state_dict()
    assert list(tstate) == list(ours), f"{label}: state keys {list(tstate)} vs {list(ours)}"
    for key, value in ours.items():
        back = _ours_layout(tmodel[0], key, tstate[key].numpy())
        assert back.dtype == value.dtype and np.array_equal(back, value), f"{label}: {key}"
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "layer.npz")
        save(model, path)
        loaded = load_checkpoint(path).model
    assert model_spec(loaded) == model_spec(model)
    assert loaded[0].training == layer.training, f"{label}: mode lost in a checkpoint"
    for (k1, v1), (k2, v2) in zip(
        loaded.state_dict().items(), model.state_dict().items(), strict=True
    ):
        assert k1 == k2 and v1.dtype == v2.dtype and np.array_equal(v1, v2), f"{label}: {k1}"
    a, b = copy.deepcopy(model).eval(), copy.deepcopy(loaded).eval()
    assert np.array_equal(a(x), b(x)), f"{label}: the loaded layer computes otherwise"


def check_layer(
    label: str,
    make_torch: Callable[[], torch.nn.Module],
    x: np.ndarray,
    rng: np.random.Generator,
    *,
    modes: tuple[str, ...] = ("train", "eval"),
    torch_in_train: bool = True,
    differences: bool = True,
    rtol: float = RTOL,
) -> float:
    """All three checks of one layer on input ``x`` (float64, or integer for Embedding), in
    each mode. Returns the worst relative error against PyTorch (also kept in WORST[label])."""
    worst = 0.0
    for mode in modes:
        training = mode == "train"
        tlayer = make_torch().double()
        randomize(tlayer, rng)
        tlayer.train(training)
        layer = from_torch(tlayer)[0]
        assert type(layer).__name__ == type(tlayer).__name__
        assert layer.training == training
        reference = copy.deepcopy(layer)  # before the forward pass changes any buffer

        floating = np.issubdtype(x.dtype, np.floating)
        xt = torch.tensor(x, requires_grad=floating)
        out_t = tlayer(xt)
        upstream = rng.standard_normal(tuple(out_t.shape))
        out_t.backward(torch.from_numpy(upstream))

        out = layer(x)
        layer.zero_grad()
        dx = layer.backward(upstream)
        compare = torch_in_train or not training
        what = f"{label} ({mode})"
        if compare:
            worst = max(worst, _close(f"{what} forward", out, out_t.detach().numpy(), rtol))
            if floating:
                assert xt.grad is not None
                worst = max(worst, _close(f"{what} dL/dx", dx, xt.grad.numpy(), rtol))
            tparams = dict(tlayer.named_parameters())
            for name, p in layer.named_parameters():
                g = tparams[name].grad
                assert g is not None
                ref = _ours_layout(tlayer, name, g.numpy())
                worst = max(worst, _close(f"{what} dL/d{name}", p.grad, ref, rtol))
        else:
            assert out.shape == tuple(out_t.shape)
        # buffers (running statistics) after one forward pass, in either mode
        tstate = tlayer.state_dict()
        for key, value in layer.state_dict().items():
            ref = _ours_layout(tlayer, key, tstate[key].detach().numpy())
            if np.issubdtype(value.dtype, np.integer):
                assert np.array_equal(value, ref), f"{what}: {key} {value} vs {ref}"
            else:
                err = rel_err(value, ref)
                assert err <= rtol, f"{what}: state {key}: relative error {err:.2e}"
                worst = max(worst, err)
        if compare and layer.parameters():
            # a second backward pass without zero_grad adds to every parameter gradient, as
            # PyTorch's .grad does (the first one after zero_grad writes it)
            upstream = rng.standard_normal(upstream.shape)
            tlayer(torch.tensor(x)).backward(torch.from_numpy(upstream))
            layer(x)
            layer.backward(upstream)
            for name, p in layer.named_parameters():
                g = tparams[name].grad
                assert g is not None
                ref = _ours_layout(tlayer, name, g.numpy())
                worst = max(worst, _close(f"{what} dL/d{name}, accumulated", p.grad, ref, rtol))
        if differences:  # off only at a kink (ReLU-like at 0), where PyTorch picks a subgradient
            check_differences(what, reference, x, upstream, _backward(reference, x, upstream))
        check_round_trips(what, layer, x)
    return _record(label, worst)


def _backward(layer: Module, x: np.ndarray, upstream: np.ndarray) -> Any:
    """One forward and backward pass of ``layer`` (its rng rewound after, for the differences)."""
    rngs = _rngs(layer)
    states = [g.bit_generator.state for g in rngs]
    layer(x)
    layer.zero_grad()
    dx = layer.backward(upstream)
    for g, s in zip(rngs, states, strict=True):
        g.bit_generator.state = s
    return dx
