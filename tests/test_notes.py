"""docs/notes.md, claim by claim, in the order of its sections.

Every claim about what the library computes is checked by calling the library (Linear, the
activations, the losses' backward, SGD, gradcheck, run_slp) against an independent reference:
PyTorch's autograd in float64, central differences, or a measured run. Expected values come from
the post's own draws (np.random.seed(0), then weights, bias, inputs), from the formulas as the
notes write them in NumPy, or from PyTorch; the pure-maths checks sit beside the library's. The gradient formulas are also checked, for every
layer and loss, in tests/test_layers.py (test_linear_matches_torch, test_gradcheck_every_layer)
and tests/test_losses.py (test_mse_matches_torch, test_batchmean_is_d_times_pytorch_mean,
test_cross_entropy_matches_torch, test_gradcheck_every_loss).
"""

from __future__ import annotations

import contextlib
import importlib.util
import io
import itertools
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from post_reference import posts_draws

from backprop import (
    SGD,
    CrossEntropyLoss,
    Linear,
    Module,
    MSELoss,
    ReLU,
    Sequential,
    Sigmoid,
    Tanh,
    gradcheck,
)
from backprop.gradcheck import numerical_gradient, rel_error
from backprop.slp import run_slp

ROOT = Path(__file__).resolve().parents[1]
NOTES = ROOT / "docs" / "notes.md"
POST = ROOT / "docs" / "original-post.md"

F = torch.nn.functional


def notes() -> str:
    return NOTES.read_text()


def post_loss(O: np.ndarray, T: np.ndarray) -> float:
    """The notes' L = 1/N Σₙ Σᵢ (Oₙᵢ − Tₙᵢ)², written out."""
    return float(sum(((O[n] - T[n]) ** 2).sum() for n in range(len(O))) / len(O))


# ------------------------------------------------------------------------------------ the text


def front_matter(text: str) -> str:
    match = re.search(r"\+\+\+\n(.*?)\n\+\+\+\n", text.split("-->", 1)[0], re.S)
    assert match, "no +++ front matter at the top"
    return match.group(1)


def headings(text: str, level: str = "## ") -> list[str]:
    return [line[len(level) :].strip() for line in text.splitlines() if line.startswith(level)]


def test_nothing_is_left_to_be_done() -> None:
    assert "to be done" not in notes().lower()


def test_front_matter_is_the_posts_kept_in_a_comment() -> None:
    # GitHub shows no HTML comment; `make post` turns this one back into the post's header.
    assert notes().startswith("<!--")
    assert front_matter(notes()) == front_matter(POST.read_text())
    assert "<!--more-->" in notes()


def test_the_posts_sections_are_kept_in_order() -> None:
    ours = headings(notes())
    theirs = headings(POST.read_text())
    assert theirs == [
        "Help links",
        "Introduction",
        "Single-Layer Perceptron",
        "Loss Function",
        "Backpropagation",
        "Code",
    ]
    positions = [ours.index(h) for h in theirs]
    assert positions == sorted(positions), f"post's sections out of order in the notes: {ours}"


def test_the_notes_cover_every_topic() -> None:
    text = notes()
    for required in [
        "O = XW + b",
        "Conventions",
        "x @ A.T + b",
        "W^T x",
        "factor of $d$",
        "The chain rule, index by index",
        "X^T \\frac{\\partial L}{\\partial O}",
        "The Jacobian view",
        "vector-Jacobian product",
        "The gradient-descent update",
        "The sign in the post's code",
        "Why the post's example converges the way it does",
        "Activations",
        "More layers",
        "Cross-entropy with softmax",
        "log-sum-exp",
        "Minibatches",
        "Checking gradients",
        "The same program with the library",
    ]:
        assert required in text, f"the notes do not mention {required!r}"


def test_the_three_conventions_are_the_same_layer() -> None:
    W, b, x = posts_draws()
    layer = Linear(4, 4)
    layer.weight.data[...], layer.bias.data[...] = W, b  # type: ignore[union-attr]
    ours = layer(x)  # the post's O = X W + b, in backprop.Linear
    np.testing.assert_allclose(ours, x @ W + b, rtol=1e-14)
    torch_layer = torch.nn.Linear(4, 4, dtype=torch.float64)
    with torch.no_grad():
        torch_layer.weight.copy_(torch.tensor(W.T))  # PyTorch stores A = Wᵀ, (out, in)
        torch_layer.bias.copy_(torch.tensor(b))
    np.testing.assert_allclose(torch_layer(torch.tensor(x)).detach().numpy(), ours, rtol=1e-14)
    column = W.T @ x.T + b[:, None]  # textbooks: o = Wᵀx + b, x a column
    np.testing.assert_allclose(column.T, ours, rtol=1e-14)
    A = torch_layer.weight.detach().numpy()  # CS231n, Nielsen: o = A x + b, A (d_out, d_in)
    np.testing.assert_allclose((A @ x.T + b[:, None]).T, ours, rtol=1e-14)
    # and the column form's gradient is the transpose: ∂L/∂A = ∂L/∂o xᵀ for one sample
    loss_fn = MSELoss()
    loss_fn(ours, x)
    layer.backward(loss_fn.backward())
    G = 2 * (x @ W + b - x)
    np.testing.assert_allclose(G.T @ x, layer.weight.grad.T, rtol=1e-13)
    for n in range(4):  # the post's o_n = b_n + θ_n · x with θ_n column n of W, row n of A
        assert ours[0, n] == pytest.approx(b[n] + W[:, n] @ x[0], rel=1e-14)
        assert ours[0, n] == pytest.approx(b[n] + torch_layer.weight[n].detach().numpy() @ x[0])


def test_inline_math_and_code_stay_on_one_line() -> None:
    # A Markdown renderer may split a span broken across lines; keep each on one line.
    prose = re.sub(r"```.*?```", "", notes().split("## Code", 1)[0], flags=re.S)
    for span in re.findall(r"(?<!\$)\$([^$]+)\$", prose) + re.findall(r"`([^`]*)`", prose):
        assert "\n" not in span, span


