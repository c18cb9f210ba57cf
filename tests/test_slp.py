"""The post's experiment, reproduced: the post's own program is the reference."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from backprop.cli import main
from backprop.slp import Diverged, run_slp

POST = Path(__file__).resolve().parents[1] / "docs" / "original-post.md"


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
    assert np.array(data["inputs"]).shape == (1, 4) and np.array(data["outputs"]).shape == (1, 4)


def test_slp_every_prints_every_nth_and_the_last(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["slp", "--every", "300"]) == 0
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("Iteration")]
    assert [int(line.split()[1]) for line in lines] == [0, 300, 600, 900, 999]


def test_slp_options_change_the_problem() -> None:
    run = run_slp(dim=3, samples=5, lr=0.01, epochs=50, seed=1)
    assert run.inputs.shape == (5, 3) and len(run.losses) == 50
    assert run.losses[-1] < run.initial_loss


def test_diverging_learning_rate_names_the_step() -> None:
    with pytest.raises(
        Diverged, match=r"the loss became (inf|nan) at iteration \d+: lr=0.5 is too large"
    ):
        run_slp(lr=0.5)


def test_recorded_run_is_consistent() -> None:
    run = run_slp(epochs=5, record=True)
    assert [f.step for f in run.frames] == [0, 1, 2, 3, 4, 5]
    f0, f1 = run.frames[0], run.frames[1]
    assert f0.grads is not None and run.frames[-1].grads is None
    np.testing.assert_array_equal(f1.params[0], f0.params[0] - 0.001 * f0.grads[0])
    assert [f.loss for f in run.frames] == [run.initial_loss, *run.losses]


def test_record_keeps_only_the_frames_it_draws() -> None:
    from backprop.history import GIF_FRAMES, log_spaced_steps

    run = run_slp(epochs=1000, record=True)
    assert [f.step for f in run.frames] == log_spaced_steps(1000, GIF_FRAMES)
    assert len(run.frames) == GIF_FRAMES
    assert [f.step for f in run_slp(epochs=9, frame_steps=[2, 9]).frames] == [2, 9]
    assert run_slp(epochs=9).frames == []
