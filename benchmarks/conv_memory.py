"""Peak memory of one training step of PyTorch's MNIST example network against what it needs:
``python -m benchmarks.conv_memory``, in a fresh process; prints one JSON line.

tracemalloc (which sees every NumPy allocation) follows ten SGD steps of backprop on one batch
of 64 float32 images of 1×28×28 (the batch itself not counted). What a step needs is counted
from the shapes, independently of the library: the parameters and their gradients, and every
layer's output (each one an activation that the backward pass reads or that the next layer
takes in; Flatten's is a view and not counted), plus the softmax probabilities.
"""

from __future__ import annotations

import json
import sys
import tracemalloc

import numpy as np

from .conv_cases import CONV_CASES, backprop_model, build_backprop, make_data


def main() -> int:
    case = CONV_CASES["mnist_cnn"]
    itemsize = np.dtype(case.dtype).itemsize
    model = backprop_model(case)
    params = sum(p.data.size for p in model.parameters())
    x, _ = make_data(case, batches=1)
    outputs = 0
    h = x
    for layer in model:
        h = layer(h)
        if type(layer).__name__ != "Flatten":
            outputs += h.size
    outputs += h.size  # the softmax probabilities
    need = (2 * params + outputs) * itemsize
    del model, h

    import backprop  # noqa: F401

    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    step, _ = build_backprop(type(case)(**{**case.__dict__}))
    data = tracemalloc.get_traced_memory()[0] - start
    step()
    tracemalloc.reset_peak()
    for _ in range(10):
        step()
    peak = tracemalloc.get_traced_memory()[1] - start
    tracemalloc.stop()
    # the data set the steps cycle through is not the step's memory
    x_all, y_all = make_data(case)
    peak -= x_all.nbytes + y_all.nbytes
    print(json.dumps({"case": case.name, "need_bytes": need, "peak_bytes": peak,
                      "params_bytes": params * itemsize, "built_bytes": data}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