def test_every_figure_exists_or_is_made_by_the_figures_target() -> None:
    text = notes()
    figures = re.findall(r"!\[[^\]]*\]\((figures/[^)]+)\)", text)
    assert {
        "figures/slp.gif",
        "figures/convergence.png",
        "figures/graph.png",
        "figures/gradient-flow.png",
    } <= set(figures)
    makefile = (ROOT / "Makefile").read_text()
    for fig in figures:
        # Each figure is followed by the command that makes it, and `make figures` runs it.
        after = text.split(f"]({fig})", 1)[1].split("\n\n", 2)[1]
        command = re.search(r"`([^`]+)`", after)
        assert command and fig in command.group(1), f"no command under {fig}"
        assert f"docs/{fig}" in makefile.split("figures:", 1)[1]
    for fig in figures:
        assert (ROOT / "docs" / fig).exists(), fig


# ------------------------------------------------------------------------------- the programs


def indented_code(text: str) -> str:
    code = text.split("## Code", 1)[1].split("\n### ", 1)[0]
    return "\n".join(
        line[4:] for line in code.splitlines() if line.startswith("    ") or not line.strip()
    )


def run_python(code: str) -> str:
    return subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout


def test_the_posts_code_is_kept_as_published() -> None:
    assert indented_code(notes()).strip() == indented_code(POST.read_text()).strip()


def test_the_library_program_prints_the_posts_losses() -> None:
    block = notes().split("### The same program with the library", 1)[1]
    library_code = block.split("```python\n", 1)[1].split("```", 1)[0]
    ours = run_python(library_code).splitlines()
    post = run_python(indented_code(POST.read_text())).splitlines()
    iterations = [line for line in post if line.startswith("Iteration")]
    assert len(iterations) == 1000
    assert ours[1:] == iterations  # bit for bit
    assert float(ours[0].rsplit(" ", 1)[1]) == float(post[3].split(": ")[1])


# ---------------------------------------------------------------------------- the loss function


def test_the_loss_is_the_posts_and_d_times_pytorchs() -> None:
    W, b, x = posts_draws()
    O = x @ W + b
    ours = MSELoss()(O, x)
    assert ours == post_loss(O, x)
    assert ours == float(np.square(x - O).sum(1).mean())  # the post's own line
    rng = np.random.default_rng(1)
    for n, d in [(1, 4), (5, 3), (7, 11)]:
        pred, target = rng.normal(size=(n, d)), rng.normal(size=(n, d))
        torch_default = torch.nn.MSELoss()(torch.tensor(pred), torch.tensor(target)).item()
        assert MSELoss()(pred, target) == pytest.approx(d * torch_default, rel=1e-13)
        assert MSELoss("mean")(pred, target) == pytest.approx(torch_default, rel=1e-13)


def test_the_loss_gradient_is_2_over_n_times_the_error() -> None:
    rng = np.random.default_rng(2)
    O, T = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    Ot = torch.tensor(O, requires_grad=True)
    (F.mse_loss(Ot, torch.tensor(T), reduction="sum") / 5).backward()
    assert Ot.grad is not None
    np.testing.assert_allclose(2 / 5 * (O - T), Ot.grad.numpy(), rtol=1e-13)
    # PyTorch's default mean: d times smaller, 2/(N d) (O − T).
    Om = torch.tensor(O, requires_grad=True)
    F.mse_loss(Om, torch.tensor(T)).backward()
    assert Om.grad is not None
    np.testing.assert_allclose(2 / 15 * (O - T), Om.grad.numpy(), rtol=1e-13)


# ---------------------------------------------------------------------------- backpropagation


def torch_linear_grads(
    X: np.ndarray, W: np.ndarray, b: np.ndarray, T: np.ndarray
) -> tuple[np.ndarray, ...]:
    Xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (X, W, b))
    O = Xt @ Wt + bt
    L = ((O - torch.tensor(T)) ** 2).sum() / len(X)
    L.backward()
    return tuple(t.grad.numpy() for t in (Xt, Wt, bt))  # type: ignore[union-attr]


