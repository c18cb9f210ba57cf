"""The benchmark cases: one network, data, dtype and batch, built for each library.

A case knows how to build, for a given library, a zero-argument function that performs one unit
of work (one training step, or a whole training run) and how many samples that unit processes.
Every library gets the same initial weights and the same data, drawn here from NumPy with a
fixed seed: W uniform in ±1/√in as both libraries initialise, stored (in, out) for backprop and
transposed for PyTorch.

Each builder imports its library itself, so a worker process loads only the library it measures.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

Work = Callable[[], object]


@dataclass(frozen=True)
class Case:
    name: str
    title: str
    sizes: tuple[int, ...]
    batch: int
    dtype: str
    loss: str  # "mse" (the post's batchmean) or "ce"
    optimizer: str  # "sgd" or "adam"
    lr: float
    libs: tuple[str, ...]
    samples: int = 0  # size of the data set the batches cycle through (0: one fixed batch)
    epochs: int = 0  # > 0: the unit of work is a whole training run of this many epochs
    model: str = "mlp"  # "mlp": Linear and ReLU layers of ``sizes``; "ninja": see ninja_weights

    def gemm_flops(self) -> int:
        """GEMM FLOPs of one training step: forward x @ W and dL/dW = xᵀ·g for every layer, and
        dL/dx = g·Wᵀ for every layer but the first (its dL/dx is not needed, by either library)."""
        pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        per_sample = 2 * sum(i * o for i, o in pairs) * 2 + 2 * sum(i * o for i, o in pairs[1:])
        return self.batch * per_sample


CASES = {
    c.name: c
    for c in [
        Case("slp", "the post's SLP step, Linear(4, 4), 1 sample, float64", (4, 4), 1,
             "float64", "mse", "sgd", 1e-3, ("backprop", "torch", "post")),
        Case("mlp32", "64-128-64-10 ReLU, batch 32, float32, SGD", (64, 128, 64, 10), 32,
             "float32", "ce", "sgd", 1e-2, ("backprop", "torch", "sklearn"), samples=4096),
        Case("mlp256", "64-128-64-10 ReLU, batch 256, float64, SGD", (64, 128, 64, 10), 256,
             "float64", "ce", "sgd", 1e-2, ("backprop", "torch", "sklearn"), samples=4096),
        Case("large", "784-1024-1024-10 ReLU, batch 512, float32, SGD", (784, 1024, 1024, 10),
             512, "float32", "ce", "sgd", 1e-2, ("backprop", "torch", "gemm"), samples=4096),
        Case("digits", "digits, 64-128-64-10 ReLU, Adam, batch 32, 10 epochs, float32",
             (64, 128, 64, 10), 32, "float32", "ce", "adam", 1e-3,
             ("backprop", "torch", "sklearn"), epochs=10),
        Case("ninja", "the ninja's network: Embedding(27, 10), Linear(30, 200), BatchNorm1d, "
             "Tanh, Linear(200, 27), batch 32, float32, SGD", (30, 200, 27), 32, "float32",
             "ce", "sgd", 0.1, ("backprop", "torch"), samples=4096, model="ninja"),
    ]
}  # fmt: skip


def initial_weights(case: Case, seed: int = 0) -> list[tuple[np.ndarray, np.ndarray]]:
    """(W (in, out), b (out,)) per layer, uniform in ±1/√in, in the case's dtype."""
    rng = np.random.default_rng(seed)
    out = []
    for i, o in zip(case.sizes[:-1], case.sizes[1:], strict=True):
        bound = 1 / np.sqrt(i)
        W = rng.uniform(-bound, bound, (i, o)).astype(case.dtype)
        b = rng.uniform(-bound, bound, o).astype(case.dtype)
        out.append((W, b))
    return out


