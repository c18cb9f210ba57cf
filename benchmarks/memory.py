"""Peak memory of a training run against what it needs: ``python -m benchmarks.memory OPT``.

Run in a fresh process. tracemalloc (which sees every NumPy array allocation) follows the
construction of the large case's network (784-1024-1024-10, batch 512, float32) and ten training
steps on one batch; the batch itself is not counted. What the run needs is counted independently of the
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

    # Modules are imported before tracing starts: they are not the run's memory.
    import backprop  # noqa: F401

    np.random.default_rng(0).normal(size=1)  # NumPy imports numpy.random on first use

    tracemalloc.start()
    start = tracemalloc.get_traced_memory()[0]
    step, _ = build_backprop(case)
    data = case.batch * (case.sizes[0] * itemsize + np.dtype(np.int64).itemsize)
    built = tracemalloc.get_traced_memory()[0] - start - data
    # The peak of the training steps themselves: building the model draws its weights in
    # float64 before casting them, a one-off that is not part of a step.
    tracemalloc.reset_peak()
    for _ in range(10):
        step()
    peak = tracemalloc.get_traced_memory()[1] - start - data
    tracemalloc.stop()
    print(json.dumps({"optimizer": optimizer, "need_bytes": need, "built_bytes": built,
                      "peak_bytes": peak}))  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
