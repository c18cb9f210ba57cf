"""Peak memory of a training run against what it needs: ``python -m benchmarks.memory OPT``.

Run in a fresh process. The data is made first; then tracemalloc (which sees every NumPy array
allocation) follows the model's construction and ten training steps of the large case's network
(784-1024-1024-10, batch 512, float32). What the run needs is counted independently of the
library, from the shapes: parameters, their gradients, the optimizer's state (none for plain
SGD, two moments per parameter for Adam) and the activations a backward pass must keep (each
hidden layer's output, which is the next Linear's input, and the softmax probabilities).
Prints one JSON line.
"""

from __future__ import annotations

import json
import sys
import tracemalloc

import numpy as np

from .cases import CASES, build_backprop


def main() -> int:
    optimizer = sys.argv[1] if len(sys.argv) > 1 else "sgd"
    base = CASES["large"]
    case = type(base)(**{**base.__dict__, "optimizer": optimizer, "samples": base.batch})
    itemsize = np.dtype(case.dtype).itemsize
    n_params = sum(i * o + o for i, o in zip(case.sizes[:-1], case.sizes[1:], strict=True))
    state = {"sgd": 0, "adam": 2}[optimizer]
    activations = case.batch * (sum(case.sizes[1:-1]) + case.sizes[-1])
    need = (n_params * (2 + state) + activations) * itemsize

    tracemalloc.start()
    # make_data runs inside build_backprop: measure it alone first, to subtract it
    from .cases import make_data

    before = tracemalloc.get_traced_memory()[0]
    make_data(case)
    data_bytes = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.reset_peak()
    start = tracemalloc.get_traced_memory()[0]
    step, _ = build_backprop(case)
    for _ in range(10):
        step()
    peak = tracemalloc.get_traced_memory()[1] - start - data_bytes
    tracemalloc.stop()
    print(json.dumps({"optimizer": optimizer, "need_bytes": need, "peak_bytes": peak}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
