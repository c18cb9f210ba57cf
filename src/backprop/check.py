"""Check anyone's backward pass: ``check(module, x)`` compares every gradient with central
differences of the module's own forward pass (and with a reference, if given) and diagnoses
what is wrong; ``cmp(name, yours, reference)`` prints one line for a notebook.

The subject is duck-typed: a layer is anything with ``forward(x)`` and ``backward(grad_output)``
(and ``parameters()`` or ``named_parameters()`` giving objects with ``.data`` and ``.grad``); a
loss is anything with ``forward(pred, target)`` and ``backward()``. Nothing has to subclass ours.

How a layer is checked: L = Σ (G ⊙ layer(x)) for a random upstream gradient G (never all ones,
under which a term that vanishes for a constant dL/dy, as BatchNorm's x̂·mean(g·x̂), cannot be
missed visibly), so
backward(G) must return dL/dx, and leave dL/dθ in every parameter's ``.grad``. A backprop
``Sequential`` is run with ``forward(x, requires_grad=True)``, as it computes dL/dx only when
asked. All of it runs in float64 on copies; float32 inputs are rerun in float64 and the report
says so.

Verdicts follow CS231n's bands on the relative error: ok ≤ 1e-7 < suspicious ≤ 1e-2 < wrong.
The diagnosis is ``diagnose.py``'s; the subject's parameters are read by ``subject.py``; a
reference's gradients come from ``reference.py``; float32 inputs are reported by
``precision.py``; two steps of a training loop are checked by ``loopcheck.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .arrays import Array
from .diagnose import Diagnosis, diagnose, entries_wrong
from .gradcheck import numerical_gradient, rel_error
from .subject import (
    as_float64,
    forward_for_input_grad,
    grad_of,
    is_float32,
    named_params,
    zero_grads,
)

OK, SUSPICIOUS = 1e-7, 1e-2
H = 1e-6
# Central differences of L carry a rounding error of about ε|L|/h; NOISE is ε with a margin of 8.
NOISE = 8 * float(np.finfo(np.float64).eps)
# The default upstream gradient's seed. Not 0: a learner's x drawn from default_rng(0) would then
# equal G, and xᵀG = xᵀx is symmetric, which hides a transposed dL/dW.
UPSTREAM_SEED = 0xC4EC
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
        previous = ""
        for r in self.rows:
            shape = "x".join(map(str, r.shape)) or "scalar"
            d = r.diagnosis
            kind = f"  {kind_label(d)}" if kind_label(d) else ""
            lines.append(
                f"  {r.name:<{width}}  {shape:<8} max diff {r.max_abs_diff:.1e}  "
                f"rel. error {r.relative_error:.1e}  {r.verdict}{kind}"
            )
            if d.hint and d.hint != previous:  # a hint shared by the rows above is said once
                lines.append(f"  {'':<{width}}  {d.hint}")
            previous = d.hint
        return "\n".join(lines)


def kind_label(d: Diagnosis) -> str:
    """The kind and its factor, as the reports print it: "scaled (c = 8 = N)"."""
    if d.kind == "none":
        return ""
    if d.factor is None or d.kind == "sign":
        return d.kind
    if d.kind == "accumulated":
        return f"{d.kind} (k = {d.factor:.0f})"
    named = f" = {d.factor_name}" if d.factor_name else ""
    return f"{d.kind} (c = {d.factor:.6g}{named})"


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


# ---------------------------------------------------------------- comparing


def compare(
    name: str,
    yours: Array,
    correct: Array,
    *,
    sizes: dict[str, int],
    kinks: Array | None = None,
    atol: float = 0.0,
    **hints: Any,
) -> TensorRow:
    """A row for one tensor; entries flagged in ``kinks`` are left out of the verdict.

    atol: the rounding error of ``correct`` (central differences); a gradient that agrees to
    within it is ok whatever the relative error, which means nothing for a gradient near zero.
    """
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
    d = diagnose(yours, correct, sizes=sizes, atol=atol, **hints)
    if kink_note:
        if d.kind == "none":
            d = Diagnosis("kink", None, kink_note)
        else:
            d.hint += f"; also {kink_note}"
    if d.kind not in ("none", "kink"):
        v = verdict(max(rel, OK * 10))
    elif max_abs <= atol:
        v = "ok"
        if rel > OK:
            d.hint = (
                f"near zero: the differences ({max_abs:.1e}) are within the rounding of "
                f"central differences ({atol:.1e})"
            )
    else:
        v = verdict(rel)
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
    upstream: dL/dy for a layer (default: standard normal from ``rng``, seeded UPSTREAM_SEED).
    reference: a PyTorch module or function, or a layer/loss of ours, computing the same thing;
        its gradients are compared too (rows named "… vs reference").
    Returns a CheckReport, truthy when every row is ok. The subject is not modified.
    """
    if not (
        callable(getattr(module, "forward", None)) and callable(getattr(module, "backward", None))
    ):
        raise TypeError(f"check: {type(module).__name__} has no forward/backward methods to check")
    rng = np.random.default_rng(UPSTREAM_SEED) if rng is None else rng
    x_in = np.asarray(x)
    if not np.issubdtype(x_in.dtype, np.floating):
        raise TypeError(f"check: x must hold floats, got dtype {x_in.dtype}")
    name = name or type(module).__name__
    float32 = is_float32(module, x_in)
    subject = as_float64(module)
    x64 = np.array(x_in, dtype=np.float64)
    if target is None:
        report = _check_layer(subject, x64, upstream, reference, name, h, rng)
    else:
        report = _check_loss(subject, x64, np.asarray(target), reference, name, h)
    if float32:
        from .precision import note_precision

        note_precision(report, module, x_in, target, upstream, rng)
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
    again = np.asarray(forward_for_input_grad(m, x.copy()), dtype=np.float64)
    if again.shape != y.shape or not np.array_equal(again, y, equal_nan=True):
        raise ValueError(
            f"check: {name}'s forward pass gives a different output for the same input (a "
            "random mask, as Dropout's in training?): central differences need one function; "
            "fix its mask or seed, or call eval()"
        )
    G = rng.standard_normal(y.shape) if upstream is None else np.array(upstream, np.float64)
    while upstream is None and G.shape == x.shape and np.allclose(G, x):
        G = rng.standard_normal(y.shape)  # x drawn from the same seed: G must not be x
    if G.shape != y.shape:
        raise ValueError(f"check: upstream has shape {G.shape}, the output {y.shape}")
    zero_grads(m, params)
    returned = m.backward(G.copy())
    dx = np.asarray(returned, dtype=np.float64)
    yours = {"input": dx} | {n: grad_of(p) for n, p in params}
    sizes = {"N": x.shape[0] if x.ndim else 1, "D": y.shape[-1] if y.ndim else 1}
    xv = x.copy()

    def loss() -> float:
        return float(np.sum(G * m.forward(xv.copy())))

    # each value of L is rounded to about ε·Σ|G ⊙ y|, and the differences divide that by h
    noise = NOISE * float(np.sum(np.abs(G * y))) / h
    tensors = [("input", xv)] + [(n, p.data) for n, p in params]
    report = CheckReport(name)
    row_hints: dict[str, dict[str, Any]] = {}
    for tname, t in tensors:
        numeric = numerical_gradient(loss, t, h)
        mine = yours[tname]
        kinks = None
        if mine.shape == numeric.shape:
            wrong = entries_wrong(mine, numeric, noise)
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
        report.rows.append(
            compare(tname, mine, numeric, sizes=sizes, kinks=kinks, atol=noise, **hints)
        )
    if returned is None:  # a forgotten return, or a backprop Sequential inside the class
        report.row("input").diagnosis = Diagnosis(
            "unknown",
            None,
            "backward returned None, not dL/dx: return the gradient of the input (a backprop "
            "Sequential returns it only after forward(x, requires_grad=True))",
        )
    if reference is not None:
        from .reference import against_layer_reference

        against_layer_reference(report, params, x, y, G, yours, reference, sizes, row_hints)
    if upstream is not None and G.size > 1 and np.ptp(G) == 0:
        note = (
            "the upstream gradient is constant (all ones?): a missing term that vanishes for a "
            "constant dL/dy (BatchNorm's x̂·mean(g·x̂)) cannot show; leave upstream=None"
        )
        for r in report.rows:
            r.diagnosis.hint = f"{r.diagnosis.hint}; {note}" if r.diagnosis.hint else note
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
    noise = NOISE * abs(value) / h if np.isfinite(value) else 0.0
    sizes = {"N": pred.shape[0] if pred.ndim else 1, "D": pred.shape[-1] if pred.ndim > 1 else 1}
    kinks = None
    if mine.shape == numeric.shape and np.all(np.isfinite(numeric)):
        wrong = entries_wrong(mine, numeric, noise)
        finite = np.isfinite(mine)
        scale = float(np.max(np.abs(np.where(finite, mine, numeric)), initial=0.0))
        scale = max(scale, float(np.max(np.abs(numeric), initial=0.0)))
        kinks = _kinks(loss, pv, wrong, h, scale) if wrong.any() else None
    report = CheckReport(name)
    report.rows.append(
        compare("prediction", mine, numeric, sizes=sizes, kinks=kinks, atol=noise, input=pred)
    )
    if reference is not None:
        from .reference import loss_reference

        ref_value, ref_grad = loss_reference(reference, pred, target)
        report.rows.append(
            compare("prediction vs reference", mine, ref_grad, sizes=sizes, input=pred)
        )
        report.rows.append(
            compare("loss vs reference", np.array(value), np.array(ref_value), sizes=sizes)
        )
    return report
