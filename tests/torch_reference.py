"""The one helper for "same as PyTorch": the same inputs to both, float64, every value compared.

``compare_with_torch`` runs a forward pass, a loss and a backward pass in backprop and in
PyTorch's autograd, and returns the worst relative error over the output, the loss, dL/dx and
every parameter gradient, after asserting each is within ``rtol``; the parameter gradients also
of the training step's path, in which backprop's backward computes no dL/dx and returns None.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from backprop import CrossEntropyLoss, Linear, Module, MSELoss, Sequential
from backprop.interop import to_torch

RTOL = 1e-10

# Worst relative error seen by compare_with_torch in this test session, for the summary line.
WORST: dict[str, float] = {}


def rel_err(ours: np.ndarray, ref: np.ndarray, floor: float = 0.0) -> float:
    """max |ours − ref| / max(max |ref|, floor): relative to the scale of the reference array,
    or to ``floor`` where the quantity's natural scale is known to be larger than its value."""
    ours, ref = np.asarray(ours, dtype=np.float64), np.asarray(ref, dtype=np.float64)
    assert ours.shape == ref.shape, f"shape: ours {ours.shape}, reference {ref.shape}"
    scale = max(float(np.max(np.abs(ref), initial=0.0)), floor)
    diff = float(np.max(np.abs(ours - ref), initial=0.0))
    return diff if scale == 0 else diff / scale


def assert_close(what: str, ours: Any, ref: Any, rtol: float = RTOL, floor: float = 0.0) -> float:
    err = rel_err(np.asarray(ours), np.asarray(ref), floor)
    key = " ".join(what.split()[:2])
    WORST[key] = max(WORST.get(key, 0.0), err)
    assert err <= rtol, (
        f"{what}: relative error {err:.3e} > {rtol:.0e}\nours:\n{ours}\nreference:\n{ref}"
    )
    return err


def torch_loss(loss_fn: Any, out: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    F = torch.nn.functional
    if isinstance(loss_fn, CrossEntropyLoss):
        return F.cross_entropy(out, target)
    assert isinstance(loss_fn, MSELoss)
    if loss_fn.reduction == "batchmean":
        return F.mse_loss(out, target, reduction="sum") / out.shape[0]
    return F.mse_loss(out, target, reduction=loss_fn.reduction)


def _transposed(layer: torch.nn.Module, name: str) -> bool:
    """PyTorch's Linear weight is (out, in), ours (in, out); no other parameter differs."""
    return isinstance(layer, torch.nn.Linear) and name == "weight"


def torch_params(model: torch.nn.Sequential) -> list[np.ndarray]:
    """Parameters in backprop's layout (Linear weights transposed back to (in, out))."""
    out = []
    for layer in model:
        for name, p in layer.named_parameters():
            a = p.detach().numpy()
            out.append(a.T if _transposed(layer, name) else a)
    return out


def torch_grads(model: torch.nn.Sequential) -> list[np.ndarray]:
    out = []
    for layer in model:
        for name, p in layer.named_parameters():
            assert p.grad is not None, f"{type(layer).__name__}.{name} has no gradient"
            g = p.grad.numpy()
            out.append(g.T if _transposed(layer, name) else g)
    return out


def _grad(t: torch.Tensor) -> np.ndarray:
    assert t.grad is not None
    return t.grad.numpy()


def compare_with_torch(
    model: Sequential, x: np.ndarray, loss_fn: Any, target: np.ndarray, rtol: float = RTOL
) -> float:
    """Forward, loss, dL/dx and every parameter gradient: backprop against torch autograd.

    Ours runs twice: asked for dL/dx (``model(x, requires_grad=True)``), and as a training step
    (``model(x)``), whose backward returns None and must leave the same parameter gradients."""
    tmodel = to_torch(model)
    # ours, as a training step: no dL/dx
    loss_fn(model(x), target)
    model.zero_grad()
    assert model.backward(loss_fn.backward()) is None
    step_grads = [p.grad.copy() for p in model.parameters()]
    # ours, asked for dL/dx
    out = model(x, requires_grad=True)
    loss = loss_fn(out, target)
    model.zero_grad()
    dx = model.backward(loss_fn.backward())
    # reference
    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    tt = torch.tensor(target)
    out_t = tmodel(xt)
    loss_t = torch_loss(loss_fn, out_t, tt)
    loss_t.backward()
    errs = [
        assert_close("forward output", out, out_t.detach().numpy(), rtol),
        assert_close("loss value", loss, loss_t.item(), rtol),
        assert_close("input gradient dL/dx", dx, _grad(xt), rtol),
    ]
    names = [name for name, _ in model.named_parameters()]
    refs = torch_grads(tmodel)
    for name, p, step, ref in zip(names, model.parameters(), step_grads, refs, strict=True):
        errs.append(assert_close(f"parameter gradient {name}", p.grad, ref, rtol))
        errs.append(assert_close(f"parameter gradient {name} (no dL/dx)", step, ref, rtol))
    return max(errs)


def random_mlp(
    rng: np.random.Generator, sizes: list[int], activations: list[type[Module]]
) -> Sequential:
    layers: list[Module] = []
    for i in range(len(sizes) - 1):
        layers.append(Linear(sizes[i], sizes[i + 1], rng=rng))
        if i < len(sizes) - 2:
            layers.append(activations[i % len(activations)]())
    return Sequential(*layers)