@pytest.mark.parametrize(("n", "d_in", "d_out"), [(1, 4, 4), (3, 5, 2), (6, 2, 7)])
def test_gradient_formulas_as_written(n: int, d_in: int, d_out: int) -> None:
    rng = np.random.default_rng(n * 100 + d_in * 10 + d_out)
    X, W, b, T = (rng.normal(size=s) for s in [(n, d_in), (d_in, d_out), (d_out,), (n, d_out)])
    dX_ref, dW_ref, db_ref = torch_linear_grads(X, W, b, T)
    dO = 2 / n * (X @ W + b - T)
    # index notation: ∂L/∂W_ij = Σ_n X_ni ∂L/∂O_nj, ∂L/∂b_j = Σ_n ∂L/∂O_nj, ∂L/∂X_ni = Σ_j ∂L/∂O_nj W_ij
    dW_idx = np.array(
        [[sum(X[k, i] * dO[k, j] for k in range(n)) for j in range(d_out)] for i in range(d_in)]
    )
    db_idx = np.array([sum(dO[k, j] for k in range(n)) for j in range(d_out)])
    dX_idx = np.array(
        [[sum(dO[k, j] * W[i, j] for j in range(d_out)) for i in range(d_in)] for k in range(n)]
    )
    for ours, ref in [(dW_idx, dW_ref), (db_idx, db_ref), (dX_idx, dX_ref)]:
        np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)
    # matrix form: Xᵀ ∂L/∂O, Σₙ ∂L/∂Oₙ, ∂L/∂O Wᵀ; and 2/N Xᵀ(XW + b − T)
    np.testing.assert_allclose(X.T @ dO, dW_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dO.sum(0), db_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(dO @ W.T, dX_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(2 / n * X.T @ (X @ W + b - T), dW_ref, rtol=1e-12, atol=1e-14)
    # and the library's Linear computes the same
    layer = Linear(d_in, d_out, rng=rng)
    layer.weight.data[...], layer.bias.data[...] = W, b  # type: ignore[union-attr]
    loss_fn = MSELoss()
    loss_fn(layer(X), T)
    dO_lib = loss_fn.backward()
    np.testing.assert_allclose(dO_lib, dO, rtol=1e-13)  # MSELoss.backward is 2/N (O − T)
    dX = layer.backward(dO_lib)
    np.testing.assert_allclose(layer.weight.grad, dW_ref, rtol=1e-12, atol=1e-14)
    np.testing.assert_allclose(layer.bias.grad, db_ref, rtol=1e-12, atol=1e-14)  # type: ignore[union-attr]
    np.testing.assert_allclose(dX, dX_ref, rtol=1e-12, atol=1e-14)


def test_backward_is_the_vector_jacobian_product() -> None:
    rng = np.random.default_rng(3)
    X, W, b = rng.normal(size=(1, 4)), rng.normal(size=(4, 4)), rng.normal(size=4)
    G = rng.normal(size=(1, 4))  # an upstream ∂L/∂O
    J = torch.autograd.functional.jacobian(
        lambda w: torch.tensor(X) @ w + torch.tensor(b), torch.tensor(W)
    ).numpy()
    J = J.reshape(4, 16)  # (N·d_out) × (d_in·d_out): 4 × 16 for the post, as the notes say
    assert J.shape == (4, 16) and np.count_nonzero(J) == 16  # almost all zero
    vjp = (G.reshape(1, -1) @ J).reshape(4, 4)
    np.testing.assert_allclose(X.T @ G, vjp, rtol=1e-13)
    layer = Linear(4, 4)
    layer.weight.data[...], layer.bias.data[...] = W, b  # type: ignore[union-attr]
    layer(X)
    layer.backward(G)  # the library's backward is that product, without the Jacobian
    np.testing.assert_allclose(layer.weight.grad, vjp, rtol=1e-13)
    entries = 64 * 4096**3
    assert 4.35e12 < entries < 4.45e12
    assert 34.5 < entries * 8 / 1e12 < 35.5  # TB of float64


def test_a_small_step_against_the_gradient_lowers_the_loss() -> None:
    W, b, x = posts_draws()
    loss0 = post_loss(x @ W + b, x)
    dW, db = torch_linear_grads(x, W, b, x)[1:]
    eta = 1e-6
    predicted_change = -eta * (np.square(dW).sum() + np.square(db).sum())
    layer = Linear(4, 4)
    layer.weight.data[...], layer.bias.data[...] = W, b  # type: ignore[union-attr]
    loss_fn = MSELoss()
    loss_fn(layer(x), x)
    layer.backward(loss_fn.backward())
    SGD(layer.parameters(), lr=eta).step()
    change = loss_fn(layer(x), x) - loss0
    assert change < 0
    assert change == pytest.approx(predicted_change, rel=1e-4)


def test_the_posts_sign_is_still_gradient_descent_bit_for_bit() -> None:
    W, b, x = posts_draws()
    for _ in range(10):  # the post's loop, as published
        result = x @ W + b
        dL_dO = 2 / 1 * (x - result)
        W += 0.001 * (x.T @ dL_dO)
        b += 0.001 * dL_dO.sum(0)
    run = run_slp(epochs=10, record=True)
    np.testing.assert_array_equal(run.frames[-1].params[0], W)
    np.testing.assert_array_equal(run.frames[-1].params[1], b)
    # and the post's dL_dO is minus the gradient
    W0, b0, x0 = posts_draws()
    np.testing.assert_allclose(
        2 / 1 * (x0 - (x0 @ W0 + b0)), -torch_linear_grads(x0, W0, b0, x0)[2][None, :], rtol=1e-14
    )


# ------------------------------------------------------------------------------- convergence


def factor(eta: float, x: np.ndarray) -> float:
    return 1 - 2 * eta * (float((x**2).sum()) + 1)


@pytest.mark.parametrize("lr", [0.001, 0.01, 0.03, 0.08])
def test_loss_ratio_per_step_is_the_predicted_factor(lr: float) -> None:
    _, _, x = posts_draws()
    r = factor(lr, x) ** 2
    run = run_slp(lr=lr, epochs=1000)
    losses = np.array([run.initial_loss, *run.losses])
    # Only while the error is well above float64 rounding of O (~1e-16 of |O| ≈ 1).
    usable = losses > 1e-9 * losses[0]
    ratios = losses[1:] / losses[:-1]
    rel = np.abs(ratios[usable[1:]] / r - 1)
    assert rel.size >= 5
    assert rel.max() < 1e-10, f"lr={lr}: measured ratios {ratios[:5]}, predicted {r}"


def test_the_posts_numbers_as_quoted() -> None:
    W, b, x = posts_draws()
    sq = float((x**2).sum())
    f = 1 - 2 * 0.001 * (sq + 1)
    r = f * f
    L0 = post_loss(x @ W + b, x)
    # Every step multiplies the error by f: the notes' numbers, computed from the formula.
    err = (x @ W + b - x) * f ** np.arange(1001)[:, None]
    expected = {
        f"\\lVert x \\rVert^2 = {sq:.4f}": "8.2430",
        f"= {f:.5f}": "0.98151",
        f"r = {r:.5f}": "0.96337",
        f"every {np.log(2) / -np.log(r):.1f} steps": "18.6",
        f"before training is {L0:.3f}": "36.262",
        f"= {float((err[1] ** 2).sum()):.3f}": "34.934",
        f"{L0 * r**1000 / 1e-15:.4f} \\times 10^{{-15}}": "2.2511",
        f"= {1 / (sq + 1):.5f}": "0.10819",
        f"= {1 / (2 * (sq + 1)):.6f}": "0.054095",
    }
    text = notes()
    for quoted, value in expected.items():
        assert value in quoted, f"the notes quote {value}, the computation gives {quoted}"
        assert quoted in text, f"{quoted!r} not in the notes"
    # the post's printout, which the notes quote for "Iteration 999"
    run = run_slp()
    # The last digits of a loss of 1e-15 are float64 rounding and change with the CPU's BLAS: the
    # notes quote the first nine, which every machine shares.
    assert f"Iteration 999 - MSE: {run.losses[-1] * 1e15:.6f}…e-15" in text
    assert run.losses[-1] == pytest.approx(L0 * r**1000, rel=1e-6)
    assert run.losses[0] == pytest.approx(L0 * r, rel=1e-12)


def test_agreement_is_limited_by_rounding_at_the_end_of_the_run() -> None:
    _, _, x = posts_draws()
    r = factor(0.001, x) ** 2
    run = run_slp(epochs=1000)
    losses = np.array([run.initial_loss, *run.losses])
    rel = np.abs(losses[1:] / losses[:-1] / r - 1)
    assert rel[:500].max() < 1e-10
    # "about 1e-8" by the end of the post's run (measured 1.8e-8; the digits follow the BLAS)
    assert 3e-9 < rel[900:1000].max() < 6e-8
    assert 3e-8 < np.sqrt(losses[1000]) < 7e-8  # the error is "about 5e-8" at the end


@pytest.mark.parametrize("epochs", [500, 3000])
def test_divergence_threshold(epochs: int) -> None:
    _, _, x = posts_draws()
    threshold = 1 / (float((x**2).sum()) + 1)
    below = run_slp(lr=0.995 * threshold, epochs=epochs)
    assert below.final_loss < 1e-3 * below.initial_loss
    above = run_slp(lr=1.005 * threshold, epochs=epochs)
    assert above.final_loss > 10 * above.initial_loss
    assert all(b > a for a, b in zip(above.losses, above.losses[1:], strict=False))


def test_one_step_lands_on_the_target_at_half_the_threshold() -> None:
    _, _, x = posts_draws()
    run = run_slp(lr=1 / (2 * (float((x**2).sum()) + 1)), epochs=1)
    assert run.losses[0] < 1e-25 * run.initial_loss


def test_between_half_and_the_threshold_the_error_flips_sign() -> None:
    _, _, x = posts_draws()
    run = run_slp(lr=0.08, epochs=3, record=True)
    errors = [f.outputs - x for f in run.frames if f.outputs is not None]
    assert len(errors) == 4
    assert all(np.all(np.sign(a) == -np.sign(b)) for a, b in itertools.pairwise(errors))


def test_more_samples_follow_the_error_map() -> None:
    n, d, lr = 3, 4, 0.01
    _, _, X = posts_draws(d, n)
    run = run_slp(dim=d, samples=n, lr=lr, epochs=50, frame_steps=range(51))
    predictions = [f.outputs for f in run.frames]
    M = np.eye(n) - 2 * lr / n * (X @ X.T + np.ones((n, n)))
    for k in range(50):
        E, E_next = predictions[k] - X, predictions[k + 1] - X
        np.testing.assert_allclose(E_next, M @ E, rtol=1e-9, atol=1e-12)
    lam_max = np.linalg.eigvalsh(X @ X.T + np.ones((n, n))).max()
    below = run_slp(dim=d, samples=n, lr=0.99 * n / lam_max, epochs=3000)
    above = run_slp(dim=d, samples=n, lr=1.01 * n / lam_max, epochs=3000)
    assert below.final_loss < below.initial_loss < above.final_loss
    # N > d + 1: zero eigenvalues, but the error has no part in them, and the loss still vanishes
    _, _, X = posts_draws(2, 5)
    eig, vecs = np.linalg.eigh(X @ X.T + np.ones((5, 5)))
    null = vecs[:, eig < 1e-10 * eig.max()]
    assert null.shape[1] == 2
    run = run_slp(dim=2, samples=5, lr=0.05, epochs=3000, frame_steps=[0])
    E0 = run.frames[0].outputs - X
    assert np.abs(null.T @ E0).max() < 1e-12 * np.abs(E0).max()
    assert run.final_loss < 1e-12 * run.initial_loss


# -------------------------------------------------------------------------- what was left out


def test_activation_gradient_is_the_elementwise_derivative() -> None:
    rng = np.random.default_rng(4)
    X, W, b, G = (rng.normal(size=s) for s in [(5, 3), (3, 4), (4,), (5, 4)])
    O = np.tanh(X @ W + b)
    dZ = G * (1 - O**2)
    Wt = torch.tensor(W, requires_grad=True)
    (torch.tanh(torch.tensor(X) @ Wt + torch.tensor(b)) * torch.tensor(G)).sum().backward()
    assert Wt.grad is not None
    np.testing.assert_allclose(X.T @ dZ, Wt.grad.numpy(), rtol=1e-12)
    for f, fprime in [
        (torch.sigmoid, lambda o, z: o * (1 - o)),
        (torch.relu, lambda o, z: (z > 0).astype(float)),
    ]:
        Z = torch.tensor(X @ W + b, requires_grad=True)
        (f(Z) * torch.tensor(G)).sum().backward()
        out = f(Z).detach().numpy()
        np.testing.assert_allclose(G * fprime(out, Z.detach().numpy()), Z.grad, rtol=1e-12)  # type: ignore[arg-type]
    # the library's activations, through a Linear: ∂L/∂Z = ∂L/∂O ⊙ f′(Z), ∂L/∂W = Xᵀ ∂L/∂Z
    for act, f in [(Tanh(), torch.tanh), (Sigmoid(), torch.sigmoid), (ReLU(), torch.relu)]:
        layer = Linear(3, 4)
        layer.weight.data[...], layer.bias.data[...] = W, b  # type: ignore[union-attr]
        model = Sequential(layer, act)
        model(X, requires_grad=True)
        dX = model.backward(G.copy())
        Xt, Wt, bt = (torch.tensor(a, requires_grad=True) for a in (X, W, b))
        (f(Xt @ Wt + bt) * torch.tensor(G)).sum().backward()
        for ours, ref in [(layer.weight.grad, Wt.grad), (layer.bias.grad, bt.grad), (dX, Xt.grad)]:  # type: ignore[union-attr]
            np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-15)  # type: ignore[arg-type]


def test_the_backward_recursion_for_two_layers() -> None:
    rng = np.random.default_rng(5)
    X, T = rng.normal(size=(6, 3)), rng.normal(size=(6, 2))
    model = Sequential(Linear(3, 5, rng=rng), Tanh(), Linear(5, 2, rng=rng))
    W1, b1, W2, b2 = (p.data.copy() for p in model.parameters())
    # the notes' recursion, written out
    H1 = np.tanh(X @ W1 + b1)
    H2 = H1 @ W2 + b2
    G2 = 2 / 6 * (H2 - T)  # ∂L/∂H₂; f₂ is the identity, so ∂L/∂Z₂ = G₂
    dW2, db2 = H1.T @ G2, G2.sum(0)
    G1 = G2 @ W2.T
    dZ1 = G1 * (1 - H1**2)
    dW1, db1 = X.T @ dZ1, dZ1.sum(0)
    params = [torch.tensor(a, requires_grad=True) for a in (W1, b1, W2, b2)]
    out = torch.tanh(torch.tensor(X) @ params[0] + params[1]) @ params[2] + params[3]
    (((out - torch.tensor(T)) ** 2).sum() / 6).backward()
    for ours, ref in zip([dW1, db1, dW2, db2], params, strict=True):
        assert ref.grad is not None
        np.testing.assert_allclose(ours, ref.grad.numpy(), rtol=1e-12, atol=1e-14)
    loss_fn = MSELoss()
    loss_fn(model(X), T)
    model.zero_grad()
    model.backward(loss_fn.backward())
    np.testing.assert_allclose(model.parameters()[0].grad, dW1, rtol=1e-12, atol=1e-14)


def test_softmax_cross_entropy_gradient_and_log_sum_exp() -> None:
    rng = np.random.default_rng(6)
    Z, y = rng.normal(size=(4, 5)) * 3, rng.integers(0, 5, size=4)
    p = np.exp(Z) / np.exp(Z).sum(1, keepdims=True)
    grad = (p - np.eye(5)[y]) / 4
    Zt = torch.tensor(Z, requires_grad=True)
    F.cross_entropy(Zt, torch.tensor(y)).backward()
    np.testing.assert_allclose(grad, Zt.grad, rtol=1e-12)  # type: ignore[arg-type]
    loss_fn = CrossEntropyLoss()
    assert loss_fn(Z, y) == pytest.approx(F.cross_entropy(torch.tensor(Z), torch.tensor(y)).item())
    np.testing.assert_allclose(loss_fn.backward(), Zt.grad, rtol=1e-12)  # type: ignore[arg-type]
    # e^z overflows above 709.78; the log-sum-exp form does not
    with np.errstate(over="ignore"):
        assert np.isinf(np.exp(709.8)) and np.isfinite(np.exp(709.7))
        big = np.array([[1000.0, 0.0, -1000.0]])
        naive = np.log(np.exp(big).sum()) - big[0, 0]
    assert not np.isfinite(naive)
    m = big.max()
    lse = m + np.log(np.exp(big - m).sum()) - big[0, 0]
    assert lse == pytest.approx(0.0, abs=1e-300)
    ours = CrossEntropyLoss()(big, np.array([0]))
    assert ours == lse == F.cross_entropy(torch.tensor(big), torch.tensor([0])).item()


def test_minibatch_gradients_average_to_the_full_gradient() -> None:
    rng = np.random.default_rng(7)
    X, T, W, b = rng.normal(size=(12, 3)), rng.normal(size=(12, 2)), rng.normal(size=(3, 2)), 0.0
    full = torch_linear_grads(X, W, np.zeros(2) + b, T)[1]

    def library_grad(rows: slice, weight: np.ndarray) -> np.ndarray:
        layer = Linear(3, 2)
        layer.weight.data[...], layer.bias.data[...] = weight, b  # type: ignore[union-attr]
        loss_fn = MSELoss()
        loss_fn(layer(X[rows]), T[rows])
        layer.backward(loss_fn.backward())
        return layer.weight.grad

    parts = [library_grad(slice(i, i + 4), W) for i in (0, 4, 8)]
    np.testing.assert_allclose(np.mean(parts, axis=0), full, rtol=1e-12)
    # Only at fixed weights: three minibatch steps are not one full-gradient step of 3η.
    eta, Wk = 0.1, W.copy()
    for i in (0, 4, 8):
        Wk -= eta * library_grad(slice(i, i + 4), Wk)
    one_step = W - 3 * eta * full
    assert 1e-3 < rel_error(Wk - W, one_step - W) < 0.3  # close, not equal


# -------------------------------------------------------------------------- checking gradients


def test_central_differences_beat_one_sided_ones() -> None:
    x = np.array([0.3, -1.2, 0.7])
    analytic = 1 - np.tanh(x) ** 2
    h = 1e-4
    central = (np.tanh(x + h) - np.tanh(x - h)) / (2 * h)
    forward = (np.tanh(x + h) - np.tanh(x)) / h
    err_c, err_f = rel_error(analytic, central), rel_error(analytic, forward)
    assert err_c < 1e-8 < 1e-6 < err_f  # order h² against order h
    assert rel_error(analytic, analytic + 0.01) > 1e-3  # a wrong formula is far off


def test_float64_is_needed_for_the_check() -> None:
    W, b, x = posts_draws()

    def check(dtype: type) -> float:
        Wd: np.ndarray = W.astype(dtype)
        bd: np.ndarray = b.astype(dtype)
        xd: np.ndarray = x.astype(dtype)

        def loss() -> float:
            return float(np.square(xd @ Wd + bd - xd).sum(1).mean())

        analytic = 2 * xd.T @ (xd @ Wd + bd - xd)
        return rel_error(analytic, numerical_gradient(loss, Wd, h=1e-6))

    assert 5e-11 < check(np.float64) < 3e-10  # "about 1e-10" (measured 1.3e-10)
    assert 1.5e-2 < check(np.float32) < 6e-2  # "about 3e-2" (measured 3.1e-2)
    # "so backprop.gradcheck always runs on a float64 copy": a correct float32 layer passes it
    layer = Linear(4, 4, rng=np.random.default_rng(0), dtype=np.float32)
    layer.weight.data[...], layer.bias.data[...] = W, b  # type: ignore[union-attr]
    report = gradcheck(layer, x.astype(np.float32))
    assert report.passed and report.max_rel_error < 1e-9, str(report)
    assert layer.weight.data.dtype == np.float32  # the layer itself is left as it was
    assert np.finfo(np.float64).eps == pytest.approx(2.2e-16, rel=0.01)
    assert np.finfo(np.float32).eps == pytest.approx(1.2e-7, rel=0.01)


def test_gradcheck_command_runs_on_every_layer_and_loss() -> None:
    from backprop.cli import main

    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["gradcheck"]) == 0
    assert "worst relative error" in out.getvalue()


