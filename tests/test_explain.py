"""`backprop explain`: the printed numbers against an independent NumPy computation of the step."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from post_reference import posts_draws

from backprop.cli import main
from backprop.slp import run_slp

NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?")


def posts_step(
    dim: int = 4, samples: int = 1, lr: float = 0.001, seed: int = 0, step: int = 0
) -> dict[str, np.ndarray | float]:
    """The post's program, in plain NumPy: its draws, then `step` updates, then one more."""
    W, b, X = posts_draws(dim, samples, seed)
    for _ in range(step):
        dL_dO = 2 / samples * (X @ W + b - X)
        W = W - lr * X.T @ dL_dO
        b = b - lr * dL_dO.sum(0)
    O = X @ W + b
    dL_dO = 2 / samples * (O - X)
    dW, db = X.T @ dL_dO, dL_dO.sum(0)
    W2, b2 = W - lr * dW, b - lr * db
    O2 = X @ W2 + b2
    L, L2 = float(np.square(O - X).sum(1).mean()), float(np.square(O2 - X).sum(1).mean())
    sq = float(np.square(X).sum())
    return {
        "X": X, "W": W, "b": b, "O": O, "L": L, "∂L/∂O": dL_dO, "∂L/∂W": dW, "∂L/∂b": db,
        "W'": W2, "b'": b2, "O'": O2, "L'": L2, "‖x‖²": sq,
        "1 − 2η(‖x‖² + 1)": 1 - 2 * lr * (sq + 1),
        "predicted L'/L = (1 − 2η(‖x‖² + 1))²": (1 - 2 * lr * (sq + 1)) ** 2,
        "measured L'/L": L2 / L,
    }  # fmt: skip


def tolerance(number: str) -> float:
    """Half a unit in the last printed digit: how far a correctly rounded number can be off."""
    mantissa, _, exponent = number.lower().partition("e")
    decimals = len(mantissa.partition(".")[2])
    return 0.5 * 10.0 ** (int(exponent or 0) - decimals)


