"""Check anyone's backward pass: ``check(module, x)`` compares every gradient with central
differences of the module's own forward pass (and with a reference, if given) and diagnoses
what is wrong; ``cmp(name, yours, reference)`` prints one line for a notebook.

The subject is duck-typed: a layer is anything with ``forward(x)`` and ``backward(grad_output)``
(and ``parameters()`` or ``named_parameters()`` giving objects with ``.data`` and ``.grad``); a
loss is anything with ``forward(pred, target)`` and ``backward()``. Nothing has to subclass ours.

How a layer is checked: L = Σ (G ⊙ layer(x)) for a random upstream gradient G (never all ones,
which hides every mistake that sums to zero over the batch, as BatchNorm's mean terms do), so
backward(G) must return dL/dx, and leave dL/dθ in every parameter's ``.grad``. All of it runs in
float64 on copies; float32 inputs are rerun in float64 and the report says so.

Verdicts follow CS231n's bands on the relative error: ok ≤ 1e-7 < suspicious ≤ 1e-2 < wrong.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .arrays import Array
from .diagnose import Diagnosis, close, diagnose, entries_wrong
from .gradcheck import numerical_gradient, rel_error

OK, SUSPICIOUS = 1e-7, 1e-2
H = 1e-6
# At most this many disagreeing entries of a tensor are probed for a kink (two forward passes each).
KINK_PROBES = 400


def verdict(relative_error: float) -> str:
    if relative_error <= OK:
        return "ok"
    return "suspicious" if relative_error <= SUSPICIOUS else "wrong"


@dataclass
class TensorRow:
    """One gradient (or value) compared: yours against central differences or a reference."""

    name: str
    shape: tuple[int, ...]
    max_abs_diff: float
    relative_error: float
    verdict: str
    diagnosis: Diagnosis

    @property
    def ok(self) -> bool:
        return self.verdict == "ok"

    def to_dict(self) -> dict[str, Any]:
        def number(v: float) -> float | None:
            return v if np.isfinite(v) else None

        return {
            "name": self.name,
            "shape": list(self.shape),
            "max_abs_diff": number(self.max_abs_diff),
            "relative_error": number(self.relative_error),
            "verdict": self.verdict,
            "diagnosis": self.diagnosis.to_dict(),
        }


@dataclass
class CheckReport:
    name: str
    rows: list[TensorRow] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return all(r.ok for r in self.rows)

    def __bool__(self) -> bool:
        return self.ok

    def row(self, name: str) -> TensorRow:
        for r in self.rows:
            if r.name == name:
                return r
        raise KeyError(f"{self.name}: no row {name!r}; rows: {[r.name for r in self.rows]}")

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "ok": self.ok, "tensors": [r.to_dict() for r in self.rows]}

    def __str__(self) -> str:
        head = f"{self.name}: {'ok' if self.ok else 'FAILED'}"
        lines = [head]
        width = max((len(r.name) for r in self.rows), default=4)
        for r in self.rows:
            shape = "x".join(map(str, r.shape)) or "scalar"
            d = r.diagnosis
            kind = "" if d.kind == "none" else f"  {d.kind}"
            if d.factor is not None and d.kind != "sign":
                named = f" = {d.factor_name}" if d.factor_name else ""
                kind += f" (c = {d.factor:.6g}{named})"
            lines.append(
                f"  {r.name:<{width}}  {shape:<8} max diff {r.max_abs_diff:.1e}  "
                f"rel. error {r.relative_error:.1e}  {r.verdict}{kind}"
            )
            if d.hint:
                lines.append(f"  {'':<{width}}  {d.hint}")
        return "\n".join(lines)


def cmp(name: str, yours: Array, reference: Array) -> str:
    """One line in the form of Karpathy's ninja ``cmp``, printed and returned:
    ``name | exact: False | approximate: True | maxdiff: 3.1e-10``."""
    a, b = np.asarray(yours), np.asarray(reference)
    if a.shape != b.shape:
        line = f"{name:<15s} | shape {a.shape} vs reference {b.shape}"
    else:
        exact = bool(np.all(a == b))
        approx = bool(np.allclose(a, b, rtol=1e-5, atol=1e-8))
        maxdiff = float(np.max(np.abs(a - b), initial=0.0))
        line = (
            f"{name:<15s} | exact: {exact!s:5} | approximate: {approx!s:5} | maxdiff: {maxdiff:.1e}"
        )
    print(line)
    return line


# ---------------------------------------------------------------- the subject's parameters


def named_params(subject: Any) -> list[tuple[str, Any]]:
    """(name, parameter) pairs of a duck-typed subject; a parameter has .data and .grad."""
    if hasattr(subject, "named_parameters"):
        pairs = [(str(n), p) for n, p in subject.named_parameters()]
    elif hasattr(subject, "parameters"):
        # a learner's parameters are named after the attributes that hold them (self.W → "W")
        attrs = {id(v): k for k, v in vars(subject).items()} if hasattr(subject, "__dict__") else {}
        pairs = [(attrs.get(id(p), f"param{i}"), p) for i, p in enumerate(subject.parameters())]
    else:
        return []
    for name, p in pairs:
        if not isinstance(getattr(p, "data", None), np.ndarray) or not hasattr(p, "grad"):
            raise TypeError(
                f"check: parameter {name!r} of {type(subject).__name__} is "
                f"{type(p).__name__}; a parameter needs .data (a NumPy array) and .grad"
            )
    return pairs


def _grad_of(p: Any) -> Array:
    g = p.grad
    return np.zeros_like(p.data) if g is None else np.array(g, dtype=np.float64)


def _zero_grads(subject: Any, params: list[tuple[str, Any]]) -> None:
    if hasattr(subject, "zero_grad"):
        subject.zero_grad()
        return
    for _, p in params:
        if isinstance(p.grad, np.ndarray) and p.grad.shape == p.data.shape:
            p.grad[...] = 0
        else:
            p.grad = np.zeros_like(p.data)


def _is_float32(subject: Any, x: Array) -> bool:
    arrays = [np.asarray(x)] + [p.data for _, p in named_params(subject)]
    return any(a.dtype == np.float32 for a in arrays)


def _as_float64(subject: Any) -> Any:
    subject = copy.deepcopy(subject)
    for _, p in named_params(subject):
        p.data = p.data.astype(np.float64)
        if hasattr(p, "_grad"):  # backprop's own Parameter keeps a separate buffer
            p._grad = np.zeros_like(p.data)
        else:
            p.grad = np.zeros_like(p.data)
    return subject


# ---------------------------------------------------------------- comparing


def compare(
    name: str,
    yours: Array,
    correct: Array,
    *,
    sizes: dict[str, int],
    kinks: Array | None = None,
    **hints: Any,
) -> TensorRow:
    """A row for one tensor; entries flagged in ``kinks`` are left out of the verdict."""
    yours = np.asarray(yours, dtype=np.float64)
    correct = np.asarray(correct, dtype=np.float64)
    if yours.shape != correct.shape:
        d = diagnose(yours, correct, sizes=sizes, **hints)
        scale = max(
            float(np.max(np.abs(yours), initial=0)), float(np.max(np.abs(correct), initial=0))
        )
        return TensorRow(name, correct.shape, scale, 1.0, "wrong", d)
    kink_note = ""
    if kinks is not None and kinks.any():
        kink_diff = float(np.max(np.abs(yours - correct)[kinks]))
        kink_note = (
            f"{int(kinks.sum())} entr{'y' if kinks.sum() == 1 else 'ies'} within h of a "
            f"non-differentiable point (difference {kink_diff:.1e} there): left out of the verdict"
        )
        yours = np.where(kinks, correct, yours)
    with np.errstate(invalid="ignore", over="ignore"):
        diff = np.abs(yours - correct)
        max_abs = float(np.max(diff, initial=0.0)) if np.all(np.isfinite(diff)) else float("inf")
        rel = rel_error(yours, correct) if np.isfinite(max_abs) else 1.0
    if not np.isfinite(rel):
        rel = 1.0
    d = diagnose(yours, correct, sizes=sizes, **hints)
    if kink_note:
        if d.kind == "none":
            d = Diagnosis("kink", None, kink_note)
        else:
            d.hint += f"; also {kink_note}"
    v = verdict(rel) if d.kind in ("none", "kink") else verdict(max(rel, OK * 10))
    return TensorRow(name, correct.shape, max_abs, rel, v, d)


def _kinks(f: Callable[[], float], t: Array, wrong: Array, h: float, scale: float) -> Array:
    """Entries of ``t`` where the one-sided differences of f disagree: a kink lies within h."""
    kinks = np.zeros(t.shape, dtype=bool)
    idx = np.flatnonzero(wrong)[:KINK_PROBES]
    if idx.size == 0:
        return kinks
    flat, kflat = t.reshape(-1), kinks.reshape(-1)
    f0 = f()
    for i in idx:
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        right, left = (plus - f0) / h, (f0 - minus) / h
        # smooth: right − left ≈ h·f″, tiny; a kink: a jump of the order of the gradient itself
        kflat[i] = abs(right - left) > 1e-3 * scale + 1e-8
    return kinks


# ---------------------------------------------------------------- the check


def check(
    module: Any,
    x: Array,
    *,
    target: Array | None = None,
    upstream: Array | None = None,
    reference: Any = None,
    name: str | None = None,
    h: float = H,
    rng: np.random.Generator | None = None,
) -> CheckReport:
    """Check a layer's (or, with ``target``, a loss's) backward pass and diagnose what is wrong.

    module: a layer (forward(x), backward(grad_output), parameters()) or a loss (forward(pred,
        target), backward()). x: the layer's input (N, ...), or the loss's prediction.
    upstream: dL/dy for a layer (default: standard normal from ``rng``, seed 0).
    reference: a PyTorch module or function, or a layer/loss of ours, computing the same thing;
        its gradients are compared too (rows named "… vs reference").
    Returns a CheckReport, truthy when every row is ok. The subject is not modified.
    """
    if not (
        callable(getattr(module, "forward", None)) and callable(getattr(module, "backward", None))
    ):
        raise TypeError(f"check: {type(module).__name__} has no forward/backward methods to check")
    rng = np.random.default_rng(0) if rng is None else rng
    x_in = np.asarray(x)
    if not np.issubdtype(x_in.dtype, np.floating):
        raise TypeError(f"check: x must hold floats, got dtype {x_in.dtype}")
    name = name or type(module).__name__
    float32 = _is_float32(module, x_in)
    subject = _as_float64(module)
    x64 = np.array(x_in, dtype=np.float64)
    if target is None:
        report = _check_layer(subject, x64, upstream, reference, name, h, rng)
    else:
        report = _check_loss(subject, x64, np.asarray(target), reference, name, h)
    if float32:
        _note_precision(report, module, x_in, target, upstream, rng)
    return report


def _check_layer(
    m: Any,
    x: Array,
    upstream: Array | None,
    reference: Any,
    name: str,
    h: float,
    rng: np.random.Generator,
) -> CheckReport:
    params = named_params(m)
    y = np.asarray(m.forward(x.copy()), dtype=np.float64)
    G = rng.standard_normal(y.shape) if upstream is None else np.array(upstream, np.float64)
    if G.shape != y.shape:
        raise ValueError(f"check: upstream has shape {G.shape}, the output {y.shape}")
    _zero_grads(m, params)
    dx = np.asarray(m.backward(G.copy()), dtype=np.float64)
    yours = {"input": dx} | {n: _grad_of(p) for n, p in params}
    sizes = {"N": x.shape[0] if x.ndim else 1, "D": y.shape[-1] if y.ndim else 1}
    xv = x.copy()

    def loss() -> float:
        return float(np.sum(G * m.forward(xv.copy())))

    tensors = [("input", xv)] + [(n, p.data) for n, p in params]
    report = CheckReport(name)
    row_hints: dict[str, dict[str, Any]] = {}
    for tname, t in tensors:
        numeric = numerical_gradient(loss, t, h)
        mine = yours[tname]
        kinks = None
        if mine.shape == numeric.shape:
            wrong = entries_wrong(mine, numeric)
            scale = float(np.max(np.abs(np.concatenate([numeric.ravel(), mine.ravel()]))))
            kinks = _kinks(loss, t, wrong, h, scale) if wrong.any() else None
        hints: dict[str, Any] = {}
        if tname == "input":
            hints["input"] = x
            if not params and y.shape == x.shape:
                hints["wrong_point"] = _wrong_point(m, y, G, h)
        else:
            hints["per_sample"] = _per_sample(m, xv, G, t, h)
        row_hints[tname] = hints
        report.rows.append(compare(tname, mine, numeric, sizes=sizes, kinks=kinks, **hints))
    if reference is not None:
        _against_layer_reference(report, params, x, y, G, yours, reference, sizes, row_hints)
    return report


def _per_sample(m: Any, x: Array, G: Array, t: Array, h: float) -> Callable[[int], Array]:
    def grad(n: int) -> Array:
        return numerical_gradient(lambda: float(np.sum(G[n] * m.forward(x.copy())[n])), t, h)

    return grad


def _wrong_point(m: Any, y: Array, G: Array, h: float) -> Callable[[], Array | None]:
    """G ⊙ f′(y): the gradient of an elementwise layer with f′ taken at its output."""

    def alt() -> Array | None:
        with np.errstate(all="ignore"):
            plus = np.asarray(m.forward(y + h), dtype=np.float64)
            minus = np.asarray(m.forward(y - h), dtype=np.float64)
        if plus.shape != y.shape:
            return None
        return G * (plus - minus) / (2 * h)

    return alt


def _check_loss(
    loss_fn: Any, pred: Array, target: Array, reference: Any, name: str, h: float
) -> CheckReport:
    if target.dtype.kind == "f":
        target = target.astype(np.float64)
    pv = pred.copy()
    with np.errstate(all="ignore"):
        value = float(loss_fn.forward(pv.copy(), target))
        mine = np.asarray(loss_fn.backward(), dtype=np.float64)

    def loss() -> float:
        with np.errstate(all="ignore"):
            return float(loss_fn.forward(pv.copy(), target))

    numeric = numerical_gradient(loss, pv, h)
    sizes = {"N": pred.shape[0] if pred.ndim else 1, "D": pred.shape[-1] if pred.ndim > 1 else 1}
    kinks = None
    if mine.shape == numeric.shape and np.all(np.isfinite(numeric)):
        wrong = entries_wrong(mine, numeric)
        finite = np.isfinite(mine)
        scale = float(np.max(np.abs(np.where(finite, mine, numeric)), initial=0.0))
        scale = max(scale, float(np.max(np.abs(numeric), initial=0.0)))
        kinks = _kinks(loss, pv, wrong, h, scale) if wrong.any() else None
    report = CheckReport(name)
    report.rows.append(compare("prediction", mine, numeric, sizes=sizes, kinks=kinks, input=pred))
    if reference is not None:
        ref_value, ref_grad = _loss_reference(reference, pred, target)
        report.rows.append(
            compare("prediction vs reference", mine, ref_grad, sizes=sizes, input=pred)
        )
        report.rows.append(
            compare("loss vs reference", np.array(value), np.array(ref_value), sizes=sizes)
        )
    return report


def _note_precision(
    report: CheckReport,
    module: Any,
    x: Array,
    target: Array | None,
    upstream: Array | None,
    rng: np.random.Generator,
) -> None:
    """float32 inputs: the check ran in float64; say so, and what float32 alone would show."""
    naive = _float32_error(module, x, target, upstream)
    for r in report.rows:
        if r.diagnosis.kind == "none":
            r.diagnosis = Diagnosis(
                "precision",
                None,
                "float32 inputs: rerun in float64, where the gradient is right; in float32, "
                f"central differences alone show a relative error of {naive:.1e}",
            )
        else:
            r.diagnosis.hint += " (float32 inputs: checked in float64)"


def _float32_error(module: Any, x: Array, target: Array | None, upstream: Array | None) -> float:
    """The relative error of dL/dx that central differences in float32 give (h = 1e-3)."""
    m = copy.deepcopy(module)
    xv = np.array(x, dtype=np.float32)
    with np.errstate(all="ignore"):
        if target is None:
            y = np.asarray(m.forward(xv.copy()))
            G = np.random.default_rng(0).standard_normal(y.shape) if upstream is None else upstream
            G = np.asarray(G, dtype=np.float32)
            _zero_grads(m, named_params(m))
            mine = np.asarray(m.backward(G.copy()), dtype=np.float64)

            def loss() -> float:
                return float(np.sum(G * m.forward(xv.copy()), dtype=np.float32))
        else:
            m.forward(xv.copy(), target)
            mine = np.asarray(m.backward(), dtype=np.float64)

            def loss() -> float:
                return float(np.float32(m.forward(xv.copy(), target)))

        numeric = numerical_gradient(loss, xv, 1e-3)
    return rel_error(mine, numeric.astype(np.float64))


# ---------------------------------------------------------------- references


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


def _against_layer_reference(
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
    ref0 = _as_float64(reference)
    shapes = [p.data.shape for _, p in named_params(ref0)]
    candidates = []
    for flip in _orientations(arrays, shapes):
        ref = copy.deepcopy(ref0)
        rparams = named_params(ref)
        for (_, p), a, t in zip(rparams, arrays, flip, strict=True):
            p.data[...] = a.T if t else a
        y_ref = np.asarray(ref.forward(x.copy()), dtype=np.float64)
        _zero_grads(ref, rparams)
        dx = np.asarray(ref.backward(G.copy()), dtype=np.float64)
        grads = [dx] + [
            _grad_of(p).T if t else _grad_of(p) for (_, p), t in zip(rparams, flip, strict=True)
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


def _loss_reference(reference: Any, pred: Array, target: Array) -> tuple[float, Array]:
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


# ---------------------------------------------------------------- a training loop, two steps


class _Frozen:
    """An optimizer whose step does nothing, so that two steps see the same parameters."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.params = [p for _, p in named_params(model)]

    def zero_grad(self) -> None:
        _zero_grads(self.model, named_params(self.model))

    def step(self) -> None:
        pass


