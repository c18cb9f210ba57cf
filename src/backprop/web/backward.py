"""The last training step's backward pass as the page walks it: one block per layer, from the
loss back to the first Linear, then the update, each with its equation, the shapes and the real
numbers, formatted by ``backprop.explain.format_array`` as ``backprop explain`` prints them.

The symbols are the notes': X the input, Z⁽ᵏ⁾ = A⁽ᵏ⁻¹⁾ W⁽ᵏ⁾ + b⁽ᵏ⁾, A⁽ᵏ⁾ = f(Z⁽ᵏ⁾), O the output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from ..explain import format_array
from ..nn import Linear

if TYPE_CHECKING:
    from .runs import Run

DERIVATIVES = {
    "tanh": "(1 − A²)",
    "relu": "[A > 0]",
    "sigmoid": "A ⊙ (1 − A)",
    "linear": "1",
}


def backward_blocks(run: Run) -> list[dict[str, Any]]:
    """The last step's backward pass, from the loss back to the first layer, then the update:
    each block names its layer, its equation, the shapes and the values (explain's format).
    The caller holds the run's lock."""
    tr = run.trace
    if tr is None or run.before is None:
        return []
    s = run.settings
    outs, grads = tr["outputs"], tr["grads"]
    mods = run.model.layers
    n = len(tr["x"])
    L = len(run.linears)
    blocks: list[dict[str, Any]] = []
    out = outs[-1]
    if s.loss == "mse":
        d = out.shape[1]
        loss_eq = f"L = 1/(N·D) Σₙ Σᵢ (Oₙᵢ − Tₙᵢ)²     ∂L/∂O = 2/(N·D) (O − T)     N = {n}, D = {d}"
        values = [("O", out), ("T", tr["t"]), ("L", tr["loss"]), ("∂L/∂O", grads[-1])]
    else:
        loss_eq = "L = 1/N Σₙ (log Σ_c e^(Oₙc) − Oₙ,yₙ)     ∂L/∂O = (softmax(O) − onehot(y)) / N"
        values = [
            ("O", out),
            ("y", tr["t"].astype(float)),
            ("L", tr["loss"]),
            ("∂L/∂O", grads[-1]),
        ]
    blocks.append(
        _block(
            L - 1,
            "loss",
            "The loss and its gradient",
            loss_eq,
            f"O: ({n}, {out.shape[1]})",
            values,
        )
    )
    params = run.optimizer.params
    k = L
    for i in range(len(mods) - 1, -1, -1):
        m = mods[i]
        if isinstance(m, Linear):
            k -= 1
            a_in, g_out = outs[i], grads[i + 1]
            name_in = "X" if k == 0 else f"A{_sup(k)}"
            name_z = "O" if k == L - 1 else f"Z{_sup(k + 1)}"
            W_before = run.before[params.index(m.weight)]
            eq = f"∂L/∂W{_sup(k + 1)} = {name_in}ᵀ ∂L/∂{name_z}     ∂L/∂b{_sup(k + 1)} = Σₙ ∂L/∂{name_z}ₙ"
            # the results first, then the factors they were computed from
            vals: list[tuple[str, Any]] = [
                (f"∂L/∂W{_sup(k + 1)}", m.weight.grad),
                (f"∂L/∂b{_sup(k + 1)}", m.bias.grad if m.bias is not None else 0.0),
            ]
            if k > 0:
                eq += f"     ∂L/∂{name_in} = ∂L/∂{name_z} W{_sup(k + 1)}ᵀ"
                vals.append((f"∂L/∂{name_in}", grads[i]))
            vals += [(f"{name_in}", a_in), (f"∂L/∂{name_z}", g_out)]
            if k > 0:
                vals.append((f"W{_sup(k + 1)}", W_before))
            shapes = (
                f"{name_in}: ({n}, {m.in_features})  ∂L/∂{name_z}: ({n}, {m.out_features})  "
                f"W{_sup(k + 1)}: {W_before.shape}"
            )
            blocks.append(_block(k, "linear", f"Backward through Linear {k + 1}", eq, shapes, vals))
        else:
            # activation after Linear k (0-based): A⁽ᵏ⁺¹⁾ = f(Z⁽ᵏ⁺¹⁾)
            kk = sum(isinstance(mm, Linear) for mm in mods[:i])
            eq = f"∂L/∂Z{_sup(kk)} = ∂L/∂A{_sup(kk)} ⊙ {DERIVATIVES[s.activation].replace('A', 'A' + _sup(kk))}"
            vals = [
                (f"∂L/∂Z{_sup(kk)}", grads[i]),
                (f"∂L/∂A{_sup(kk)}", grads[i + 1]),
                (f"A{_sup(kk)}", outs[i + 1]),
            ]
            blocks.append(
                _block(
                    kk - 1,
                    "activation",
                    f"Backward through {s.activation} (layer {kk})",
                    eq,
                    f"A{_sup(kk)}: {outs[i + 1].shape}",
                    vals,
                )
            )
    update_vals: list[tuple[str, Any]] = []
    for k, lin in enumerate(run.linears):
        W_before = run.before[params.index(lin.weight)]
        update_vals.append((f"ΔW{_sup(k + 1)}", lin.weight.data - W_before))
    if s.optimizer == "sgd" and s.momentum == 0:
        eq = f"W' = W − η ∂L/∂W     b' = b − η ∂L/∂b     η = {s.lr:g}     ΔW = W' − W"
    elif s.optimizer == "sgd":
        eq = f"B ← μB + ∂L/∂W     W' = W − η B     η = {s.lr:g}, μ = {s.momentum:g}     ΔW = W' − W"
    else:
        eq = f"Adam: m ← β₁m + (1 − β₁)g   v ← β₂v + (1 − β₂)g²   W' = W − η m̂ / (√v̂ + ε)   η = {s.lr:g}   ΔW = W' − W"
    blocks.append(
        _block(
            -1,
            "update",
            "The update, every layer",
            eq,
            "ΔW: the change of each weight",
            update_vals,
        )
    )
    return blocks


_SUP = str.maketrans("0123456789", "⁰¹²³⁴⁵⁶⁷⁸⁹")


def _sup(k: int) -> str:
    return f"⁽{str(k).translate(_SUP)}⁾"


def _block(
    layer: int, part: str, title: str, equation: str, shapes: str, values: list[tuple[str, Any]]
) -> dict[str, Any]:
    rows = []
    for name, v in values:
        if isinstance(v, float | int):
            rows.append({"name": name, "lines": [f"{float(v):.10g}"]})
        else:
            a = np.asarray(v)
            if a.ndim == 2 and a.shape[1] == 1 and a.shape[0] > 1:
                # a column (one output per sample) is shown as its transpose, on one line
                name, a = f"{name}ᵀ", a.T
            rows.append({"name": name, "lines": format_array(a)})
    return {
        "layer": layer,
        "part": part,
        "title": title,
        "equation": equation,
        "shapes": shapes,
        "values": rows,
    }
