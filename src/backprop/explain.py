"""One training step of the post's perceptron as a worked example, with the real numbers.

It follows docs/notes.md equation by equation (T = X: the network learns to copy its input):

    O = X W + b                       X: (N, D)  W: (D, D)  b: (D,)  O: (N, D)
    L = 1/N Σₙ Σᵢ (Oₙᵢ − Tₙᵢ)²         a scalar
    ∂L/∂O = 2/N (O − T)               (N, D)
    ∂L/∂W = Xᵀ ∂L/∂O                  (D, D)
    ∂L/∂b = Σₙ ∂L/∂Oₙ                 (D,)
    W ← W − η ∂L/∂W     b ← b − η ∂L/∂b
    E' = (I − 2η/N (X Xᵀ + 1 1ᵀ)) E   E = O − T, the error; with N = 1, E' = (1 − 2η(‖x‖² + 1)) E

Every number comes from the library's ``Linear``, ``MSELoss`` and ``SGD``, trained exactly as
``backprop.slp.run_slp`` trains them; only the predicted error E' is computed here, from the
formula, to be set beside the measured one. rich is imported only to draw on a terminal.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from .arrays import Array, check_memory
from .losses import MSELoss
from .optim import SGD
from .slp import POST, post_setup
from .train import Diverged

# --step is capped so that a typo cannot start a long run; the post's loss reaches the floor of
# float64 rounding after about 1800 steps, so later steps have nothing new to show.
MAX_STEP = 10_000


@dataclass
class ExplainedStep:
    """The state before update ``step`` (0-based, the post's "Iteration k"), its gradients and
    the state after it."""

    step: int
    dim: int
    samples: int
    lr: float
    seed: int
    inputs: Array  # X (N, D), also the target T
    weight: Array  # W (D, D) before the update
    bias: Array  # b (D,)
    outputs: Array  # O = X W + b (N, D)
    loss: float  # L
    grad_output: Array  # ∂L/∂O (N, D)
    weight_grad: Array  # ∂L/∂W (D, D)
    bias_grad: Array  # ∂L/∂b (D,)
    new_weight: Array  # W − η ∂L/∂W
    new_bias: Array  # b − η ∂L/∂b
    new_outputs: Array  # X W' + b'
    new_loss: float  # L after the update
    predicted_outputs: Array  # T + (I − 2η/N (X Xᵀ + 1 1ᵀ)) (O − T), from the formula alone

    @property
    def predicted_loss(self) -> float:
        err = self.predicted_outputs - self.inputs
        return float(np.square(err).sum(1).mean())

    @property
    def factor(self) -> float | None:
        """1 − 2η(‖x‖² + 1): the error's factor per step when N = 1 (None for N > 1)."""
        if self.samples != 1:
            return None
        return 1 - 2 * self.lr * (float(np.square(self.inputs).sum()) + 1)

    @property
    def predicted_ratio(self) -> float:
        """L'/L predicted: (1 − 2η(‖x‖² + 1))² for N = 1, ‖E'‖²/‖E‖² from the error map for N > 1."""
        f = self.factor
        if f is not None:
            return f * f
        return self.predicted_loss / self.loss if self.loss else math.nan

    @property
    def measured_ratio(self) -> float:
        return self.new_loss / self.loss if self.loss else math.nan

    @property
    def is_the_posts(self) -> bool:
        """True for the post's own setup: its size, sample count, learning rate and seed."""
        return (self.dim, self.samples, self.lr, self.seed) == (
            POST["dim"], POST["samples"], POST["lr"], POST["seed"],
        )  # fmt: skip


def explain_memory(dim: int, samples: int, epochs: int = 0) -> int:
    """Bytes ``explain_step`` needs, about: W drawn twice, its gradient, a temporary and the
    four copies kept for the explanation (D, D); the kernel X Xᵀ (N, N); inputs, outputs and
    their gradients and predictions (N, D). ``epochs`` is not used (the loop keeps nothing
    per step); it is there so that the same check serves ``backprop slp``."""
    return 8 * (8 * dim * dim + 2 * samples * samples + 10 * samples * dim + 12 * dim)


def explain_step(
    dim: int = 4, samples: int = 1, lr: float = 0.001, seed: int = 0, step: int = 0
) -> ExplainedStep:
    """Train the post's perceptron up to update ``step`` and record that update in full.

    Raises ValueError for a step outside 0 … MAX_STEP and ``Diverged`` if the loss stops being
    finite before the step is complete.
    """
    if not 0 <= step <= MAX_STEP:
        raise ValueError(f"step must lie in 0 … {MAX_STEP}, got {step}")
    if not (math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a positive number, got {lr}")
    check_memory(f"explain_step(dim={dim}, samples={samples})", explain_memory(dim, samples))
    layer, x = post_setup(dim, samples, seed)
    W, b = layer.weight, layer.bias
    assert b is not None
    loss_fn = MSELoss(reduction="batchmean")
    optimizer = SGD(layer.parameters(), lr=lr)

    # The same sequence of operations as run_slp, so step k here is run_slp's update k bit for bit.
    out = layer(x)
    loss = loss_fn(out, x)
    with np.errstate(over="ignore", invalid="ignore"):
        for k in range(step):
            optimizer.zero_grad()
            layer.backward(loss_fn.backward())
            optimizer.step()
            out = layer(x)
            loss = loss_fn(out, x)
            if not math.isfinite(loss):
                raise Diverged.at_iteration(k, loss, lr)
        weight, bias = W.data.copy(), b.data.copy()
        optimizer.zero_grad()
        grad_output = loss_fn.backward()
        layer.backward(grad_output)
        weight_grad, bias_grad = W.grad.copy(), b.grad.copy()
        optimizer.step()
        new_outputs = layer(x)
        new_loss = loss_fn(new_outputs, x)
        if not math.isfinite(new_loss):
            raise Diverged.at_iteration(step, new_loss, lr)
        kernel = x @ x.T + 1  # X Xᵀ + 1 1ᵀ, (N, N)
        predicted = out - (2 * lr / samples) * (kernel @ (out - x))
    return ExplainedStep(
        step, dim, samples, lr, seed, x, weight, bias, out, loss, grad_output,
        weight_grad, bias_grad, W.data.copy(), b.data.copy(), new_outputs, new_loss, predicted,
    )  # fmt: skip


# ------------------------------------------------------------------------------------ rendering


@dataclass
class Block:
    """One equation of the notes: its formula, the shapes, and the values it produced."""

    title: str
    equation: str
    shapes: str
    values: list[tuple[str, Array | float | str]]


def blocks(e: ExplainedStep) -> list[Block]:
    n, d = e.samples, e.dim
    ratio_rows: list[tuple[str, Array | float | str]] = []
    if e.factor is not None:
        ratio_rows += [
            ("‖x‖²", float(np.square(e.inputs).sum())),
            ("1 − 2η(‖x‖² + 1)", e.factor),
            ("predicted L'/L = (1 − 2η(‖x‖² + 1))²", e.predicted_ratio),
        ]
        threshold = 1 / (float(np.square(e.inputs).sum()) + 1)
        ratio_rows.append(("1/(‖x‖² + 1), the η above which it diverges", threshold))
    else:
        ratio_rows += [
            ("predicted E' = (I − 2η/N (X Xᵀ + 1 1ᵀ)) E", e.predicted_outputs - e.inputs),
            ("measured E' = O' − T", e.new_outputs - e.inputs),
            ("predicted L'/L = ‖E'‖² / ‖E‖²", e.predicted_ratio),
        ]
    ratio_rows += [
        ("measured L'/L", e.measured_ratio),
        ("relative difference", f"{_rel_diff(e.predicted_ratio, e.measured_ratio):.1e}"),
    ]
    scale = float(np.square(e.outputs).sum(1).mean())
    if _rel_diff(e.predicted_ratio, e.measured_ratio) > 1e-6 and e.loss < 1e-20 * scale:
        ratio_rows.append(
            ("note", "the error is down to float64 rounding of O, so the formula no longer applies")
        )
    return [
        Block(
            "Forward",
            "O = X W + b",
            f"X: ({n}, {d})  W: ({d}, {d})  b: ({d},)  O: ({n}, {d})",
            [("X", e.inputs), ("W", e.weight), ("b", e.bias), ("O", e.outputs)],
        ),
        Block(
            "Loss",
            "L = 1/N Σₙ Σᵢ (Oₙᵢ − Tₙᵢ)²   with T = X",
            "L: a scalar",
            [("L", e.loss)],
        ),
        Block(
            "Gradient of the loss",
            "∂L/∂O = 2/N (O − T)",
            f"∂L/∂O: ({n}, {d})",
            [
                ("∂L/∂O", e.grad_output),
                # The post's code keeps the negative: its dL_dO = 2/N (inputs − result).
                ("the post's dL_dO = 2/N (T − O) = −∂L/∂O", -e.grad_output),
            ],
        ),
        Block(
            "Backward through the layer",
            "∂L/∂W = Xᵀ ∂L/∂O     ∂L/∂b = Σₙ ∂L/∂Oₙ",
            f"Xᵀ: ({d}, {n})  ∂L/∂O: ({n}, {d})  ∂L/∂W: ({d}, {d})  ∂L/∂b: ({d},)",
            [("∂L/∂W", e.weight_grad), ("∂L/∂b", e.bias_grad)],
        ),
        Block(
            "Gradient-descent update",
            f"W' = W − η ∂L/∂W     b' = b − η ∂L/∂b     η = {e.lr:g}",
            f"W': ({d}, {d})  b': ({d},)",
            [
                ("η ∂L/∂W", e.lr * e.weight_grad),
                ("η ∂L/∂b", e.lr * e.bias_grad),
                ("W'", e.new_weight),
                ("b'", e.new_bias),
            ],
        ),
        Block(
            "After the step",
            "O' = X W' + b'     L' = 1/N Σₙ Σᵢ (O'ₙᵢ − Tₙᵢ)²",
            f"O': ({n}, {d})",
            [("O'", e.new_outputs), ("L'", e.new_loss)],
        ),
        Block(
            "Convergence: predicted against measured",
            "E' = (1 − 2η(‖x‖² + 1)) E,  so L'/L = (1 − 2η(‖x‖² + 1))²"
            if e.factor is not None
            else "E' = (I − 2η/N (X Xᵀ + 1 1ᵀ)) E   with E = O − T",
            "E, E': the error O − T before and after the step",
            ratio_rows,
        ),
    ]


def _rel_diff(a: float, b: float) -> float:
    scale = max(abs(a), abs(b))
    return abs(a - b) / scale if scale else 0.0


def format_scalar(v: float) -> str:
    return f"{v:.10g}"


def format_array(a: Array) -> list[str]:
    """Rows of a 1-D or 2-D array in NumPy's brackets, columns aligned on the decimal point.

    Fixed-point with enough decimals to give the smallest entry 5 significant digits, when the
    entries span less than five orders of magnitude; otherwise scientific notation with 7.
    """
    a = np.asarray(a, dtype=np.float64)
    rows = a.reshape(1, -1) if a.ndim == 1 else a
    mags = np.abs(a[np.isfinite(a) & (a != 0)])
    lo, hi = (float(mags.min()), float(mags.max())) if mags.size else (1.0, 1.0)
    if lo >= 1e-4 and hi < 1e6 and hi / lo < 1e5:
        decimals = max(0, 4 - math.floor(math.log10(lo)))
        cells = [[f"{v:.{decimals}f}" for v in row] for row in rows]
    else:
        cells = [[f"{v:.6e}" for v in row] for row in rows]
    width = max((len(c) for row in cells for c in row), default=1)
    lines = ["[" + "  ".join(c.rjust(width) for c in row) + "]" for row in cells]
    if a.ndim == 1:
        return lines
    lines = [("[" if i == 0 else " ") + line for i, line in enumerate(lines)]
    lines[-1] += "]"
    return lines


def header(e: ExplainedStep) -> list[str]:
    if e.is_the_posts:
        first = (
            f"One training step of the post's single-layer perceptron: step {e.step} "
            f'(the post\'s "Iteration {e.step}")'
        )
    else:
        first = (
            f"One training step of a single-layer perceptron set up as the post's, with other "
            f"settings: step {e.step}"
        )
    return [
        first,
        f"D = {e.dim} inputs and outputs, N = {e.samples} sample{'s' if e.samples != 1 else ''}, "
        f"η = {e.lr:g}, seed {e.seed}; the target is the input, T = X. See docs/notes.md.",
    ]


def _value_lines(name: str, value: Array | float | str) -> list[str]:
    if isinstance(value, str):
        return [f"{name} = {value}"]
    if isinstance(value, float):
        return [f"{name} = {format_scalar(value)}"]
    rows = format_array(value)
    pad = " " * (len(name) + 3)
    return [f"{name} = {rows[0]}"] + [pad + r for r in rows[1:]]


def render_plain(e: ExplainedStep) -> str:
    lines = [*header(e), ""]
    for i, block in enumerate(blocks(e), 1):
        lines.append(f"{i}. {block.title}:  {block.equation}")
        lines.append(f"   shapes  {block.shapes}")
        for name, value in block.values:
            lines += ["   " + line for line in _value_lines(name, value)]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def render_rich(e: ExplainedStep) -> None:
    """The same text laid out in panels, for a terminal."""
    from rich.console import Console, Group
    from rich.panel import Panel
    from rich.text import Text

    console = Console(highlight=False)
    console.print(Text(header(e)[0], style="bold"))
    console.print(Text(header(e)[1], style="dim"))
    for i, block in enumerate(blocks(e), 1):
        parts: list[Any] = [
            Text(block.equation, style="bold yellow"),
            Text(f"shapes  {block.shapes}", style="dim"),
        ]
        for name, value in block.values:
            text = Text()
            for j, line in enumerate(_value_lines(name, value)):
                if j == 0:
                    head, _, rest = line.partition(" = ")
                    text.append(head, style="bold cyan")
                    text.append(" = " + rest)
                else:
                    text.append("\n" + line)
            parts.append(text)
        console.print(
            Panel(Group(*parts), title=f"{i}. {block.title}", title_align="left", expand=False)
        )


def to_json(e: ExplainedStep) -> dict[str, Any]:
    def arr(a: Array) -> Any:
        return np.asarray(a).tolist()

    def num(v: float) -> float | None:
        return v if math.isfinite(v) else None

    return {
        "step": e.step,
        "dim": e.dim,
        "samples": e.samples,
        "lr": e.lr,
        "seed": e.seed,
        "inputs": arr(e.inputs),
        "weight": arr(e.weight),
        "bias": arr(e.bias),
        "outputs": arr(e.outputs),
        "loss": e.loss,
        "grad_output": arr(e.grad_output),
        "weight_grad": arr(e.weight_grad),
        "bias_grad": arr(e.bias_grad),
        "new_weight": arr(e.new_weight),
        "new_bias": arr(e.new_bias),
        "new_outputs": arr(e.new_outputs),
        "new_loss": e.new_loss,
        "factor": e.factor,
        "predicted_outputs": arr(e.predicted_outputs),
        "predicted_ratio": num(e.predicted_ratio),
        "measured_ratio": num(e.measured_ratio),
    }


# ---------------------------------------------------------------------------- the graph


@dataclass
class GraphNode:
    """One value of the step's computational graph: how it is made, its value, its gradient."""

    name: str
    op: str  # how the forward pass makes it from its inputs ("" for a leaf)
    inputs: tuple[str, ...]
    value: Array | float
    grad: Array | float | None  # ∂L/∂(this value); None where nothing needs it
    rule: str  # the local rule that gives the gradient from the one downstream


def graph_nodes(e: ExplainedStep) -> list[GraphNode]:
    """The post's step as a graph, X →(·W)→ P →(+b)→ O →(− T)→ E →(Σ E²/N)→ L.

    Values are the library's forward pass; each gradient is the downstream one times the local
    gradient: 1 at L; 2E/N at E; the same at O (a subtraction passes it on); at P and b an add
    passes it on, and b sums it over the samples it was broadcast to; a product swaps its inputs,
    so W gets Xᵀ G and X gets G Wᵀ.
    """
    n = e.samples
    grad_o = e.grad_output
    return [
        GraphNode("X", "", (), e.inputs, grad_o @ e.weight.T, "∂L/∂P Wᵀ   (a product: X gets W)"),
        GraphNode("W", "", (), e.weight, e.weight_grad, "Xᵀ ∂L/∂P   (a product: W gets X)"),
        GraphNode("P", "X W", ("X", "W"), e.inputs @ e.weight, grad_o, "∂L/∂O   (an add passes it on)"),
        GraphNode("b", "", (), e.bias, e.bias_grad, "Σₙ ∂L/∂Oₙ   (b was broadcast to N rows: sum)"),
        GraphNode("O", "P + b", ("P", "b"), e.outputs, grad_o, "∂L/∂E   (a subtraction passes it on)"),
        GraphNode("T", "", (), e.inputs, None, "the target: nothing to learn"),
        GraphNode("E", "O − T", ("O", "T"), e.outputs - e.inputs, 2 / n * (e.outputs - e.inputs), f"2E/N   (N = {n})"),
        GraphNode("L", "1/N Σₙ Σᵢ Eₙᵢ²", ("E",), e.loss, 1.0, "1, where the backward pass starts"),
    ]  # fmt: skip


def render_graph(e: ExplainedStep) -> str:
    """The graph as text: one node a paragraph, forward value then gradient."""
    lines = [
        f"The computational graph of step {e.step}: forward values, then gradients from L back.",
        "",
        "  X ──┐",
        "      (·)──▶ P ──┐",
        "  W ──┘          (+)──▶ O ──┐",
        "            b ───┘          (−)──▶ E ──▶ (Σ E²/N) ──▶ L",
        "                       T ───┘",
        "",
    ]
    for node in graph_nodes(e):
        made = f" = {node.op}" if node.op else ""
        lines.append(f"{node.name}{made}")
        lines += ["   " + line for line in _value_lines("value", node.value)]
        if node.grad is None:
            lines.append(f"   ∂L/∂{node.name}: none ({node.rule})")
        else:
            lines.append(f"   ∂L/∂{node.name} = {node.rule}")
            lines += ["   " + line for line in _value_lines(" " * (len(node.name) + 4), node.grad)]
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"