def two_step(
    train_step: Callable[[Any, Any, Any, Array, Array], Any],
    model: Any,
    loss_fn: Any,
    x: Array,
    target: Array,
    *,
    name: str = "two steps",
    h: float = H,
) -> CheckReport:
    """Run ``train_step(model, loss_fn, optimizer, x, target)`` twice with the update switched
    off, and check every parameter's gradient after each step against central differences.

    A loop that forgets ``zero_grad`` passes the first step and shows twice the gradient at the
    second: diagnosed ``accumulated``.
    """
    model = _as_float64(model)
    x = np.array(x, dtype=np.float64)
    if target.dtype.kind == "f":
        target = np.array(target, dtype=np.float64)
    params = named_params(model)
    opt = _Frozen(model)
    _zero_grads(model, params)
    n = x.shape[0]
    sizes = {"N": n, "D": target.shape[-1] if target.ndim > 1 else 1}
    report = CheckReport(name)

    def loss() -> float:
        return float(loss_fn(model.forward(x.copy()), target))

    def per_sample(t: Array) -> Callable[[int], Array]:
        # sample i's share of a loss averaged over the batch: its loss alone, divided by N
        def grad(i: int) -> Array:
            def f() -> float:
                return float(loss_fn(model.forward(x[i : i + 1].copy()), target[i : i + 1])) / n

            return numerical_gradient(f, t, h)

        return grad

    for step in (1, 2):
        train_step(model, loss_fn, opt, x.copy(), target)
        for pname, p in params:
            numeric = numerical_gradient(loss, p.data, h)
            mine = _grad_of(p)
            report.rows.append(
                compare(
                    f"{pname} (step {step})",
                    mine,
                    numeric,
                    sizes=sizes,
                    calls=step,
                    per_sample=per_sample(p.data),
                )
            )
    return report
