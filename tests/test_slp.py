"""The post's experiment, reproduced: the post's own program is the reference."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch_reference import assert_close

from backprop.cli import main
from backprop.slp import Diverged, run_slp

POST = Path(__file__).resolve().parents[1] / "docs" / "original-post.md"


def torch_slp(dim: int, samples: int, lr: float, epochs: int, seed: int) -> dict[str, Any]:
    """The post's experiment in PyTorch's autograd and torch.optim.SGD, float64: W, b and x
    drawn as the post draws them (``RandomState(seed)`` is the stream ``np.random.seed(seed)``
    starts), o = x @ W + b, L = 1/N Σₙ ‖oₙ − xₙ‖². Every weight, gradient and loss recorded."""
    draw = np.random.RandomState(seed)
    W0, b0 = draw.normal(size=(dim, dim)), draw.normal(size=(dim,))
    x = torch.from_numpy(draw.normal(size=(samples, dim)))
    W = torch.tensor(W0, requires_grad=True)
    b = torch.tensor(b0, requires_grad=True)
    opt = torch.optim.SGD([W, b], lr=lr)

    def forward() -> tuple[torch.Tensor, torch.Tensor]:
        out = x @ W + b
        return out, ((out - x) ** 2).sum() / samples

    out, loss = forward()
    ref: dict[str, Any] = {
        "inputs": x.numpy(),
        "initial_outputs": out.detach().numpy().copy(),
        "initial_loss": loss.item(),
        "losses": [],
        "weights": [],
        "weight_grads": [],
        "bias_grads": [],
    }
    for _ in range(epochs):
        opt.zero_grad()
        loss.backward()
        assert W.grad is not None and b.grad is not None
        ref["weights"].append(W.detach().numpy().copy())
        ref["weight_grads"].append(W.grad.numpy().copy())
        ref["bias_grads"].append(b.grad.numpy().copy())
        opt.step()
        out, loss = forward()
        ref["losses"].append(loss.item())
    ref["weights"].append(W.detach().numpy().copy())
    ref["outputs"] = out.detach().numpy()
    return ref


def post_program() -> str:
    """The post's code section, unindented: every line after '## Code' that is indented."""
    text = POST.read_text()
    code = text.split("## Code", 1)[1]
    return "\n".join(
        line[4:] for line in code.splitlines() if line.startswith("    ") or not line.strip()
    )


@pytest.fixture(scope="module")
def post_output() -> str:
    result = subprocess.run(
        [sys.executable, "-c", post_program()], capture_output=True, text=True, check=True
    )
    return result.stdout


def test_post_program_is_the_one_published() -> None:
    code = post_program()
    assert "np.random.seed(0)" in code and "for epoch in range(1000):" in code


def test_slp_prints_what_the_post_prints(
    post_output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["slp"]) == 0
    ours = capsys.readouterr().out
    assert len(post_output.splitlines()) == 1008
    assert ours == post_output  # bit for bit, every line


def test_slp_json_has_the_posts_numbers(
    post_output: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["slp", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    post_losses = [
        float(line.rsplit(" ", 1)[1])
        for line in post_output.splitlines()
        if line.startswith("Iteration")
    ]
    assert data["losses"] == post_losses
    assert data["initial_loss"] == float(post_output.splitlines()[3].split(": ")[1])
    assert data["final_loss"] == post_losses[-1]
    # the printout rounds the vectors to 8 digits; the values are checked in full against
    # the post's draws and an autograd run of the same experiment
    ref = torch_slp(4, 1, 0.001, 1000, 0)
    np.testing.assert_array_equal(data["inputs"], ref["inputs"])
    assert_close("slp outputs", data["outputs"], ref["outputs"], rtol=1e-10)


def test_slp_every_prints_every_nth_and_the_last(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slp", "--every", "300"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Iteration")]
    assert [int(line.split()[1]) for line in lines] == [0, 300, 600, 900, 999]


def test_slp_options_change_the_problem() -> None:
    run = run_slp(dim=3, samples=5, lr=0.01, epochs=50, seed=1)
    ref = torch_slp(dim=3, samples=5, lr=0.01, epochs=50, seed=1)
    np.testing.assert_array_equal(run.inputs, ref["inputs"])
    assert_close("slp initial outputs", run.initial_outputs, ref["initial_outputs"], rtol=1e-12)
    assert_close("slp initial loss", run.initial_loss, ref["initial_loss"], rtol=1e-12)
    assert len(run.losses) == 50
    assert_close("slp loss per iteration", run.losses, ref["losses"], rtol=1e-10)
    assert_close("slp outputs", run.outputs, ref["outputs"], rtol=1e-10)
    assert run.losses[-1] < run.initial_loss / 2


def test_slp_cli_options_reach_the_run(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["--dim", "3", "--samples", "5", "--lr", "0.02", "--epochs", "40", "--seed", "2"]
    assert main(["slp", *argv, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    ref = torch_slp(dim=3, samples=5, lr=0.02, epochs=40, seed=2)
    assert (data["dim"], data["samples"], data["lr"], data["epochs"]) == (3, 5, 0.02, 40)
    np.testing.assert_array_equal(data["inputs"], ref["inputs"])
    assert_close("slp loss per iteration", data["losses"], ref["losses"], rtol=1e-10)


def test_diverging_learning_rate_names_the_step() -> None:
    with pytest.raises(
        Diverged, match=r"the loss became (inf|nan) at iteration \d+: lr=0.5 is too large"
    ):
        run_slp(lr=0.5)


def test_recorded_run_is_consistent() -> None:
    """The recorded weights and gradients are those of an autograd run, step by step."""
    run = run_slp(dim=3, samples=2, lr=0.05, epochs=5, seed=3, record=True)
    ref = torch_slp(dim=3, samples=2, lr=0.05, epochs=5, seed=3)
    assert [f.step for f in run.frames] == [0, 1, 2, 3, 4, 5]
    assert [f.loss for f in run.frames] == [run.initial_loss, *run.losses]
    assert run.frames[-1].grads is None
    for k in range(5):
        f, after = run.frames[k], run.frames[k + 1]
        assert f.grads is not None
        assert_close(f"slp weights before update {k}", f.params[0], ref["weights"][k])
        assert_close(f"slp dL/dW at update {k}", f.grads[0], ref["weight_grads"][k])
        assert_close(f"slp dL/db at update {k}", f.grads[1], ref["bias_grads"][k])
        # each update is θ ← θ − lr · (the autograd gradient at θ)
        assert_close(
            f"slp weights after update {k}",
            after.params[0],
            f.params[0] - 0.05 * ref["weight_grads"][k],
        )
    assert_close("slp final weights", run.frames[5].params[0], ref["weights"][5])
    np.testing.assert_array_equal(run.frames[5].outputs, run.outputs)


def test_record_keeps_only_the_frames_it_draws() -> None:
    from backprop.history import GIF_FRAMES, log_spaced_steps

    run = run_slp(epochs=1000, record=True)
    assert [f.step for f in run.frames] == log_spaced_steps(1000, GIF_FRAMES)
    assert len(run.frames) == GIF_FRAMES
    assert [f.step for f in run_slp(epochs=9, frame_steps=[2, 9]).frames] == [2, 9]
    assert run_slp(epochs=9).frames == []