def parse(text: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Every `name = value` of the plain output: the numbers and the rounding each can carry."""
    values: dict[str, str] = {}
    name = None
    for line in text.splitlines():
        body = line[3:] if line.startswith("   ") else None
        if body is None or body.startswith("shapes"):
            name = None
            continue
        if " = " in body and not body.lstrip().startswith("["):
            name, _, value = body.rpartition(" = ")
            values[name] = value
        elif name is not None:
            values[name] += " " + body
    return {
        k: (
            np.array([float(v) for v in NUMBER.findall(s)]),
            np.array([tolerance(v) for v in NUMBER.findall(s)]),
        )
        for k, s in values.items()
    }


def explain_text(capsys: pytest.CaptureFixture[str], *args: str) -> str:
    assert main(["explain", *args]) == 0
    return capsys.readouterr().out


def test_the_posts_first_step_is_printed_with_its_true_numbers(
    capsys: pytest.CaptureFixture[str],
) -> None:
    printed = parse(explain_text(capsys))
    expected = posts_step()
    for name, value in expected.items():
        assert name in printed, f"{name} not printed; printed: {sorted(printed)}"
        want = np.ravel(value)
        got, tol = printed[name]
        assert got.shape == want.shape, name
        # each printed number is the true one, correctly rounded to the digits it shows
        assert np.all(np.abs(got - want) <= 1.0001 * tol), f"{name}: {got} against {want}"
        assert np.all(tol <= 5e-4 * np.abs(want)), f"{name}: fewer than 4 significant digits"
    assert printed["η ∂L/∂W"][0] == pytest.approx(0.001 * np.ravel(expected["∂L/∂W"]), rel=1e-4)
    # the values the notes quote
    assert printed["L"][0][0] == pytest.approx(36.262, abs=5e-4)
    assert printed["L'"][0][0] == pytest.approx(34.934, abs=5e-4)
    ratio = printed["predicted L'/L = (1 − 2η(‖x‖² + 1))²"][0][0]
    assert ratio == pytest.approx(0.96337, abs=5e-6)


def test_the_posts_variable_is_shown_beside_the_gradient(
    capsys: pytest.CaptureFixture[str],
) -> None:
    printed = parse(explain_text(capsys))
    W, b, X = posts_draws()
    posts_dL_dO = 2 / 1 * (X - (X @ W + b))  # the post's own line: minus the gradient
    got, tol = printed["the post's dL_dO = 2/N (T − O) = −∂L/∂O"]
    assert np.all(np.abs(got - posts_dL_dO.ravel()) <= 1.0001 * tol)
    np.testing.assert_allclose(got, -printed["∂L/∂O"][0])


@pytest.mark.parametrize(
    ("args", "posts"),
    [([], True), (["--step", "3"], True), (["--samples", "2"], False), (["--lr", "0.01"], False),
     (["--dim", "3"], False), (["--seed", "1"], False)],
)  # fmt: skip
def test_only_the_posts_setup_is_called_the_posts(
    args: list[str], posts: bool, capsys: pytest.CaptureFixture[str]
) -> None:
    first = explain_text(capsys, *args).splitlines()[0]
    assert ("of the post's" in first) == posts, first
    assert ("Iteration" in first) == posts, first


def test_the_graph_holds_the_steps_values_and_gradients(
    capsys: pytest.CaptureFixture[str],
) -> None:
    text = explain_text(capsys, "--graph")
    W, b, X = posts_draws()
    O = X @ W + b
    G = 2 * (O - X)  # ∂L/∂O for N = 1, from the notes' formula
    printed: dict[str, dict[str, np.ndarray]] = {}
    for para in text.split("\n\n")[2:]:
        head, *rest = para.splitlines()
        at = next(i for i, line in enumerate(rest) if line.lstrip().startswith("∂L/∂"))
        printed[head.split(" = ")[0]] = {
            "value": np.array([float(v) for v in NUMBER.findall(" ".join(rest[:at]))]),
            "grad": np.array([float(v) for v in NUMBER.findall(" ".join(rest[at + 1 :]))]),
        }
    expected = {
        "X": (X, G @ W.T), "W": (W, X.T @ G), "P": (X @ W, G), "b": (b, G.sum(0)),
        "O": (O, G), "E": (O - X, G), "L": (np.square(O - X).sum(), 1.0),
    }  # fmt: skip
    for name, (value, grad) in expected.items():
        np.testing.assert_allclose(printed[name]["value"], np.ravel(value), rtol=1e-4, atol=1e-4)
        np.testing.assert_allclose(printed[name]["grad"], np.ravel(grad), rtol=1e-4, atol=1e-4)
    assert "∂L/∂T: none" in text


def test_the_graph_figure_is_drawn(tmp_path: Path) -> None:
    path = tmp_path / "graph.png"
    assert main(["explain", "--graph", str(path)]) == 0
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    missing = tmp_path / "no" / "g.png"
    result = subprocess.run(
        [sys.executable, "-m", "backprop", "explain", "--graph", str(missing)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "--graph: cannot write" in result.stderr
    assert not missing.parent.exists()


def test_every_value_has_at_least_4_significant_digits(capsys: pytest.CaptureFixture[str]) -> None:
    text = explain_text(capsys)
    numbers = [
        n
        for line in text.splitlines()
        if line.startswith("   ") and "shapes" not in line and "relative difference" not in line
        for n in NUMBER.findall(line.rsplit(" = ", 1)[-1])
    ]
    assert len(numbers) > 80
    for n in numbers:
        digits = n.split("e")[0].lstrip("-+").replace(".", "").lstrip("0")
        assert len(digits) >= 4, n


def test_each_equation_is_shown_with_its_shapes(capsys: pytest.CaptureFixture[str]) -> None:
    text = explain_text(capsys, "--dim", "3", "--samples", "2")
    for piece in [
        "O = X W + b",
        "X: (2, 3)  W: (3, 3)  b: (3,)  O: (2, 3)",
        "L = 1/N Σₙ Σᵢ (Oₙᵢ − Tₙᵢ)²",
        "∂L/∂O = 2/N (O − T)",
        "∂L/∂W = Xᵀ ∂L/∂O",
        "∂L/∂b = Σₙ ∂L/∂Oₙ",
        "∂L/∂W: (3, 3)",
        "W' = W − η ∂L/∂W",
        "E' = (I − 2η/N (X Xᵀ + 1 1ᵀ)) E",
    ]:
        assert piece in text, piece


@pytest.mark.parametrize("step", [1, 7, 250])
def test_step_k_is_the_kth_update_of_the_run(step: int, capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(explain_text(capsys, "--step", str(step), "--json"))
    expected = posts_step(step=step)
    np.testing.assert_allclose(data["weight"], expected["W"], rtol=1e-12)
    np.testing.assert_allclose(data["new_weight"], expected["W'"], rtol=1e-12)
    np.testing.assert_allclose(data["bias_grad"], expected["∂L/∂b"], rtol=1e-9)
    assert data["loss"] == pytest.approx(expected["L"], rel=1e-12)
    # the same update as run_slp's update K, bit for bit (same library calls, same order)
    run = run_slp(epochs=step + 1, frame_steps=[step])
    (frame,) = run.frames
    assert frame.grads is not None
    assert data["weight"] == frame.params[0].tolist()
    assert data["weight_grad"] == frame.grads[0].tolist()
    assert data["new_loss"] == run.losses[step]
    assert data["step"] == step


def test_json_has_every_quantity(capsys: pytest.CaptureFixture[str]) -> None:
    data = json.loads(explain_text(capsys, "--json"))
    expected = posts_step()
    pairs = {
        "inputs": "X", "weight": "W", "bias": "b", "outputs": "O", "loss": "L",
        "grad_output": "∂L/∂O", "weight_grad": "∂L/∂W", "bias_grad": "∂L/∂b",
        "new_weight": "W'", "new_bias": "b'", "new_outputs": "O'", "new_loss": "L'",
        "factor": "1 − 2η(‖x‖² + 1)", "measured_ratio": "measured L'/L",
        "predicted_ratio": "predicted L'/L = (1 − 2η(‖x‖² + 1))²",
    }  # fmt: skip
    for key, name in pairs.items():
        np.testing.assert_allclose(data[key], expected[name], rtol=1e-12, err_msg=key)
    assert (data["dim"], data["samples"], data["lr"], data["seed"]) == (4, 1, 0.001, 0)


def test_more_samples_predict_the_next_error(capsys: pytest.CaptureFixture[str]) -> None:
    printed = parse(explain_text(capsys, "--samples", "3", "--lr", "0.01", "--seed", "2"))
    expected = posts_step(samples=3, lr=0.01, seed=2)
    E_next = np.asarray(expected["O'"]) - np.asarray(expected["X"])
    for name in ["predicted E' = (I − 2η/N (X Xᵀ + 1 1ᵀ)) E", "measured E' = O' − T"]:
        got, tol = printed[name]
        assert np.all(np.abs(got - E_next.ravel()) <= 1.0001 * tol), name
    assert printed["predicted L'/L = ‖E'‖² / ‖E‖²"][0][0] == pytest.approx(
        float(expected["measured L'/L"]), rel=1e-9
    )


def test_plain_text_when_piped_and_panels_on_a_terminal(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    piped = subprocess.run(
        [sys.executable, "-m", "backprop", "explain"], capture_output=True, text=True, check=True
    )
    assert "\x1b[" not in piped.stdout and "╭" not in piped.stdout
    assert piped.stdout == explain_text(capsys)
    monkeypatch.setenv("FORCE_COLOR", "1")
    monkeypatch.delenv("NO_COLOR", raising=False)
    monkeypatch.setattr(sys.stdout, "isatty", lambda: True)
    terminal = explain_text(capsys)
    assert "\x1b[" in terminal and "1. Forward" in terminal and "╭" in terminal
    assert "36.26235735" in terminal


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--step", "-1"], "argument --step: must be >= 0, got -1"),
        (["--step", "10001"], "argument --step: must be <= 10000, got 10001"),
        (["--step", "two"], "argument --step: expected a whole number, got 'two'"),
        (["--lr", "0"], "argument --lr: must be a positive number, got 0"),
        (["--dim", "x"], "argument --dim: expected a whole number, got 'x'"),
        (["--samples", "0"], "argument --samples: must be >= 1, got 0"),
        (["--bogus"], "unrecognized arguments: --bogus"),
        (["--graph", "g.svg"], "--graph: g.svg: the figure is written as PNG"),
        (["--graph", "--json"], "--graph and --json: choose one"),
    ],
)
def test_bad_options_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backprop", "explain", *args], capture_output=True, text=True
    )
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr and result.stderr.startswith("backprop")
    assert "Traceback" not in result.stderr and result.stdout == ""


def test_a_run_that_diverges_before_step_k_is_a_failure() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backprop", "explain", "--lr", "0.5", "--step", "5000"],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("backprop explain: error: the loss became")
    assert "before the end of step 5000" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and result.stdout == ""


def test_explain_help() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "backprop", "explain", "--help"], capture_output=True, text=True
    )
    assert result.returncode == 0
    for option in ("--dim", "--samples", "--lr", "--seed", "--step", "--json"):
        assert option in result.stdout


def test_explain_module_does_not_import_rich() -> None:
    code = "import sys, backprop.explain; print('rich' in sys.modules)"
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "False"


def test_the_readme_excerpt_is_what_explain_prints(capsys: pytest.CaptureFixture[str]) -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("$ backprop explain | sed -n 14,25p\n", 1)[1].split("```", 1)[0]
    head, _, tail = block.partition("$ backprop explain | tail -6\n")
    lines = explain_text(capsys).splitlines()

    # The relative difference between the predicted and the measured ratio is rounding (its last
    # digit depends on the CPU's BLAS kernel): both the README's and this run's must be below 1e-15,
    # and every other line must match exactly.
    def rounding_free(block: list[str]) -> list[str]:
        out = []
        for line in block:
            label, sep, value = line.partition("relative difference = ")
            if sep:
                assert float(value) < 1e-15, line
                line = label + sep + "(rounding)"
            out.append(line)
        return out

    assert rounding_free(head.splitlines()) == rounding_free(lines[13:25])
    assert rounding_free(tail.splitlines()) == rounding_free(lines[-6:])
