"""The gradients of a reference computing the same thing as the checked subject: a PyTorch
module or function (torch imported here, on first use) or a layer or loss of ours, with the
subject's weights copied into it."""

from __future__ import annotations

import copy
from typing import Any

import numpy as np

from .arrays import Array
from .check import CheckReport, compare
from .diagnose import close
from .subject import as_float64, forward_for_input_grad, grad_of, named_params, zero_grads


def _torch() -> Any:
    try:
        import torch
    except ImportError:
        raise ImportError(
            "check: a PyTorch reference needs PyTorch: pip install 'backprop-by-hand[torch]'"
        ) from None
    return torch


def _is_torch_module(obj: Any) -> bool:
    mod = type(obj).__module__ or ""
    return mod.startswith("torch")


def against_layer_reference(
    report: CheckReport,
    params: list[tuple[str, Any]],
    x: Array,
    y: Array,
    G: Array,
    yours: dict[str, Array],
    reference: Any,
    sizes: dict[str, int],
    row_hints: dict[str, dict[str, Any]],
) -> None:
    """Rows "… vs reference". Where the outputs agree, the subject's own forward pass stands in
    for the reference's in the diagnosis (per-sample gradients, f′ at the output)."""
    names = [n for n, _ in params]
    arrays = [p.data for _, p in params]
    if hasattr(reference, "backward") and not _is_torch_module(reference):
        y_ref, grads = _ours_reference(reference, arrays, x, G, y)
    else:
        y_ref, grads = _torch_layer_reference(reference, arrays, x, G, y)
    out = compare("output vs reference", y, y_ref, sizes=sizes)
    for tname, g in zip(["input", *names], grads, strict=True):
        hints = row_hints[tname] if out.ok else {"input": x} if tname == "input" else {}
        report.rows.append(compare(f"{tname} vs reference", yours[tname], g, sizes=sizes, **hints))
    report.rows.append(out)


def _orientations(arrays: list[Array], shapes: list[tuple[int, ...]]) -> list[list[bool]]:
    """Which of our arrays to transpose into the reference's parameters: by shape, and for
    square matrices both ways (the forward output decides)."""
    if len(arrays) != len(shapes):
        raise ValueError(
            f"check: the reference has {len(shapes)} parameters, the subject {len(arrays)}"
        )
    base, square = [], []
    for i, (a, s) in enumerate(zip(arrays, shapes, strict=True)):
        if a.shape == tuple(s) and not (a.ndim == 2 and a.shape[0] == a.shape[1]):
            base.append(False)
        elif a.ndim == 2 and a.shape[::-1] == tuple(s):
            base.append(a.shape != tuple(s))
            if a.shape == tuple(s):
                square.append(i)
        else:
            raise ValueError(
                f"check: parameter {i} has shape {a.shape}, the reference's {tuple(s)}"
            )
    flipped = [t or (i in square) for i, t in enumerate(base)]
    return [base, flipped] if square else [base]


def _ours_reference(
    reference: Any, arrays: list[Array], x: Array, G: Array, y: Array
) -> tuple[Array, list[Array]]:
    ref0 = as_float64(reference)
    shapes = [p.data.shape for _, p in named_params(ref0)]
    candidates = []
    for flip in _orientations(arrays, shapes):
        ref = copy.deepcopy(ref0)
        rparams = named_params(ref)
        for (_, p), a, t in zip(rparams, arrays, flip, strict=True):
            p.data[...] = a.T if t else a
        y_ref = np.asarray(forward_for_input_grad(ref, x.copy()), dtype=np.float64)
        zero_grads(ref, rparams)
        returned = ref.backward(G.copy())
        if returned is None:  # compared as it is, it would make every dL/dx look wrong
            raise ValueError(
                f"check: the reference {type(ref).__name__}'s backward returned None, not dL/dx"
            )
        dx = np.asarray(returned, dtype=np.float64)
        grads = [dx] + [
            grad_of(p).T if t else grad_of(p) for (_, p), t in zip(rparams, flip, strict=True)
        ]
        candidates.append((y_ref, grads))
    return _pick(candidates, y)


def _torch_layer_reference(
    reference: Any, arrays: list[Array], x: Array, G: Array, y: Array
) -> tuple[Array, list[Array]]:
    torch = _torch()
    if isinstance(reference, torch.nn.Module):
        ref0 = copy.deepcopy(reference).double()
        flips = _orientations(arrays, [tuple(p.shape) for p in ref0.parameters()])
    else:
        if arrays:
            raise ValueError("check: a reference function cannot take the subject's parameters")
        ref0, flips = reference, [[]]
    candidates = []
    for flip in flips:
        ref = copy.deepcopy(ref0) if isinstance(ref0, torch.nn.Module) else ref0
        tparams = list(ref.parameters()) if isinstance(ref, torch.nn.Module) else []
        with torch.no_grad():
            for p, a, t in zip(tparams, arrays, flip, strict=True):
                p.copy_(torch.from_numpy(np.ascontiguousarray(a.T if t else a)))
        xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
        yt = ref(xt)
        (yt * torch.from_numpy(G)).sum().backward()
        grads = [xt.grad.numpy().copy()]
        for p, t in zip(tparams, flip, strict=True):
            g = np.zeros(tuple(p.shape)) if p.grad is None else p.grad.numpy().copy()
            grads.append(g.T if t else g)
        candidates.append((yt.detach().numpy().copy(), grads))
    return _pick(candidates, y)


def _pick(candidates: list[tuple[Array, list[Array]]], y: Array) -> tuple[Array, list[Array]]:
    """The way of copying the weights under which the reference's output is the subject's."""
    for c in candidates:
        if close(c[0], y):
            return c
    return candidates[0]


def loss_reference(reference: Any, pred: Array, target: Array) -> tuple[float, Array]:
    if hasattr(reference, "backward") and not _is_torch_module(reference):
        ref = copy.deepcopy(reference)
        value = float(ref.forward(pred.copy(), target))
        return value, np.asarray(ref.backward(), dtype=np.float64)
    torch = _torch()
    pt = torch.tensor(pred, dtype=torch.float64, requires_grad=True)
    tt = torch.from_numpy(target.astype(np.int64) if target.dtype.kind in "iu" else target)
    out = reference(pt, tt)
    out.backward()
    return float(out.item()), pt.grad.numpy().copy()
