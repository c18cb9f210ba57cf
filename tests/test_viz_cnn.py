"""The CNN pictures: kernels beside their gradients, feature maps, the GIF over training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from backprop.history import Frame
from backprop.train import cnn
from backprop.viz.cnn import animate_cnn, pair_mosaics, plot_cnn


def test_each_gradient_tile_sits_just_right_of_its_kernel_tile() -> None:
    weight = np.arange(2 * 3 * 2 * 2, dtype=float).reshape(2, 3, 2, 2) + 1
    kern, grads, labels = pair_mosaics(weight, -weight, per_row=2)
    assert kern.shape == grads.shape
    # wherever a kernel entry is drawn, no gradient is, and the same value (negated) lies
    # half a pair to its right: kernel o's channel tiles, then its gradient's, in one row
    half = 3 * (2 + 1) - 1
    ys, xs = np.nonzero(~np.isnan(kern))
    assert np.all(np.isnan(grads[ys, xs]))
    np.testing.assert_array_equal(grads[ys, xs + half + 2], -kern[ys, xs])
    assert np.count_nonzero(~np.isnan(kern)) == weight.size
    assert [o for _, _, o in labels] == [0, 1]


def test_plot_cnn_and_animate_cnn_write_pictures(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    model = cnn(10, rng=rng)
    grads = [rng.standard_normal(p.shape) for p in model.parameters()[0:4:2]]
    png = tmp_path / "k.png"
    plot_cnn(model, grads, png, image=rng.standard_normal(64), label="3", title="t")
    assert Image.open(png).size[0] > 800
    params = [p.data for p in model.parameters()]
    frames = [Frame(s, 1.0 / (s + 1), [p * (1 + s) for p in params],
                    grads=[np.ones_like(p) * s for p in params]) for s in range(3)]  # fmt: skip
    gif = tmp_path / "k.gif"
    animate_cnn(model, frames, [1.0, 0.5, 0.3], gif, title="t")
    assert getattr(Image.open(gif), "n_frames", 1) == 3
    with pytest.raises(ValueError, match="no Conv2d"):
        plot_cnn(model[8], None, tmp_path / "x.png")
