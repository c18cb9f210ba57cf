"""``backprop explain --layer conv2d`` and ``--layer maxpool2d``: one tiny example with every
number, in the order docs/conv.md derives them (registered in ``explain_layer.EXAMPLES``)."""

from __future__ import annotations

import numpy as np

from .explain_layer import Walkthrough, _round, example
from .nn import Conv2d, MaxPool2d


@example("conv2d", "Conv2d(1, 1, 2) on a 1×1×3×3 image")
def _conv2d(rng: np.random.Generator) -> Walkthrough:
    w = Walkthrough(
        "Conv2d: y[h′,w′] = b + Σᵢⱼ W[i,j] · x[h′+i, w′+j]   x (1, 1, 3, 3)   W (1, 1, 2, 2)   "
        "y (1, 1, 2, 2)"
    )
    layer = Conv2d(1, 1, 2, rng=rng)
    layer.weight.data[...] = _round(layer.weight.data * 2)
    assert layer.bias is not None
    layer.bias.data[...] = _round(layer.bias.data)
    x4 = _round(rng.standard_normal((1, 1, 3, 3)))
    x, W, b = x4[0, 0], layer.weight.data[0, 0], float(layer.bias.data[0])
    w.add("forward", "x", "the image (3, 3)", x)
    w.add("forward", "W", "the kernel (2, 2)", W)
    w.add("forward", "b", "the bias", b)
    patches = np.array([x[h : h + 2, v : v + 2].reshape(-1) for h in range(2) for v in range(2)])
    w.add("forward", "X̂", "im2col: one row per output position (h′, w′), one column per (i, j)",
          patches)  # fmt: skip
    y = w.add("forward", "y", "X̂ · vec(W) + b, reshaped to (2, 2)",
              (patches @ W.reshape(-1) + b).reshape(2, 2))  # fmt: skip
    g = w.add("backward", "dL/dy", "upstream gradient (random)",
              _round(rng.standard_normal((2, 2))))  # fmt: skip
    dW = w.add("backward", "dL/dW", "Σ_{h′,w′} dL/dy[h′,w′] · x[h′+i, w′+j] = (dL/dY)ᵀ · X̂",
               (g.reshape(-1) @ patches).reshape(2, 2))  # fmt: skip
    db = w.add("backward", "dL/db", "Σ dL/dy", g.sum())
    g_pad = w.add("backward", "dL/dy padded", "dL/dy with k − 1 = 1 zero row and column all round",
                  np.pad(g, 1))  # fmt: skip
    W_flip = w.add("backward", "W flipped", "W rotated by 180°", W[::-1, ::-1])
    dx = w.add(
        "backward",
        "dL/dx",
        "correlation of padded dL/dy with flipped W: Σᵢⱼ dL/dy[p−i, q−j] · W[i,j]",
        np.array([[np.sum(g_pad[p : p + 2, q : q + 2] * W_flip) for q in range(3)]
                  for p in range(3)]),
    )  # fmt: skip
    w.notes.append(
        "each x[p,q] is read by every output whose window covers it: the centre x[1,1] by all "
        "four, a corner by one; dL/dx adds what each of them sends back"
    )
    out = layer(x4)
    dx_layer = layer.backward(g.reshape(1, 1, 2, 2))
    w.compare((y, out[0, 0]), (dx, dx_layer[0, 0]), (dW, layer.weight.grad[0, 0]),
              (db, layer.bias.grad[0]))  # fmt: skip
    return w


@example("maxpool2d", "MaxPool2d(2, stride=1) on a 1×1×3×3 image with a tie")
def _maxpool2d(rng: np.random.Generator) -> Walkthrough:
    w = Walkthrough(
        "MaxPool2d(2, stride=1): y[h′,w′] = max of the 2×2 window at (h′, w′)   x (1, 1, 3, 3)   "
        "y (1, 1, 2, 2)"
    )
    x = _round(rng.uniform(0, 1, (3, 3)))
    x[1, 1] = 1.5  # the maximum of both lower windows: its gradient collects two terms
    x[0, 0] = x[0, 1] = 2.0  # a tie in the first window: PyTorch takes the first, row by row
    w.add("forward", "x", "the image (3, 3)", x)
    index = np.zeros((2, 2), dtype=int)
    y = np.zeros((2, 2))
    for h in range(2):
        for v in range(2):
            window = x[h : h + 2, v : v + 2].reshape(-1)
            index[h, v] = int(np.argmax(window))  # the first of tied maxima
            y[h, v] = window[index[h, v]]
    rows = index // 2 + np.arange(2)[:, None]
    cols = index % 2 + np.arange(2)[None, :]
    w.add("forward", "argmax", "where each window's maximum is, as (row, column) of x: row·3 + col",
          rows * 3 + cols)  # fmt: skip
    y = w.add("forward", "y", "the maxima", y)
    g = w.add("backward", "dL/dy", "upstream gradient (random)",
              _round(rng.standard_normal((2, 2))))  # fmt: skip
    dx = np.zeros((3, 3))
    for h in range(2):
        for v in range(2):
            dx[rows[h, v], cols[h, v]] += g[h, v]
    dx = w.add("backward", "dL/dx", "each dL/dy[h′,w′] routed, whole, to its window's argmax; "
               "0 elsewhere; summed where windows share it", dx)  # fmt: skip
    w.notes.append(
        "the tie x[0,0] = x[0,1] = 2 in the first window goes to x[0,0], the first in row-major "
        "order, as PyTorch chooses (x[0,1] then wins the second window alone); x[1,1] = 1.5 is "
        "the maximum of both lower windows, so its gradient is the sum of theirs"
    )
    layer = MaxPool2d(2, stride=1)
    out = layer(x.reshape(1, 1, 3, 3))
    w.compare((y, out[0, 0]), (dx, layer.backward(g.reshape(1, 1, 2, 2))[0, 0]))
    return w