def test_scikit_learns_digits_accuracy_is_the_one_quoted() -> None:
    import warnings

    from sklearn.datasets import load_digits
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.model_selection import train_test_split
    from sklearn.neural_network import MLPClassifier

    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(
        X, y, test_size=0.2, random_state=0, stratify=y
    )
    clf = MLPClassifier(hidden_layer_sizes=(128, 64), max_iter=30, batch_size=32, random_state=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        clf.fit(X_train, y_train)
    accuracy = clf.score(X_test, y_test)
    wrong = round((1 - accuracy) * len(y_test))
    assert f"reaches {accuracy:.4f} ({wrong} of 360 wrong) on the same split" in " ".join(
        notes().split()
    )


# ----------------------------------------------------------------- the additions and corrections


def code_block_after(heading: str) -> str:
    return notes().split(heading, 1)[1].split("```python\n", 1)[1].split("```", 1)[0]


def test_the_worked_scalar_example() -> None:
    printed = run_python(code_block_after("### A worked scalar example")).split()
    numbers = [float(v) for v in re.findall(r"-?\d+\.?\d*", " ".join(printed))]
    # by PyTorch: L = (wx + b − x)², one SGD step of η = 0.05
    w, b = (torch.tensor([0.5], dtype=torch.float64, requires_grad=True) for _ in range(2))
    x = torch.tensor([2.0], dtype=torch.float64)
    loss = ((w * x + b - x) ** 2).sum()
    loss.backward()
    assert w.grad is not None and b.grad is not None
    w2, b2 = w.detach() - 0.05 * w.grad, b.detach() - 0.05 * b.grad
    loss2 = ((w2 * x + b2 - x) ** 2).sum()
    expected = [loss.item(), w.grad.item(), b.grad.item(), w2.item(), b2.item(), loss2.item()]
    assert numbers == pytest.approx(expected, rel=1e-12)
    assert expected == pytest.approx([0.25, -2, -1, 0.6, 0.55, 0.0625], rel=1e-12)
    assert loss2.item() / loss.item() == pytest.approx((1 - 2 * 0.05 * (2**2 + 1)) ** 2)
    text = notes()
    for quoted in [
        "$2 \\cdot (-1) = -2$",
        "$w' = 0.6$, $b' = 0.55$",
        "$o' = 1.75$, $L' = 0.0625$",
        "= 0.5^2 = 0.25",
    ]:
        assert quoted in text, quoted


def test_the_square_case_transpose_is_shown_as_computed() -> None:
    W, b, x = posts_draws()
    layer = Linear(4, 4)
    layer.weight.data[...], layer.bias.data[...] = W, b  # type: ignore[union-attr]
    loss_fn = MSELoss()
    loss_fn(layer(x), x)
    G = loss_fn.backward()
    layer.backward(G)
    block = notes().split("Xᵀ G, the gradient", 1)[1].split("```", 1)[0]
    rows = [[float(v) for v in re.findall(r"-?\d+\.\d+", line)] for line in block.splitlines()]
    printed = np.array([r for r in rows if r])
    np.testing.assert_allclose(printed[:, :4], layer.weight.grad, atol=5e-4)  # the gradient
    np.testing.assert_allclose(printed[:, 4:], G.T @ x, atol=5e-4)  # the wrong product
    np.testing.assert_allclose(
        layer.weight.grad, torch_linear_grads(x, W, b, x)[1], rtol=1e-13
    )  # and the library's is the right one
    assert f"relative error {rel_error(G.T @ x, layer.weight.grad):.2f}" in notes()


def test_the_run_ends_at_the_minimum_nearest_the_start() -> None:
    W0, b0, x = posts_draws()
    E0 = x @ W0 + b0 - x
    sq = float((x**2).sum())
    W_inf, b_inf = W0 - x.T @ E0 / (sq + 1), b0 - E0[0] / (sq + 1)
    for lr, epochs in [(0.001, 3000), (0.05, 300)]:  # whatever the learning rate
        run = run_slp(lr=lr, epochs=epochs, record=True)
        np.testing.assert_allclose(run.frames[-1].params[0], W_inf, rtol=0, atol=1e-12)
        np.testing.assert_allclose(run.frames[-1].params[1], b_inf, rtol=0, atol=1e-12)
    # 20 parameters, 4 equations x W + b = x: a 16-dimensional valley of minima ...
    M = np.hstack([np.kron(x, np.eye(4)), np.eye(4)])  # ∂(xW + b)/∂(vec W, b), 4 × 20
    assert M.shape == (4, 20) and np.linalg.matrix_rank(M) == 4
    # ... and the run's end is the point of it nearest the start: its step is in M's row space
    null = np.linalg.svd(M)[2][4:]
    step = np.concatenate([(W_inf - W0).ravel(), b_inf - b0])
    assert np.abs(null @ step).max() < 1e-12
    text = notes()
    assert f"\\lVert W_\\infty - W_0 \\rVert = {np.linalg.norm(W_inf - W0):.2f}$" in text
    assert f"\\lVert W_\\infty - I \\rVert = {np.linalg.norm(W_inf - np.eye(4)):.2f}$" in text
    # A fresh input gets a large loss: measured with the library's trained layer on fresh draws
    trained = run_slp(epochs=1000)
    layer = Linear(4, 4)
    layer.weight.data[...], layer.bias.data[...] = W_inf, b_inf  # type: ignore[union-attr]
    fresh = np.random.default_rng(11).standard_normal((200_000, 4))
    measured = MSELoss()(layer(fresh), fresh)
    expected = float(np.square(W_inf - np.eye(4)).sum() + np.square(b_inf).sum())
    before = float(np.square(W0 - np.eye(4)).sum() + np.square(b0).sum())
    assert measured == pytest.approx(expected, rel=0.02)
    assert f"= {expected:.2f}$, against\n{before:.2f} before training" in text
    assert f"${trained.final_loss / 1e-15:.1f} \\times 10^{{-15}}$; on a fresh input" in text
    # with d + 1 = 5 spanning inputs the only minimum is the copy, W = I, b = 0
    five = run_slp(dim=4, samples=5, lr=0.02, epochs=20000, record=True)
    np.testing.assert_allclose(five.frames[-1].params[0], np.eye(4), atol=1e-12)
    np.testing.assert_allclose(five.frames[-1].params[1], 0, atol=1e-12)


def gradient_flow() -> Any:
    spec = importlib.util.spec_from_file_location(
        "gradient_flow", ROOT / "docs" / "figures" / "gradient_flow.py"
    )
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_local_derivatives_that_shape_gradient_flow() -> None:
    z = np.linspace(-8, 8, 1601)[:, None]
    sig = Sigmoid()
    sig(z)
    d_sig = sig.backward(np.ones_like(z))  # σ′(z), by the library
    assert d_sig.max() == pytest.approx(0.25, rel=1e-12) and z[d_sig.argmax(), 0] == 0
    tanh = Tanh()
    tanh(np.array([[3.0, 5.0]]))
    d_tanh = tanh.backward(np.ones((1, 2)))
    zt = torch.tensor([3.0, 5.0], dtype=torch.float64, requires_grad=True)
    torch.tanh(zt).sum().backward()
    np.testing.assert_allclose(d_tanh[0], zt.grad, rtol=1e-12)  # type: ignore[arg-type]
    assert f"{d_tanh[0, 0]:.4f}" == "0.0099" and f"{d_tanh[0, 1]:.1e}" == "1.8e-04"
    assert "$0.0099$ at $z = 3$ and\n  $1.8 \\times 10^{-4}$ at $z = 5$" in notes()
    assert f"{4.0**-12:.0e}" == "6e-08"
    # A ReLU whose input is negative for every sample sends back zero and never learns again.
    rng = np.random.default_rng(8)
    layer = Linear(3, 4, rng=rng)
    layer.bias.data[2] = -100.0  # type: ignore[union-attr]
    model, loss_fn = Sequential(layer, ReLU()), MSELoss()
    optimizer = SGD(model.parameters(), lr=0.1)
    column = layer.weight.data[:, 2].copy()
    for _ in range(20):
        X, T = rng.normal(size=(8, 3)), rng.normal(size=(8, 4))
        loss_fn(model(X), T)
        optimizer.zero_grad()
        model.backward(loss_fn.backward())
        assert np.all(layer.weight.grad[:, 2] == 0)
        optimizer.step()
    np.testing.assert_array_equal(layer.weight.data[:, 2], column)


def test_gradient_flow_through_depth_as_measured() -> None:
    flow = gradient_flow()
    norms = {name: np.array(flow.gradient_norms(name)) for name in ("sigmoid", "tanh", "relu")}
    he = np.array(flow.gradient_norms("relu", flow.HE))
    big = np.array(flow.gradient_norms("relu", 2 * flow.HE))
    # the library's backward pass against PyTorch's on the same sigmoid network
    X, y = flow.digits_batch()
    model = flow.mlp([64, *[flow.WIDTH] * flow.DEPTH, 10], "sigmoid", rng=np.random.default_rng(0))
    params = [torch.tensor(p.data, requires_grad=True) for p in model.parameters()]
    h = torch.tensor(X)
    for i in range(0, len(params), 2):
        h = h @ params[i] + params[i + 1]
        if i + 2 < len(params):
            h = torch.sigmoid(h)
    F.cross_entropy(h, torch.tensor(y)).backward()
    ref = np.array([float(torch.linalg.norm(p.grad)) for p in params[::2]])
    np.testing.assert_allclose(norms["sigmoid"], ref, rtol=1e-9)
    text = " ".join(notes().split())
    ratio = {k: v[0] / v[-1] for k, v in norms.items()}
    assert "$3 \\times 10^{-10}$" in text and f"{ratio['sigmoid']:.0e}" == "3e-10"
    assert f"{ratio['tanh']:.2f}" == "0.06" and f"{ratio['relu']:.3f}" == "0.001"
    assert f"{he[0] / he[-1]:.1f}" == "0.4"
    assert (big / he).min() > 2e3 and (big / he).max() < 5e4  # "about 10^4 times larger"
    assert "tanh 0.06 and with ReLU 0.001" in text and "He's scale 0.4" in text


def test_a_wrong_gradient_may_still_lower_the_loss() -> None:
    W, b, x = posts_draws()

    def train(wrong: str) -> float:
        layer = Linear(4, 4)
        layer.weight.data[...], layer.bias.data[...] = W, b  # type: ignore[union-attr]
        loss_fn, optimizer = MSELoss(), SGD(layer.parameters(), lr=0.001)
        for _ in range(1000):
            loss_fn(layer(x), x)
            optimizer.zero_grad()
            layer.backward(loss_fn.backward())
            if wrong == "transpose":
                layer.weight.grad[...] = layer.weight.grad.T.copy()
            elif wrong == "sign":
                layer.weight.grad[...] *= -1
            optimizer.step()
        return loss_fn(layer(x), x)

    assert f"{train('transpose'):.2f}" == "0.66"  # falls, from 36.26, and hides the bug
    assert 1e14 < train("sign") < 1e15  # a sign error climbs
    assert train("right") < 3e-15
    assert "from 36.26 to 0.66 in 1000 steps" in " ".join(notes().split())


def test_the_rounding_error_of_a_difference_is_eps_L_over_h() -> None:
    W, b, x = posts_draws()
    eps = np.finfo(np.float64).eps
    layer = Linear(4, 4)
    layer.weight.data[...], layer.bias.data[...] = W, b  # type: ignore[union-attr]
    loss_fn = MSELoss()
    L = loss_fn(layer(x), x)
    layer.backward(loss_fn.backward())
    exact = torch_linear_grads(x, W, b, x)[1]
    np.testing.assert_allclose(layer.weight.grad, exact, rtol=1e-13)
    for h in [1e-4, 1e-5, 1e-6, 1e-7, 1e-8]:  # the loss is quadratic: no truncation error
        numeric = numerical_gradient(lambda: loss_fn(layer(x), x), layer.weight.data, h)
        scale = np.abs(numeric - exact).max() * h / (eps * L)
        assert 0.2 < scale < 3, f"h={h}: error {scale:.2f} × ε|L|/h"
    # with truncation error too, the best h is near ε^(1/3)
    z = np.random.default_rng(0).normal(size=(1, 20))
    act = Tanh()
    act(z)
    analytic = act.backward(np.ones_like(z))
    hs = np.logspace(-9, -2, 57)

    def error(h: float) -> float:
        zz = z.copy()
        numeric = numerical_gradient(lambda: float(np.tanh(zz).sum()), zz, h)
        return float(np.abs(numeric - analytic).max())

    errors = [error(h) for h in hs]
    best = hs[int(np.argmin(errors))]
    assert eps ** (1 / 3) / 3 < best < 3 * eps ** (1 / 3)
    assert f"{eps ** (1 / 3):.0e}" == "6e-06"


def test_unrelated_vectors_have_relative_error_near_0_7() -> None:
    rng = np.random.default_rng(9)
    errors = [rel_error(rng.normal(size=1000), rng.normal(size=1000)) for _ in range(200)]
    assert np.mean(errors) == pytest.approx(1 / np.sqrt(2), abs=0.01)


# ------------------------------------------------------------------------------ common bugs


class TransposedLinear(Linear):
    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        dx = super().backward(grad_output)
        assert self._x is not None
        self.weight.grad[...] = grad_output.T @ self._x  # the bug: Gᵀ X for Xᵀ G
        return dx


class UnsummedBias(Linear):
    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        dx = super().backward(grad_output)
        assert self.bias is not None
        self.bias.grad[...] = grad_output[0]  # the bug: only the first sample counts
        return dx


class TanhAtZ(Module):
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.z = x
        return np.tanh(x)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        return grad_output * (1 - self.z**2)  # the bug: f′ at Z written as if it were O


class MSEOverNTwice(MSELoss):
    def backward(self, grad_output: float | None = None) -> np.ndarray:
        g = super().backward()
        return g / len(g)  # the bug: 1/N again


def test_each_common_bug_is_caught_by_its_check() -> None:
    rng = np.random.default_rng(10)
    square, x1, x3 = Linear(4, 4, rng=rng), rng.normal(size=(1, 4)), rng.normal(size=(3, 4))
    # the transpose in the square case: the shapes fit, the check fails at about 0.7
    bad = TransposedLinear(4, 4, rng=rng)
    bad.weight.data[...] = square.weight.data
    assert 0.1 < gradcheck(bad, x1).rows[1].rel_error < 1
    assert gradcheck(square, x1).passed
    with pytest.raises(ValueError):  # unequal sizes: it cannot even be assigned
        gradcheck(TransposedLinear(4, 2, rng=rng), x3)
    # a bias gradient not summed: passes with N = 1, fails with N > 1
    assert gradcheck(UnsummedBias(4, 2, rng=rng), x1).passed
    assert not gradcheck(UnsummedBias(4, 2, rng=rng), x3).passed
    # zero_grad forgotten: a second backward pass adds, as PyTorch's does
    layer, G = Linear(4, 2, rng=rng), rng.normal(size=(3, 2))
    Wt = torch.tensor(layer.weight.data, requires_grad=True)
    for _ in range(2):
        layer(x3)
        layer.backward(G)
        (torch.tensor(x3) @ Wt * torch.tensor(G)).sum().backward()
    np.testing.assert_allclose(layer.weight.grad, 2 * x3.T @ G, rtol=1e-13)
    np.testing.assert_allclose(layer.weight.grad, Wt.grad, rtol=1e-13)  # type: ignore[arg-type]
    # f′ at the wrong value: caught at inputs of size 1, nearly right near 0
    assert not gradcheck(TanhAtZ(), 2 * x3).passed
    assert gradcheck(TanhAtZ(), 1e-3 * x3).max_rel_error < 1e-5
    assert gradcheck(Tanh(), 2 * x3).passed
    # a cached input overwritten in place: ∂L/∂W uses the changed X, and PyTorch disagrees
    layer, x = Linear(4, 2, rng=rng), x3.copy()
    layer(x)
    x *= 2
    layer.zero_grad()
    layer.backward(G)
    np.testing.assert_allclose(layer.weight.grad, 2 * x3.T @ G, rtol=1e-13)
    assert rel_error(layer.weight.grad, x3.T @ G) > 0.3
    # dividing by N twice: right with N = 1, exactly 1/N of the gradient with N samples
    pred, target = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    assert gradcheck(MSEOverNTwice(), pred[:1], target[:1]).passed
    loss_fn = MSEOverNTwice()
    loss_fn(pred, target)
    np.testing.assert_allclose(loss_fn.backward(), 2 / 4 * (pred - target) / 4, rtol=1e-13)
    assert not gradcheck(MSEOverNTwice(), pred, target).passed
    # a gradient check at a ReLU kink fails a correct ReLU; away from 0 it passes
    kink = np.array([[1e-8, 0.5, -0.7], [0.3, -0.2, 0.9]])
    assert not gradcheck(ReLU(), kink).passed
    assert gradcheck(ReLU(), kink + np.array([[0.5, 0, 0], [0, 0, 0]])).passed


def test_fit_takes_minibatch_steps_and_their_sum_is_not_one_full_step() -> None:
    from backprop import fit

    rng = np.random.default_rng(12)
    X, T = rng.normal(size=(12, 3)), rng.normal(size=(12, 2))
    layer = Linear(3, 2, rng=rng)
    W0, b0 = layer.weight.data.copy(), layer.bias.data.copy()  # type: ignore[union-attr]
    fit(layer, MSELoss(), SGD(layer.parameters(), lr=0.1), X, T, epochs=1, batch_size=4, rng=0)
    # PyTorch, the same three minibatches in fit's order, each its own step
    Wt, bt = torch.tensor(W0, requires_grad=True), torch.tensor(b0, requires_grad=True)
    order = np.random.default_rng(0).permutation(12)
    for i in range(0, 12, 4):
        rows = order[i : i + 4]
        loss = ((torch.tensor(X[rows]) @ Wt + bt - torch.tensor(T[rows])) ** 2).sum() / 4
        loss.backward()
        with torch.no_grad():
            Wt -= 0.1 * Wt.grad  # type: ignore[operator]
            bt -= 0.1 * bt.grad  # type: ignore[operator]
        Wt.grad, bt.grad = None, None
    np.testing.assert_allclose(layer.weight.data, Wt.detach().numpy(), rtol=1e-12)
    np.testing.assert_allclose(layer.bias.data, bt.detach().numpy(), rtol=1e-12)  # type: ignore[union-attr]
    # one step of 3η along the full gradient at the start lands elsewhere
    full_W = W0 - 3 * 0.1 * torch_linear_grads(X, W0, b0, T)[1]
    assert rel_error(layer.weight.data - W0, full_W - W0) > 1e-3


def test_what_explain_prints_is_what_the_notes_say() -> None:
    from backprop.cli import main

    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["explain"]) == 0
    titles = re.findall(r"^\d+\. ([^:]+):", out.getvalue(), re.M)
    assert titles == [
        "Forward",
        "Loss",
        "Gradient of the loss",
        "Backward through the layer",
        "Gradient-descent update",
        "After the step",
        "Convergence",
    ]
    assert "the post's dL_dO" in out.getvalue()
    text = " ".join(notes().split())
    assert "the post's first update in seven steps" in text
    assert "beside the post's own `dL_dO`" in text