def make_data(case: Case, seed: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets: the digits for a training run, contexts of 3 random characters
    for the ninja's network, else standard-normal inputs."""
    if case.model == "ninja":
        rng = np.random.default_rng(seed)
        return rng.integers(0, 27, (case.samples, 3)), rng.integers(0, 27, case.samples)
    if case.epochs:
        from sklearn.datasets import load_digits

        digits = load_digits()
        x = (digits.data / 16.0).astype(case.dtype)
        return x, digits.target.astype(np.int64)
    rng = np.random.default_rng(seed)
    n = case.samples or case.batch
    x = rng.normal(size=(n, case.sizes[0])).astype(case.dtype)
    if case.loss == "mse":
        return x, x.copy()  # the post's target: the input itself
    return x, rng.integers(0, case.sizes[-1], size=n).astype(np.int64)


def split(x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, ...]:
    """The digits run's fixed train/test split: 80% / 20% after a seeded shuffle."""
    order = np.random.default_rng(2).permutation(len(x))
    cut = int(0.8 * len(x))
    tr, te = order[:cut], order[cut:]
    return x[tr], y[tr], x[te], y[te]


def batches(n: int, batch: int) -> list[slice]:
    """Contiguous batches over n samples (the last partial batch dropped for step cases)."""
    return [slice(i, i + batch) for i in range(0, n - batch + 1, batch)]


# ------------------------------------------------------------------------------------ backprop


def cycling(step: Callable[[Any, Any], float], x: Any, y: Any, batch: int) -> Work:
    """One training step on the next batch of x, y each call, cycling through them."""
    cycle = batches(len(x), batch)
    state = {"i": 0}

    def one_step() -> float:
        s = cycle[state["i"] % len(cycle)]
        state["i"] += 1
        return step(x[s], y[s])

    return one_step


def sgd_steps_backprop(model: Any, x: np.ndarray, y: np.ndarray, batch: int, lr: float) -> Work:
    """Cross-entropy and plain SGD steps of a backprop model, cycling through x, y."""
    import backprop as bp

    loss_fn = bp.CrossEntropyLoss()
    opt = bp.SGD(model.parameters(), lr=lr)

    def step(xb: np.ndarray, yb: np.ndarray) -> float:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
        return float(loss)

    return cycling(step, x, y, batch)


def sgd_steps_torch(model: Any, x: np.ndarray, y: np.ndarray, batch: int, lr: float) -> Work:
    """The same steps in PyTorch: cross-entropy, plain SGD, the loss as a Python float."""
    import torch

    opt = torch.optim.SGD(model.parameters(), lr=lr)

    def step(xb: torch.Tensor, yb: torch.Tensor) -> float:
        loss = torch.nn.functional.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    return cycling(step, torch.from_numpy(x), torch.from_numpy(y), batch)


def ninja_weights(case: Case, seed: int = 0) -> dict[str, np.ndarray]:
    """Embedding(27, 10) → Flatten → Linear(30, 200, bias=False) → BatchNorm1d(200) → Tanh →
    Linear(200, 27): the embedding table standard normal, the Linear weights (in, out) uniform
    in ±1/√in as both libraries draw them; BatchNorm starts at γ = 1, β = 0 in both."""
    rng = np.random.default_rng(seed)
    b1, b2 = 1 / np.sqrt(30), 1 / np.sqrt(200)
    return {
        "C": rng.normal(size=(27, 10)).astype(case.dtype),
        "W1": rng.uniform(-b1, b1, (30, 200)).astype(case.dtype),
        "W2": rng.uniform(-b2, b2, (200, 27)).astype(case.dtype),
        "b2": rng.uniform(-b2, b2, 27).astype(case.dtype),
    }


def build_backprop_ninja(case: Case) -> tuple[Work, int]:
    import backprop as bp
    from backprop.words import network

    w = ninja_weights(case)
    model = network(3, rng=np.random.default_rng(0), dtype=case.dtype)
    layers = model.layers
    layers[0].weight.data[...] = w["C"]  # type: ignore[attr-defined]
    layers[2].weight.data[...] = w["W1"]  # type: ignore[attr-defined]
    layers[5].weight.data[...] = w["W2"]  # type: ignore[attr-defined]
    layers[5].bias.data[...] = w["b2"]  # type: ignore[attr-defined]
    loss_fn, opt = bp.CrossEntropyLoss(), bp.SGD(model.parameters(), lr=case.lr)

    def step(xb: np.ndarray, yb: np.ndarray) -> float:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        model.backward(loss_fn.backward())
        opt.step()
        return float(loss)

    x, y = make_data(case)
    return cycling(step, x, y, case.batch), case.batch


def build_torch_ninja(case: Case) -> tuple[Work, int]:
    import torch

    tdtype = getattr(torch, case.dtype)
    w = ninja_weights(case)
    nn = torch.nn
    model = nn.Sequential(
        nn.Embedding(27, 10, dtype=tdtype), nn.Flatten(), nn.Linear(30, 200, bias=False, dtype=tdtype),
        nn.BatchNorm1d(200, dtype=tdtype), nn.Tanh(), nn.Linear(200, 27, dtype=tdtype),
    )  # fmt: skip
    layers: list[Any] = list(model)
    with torch.no_grad():
        layers[0].weight.copy_(torch.from_numpy(w["C"]))
        layers[2].weight.copy_(torch.from_numpy(w["W1"].T.copy()))
        layers[5].weight.copy_(torch.from_numpy(w["W2"].T.copy()))
        layers[5].bias.copy_(torch.from_numpy(w["b2"]))
    opt = torch.optim.SGD(model.parameters(), lr=case.lr)
    F = torch.nn.functional

    def step(xb: torch.Tensor, yb: torch.Tensor) -> float:
        loss = F.cross_entropy(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()

    xn, yn = make_data(case)
    return cycling(step, torch.from_numpy(xn), torch.from_numpy(yn), case.batch), case.batch


def build_backprop(case: Case) -> tuple[Work, int]:
    if case.model == "ninja":
        return build_backprop_ninja(case)
    import backprop as bp

    def make() -> tuple[Any, Any, Any]:
        layers: list[bp.Module] = []
        for k, (W, b) in enumerate(initial_weights(case)):
            lin = bp.Linear(W.shape[0], W.shape[1], dtype=case.dtype, rng=np.random.default_rng(0))
            lin.weight.data[...] = W
            assert lin.bias is not None
            lin.bias.data[...] = b
            layers.append(lin)
            if k < len(case.sizes) - 2:
                layers.append(bp.ReLU())
        model: bp.Module = bp.Sequential(*layers) if len(layers) > 1 else layers[0]
        loss_fn: Any = bp.MSELoss() if case.loss == "mse" else bp.CrossEntropyLoss()
        params = model.parameters()
        opt: bp.Optimizer = (
            bp.SGD(params, lr=case.lr) if case.optimizer == "sgd" else bp.Adam(params, lr=case.lr)
        )
        return model, loss_fn, opt

    x, y = make_data(case)
    if case.epochs:
        x_tr, y_tr, x_te, y_te = split(x, y)

        def run() -> float:
            """A whole run with the library's own loop: a fresh network, then fit()."""
            model, loss_fn, opt = make()
            history = bp.fit(model, loss_fn, opt, x_tr, y_tr, epochs=case.epochs,
                             batch_size=case.batch, rng=3, X_test=x_te, y_test=y_te)  # fmt: skip
            return float(history.test_metric[-1])

        return run, case.epochs * len(x_tr)

    model, loss_fn, opt = make()
    # A network's step is the README's, model.backward(...), which skips dL/dx of the data. A
    # lone layer (the post's SLP) returns dL/dx from backward by contract; its step without
    # it is backward_params, which is what the post's loop and PyTorch compute.
    backward = model.backward if isinstance(model, bp.Sequential) else model.backward_params

    def step(xb: np.ndarray, yb: np.ndarray) -> float:
        loss = loss_fn(model(xb), yb)
        opt.zero_grad()
        backward(loss_fn.backward())
        opt.step()
        return float(loss)

    cycle = batches(len(x), case.batch)
    state = {"i": 0}

    def one_step() -> float:
        s = cycle[state["i"] % len(cycle)]
        state["i"] += 1
        return step(x[s], y[s])

    return one_step, case.batch


# --------------------------------------------------------------------------------------- torch


def build_torch(case: Case) -> tuple[Work, int]:
    if case.model == "ninja":
        return build_torch_ninja(case)
    import torch

    tdtype = getattr(torch, case.dtype)
    F = torch.nn.functional

    def make() -> tuple[Any, Any]:
        layers: list[torch.nn.Module] = []
        for k, (W, b) in enumerate(initial_weights(case)):
            lin = torch.nn.Linear(W.shape[0], W.shape[1], dtype=tdtype)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(W.T.copy()))
                lin.bias.copy_(torch.from_numpy(b))
            layers.append(lin)
            if k < len(case.sizes) - 2:
                layers.append(torch.nn.ReLU())
        model = torch.nn.Sequential(*layers)
        opt: torch.optim.Optimizer = (
            torch.optim.SGD(model.parameters(), lr=case.lr)
            if case.optimizer == "sgd"
            else torch.optim.Adam(model.parameters(), lr=case.lr)
        )
        return model, opt

    def loss_of(out: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        if case.loss == "mse":  # the post's loss: squared errors summed per sample, batch mean
            return F.mse_loss(out, t, reduction="sum") / out.shape[0]
        return F.cross_entropy(out, t)

    def step(model: Any, opt: Any, xb: torch.Tensor, yb: torch.Tensor) -> float:
        loss = loss_of(model(xb), yb)
        opt.zero_grad()
        loss.backward()
        opt.step()
        return loss.item()  # as backprop's loss, a Python float: a training loop logs it

    xn, yn = make_data(case)
    if case.epochs:
        x_tr, y_tr, x_te, y_te = (torch.from_numpy(a) for a in split(xn, yn))
        gen = torch.Generator().manual_seed(3)

        def run() -> float:
            """The same run as backprop.fit's: a fresh network; each epoch, one shuffled copy
            of the data sliced into batches, the losses kept, then the test loss and accuracy."""
            model, opt = make()
            losses: list[float] = []
            accuracy = 0.0
            for _ in range(case.epochs):
                order = torch.randperm(len(x_tr), generator=gen)
                xe, ye = x_tr[order], y_tr[order]
                for i in range(0, len(order), case.batch):
                    losses.append(step(model, opt, xe[i : i + case.batch], ye[i : i + case.batch]))
                with torch.no_grad():
                    out = model(x_te)
                    losses.append(loss_of(out, y_te).item())
                    accuracy = float((out.argmax(1) == y_te).double().mean())
            return accuracy

        return run, case.epochs * len(x_tr)

    model, opt = make()
    x, y = torch.from_numpy(xn), torch.from_numpy(yn)
    cycle = batches(len(x), case.batch)
    state = {"i": 0}

    def one_step() -> float:
        s = cycle[state["i"] % len(cycle)]
        state["i"] += 1
        return step(model, opt, x[s], y[s])

    return one_step, case.batch


# ------------------------------------------------------------------------------------- sklearn


def build_sklearn(case: Case) -> tuple[Work, int]:
    """MLPClassifier with the same layers, solver, lr and batch; L2 penalty off (alpha=0).

    It has no single-step API: for a step case the unit of work is one epoch of ``partial_fit``
    over the case's data (its own per-call input checks included), for a run a whole ``fit``.
    """
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    warnings.simplefilter("ignore", ConvergenceWarning)
    common: dict[str, Any] = {
        "hidden_layer_sizes": case.sizes[1:-1],
        "activation": "relu",
        "solver": case.optimizer,
        "alpha": 0.0,
        "batch_size": case.batch,
        "learning_rate_init": case.lr,
        "random_state": 0,
    }
    if case.optimizer == "sgd":
        common.update(momentum=0.0, nesterovs_momentum=False)
    x, y = make_data(case)
    if case.epochs:
        x_tr, y_tr, x_te, y_te = split(x, y)
        clf = MLPClassifier(max_iter=case.epochs, tol=0.0, n_iter_no_change=10**6, **common)

        def run() -> float:
            clf.fit(x_tr, y_tr)
            return float(clf.score(x_te, y_te))

        return run, case.epochs * len(x_tr)

    clf = MLPClassifier(shuffle=False, **common)
    classes = np.arange(case.sizes[-1])
    clf.partial_fit(x, y, classes=classes)

    def epoch() -> None:
        clf.partial_fit(x, y)

    return epoch, len(x)


# ------------------------------------------------------------------------- the post, and GEMM


def build_post(case: Case) -> tuple[Work, int]:
    """The post's own training step, written in NumPy as the post writes it (forward, backward,
    update); the loss is computed as the post computes it after each update."""
    ((W, b),) = initial_weights(case)
    x, _ = make_data(case)
    n = len(x)

    def step() -> float:
        result = x @ W + b
        dL_dO = 2 / n * (x - result)
        W[...] += 0.001 * (x.T @ dL_dO)
        b[...] += 0.001 * dL_dO.sum(0)
        outputs = x @ W + b
        return float(np.square(x - outputs).sum(1).mean())

    return step, n


def gemm_buffers(case: Case) -> tuple[Work, Work]:
    """(the relevant-size GEMM, the GEMMs of one training step alone), with preallocated
    outputs, for the GEMM peak the large case is compared with."""
    rng = np.random.default_rng(0)
    dt = case.dtype
    n, sizes = case.batch, case.sizes
    widest = max(sizes[1:-1])
    a = rng.normal(size=(n, widest)).astype(dt)
    w = rng.normal(size=(widest, widest)).astype(dt)
    c = np.empty((n, widest), dt)

    def peak() -> None:
        np.matmul(a, w, out=c)

    Ws = [(rng.normal(size=(i, o)) / np.sqrt(i)).astype(dt) for i, o in itertools.pairwise(sizes)]
    hs = [rng.normal(size=(n, s)).astype(dt) for s in sizes]
    gs = [np.empty((n, s), dt) for s in sizes]
    dWs = [np.empty_like(W) for W in Ws]

    def step_gemms() -> None:
        for k, W in enumerate(Ws):
            np.matmul(hs[k], W, out=hs[k + 1])
        gs[-1][...] = hs[-1]
        for k in reversed(range(len(Ws))):
            np.matmul(hs[k].T, gs[k + 1], out=dWs[k])
            if k:
                np.matmul(gs[k + 1], Ws[k].T, out=gs[k])

    return peak, step_gemms
