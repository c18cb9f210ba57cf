"""docs/notes.md, claim by claim, in the order of its sections.

Every expected value here is computed independently of the code under test: from the post's own
draws (np.random.seed(0), then weights, bias, inputs), from the formulas as the notes write them in
NumPy, or from PyTorch's autograd in float64. The gradient formulas are also checked, for every
layer and loss, in tests/test_layers.py (test_linear_matches_torch, test_gradcheck_every_layer)
and tests/test_losses.py (test_mse_matches_torch, test_batchmean_is_d_times_pytorch_mean,
test_cross_entropy_matches_torch, test_gradcheck_every_loss).
"""

from __future__ import annotations

import contextlib
import io
import itertools
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from post_reference import posts_draws

from backprop import CrossEntropyLoss, Linear, MSELoss, Sequential, Tanh
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
    match = re.match(r"\+\+\+\n(.*?)\n\+\+\+\n", text, re.S)
    assert match, "no +++ front matter at the top"
    return match.group(1)


def headings(text: str, level: str = "## ") -> list[str]:
    return [line[len(level) :].strip() for line in text.splitlines() if line.startswith(level)]


def test_nothing_is_left_to_be_done() -> None:
    assert "to be done" not in notes().lower()


def test_front_matter_is_the_posts() -> None:
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
        "factor of \\(d\\)",
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
    ours = x @ W + b  # the post, backprop.Linear
    torch_layer = torch.nn.Linear(4, 4, dtype=torch.float64)
    with torch.no_grad():
        torch_layer.weight.copy_(torch.tensor(W.T))  # PyTorch stores A = Wᵀ, (out, in)
        torch_layer.bias.copy_(torch.tensor(b))
    np.testing.assert_allclose(torch_layer(torch.tensor(x)).detach().numpy(), ours, rtol=1e-14)
    column = W.T @ x.T + b[:, None]  # textbooks: o = Wᵀx + b, x a column
    np.testing.assert_allclose(column.T, ours, rtol=1e-14)
    for n in range(4):  # the post's o_n = b_n + θ_n · x with θ_n column n of W, row n of A
        assert ours[0, n] == pytest.approx(b[n] + W[:, n] @ x[0], rel=1e-14)
        assert ours[0, n] == pytest.approx(b[n] + torch_layer.weight[n].detach().numpy() @ x[0])


def test_inline_math_and_code_stay_on_one_line() -> None:
    # A Markdown renderer may split a span broken across lines; keep each on one line.
    prose = notes().split("## Code", 1)[0]
    for span in re.findall(r"\\\((.*?)\\\)", prose, re.S) + re.findall(r"`([^`]*)`", prose):
        assert "\n" not in span, span


def test_every_figure_exists_or_is_made_by_the_figures_target() -> None:
    text = notes()
    figures = re.findall(r"!\[[^\]]*\]\((figures/[^)]+)\)", text)
    assert {"figures/slp.gif", "figures/slp-loss.png", "figures/convergence.png"} <= set(figures)
    makefile = (ROOT / "Makefile").read_text()
    for fig in figures:
        # Each figure is followed by the command that makes it, and `make figures` runs it.
        after = text.split(f"]({fig})", 1)[1].split("\n\n", 2)[1]
        command = re.search(r"`([^`]+)`", after)
        assert command and fig in command.group(1), f"no command under {fig}"
        assert f"docs/{fig}" in makefile.split("figures:", 1)[1]
    assert (ROOT / "docs" / "figures" / "convergence.png").exists()


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
    dX = layer.backward(loss_fn.backward())
    np.testing.assert_allclose(layer.weight.grad, dW_ref, rtol=1e-12, atol=1e-14)
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
    entries = 64 * 4096**3
    assert 4.35e12 < entries < 4.45e12
    assert 34.5 < entries * 8 / 1e12 < 35.5  # TB of float64


def test_a_small_step_against_the_gradient_lowers_the_loss() -> None:
    W, b, x = posts_draws()
    loss0 = post_loss(x @ W + b, x)
    dW, db = torch_linear_grads(x, W, b, x)[1:]
    eta = 1e-6
    predicted_change = -eta * (np.square(dW).sum() + np.square(db).sum())
    change = post_loss(x @ (W - eta * dW) + (b - eta * db), x) - loss0
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
    run = run_slp(epochs=2500)
    losses = np.array([run.initial_loss, *run.losses])
    rel = np.abs(losses[1:] / losses[:-1] / r - 1)
    assert rel[:500].max() < 1e-10
    assert 1e-12 < rel[900:1000].max() < 1e-7  # "about 1e-8" by the end of the post's run
    assert 3e-8 < np.sqrt(losses[1000]) < 7e-8  # the error is "about 5e-8" at the end
    # past about 1800 steps, near 1e-28, the loss all but stops falling
    assert 1e-29 < losses[1800] < 1e-27
    assert losses[2400] > 0.01 * losses[1800]  # geometric decay would give r^600 ≈ 2e-10


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
    parts = [
        torch_linear_grads(X[i : i + 4], W, np.zeros(2) + b, T[i : i + 4])[1] for i in (0, 4, 8)
    ]
    np.testing.assert_allclose(np.mean(parts, axis=0), full, rtol=1e-12)


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

    assert check(np.float64) < 1e-9  # "about 1e-10"
    assert 3e-3 < check(np.float32) < 0.3  # "about 3e-2"
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
