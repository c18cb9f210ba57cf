"""Pictures: the GIFs' frames, size and change (read back with Pillow), determinism, bad paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image

from backprop import SGD, Linear, MSELoss, ReLU, Sequential, Tanh
from backprop.cli import main
from backprop.files import atomic_write
from backprop.history import Frame, log_spaced_steps, snapshot
from backprop.viz import animate, plot_losses

MiB = 2**20


def run(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "backprop", *args], capture_output=True, text=True, cwd=cwd
    )


def open_image(path: Path) -> Any:
    """Image.open, typed loosely: GIF frames (n_frames, seek) are not in Pillow's stubs."""
    return Image.open(path)


def frames_of(path: Path) -> list[np.ndarray]:
    with open_image(path) as im:
        out = []
        for k in range(im.n_frames):
            im.seek(k)
            out.append(np.asarray(im.convert("RGB"), dtype=np.int16))
        return out


def check_animation(path: Path, min_frames: int = 60) -> list[np.ndarray]:
    """At least ``min_frames`` frames, < 3 MiB, no blank frame, first and last visibly apart."""
    assert path.stat().st_size < 3 * MiB
    with open_image(path) as im:
        assert im.format == "GIF"
        assert im.is_animated
        assert min_frames <= im.n_frames <= 120
    frames = frames_of(path)
    for k, f in enumerate(frames):
        # a blank frame is one colour; a drawn one has text, lines and fills
        inked = np.any(f < 200, axis=2).mean()
        assert inked > 0.02, f"frame {k} is almost blank ({inked:.1%} inked)"
        packed = (f[..., 0].astype(np.int32) << 16) | (f[..., 1] << 8) | f[..., 2]
        assert np.unique(packed).size > 10
    first, last = frames[0], frames[-1]
    height, width, _ = first.shape
    # the network panel (left half, below the title) changes, not only the title's numbers
    network = (slice(height // 5, height * 4 // 5), slice(0, width // 2))
    changed = np.any(np.abs(first[network] - last[network]) > 40, axis=2).mean()
    assert changed > 0.005, f"only {changed:.2%} of the network panel changed"
    return frames


# ---------------------------------------------------------------------------- backprop slp --gif


@pytest.fixture(scope="module")
def slp_pictures(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, subprocess.CompletedProcess[str]]:
    directory = tmp_path_factory.mktemp("slp")
    result = run("slp", "--gif", "slp.gif", "--plot", "slp.png", cwd=directory)
    assert result.returncode == 0, result.stderr
    return directory, result


def test_slp_gif_meets_the_issue(
    slp_pictures: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    directory, _ = slp_pictures
    frames = check_animation(directory / "slp.gif")
    assert frames[0].shape == (480, 900, 3)  # readable at its natural size
    # between the input and the output neurons there are only the weights' lines: they move
    band = (slice(120, 360), slice(185, 295))
    moved = np.any(np.abs(frames[0][band] - frames[-1][band]) > 40, axis=2).mean()
    assert moved > 0.03, f"only {moved:.1%} of the lines between the neurons changed"
    with open_image(directory / "slp.gif") as im:
        durations = []
        for k in range(im.n_frames):
            im.seek(k)
            durations.append(im.info["duration"])
    assert 3000 <= sum(durations) <= 10000, durations  # "a few seconds"


def test_slp_report_is_unchanged_and_quiet_when_piped(
    slp_pictures: tuple[Path, subprocess.CompletedProcess[str]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    _, result = slp_pictures
    assert main(["slp"]) == 0
    assert result.stdout == capsys.readouterr().out
    assert result.stderr == ""  # no progress bar, no chatter: stderr is not a terminal


def test_slp_gif_shows_the_posts_frames_on_a_log_scale(
    slp_pictures: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    directory, _ = slp_pictures
    steps = log_spaced_steps(1000, 90)
    assert steps[:4] == [0, 1, 2, 3] and steps[-1] == 1000
    with open_image(directory / "slp.gif") as im:
        assert im.n_frames == len(steps)


def test_slp_plot_is_a_loss_curve_png(
    slp_pictures: tuple[Path, subprocess.CompletedProcess[str]],
) -> None:
    directory, _ = slp_pictures
    with Image.open(directory / "slp.png") as im:
        assert im.format == "PNG"
        pixels = np.asarray(im.convert("RGB"))
    assert pixels.shape[1] >= 600 and np.any(pixels < 100, axis=2).mean() > 0.01
    assert sorted(p.name for p in directory.iterdir()) == ["slp.gif", "slp.png"]  # no temp files


# ------------------------------------------------------------------ any small Sequential, from code


def train(
    model: Sequential, steps: int, count: int, seed: int = 0
) -> tuple[list[Frame], list[float], np.ndarray, np.ndarray]:
    """SGD on a fixed regression problem, recording frames at log-spaced steps."""
    rng = np.random.default_rng(seed)
    n_in = model.parameters()[0].shape[0]
    n_out = model.parameters()[-1].shape[0]
    x = rng.normal(size=(16, n_in))
    t = np.tanh(x @ rng.normal(size=(n_in, n_out)))
    loss_fn, optimizer = MSELoss(), SGD(model.parameters(), lr=0.05)
    keep = set(log_spaced_steps(steps, count))
    losses: list[float] = []
    frames: list[Frame] = []
    for step in range(steps + 1):
        loss = loss_fn(model(x), t)
        losses.append(loss)
        if step in keep:
            frames.append(snapshot(model, step, loss))
        if step < steps:
            optimizer.zero_grad()
            model.backward(loss_fn.backward())
            optimizer.step()
    return frames, losses, x[0], t[0]


def test_multilayer_gif(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    model = Sequential(Linear(2, 4, rng=rng), Tanh(), Linear(4, 3, rng=rng))
    frames, losses, x, t = train(model, steps=300, count=64)
    assert len(frames) == 64 and losses[-1] < losses[0] / 10  # it did learn
    path = tmp_path / "net.gif"
    size = animate(model, frames, losses, path, inputs=x, targets=t, title="2-4-3")
    assert size == path.stat().st_size
    assert len(check_animation(path)) == len(frames)


def test_wide_layers_are_drawn_as_heatmaps(tmp_path: Path) -> None:
    rng = np.random.default_rng(2)
    model = Sequential(Linear(8, 32, rng=rng), ReLU(), Linear(32, 3, rng=rng))
    frames, losses, x, t = train(model, steps=200, count=6)
    path = tmp_path / "wide.gif"
    animate(model, frames, losses, path, inputs=x, targets=t)
    check_animation(path, min_frames=len(frames))


def test_same_frames_give_the_same_bytes(tmp_path: Path) -> None:
    # two separate processes, so nothing cached in one (fonts, hash seeds) can hide a difference
    script = (
        "import sys, numpy as np\n"
        "from backprop import Linear, Sequential, Tanh\n"
        "from backprop.history import Frame\n"
        "from backprop.viz import animate\n"
        "rng = np.random.default_rng(0)\n"
        "model = Sequential(Linear(3, 5, rng=rng), Tanh(), Linear(5, 2, rng=rng))\n"
        "frames = [Frame(s, 1.0 / (s + 1), [p.data * (1 + s / 4) for p in model.parameters()])"
        " for s in range(6)]\n"
        "animate(model, frames, [1.0 / (s + 1) for s in range(6)], sys.argv[1],"
        " inputs=np.ones(3), targets=np.zeros(2))\n"
    )
    for name in ("a.gif", "b.gif"):
        subprocess.run([sys.executable, "-c", script, str(tmp_path / name)], check=True)
    a, b = (tmp_path / "a.gif").read_bytes(), (tmp_path / "b.gif").read_bytes()
    assert len(a) > 1000 and a == b


def test_loss_plot_formats_and_determinism(tmp_path: Path) -> None:
    losses = list(np.geomspace(10, 1e-6, 200))
    for name in ("a.png", "b.png", "c.svg", "d.pdf"):
        plot_losses(losses, tmp_path / name, title="t")
    assert (tmp_path / "a.png").read_bytes() == (tmp_path / "b.png").read_bytes()
    assert (tmp_path / "c.svg").read_text().lstrip().startswith("<?xml")
    assert (tmp_path / "d.pdf").read_bytes().startswith(b"%PDF")


# ------------------------------------------------------------------------------------ bad input


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["--gif", "out.png"], 2, "'out.png' has suffix '.png'; expected .gif"),
        (["--gif", "out"], 2, "'out' has no suffix; expected .gif"),
        (["--plot", "out.jpg"], 2, "'out.jpg' has suffix '.jpg'; expected .png or .svg or .pdf"),
        (["--gif", "missing/out.gif"], 1, "cannot write 'missing/out.gif': No such file"),
        (["--plot", "missing/out.png"], 1, "cannot write 'missing/out.png': No such file"),
        (["--gif", "taken.gif"], 1, "cannot write 'taken.gif': it is a directory"),
        (["--dim", "65", "--gif", "out.gif"], 2, "a layer of 65 units is too large to draw"),
        (
            ["--epochs", "200000000", "--gif", "out.gif"],
            2,
            "--dim 4 --samples 1 --epochs 200000000 would need about 6.0 GiB",
        ),
    ],
)
def test_bad_picture_paths(tmp_path: Path, args: list[str], code: int, message: str) -> None:
    (tmp_path / "taken.gif").mkdir()
    result = run("slp", *args, cwd=tmp_path)
    assert result.returncode == code, result.stderr
    assert result.stderr.startswith(f"backprop slp: error: {message}"), result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert result.stdout == ""  # checked before any training or printing
    assert sorted(p.name for p in tmp_path.iterdir()) == ["taken.gif"]  # nothing written


@pytest.mark.parametrize(
    ("model", "message"),
    [
        (Sequential(Linear(100, 3)), "a layer of 100 units is too large to draw"),
        (Sequential(*[Linear(2, 2) for _ in range(7)]), "7 Linear layers is too large"),
        (Sequential(Tanh(), Linear(2, 2)), "starts with Tanh"),
        (Sequential(Linear(2, 3), Linear(4, 2)), "takes 4 inputs but the layer before gives 3"),
    ],
)
def test_undrawable_networks(tmp_path: Path, model: Sequential, message: str) -> None:
    frames = [snapshot(model, 0, 1.0)]
    with pytest.raises(ValueError, match=message):
        animate(model, frames, [1.0], tmp_path / "x.gif")
    assert list(tmp_path.iterdir()) == []


def test_frames_must_match_the_model(tmp_path: Path) -> None:
    model = Sequential(Linear(2, 2))
    with pytest.raises(ValueError, match="has 1 arrays, the model has 2 parameters"):
        animate(model, [Frame(0, 1.0, [np.zeros((2, 2))])], [1.0], tmp_path / "x.gif")


def test_a_failed_write_leaves_the_old_file(tmp_path: Path) -> None:
    path = tmp_path / "x.gif"
    path.write_bytes(b"old")

    def half_then_fail(f: object) -> None:
        f.write(b"half")  # type: ignore[attr-defined]
        raise RuntimeError("disk on fire")

    with pytest.raises(RuntimeError):
        atomic_write(path, half_then_fail)
    assert path.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["x.gif"]


def test_import_viz_stays_light() -> None:
    code = (
        "import sys, backprop.viz; "
        "print(','.join(m for m in ('matplotlib', 'PIL', 'rich') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""
