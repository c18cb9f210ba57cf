"""``backprop explain --layer NAME``: one forward and one backward pass of one layer on a tiny
input, every intermediate value printed, in the order docs/layers.md derives them.

Each walkthrough computes the staged formulas itself, then runs the layer's own ``forward`` and
``backward`` on the same numbers and prints how far apart the two are, so the reader sees the
derivation and the code agree. A new layer adds one function decorated ``@example("name")``
(a conv2d or maxpool2d file can do so from its own module)::

    @example("conv2d", "Conv2d(1, 1, 2) on a 1×1×3×3 image")
    def _conv2d(rng: np.random.Generator) -> Walkthrough: ...
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .arrays import Array
from .explain import format_array
from .nn import (
    GELU,
    BatchNorm1d,
    Dropout,
    Embedding,
    Flatten,
    LayerNorm,
    LeakyReLU,
    Linear,
    LogSoftmax,
    Softmax,
)


@dataclass
class Step:
    """One value: its symbol, the formula that gives it, and the numbers."""

    name: str
    formula: str
    value: Array


@dataclass
class Walkthrough:
    title: str
    forward: list[Step] = field(default_factory=list)
    backward: list[Step] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # max |staged − layer| over the output and every gradient
    agreement: float = 0.0

    def add(self, part: str, name: str, formula: str, value: Any) -> Array:
        a = np.asarray(value, dtype=np.float64)
        (self.forward if part == "forward" else self.backward).append(Step(name, formula, a))
        return a

    def compare(self, *pairs: tuple[Any, Any]) -> None:
        self.agreement = max(
            float(np.max(np.abs(np.asarray(a, np.float64) - np.asarray(b, np.float64))))
            for a, b in pairs
        )


EXAMPLES: dict[str, tuple[str, Callable[[np.random.Generator], Walkthrough]]] = {}


def example(
    name: str, summary: str
) -> Callable[[Callable[[np.random.Generator], Walkthrough]], Callable[..., Walkthrough]]:
    """Register ``fn(rng) -> Walkthrough`` as ``explain --layer name``."""

    def register(fn: Callable[[np.random.Generator], Walkthrough]) -> Callable[..., Walkthrough]:
        EXAMPLES[name] = (summary, fn)
        return fn

    return register


def explain_layer(name: str, seed: int = 0) -> Walkthrough:
    """The walkthrough of layer ``name`` (a key of EXAMPLES), on numbers drawn from ``seed``."""
    if name not in EXAMPLES:
        raise ValueError(f"no walkthrough for layer {name!r}; valid: {', '.join(sorted(EXAMPLES))}")
    return EXAMPLES[name][1](np.random.default_rng(seed))


def _round(a: Array) -> Array:
    # inputs with few digits, so a reader can redo the arithmetic by hand
    return np.round(a, 2)


# ------------------------------------------------------------------------------ the layers


@example("linear", "Linear(3, 2) on a batch of 2")
def _linear(rng: np.random.Generator) -> Walkthrough:
    w = Walkthrough("Linear: y = x @ W + b   x (N, in) = (2, 3)   W (3, 2)   b (2,)")
    layer = Linear(3, 2, rng=rng)
    layer.weight.data[...] = _round(layer.weight.data)
    assert layer.bias is not None
    layer.bias.data[...] = _round(layer.bias.data)
    x = w.add("forward", "x", "input (N, in)", _round(rng.standard_normal((2, 3))))
    W = w.add("forward", "W", "weight (in, out)", layer.weight.data)
    b = w.add("forward", "b", "bias (out,)", layer.bias.data)
    y = w.add("forward", "y", "x @ W + b", x @ W + b)
    g = w.add(
        "backward", "dL/dy", "upstream gradient (random)", _round(rng.standard_normal(y.shape))
    )
    dW = w.add("backward", "dL/dW", "xᵀ · dL/dy   (in, out)", x.T @ g)
    db = w.add("backward", "dL/db", "Σₙ dL/dy   (out,)", g.sum(0))
    dx = w.add("backward", "dL/dx", "dL/dy · Wᵀ   (N, in)", g @ W.T)
    out = layer(x)
    dx_layer = layer.backward(g)
    w.compare((y, out), (dx, dx_layer), (dW, layer.weight.grad), (db, layer.bias.grad))
    return w


@example("batchnorm", "BatchNorm1d(3) in training mode on a batch of 4")
def _batchnorm(rng: np.random.Generator) -> Walkthrough:
    w = Walkthrough(
        "BatchNorm1d (training): each column normalised over the batch   x (N, C) = (4, 3)"
    )
    m = 4
    layer = BatchNorm1d(3)
    assert layer.weight is not None and layer.bias is not None
    layer.weight.data[...] = _round(rng.uniform(0.5, 2, 3))
    layer.bias.data[...] = _round(rng.standard_normal(3))
    x = w.add("forward", "x", "input (N, C)", _round(rng.standard_normal((m, 3)) * 2 + 1))
    gamma = w.add("forward", "γ", "weight (C,)", layer.weight.data)
    beta = w.add("forward", "β", "bias (C,)", layer.bias.data)
    mu = w.add("forward", "μ", "Σₙ x / m   (C,), m = N = 4", x.mean(0))
    xc = w.add("forward", "x − μ", "centred (N, C)", x - mu)
    var = w.add("forward", "σ²", "Σₙ (x − μ)² / m   biased (C,)", (xc**2).mean(0))
    inv = w.add("forward", "1/√(σ²+ε)", "ε = 1e-5   (C,)", 1 / np.sqrt(var + 1e-5))
    xh = w.add("forward", "x̂", "(x − μ) / √(σ²+ε)   (N, C)", xc * inv)
    y = w.add("forward", "y", "γ ⊙ x̂ + β   (N, C)", gamma * xh + beta)
    rm = w.add("forward", "running_mean", "0.9 · 0 + 0.1 · μ", 0.1 * mu)
    rv = w.add(
        "forward",
        "running_var",
        "0.9 · 1 + 0.1 · σ² · m/(m−1)   unbiased",
        0.9 + 0.1 * var * m / (m - 1),
    )
    g = w.add(
        "backward", "dL/dy", "upstream gradient (random)", _round(rng.standard_normal((m, 3)))
    )
    db = w.add("backward", "dL/dβ", "Σₙ dL/dy", g.sum(0))
    dg = w.add("backward", "dL/dγ", "Σₙ dL/dy ⊙ x̂", (g * xh).sum(0))
    dxh = w.add("backward", "dL/dx̂", "dL/dy ⊙ γ   (staged form from here)", g * gamma)
    dvar = w.add(
        "backward",
        "dL/dσ²",
        "Σₙ dL/dx̂ ⊙ (x − μ) · (−½)(σ²+ε)^(−3/2)",
        (dxh * xc).sum(0) * -0.5 * inv**3,
    )
    dmu = w.add(
        "backward",
        "dL/dμ",
        "−Σₙ dL/dx̂ / √(σ²+ε)   (+ dL/dσ² · Σₙ −2(x−μ)/m = 0)",
        -(dxh * inv).sum(0),
    )
    dx = w.add(
        "backward",
        "dL/dx",
        "dL/dx̂ / √(σ²+ε) + dL/dσ² · 2(x−μ)/m + dL/dμ / m",
        dxh * inv + dvar * 2 * xc / m + dmu / m,
    )
    one_line = w.add(
        "backward",
        "dL/dx (one line)",
        "γ/(m√(σ²+ε)) ⊙ (m·dL/dy − Σₙ dL/dy − x̂ ⊙ Σₙ dL/dy ⊙ x̂)",
        gamma * inv / m * (m * g - g.sum(0) - xh * (g * xh).sum(0)),
    )
    w.notes.append(
        f"staged and one-line dL/dx differ by {np.max(np.abs(dx - one_line)):.1e} (rounding)"
    )
    out = layer(x)
    dx_layer = layer.backward(g)
    assert layer.running_mean is not None and layer.running_var is not None
    w.compare(
        (y, out), (dx, dx_layer), (dg, layer.weight.grad), (db, layer.bias.grad),
        (rm, layer.running_mean), (rv, layer.running_var),
    )  # fmt: skip
    return w


@example("layernorm", "LayerNorm(4) on 2 samples")
def _layernorm(rng: np.random.Generator) -> Walkthrough:
    w = Walkthrough("LayerNorm: each row normalised over its features   x (N, D) = (2, 4)")
    n = 4
    layer = LayerNorm(4)
    assert layer.weight is not None and layer.bias is not None
    layer.weight.data[...] = _round(rng.uniform(0.5, 2, n))
    layer.bias.data[...] = _round(rng.standard_normal(n))
    x = w.add("forward", "x", "input (N, D)", _round(rng.standard_normal((2, n)) * 2))
    gamma = w.add("forward", "γ", "weight (D,)", layer.weight.data)
    beta = w.add("forward", "β", "bias (D,)", layer.bias.data)
    mu = w.add("forward", "μ", "Σ_d x / D   one per row (N, 1)", x.mean(1, keepdims=True))
    var = w.add(
        "forward", "σ²", "Σ_d (x − μ)² / D   biased (N, 1)", ((x - mu) ** 2).mean(1, keepdims=True)
    )
    inv = w.add("forward", "1/√(σ²+ε)", "ε = 1e-5   (N, 1)", 1 / np.sqrt(var + 1e-5))
    xh = w.add("forward", "x̂", "(x − μ) / √(σ²+ε)", (x - mu) * inv)
    y = w.add("forward", "y", "γ ⊙ x̂ + β", gamma * xh + beta)
    g = w.add(
        "backward", "dL/dy", "upstream gradient (random)", _round(rng.standard_normal((2, n)))
    )
    db = w.add("backward", "dL/dβ", "Σₙ dL/dy   (over the batch, as BatchNorm's)", g.sum(0))
    dg = w.add("backward", "dL/dγ", "Σₙ dL/dy ⊙ x̂", (g * xh).sum(0))
    gh = w.add("backward", "ĝ", "γ ⊙ dL/dy = dL/dx̂", gamma * g)
    dx = w.add(
        "backward",
        "dL/dx",
        "1/(D√(σ²+ε)) ⊙ (D ĝ − Σ_d ĝ − x̂ ⊙ Σ_d ĝ ⊙ x̂)   (sums along each row)",
        inv / n * (n * gh - gh.sum(1, keepdims=True) - xh * (gh * xh).sum(1, keepdims=True)),
    )
    out = layer(x)
    dx_layer = layer.backward(g)
    w.compare((y, out), (dx, dx_layer), (dg, layer.weight.grad), (db, layer.bias.grad))
    return w


@example("dropout", "Dropout(0.5) in training mode")
def _dropout(rng: np.random.Generator) -> Walkthrough:
    w = Walkthrough("Dropout (training, p = 0.5): inverted scaling   x (2, 4)")
    p = 0.5
    layer = Dropout(p, rng=np.random.default_rng(int(rng.integers(2**31))))
    x = w.add("forward", "x", "input", _round(rng.standard_normal((2, 4))))
    state = layer.rng.bit_generator.state
    u = w.add("forward", "u", "uniform draws from the layer's rng", layer.rng.random(x.shape))
    layer.rng.bit_generator.state = state  # the layer draws the same numbers
    mask = w.add("forward", "M", "u ≥ p   (1 keeps, 0 drops)", u >= p)
    y = w.add("forward", "y", "x ⊙ M / (1 − p)", x * mask / (1 - p))
    g = w.add(
        "backward", "dL/dy", "upstream gradient (random)", _round(rng.standard_normal(x.shape))
    )
    dx = w.add("backward", "dL/dx", "dL/dy ⊙ M / (1 − p)   (the same mask)", g * mask / (1 - p))
    w.notes.append("in evaluation mode y = x and dL/dx = dL/dy")
    out = layer(x)
    w.compare((y, out), (dx, layer.backward(g)))
    return w


@example("embedding", "Embedding(5, 3) with a repeated index")
def _embedding(rng: np.random.Generator) -> Walkthrough:
    w = Walkthrough("Embedding: y = W[x]   x (N, T) = (2, 2) integers   W (5, 3)")
    layer = Embedding(5, 3, rng=rng)
    layer.weight.data[...] = _round(layer.weight.data)
    x = np.array([[1, 3], [3, 0]])
    w.add("forward", "x", "indices (row 3 appears twice)", x)
    W = w.add("forward", "W", "table (num_embeddings, embedding_dim)", layer.weight.data)
    y = W[x]
    for i in range(2):
        w.add("forward", f"y[{i}]", f"W[x[{i}]] = rows {x[i].tolist()}   (T, dim)", y[i])
    g = _round(rng.standard_normal(y.shape))
    for i in range(2):
        w.add("backward", f"dL/dy[{i}]", "upstream gradient (random)", g[i])
    dW = np.zeros_like(W)
    for n in range(2):
        for t in range(2):
            dW[x[n, t]] += g[n, t]
    w.add(
        "backward",
        "dL/dW",
        "row k = Σ over positions with x = k of dL/dy: row 3 gets two rows added, rows 2, 4 none",
        dW,
    )
    out = layer(x)
    layer.backward_params(g)
    w.compare((y, out), (dW, layer.weight.grad))
    return w


@example("softmax", "Softmax(dim=-1) on 2 rows of 3")
def _softmax(rng: np.random.Generator) -> Walkthrough:
    w = Walkthrough("Softmax along the last axis   x (2, 3)")
    x = w.add("forward", "x", "input", _round(rng.standard_normal((2, 3)) * 2))
    e = w.add(
        "forward",
        "e",
        "exp(x − max x)   (the max keeps exp from overflowing)",
        np.exp(x - x.max(1, keepdims=True)),
    )
    y = w.add("forward", "y", "e / Σⱼ e", e / e.sum(1, keepdims=True))
    g = w.add(
        "backward", "dL/dy", "upstream gradient (random)", _round(rng.standard_normal(x.shape))
    )
    J = w.add(
        "backward",
        "J (row 0)",
        "diag(y) − y yᵀ: the full 3×3 Jacobian of row 0",
        np.diag(y[0]) - np.outer(y[0], y[0]),
    )
    w.add("backward", "Jᵀ dL/dy (row 0)", "what the Jacobian gives for row 0", J.T @ g[0])
    s = w.add(
        "backward", "Σⱼ dL/dyⱼ yⱼ", "one number per row (N, 1)", (g * y).sum(1, keepdims=True)
    )
    dx = w.add("backward", "dL/dx", "y ⊙ (dL/dy − Σⱼ dL/dyⱼ yⱼ)   never builds J", y * (g - s))
    layer = Softmax(dim=-1)
    out = layer(x)
    w.compare((y, out), (dx, layer.backward(g)), (J.T @ g[0], dx[0]))
    return w


@example("logsoftmax", "LogSoftmax(dim=-1) on 2 rows of 3")
def _logsoftmax(rng: np.random.Generator) -> Walkthrough:
    w = Walkthrough("LogSoftmax along the last axis   x (2, 3)")
    x = w.add("forward", "x", "input", _round(rng.standard_normal((2, 3)) * 2))
    sh = w.add("forward", "x − max x", "shifted", x - x.max(1, keepdims=True))
    lse = w.add(
        "forward",
        "log Σ e",
        "log Σⱼ exp(shifted)   (N, 1)",
        np.log(np.exp(sh).sum(1, keepdims=True)),
    )
    y = w.add("forward", "y", "shifted − log Σ e", sh - lse)
    p = w.add("backward", "softmax", "exp(y)", np.exp(y))
    g = w.add(
        "backward", "dL/dy", "upstream gradient (random)", _round(rng.standard_normal(x.shape))
    )
    dx = w.add("backward", "dL/dx", "dL/dy − softmax ⊙ Σⱼ dL/dyⱼ", g - p * g.sum(1, keepdims=True))
    layer = LogSoftmax(dim=-1)
    w.compare((y, layer(x)), (dx, layer.backward(g)))
    return w


@example("gelu", "GELU() on 6 values")
def _gelu(rng: np.random.Generator) -> Walkthrough:
    w = Walkthrough("GELU: y = x Φ(x)   x (6,)")
    x = w.add("forward", "x", "input", _round(rng.standard_normal(6) * 2))
    cdf = w.add(
        "forward",
        "Φ(x)",
        "½ erfc(−x/√2), the normal CDF",
        [0.5 * math.erfc(-v / math.sqrt(2)) for v in x],
    )
    y = w.add("forward", "y", "x ⊙ Φ(x)", x * cdf)
    pdf = w.add(
        "backward",
        "φ(x)",
        "e^(−x²/2)/√(2π), the normal density",
        np.exp(-x * x / 2) / math.sqrt(2 * math.pi),
    )
    slope = w.add("backward", "dy/dx", "Φ(x) + x φ(x)", cdf + x * pdf)
    g = w.add("backward", "dL/dy", "upstream gradient (random)", _round(rng.standard_normal(6)))
    dx = w.add("backward", "dL/dx", "dL/dy ⊙ (Φ(x) + x φ(x))", g * slope)
    w.notes.append("GELU(approximate='tanh') replaces Φ(x) by ½(1 + tanh(√(2/π)(x + 0.044715x³)))")
    layer = GELU()
    w.compare((y, layer(x)), (dx, layer.backward(g)))
    return w


@example("leakyrelu", "LeakyReLU(0.1) on 6 values")
def _leakyrelu(rng: np.random.Generator) -> Walkthrough:
    w = Walkthrough("LeakyReLU(negative_slope = 0.1)   x (6,)")
    x = _round(rng.standard_normal(6))
    x[0] = 0.0  # the kink: PyTorch takes the slope of the negative side there
    x = w.add("forward", "x", "input (x[0] = 0: the kink)", x)
    pos = w.add("forward", "[x > 0]", "1 where positive", x > 0)
    y = w.add("forward", "y", "x where x > 0, else 0.1 x", np.where(pos > 0, x, 0.1 * x))
    g = w.add("backward", "dL/dy", "upstream gradient (random)", _round(rng.standard_normal(6)))
    dx = w.add(
        "backward", "dL/dx", "dL/dy where x > 0, else 0.1 dL/dy", np.where(pos > 0, g, 0.1 * g)
    )
    layer = LeakyReLU(0.1)
    w.compare((y, layer(x)), (dx, layer.backward(g)))
    return w


@example("flatten", "Flatten() on (2, 2, 3)")
def _flatten(rng: np.random.Generator) -> Walkthrough:
    w = Walkthrough("Flatten(start_dim=1): (N, 2, 3) → (N, 6)")
    x = _round(rng.standard_normal((2, 2, 3)))
    for i in range(2):
        w.add("forward", f"x[{i}]", f"sample {i} (2, 3)", x[i])
    y = w.add("forward", "y", "each sample's values in row-major order (N, 6)", x.reshape(2, 6))
    g = w.add(
        "backward", "dL/dy", "upstream gradient (random)", _round(rng.standard_normal((2, 6)))
    )
    dx = g.reshape(x.shape)
    for i in range(2):
        w.add("backward", f"dL/dx[{i}]", "dL/dy reshaped back", dx[i])
    layer = Flatten()
    w.compare((y, layer(x)), (dx, layer.backward(g)))
    return w


# ------------------------------------------------------------------------------ printing


def format_value(value: Array) -> list[str]:
    """Rows of the array as ``explain`` prints them; indices and masks as whole numbers."""
    value = value.reshape(1) if value.ndim == 0 else value
    if value.size and np.all(value == np.round(value)) and np.max(np.abs(value)) < 1e6:
        cells = value.astype(np.int64).reshape(-1, value.shape[-1])
        width = max(len(str(v)) for v in cells.flat)
        rows = ["[" + "  ".join(str(v).rjust(width) for v in row) + "]" for row in cells]
        if value.ndim == 1:
            return rows
        rows = [("[" if i == 0 else " ") + r for i, r in enumerate(rows)]
        rows[-1] += "]"
        return rows
    return format_array(value)


def _lines(step: Step) -> list[str]:
    head = f"{step.name} = "
    rows = format_value(step.value)
    pad = " " * len(head)
    return [f"  {step.formula}", f"  {head}{rows[0]}", *(f"  {pad}{r}" for r in rows[1:])]


def render(w: Walkthrough) -> str:
    lines = [w.title, "", "forward"]
    for step in w.forward:
        lines += _lines(step)
    lines += ["", "backward"]
    for step in w.backward:
        lines += _lines(step)
    lines.append("")
    lines += w.notes
    lines.append(
        f"the layer's own forward and backward give the same numbers: max |difference| "
        f"{w.agreement:.1e}"
    )
    return "\n".join(lines) + "\n"


def to_json(w: Walkthrough) -> dict[str, Any]:
    def steps(items: list[Step]) -> list[dict[str, Any]]:
        return [{"name": s.name, "formula": s.formula, "value": s.value.tolist()} for s in items]

    return {
        "title": w.title,
        "forward": steps(w.forward),
        "backward": steps(w.backward),
        "notes": w.notes,
        "max_difference_from_layer": w.agreement,
    }


# Conv2d and MaxPool2d walk through in their own module, which registers them here.
from . import explain_conv  # noqa: E402, F401
