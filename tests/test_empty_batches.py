"""An empty batch (N = 0, or a length of 0) through each layer, against PyTorch: the output's
shape, dL/dx's shape, the parameter gradients (0: sums over no values), and for the
normalisations the running statistics and num_batches_tracked (counted, statistics untouched)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch_reference import assert_close

from backprop.interop import from_torch

T = torch.nn

CASES = [
    (lambda: T.BatchNorm1d(3), (4, 3), (0, 3)),
    (lambda: T.BatchNorm1d(3, momentum=None), (4, 3), (0, 3)),
    (lambda: T.BatchNorm1d(3), (4, 3, 5), (2, 3, 0)),
    (lambda: T.BatchNorm2d(3), (4, 3, 2, 2), (0, 3, 2, 2)),
    (lambda: T.BatchNorm1d(3, affine=False), (4, 3), (0, 3)),
    (lambda: T.Conv2d(3, 2, 3, padding=1), (2, 3, 4, 4), (0, 3, 4, 4)),
    (lambda: T.Conv2d(1, 2, 3, stride=2), (2, 1, 5, 5), (0, 1, 5, 5)),
    (lambda: T.Conv2d(4, 4, 3, groups=2, bias=False), (2, 4, 4, 4), (0, 4, 4, 4)),
    (lambda: T.Flatten(), (2, 3, 2), (0, 3, 2)),
    (lambda: T.Flatten(1, 2), (2, 3, 2), (2, 0, 2)),
    (lambda: T.Flatten(0, 1), (2, 3, 2), (0, 3, 2)),
    (lambda: T.Softmax(dim=0), (4, 3), (0, 3)),
    (lambda: T.LogSoftmax(dim=-1), (2, 3), (2, 0)),
]


def _ids(case: Any) -> str:
    return str(case) if isinstance(case, tuple) else ""


@pytest.mark.parametrize("make, full, empty", CASES, ids=_ids)
@pytest.mark.parametrize("mode", ["train", "eval"])
def test_an_empty_batch_goes_through_as_in_pytorch(
    make: Any, full: tuple[int, ...], empty: tuple[int, ...], mode: str
) -> None:
    torch.manual_seed(0)
    tlayer = make().double()
    tlayer.train(mode == "train")
    layer = from_torch(T.Sequential(tlayer)).layers[0]
    rng = np.random.default_rng(0)
    # one real batch first, so that the running statistics are not their initial values
    x = rng.standard_normal(full)
    y = layer(x)
    layer.backward(np.ones(y.shape))
    tlayer(torch.tensor(x, requires_grad=True)).sum().backward()

    tlayer.zero_grad()
    x0 = np.empty(empty)
    xt = torch.tensor(x0, requires_grad=True)
    yt = tlayer(xt)
    yt.sum().backward()
    y0 = layer(x0)
    assert y0.shape == tuple(yt.shape)
    for p in layer.parameters():
        p.zero_grad()
    dx = layer.backward(np.ones(y0.shape))
    assert dx.shape == empty
    assert xt.grad is not None and tuple(xt.grad.shape) == empty
    ours = dict(layer.named_parameters())
    for key, p in tlayer.named_parameters():
        assert p.grad is not None
        assert_close(f"empty batch dL/d{key}", ours[key].grad, p.grad.numpy())
    state = layer.state_dict()
    for key, buffer in tlayer.named_buffers():
        assert_close(f"empty batch {key}", np.asarray(state[key]), buffer.numpy())
