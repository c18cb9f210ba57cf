"""Peak memory of one BatchNorm training step against what it needs:
``python -m benchmarks.bn_memory``, in a fresh process; prints one JSON line.

tracemalloc (which sees every NumPy allocation) follows ten SGD steps of backprop's
784-512-512-10 BatchNorm MLP on batches of 256 float32 rows (the data set not counted). What a
step needs is counted from the shapes, independently of the library: the parameters and their
gradients, every layer's output (an activation the backward pass reads or the next layer
takes in), each BatchNorm's x̂ (its backward needs x̂ as well as its output), and the softmax
probabilities.
"""

from __future__ import annotations

import json
import sys
import tracemalloc

import numpy as np

from .bn_cases import BN_CASES, backprop_model, build_backprop, make_data


def main() -> int:
    case = BN_CASES["mlp_bn"]
    itemsize = np.dtype(case.dtype).itemsize
    model = backprop_model(case)
    params = sum(p.data.size for p in model.parameters())
    x, _ = make_data(case, batches=1)
    outputs = 0
    h = x
    for layer in model:
        h = layer(h)
        outputs += h.size * (2 if type(layer).__name__ == "BatchNorm1d" else 1)
    outputs += h.size  # the softmax probabilities
    need = (2 * params + outputs) * itemsize
    del model, h

    import backprop  # noqa: F401

    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    step, _ = build_backprop(case)
    built = tracemalloc.get_traced_memory()[0] - start
    step()
    tracemalloc.reset_peak()
    for _ in range(10):
        step()
    peak = tracemalloc.get_traced_memory()[1] - start
    tracemalloc.stop()
    x_all, y_all = make_data(case)
    peak -= x_all.nbytes + y_all.nbytes
    print(json.dumps({"case": case.name, "need_bytes": need, "peak_bytes": peak,
                      "params_bytes": params * itemsize, "built_bytes": built}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
