"""Gradient checking: the hand-written backward pass against central differences.

For a scalar function L(θ), the centred difference

    ∂L/∂θᵢ ≈ (L(θ + h eᵢ) − L(θ − h eᵢ)) / 2h

has an error of order h², against h for the one-sided difference. In float64, h ≈ 1e-6
balances that truncation error against the rounding error of order ε/h (ε ≈ 2.2e-16), so a
correct backward pass agrees to about 1e-8 relative or better; a wrong formula is off by order 1.
In float32 (ε ≈ 1.2e-7) the same check cannot tell a bug from rounding, which is why the check
always runs on a float64 copy of the model.

A layer's output is not a scalar, so a layer is checked through L = Σ (G ⊙ layer(x)) for a
random upstream gradient G: then dL/dy = G, and backward(G) must return the vector-Jacobian
product Gᵀ J that the differences of L estimate.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from .arrays import Array
from .losses import Loss
from .nn import Module
from .subject import forward_for_input_grad


@dataclass
class GradCheckRow:
    name: str
    shape: tuple[int, ...]
    rel_error: float

    def passed(self, threshold: float) -> bool:
        return self.rel_error <= threshold


@dataclass
class GradCheckReport:
    """The relative error of every gradient checked, and the threshold they are held to."""

    subject: str
    threshold: float
    rows: list[GradCheckRow] = field(default_factory=list)

    @property
    def max_rel_error(self) -> float:
        return max((r.rel_error for r in self.rows), default=0.0)

    @property
    def passed(self) -> bool:
        return all(r.passed(self.threshold) for r in self.rows)

    def __bool__(self) -> bool:
        return self.passed

    def __str__(self) -> str:
        lines = [f"gradcheck {self.subject} (threshold {self.threshold:.0e})"]
        for r in self.rows:
            verdict = "ok" if r.passed(self.threshold) else "FAIL"
            lines.append(f"  {r.name:<16} {r.shape!s:<12} rel. error {r.rel_error:.2e}  {verdict}")
        return "\n".join(lines)


def rel_error(analytic: Array, numeric: Array) -> float:
    """‖a − n‖ / (‖a‖ + ‖n‖): 0 when equal, 1 when unrelated; 0 if both are exactly zero.

    Norm-wise rather than per element, so entries that are zero up to rounding do not dominate.
    """
    denom = float(np.linalg.norm(analytic) + np.linalg.norm(numeric))
    return 0.0 if denom == 0 else float(np.linalg.norm(analytic - numeric)) / denom


def numerical_gradient(f: Callable[[], float], x: Array, h: float = 1e-6) -> Array:
    """Centred differences of the scalar f() with respect to every entry of x, changed in place."""
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = f()
        flat[i] = old - h
        minus = f()
        flat[i] = old
        gflat[i] = (plus - minus) / (2 * h)
    return grad


def as_float64(module: Module) -> Module:
    """A float64 deep copy of ``module``, its gradients zeroed."""
    module = copy.deepcopy(module)
    for p in module.parameters():
        p.data = p.data.astype(np.float64)
        p._grad = np.zeros_like(p.data)
        p.zero_grad()
    for m in module.modules():
        # floating buffers (running statistics) and the dtype a layer computes in
        for name in m.__dict__.get("_buffer_names", []):
            value = getattr(m, name)
            if value is not None and value.dtype.kind == "f":
                setattr(m, name, value.astype(np.float64))
        if isinstance(getattr(m, "dtype", None), np.dtype):
            m.dtype = np.dtype(np.float64)  # type: ignore[attr-defined]
    return module


def gradcheck(
    subject: Module | Loss,
    x: Array,
    target: Array | None = None,
    *,
    h: float = 1e-6,
    threshold: float = 1e-7,
    rng: np.random.Generator | None = None,
) -> GradCheckReport:
    """Check the backward pass of a layer, a ``Sequential`` or a loss by central differences.

    subject: a Module (checked through a random upstream gradient) or a loss (then ``target``
        is required). x: the input, (N, in) for a layer, the prediction for a loss.
    Returns a report with the relative error of dL/dx and of every parameter's gradient; it
    is truthy when all are within ``threshold``. Runs in float64 on copies: the subject and
    ``x`` are left as they were. A ``Sequential`` is asked for dL/dx
    (``requires_grad=True``), which its backward otherwise skips.
    """
    rng = np.random.default_rng(0) if rng is None else rng
    x = np.array(x)
    if not np.issubdtype(x.dtype, np.integer):  # integer input: Embedding's indices
        x = x.astype(np.float64)
    if isinstance(subject, Module):
        return _check_module(subject, x, h, threshold, rng)
    if target is None:
        raise ValueError("gradcheck: a loss needs a target")
    return _check_loss(subject, x, target, h, threshold)


def _check_module(
    module: Module, x: Array, h: float, threshold: float, rng: np.random.Generator
) -> GradCheckReport:
    module = as_float64(module)
    # A layer with its own generator (Dropout) is rewound before every forward pass, so each
    # difference sees the same mask as the backward pass.
    rngs = [g for g in (getattr(m, "rng", None) for m in module.modules()) if g is not None]
    states = [g.bit_generator.state for g in rngs]

    def forward(input_grad: bool = False) -> Array:
        for g, s in zip(rngs, states, strict=True):
            g.bit_generator.state = s
        return forward_for_input_grad(module, x) if input_grad else module(x)

    upstream = rng.standard_normal(forward().shape)

    def loss() -> float:
        return float(np.sum(upstream * forward()))

    forward(input_grad=True)
    module.zero_grad()
    dx = module.backward(upstream)
    report = GradCheckReport(repr(module).replace("\n", " "), threshold)
    if np.issubdtype(x.dtype, np.floating):
        if dx is None:
            raise ValueError(
                f"gradcheck: {type(module).__name__}.backward returned None, not dL/dx (a "
                "Sequential inside it returns dL/dx only after forward(x, requires_grad=True))"
            )
        report.rows.append(
            GradCheckRow("input", x.shape, rel_error(dx, numerical_gradient(loss, x, h)))
        )
    for name, p in module.named_parameters():
        numeric = numerical_gradient(loss, p.data, h)
        report.rows.append(GradCheckRow(name, p.shape, rel_error(p.grad, numeric)))
    return report


def _check_loss(
    loss_fn: Loss, pred: Array, target: Array, h: float, threshold: float
) -> GradCheckReport:
    loss_fn = copy.deepcopy(loss_fn)
    if getattr(loss_fn, "reduction", "mean") == "none":
        raise ValueError(f"gradcheck: {loss_fn!r} is not a scalar; use reduction 'mean' or 'sum'")
    target = np.asarray(target)
    if target.dtype.kind == "f":  # class labels stay integers
        target = target.astype(np.float64)
    loss_fn(pred, target)
    analytic = loss_fn.backward()
    numeric = numerical_gradient(lambda: float(loss_fn(pred, target)), pred, h)
    report = GradCheckReport(repr(loss_fn), threshold)
    report.rows.append(GradCheckRow("prediction", pred.shape, rel_error(analytic, numeric)))
    return report


def builtin_reports(seed: int = 0) -> list[GradCheckReport]:
    """Gradient checks of every built-in layer and loss, on random shapes drawn from ``seed``."""
    from .losses import REDUCTIONS, BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss
    from .nn import (
        GELU,
        AdaptiveAvgPool2d,
        AvgPool2d,
        BatchNorm1d,
        BatchNorm2d,
        Conv2d,
        Dropout,
        Embedding,
        Flatten,
        Identity,
        LayerNorm,
        LeakyReLU,
        Linear,
        LogSoftmax,
        MaxPool2d,
        ReLU,
        Sequential,
        Sigmoid,
        Softmax,
        Tanh,
        Unflatten,
    )

    rng = np.random.default_rng(seed)
    # A batch n and features d_in of 4 to 6, outputs d_out of 2 to 6. Two values in BatchNorm's
    # batch (per channel) or in LayerNorm's row normalise to ±1, and dL/dx through the
    # normalisation cancels to almost nothing (zero but for ε): its relative error would measure
    # only the noise of the differences, and correct code would fail on about one seed in five.
    # From 3 values on it is well-conditioned: the worst error over 600 random draws is 9e-9
    # with 3, 4e-9 with 4, against the threshold 1e-7.
    n, d_in, d_out = (int(v) for v in rng.integers([4, 4, 2], 7))
    x = rng.standard_normal((n, d_in))
    deep = Sequential(
        Linear(d_in, 8, rng=rng), Tanh(), Linear(8, 8, rng=rng), ReLU(),
        Linear(8, 5, rng=rng), Sigmoid(), Linear(5, d_out, rng=rng),
    )  # fmt: skip
    modules: list[tuple[str, Module]] = [
        (f"Linear({d_in}, {d_out})", Linear(d_in, d_out, rng=rng)),
        (f"Linear({d_in}, {d_out}, bias=False)", Linear(d_in, d_out, bias=False, rng=rng)),
        ("ReLU", ReLU()),
        ("Sigmoid", Sigmoid()),
        ("Tanh", Tanh()),
        ("Identity", Identity()),
        (f"Sequential({d_in}-8-8-5-{d_out})", deep),
    ]
    x3 = rng.standard_normal((n, d_in, 3))
    batchnorm = BatchNorm1d(d_in)
    for p in batchnorm.parameters():  # away from γ = 1, β = 0, which could hide a missing term
        p.data[...] = rng.standard_normal(p.shape)
    layernorm = LayerNorm(d_in)
    for p in layernorm.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    running = BatchNorm1d(d_in)
    running.register_buffer("running_mean", rng.standard_normal(d_in))
    running.register_buffer("running_var", rng.uniform(0.5, 2.0, d_in))
    inputs: list[tuple[str, Module, Array]] = [
        *((label, module, x) for label, module in modules),
        (f"BatchNorm1d({d_in}) train", batchnorm, x),
        (f"BatchNorm1d({d_in}) train (N,C,L)", batchnorm, x3),
        (f"BatchNorm1d({d_in}) eval", running.eval(), x),
        (f"LayerNorm({d_in})", layernorm, x),
        (f"LayerNorm(({d_in}, 3))", LayerNorm((d_in, 3)), x3),
        ("Dropout(0.3) train", Dropout(0.3, rng=np.random.default_rng(seed)), x),
        ("Flatten", Flatten(), x3),
        (f"Unflatten(1, (1, {d_in}))", Unflatten(1, (1, d_in)), x),
        ("GELU", GELU(), x),
        ("GELU(tanh)", GELU(approximate="tanh"), x),
        ("LeakyReLU(0.1)", LeakyReLU(0.1), x),
        ("Softmax", Softmax(dim=-1), x),
        ("LogSoftmax", LogSoftmax(dim=-1), x),
    ]
    # images: small, so that the differences over every pixel and weight stay quick
    img = rng.standard_normal((2, 2, 5, 6))
    # distinct values spaced 0.1 apart: a max pool is differentiable away from ties
    distinct = rng.permutation(img.size).reshape(img.shape) / 10.0
    batchnorm2d = BatchNorm2d(2)
    for p in batchnorm2d.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    inputs += [
        ("Conv2d(2, 4, (3, 2), stride=(2, 1), padding=1)",
         Conv2d(2, 4, (3, 2), stride=(2, 1), padding=1, rng=rng), img),
        ("Conv2d(2, 2, 3, padding='same', dilation=2, groups=2)",
         Conv2d(2, 2, 3, padding="same", dilation=2, groups=2, rng=rng), img),
        ("MaxPool2d(3, stride=2, padding=1)", MaxPool2d(3, stride=2, padding=1), distinct),
        ("AvgPool2d(2, padding=1, count_include_pad=False)",
         AvgPool2d(2, padding=1, count_include_pad=False), img),
        ("AdaptiveAvgPool2d(1)", AdaptiveAvgPool2d(1), img),
        ("BatchNorm2d(2) train", batchnorm2d, img),
    ]  # fmt: skip
    reports = []
    for label, module, inp in inputs:
        report = gradcheck(module, inp, rng=rng)
        report.subject = label
        reports.append(report)
    embedding = Embedding(5, d_out, rng=rng)
    report = gradcheck(embedding, rng.integers(0, 5, size=(n, 4)), rng=rng)
    report.subject = f"Embedding(5, {d_out}) repeated indices"
    reports.append(report)
    pred, target = rng.standard_normal((n, d_out)), rng.standard_normal((n, d_out))
    reports += [gradcheck(MSELoss(r), pred, target) for r in REDUCTIONS]
    labels = rng.integers(0, d_out, size=n)
    reports.append(gradcheck(CrossEntropyLoss(), pred, labels))
    # L1 is not differentiable where O = T; a random prediction is never there.
    reports.append(gradcheck(L1Loss(), pred, target))
    reports.append(gradcheck(CrossEntropyLoss(label_smoothing=0.1), pred, labels))
    reports.append(gradcheck(NLLLoss(), pred, labels))
    reports.append(gradcheck(BCEWithLogitsLoss(), pred, rng.uniform(size=(n, d_out))))
    return reports
