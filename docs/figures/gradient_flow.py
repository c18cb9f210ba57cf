"""Gradient flow through depth: `python docs/figures/gradient_flow.py docs/figures/gradient-flow.png`.

Real forward and backward passes of the library's deep networks (64 → 64 × 12 → 10, a Linear
and an activation per layer, cross-entropy) on 256 of scikit-learn's digits, standardised. For
each Linear layer l the figure shows ‖∂L/∂W_l‖, from the last layer (right) back to the first
(left). Left: Sigmoid, Tanh and ReLU at the library's default initialisation (PyTorch's, W
uniform in ±1/√fan_in). Right: ReLU with that initialisation scaled.
"""

from __future__ import annotations

import sys

import numpy as np

from backprop import CrossEntropyLoss, Linear
from backprop.train import mlp

DEPTH, WIDTH, BATCH = 12, 64, 256
HE = float(np.sqrt(6))  # default std 1/√(3n) × √6 = √(2/n), He's initialisation for ReLU
SCALES = {"× 1 (default)": 1.0, "× √6 (He: std √(2/fan_in))": HE, "× 2√6 (too large)": 2 * HE}


def digits_batch() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    X, y = load_digits(return_X_y=True)
    X = (X - X.mean(0)) / (X.std(0) + 1e-8)
    return X[:BATCH], y[:BATCH].astype(np.int64)


def gradient_norms(activation: str, scale: float = 1.0, seed: int = 0) -> list[float]:
    """‖∂L/∂W_l‖ for every Linear layer, first to last, after one backward pass."""
    X, y = digits_batch()
    model = mlp([64, *[WIDTH] * DEPTH, 10], activation, rng=np.random.default_rng(seed))
    for layer in model:
        if isinstance(layer, Linear):
            layer.weight.data *= scale
    loss_fn = CrossEntropyLoss()
    loss_fn(model(X), y)
    model.backward(loss_fn.backward())
    return [float(np.linalg.norm(m.weight.grad)) for m in model if isinstance(m, Linear)]


def draw(path: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11, 4.4), dpi=110)
    FigureCanvasAgg(fig)
    left, right = fig.subplots(1, 2, sharey=True)
    layers = np.arange(1, DEPTH + 2)
    for name, label, color in [
        ("sigmoid", "Sigmoid", "#b3261e"),
        ("tanh", "Tanh", "#1f4e9c"),
        ("relu", "ReLU", "#2e7d32"),
    ]:
        left.plot(layers, gradient_norms(name), "o-", color=color, label=label)
    left.set_title("Default initialisation: W uniform in ±1/√fan_in", fontsize=10.5)
    for (label, scale), color in zip(
        SCALES.items(), ["#9e9e9e", "#2e7d32", "#e65100"], strict=True
    ):
        right.plot(layers, gradient_norms("relu", scale), "o-", color=color, label=f"W {label}")
    right.set_title("ReLU, the same weights scaled", fontsize=10.5)
    for ax in (left, right):
        ax.set_yscale("log")
        ax.set_xlabel("layer l   (1: next to the input … 13: next to the loss)")
        ax.set_xticks(layers)
        ax.grid(True, which="major", alpha=0.3)
        ax.legend(fontsize=9, loc="lower right")
    left.set_ylabel("‖∂L/∂W‖ of layer l (log scale)")
    fig.suptitle("Gradient flow through 13 layers: one backward pass on 256 digits", fontsize=12)
    fig.tight_layout()
    fig.savefig(path, metadata={"Software": None})


if __name__ == "__main__":
    draw(sys.argv[1])
    print(f"wrote {sys.argv[1]}")
