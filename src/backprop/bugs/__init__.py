"""The lab of classic backward-pass mistakes: ``backprop bugs`` lists them, ``backprop bugs NAME``
shows one against the correct code and runs every check on it (``lab.py``).

Each bug is a real, runnable variant of a layer, a loss or the training loop, written beside the
correct version (``losses.py``, ``layers.py``, ``loops.py``), so the diff shown is the real one.
"""

from __future__ import annotations

import ast
import difflib
import inspect
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..arrays import Array
from . import layers, loops, losses


@dataclass
class Case:
    """What the checks of one bug run on, drawn from one seed."""

    subject: Any  # the layer or loss checked (for a loop bug: the network)
    x: Array
    target: Array | None
    reference: Callable[[], Any]  # builds the PyTorch reference (torch imported inside)
    network: Any  # the model the training loop runs
    loss_fn: Any
    train_step: Callable[..., float]
    data: tuple[Array, Array]


@dataclass(frozen=True)
class Bug:
    name: str
    title: str
    correct: Any
    buggy: Any
    kind: str  # the diagnosis it must get
    factor: str | None  # the factor's name, for kind "scaled"
    found_by: str  # the check whose diagnosis names it: differences, pytorch or two-step
    setup: Callable[[np.random.Generator, bool], Case]

    def diff(self) -> str:
        """The unified diff from the correct code to the buggy one."""
        return "".join(
            difflib.unified_diff(
                _source(self.correct, self.buggy, self.correct).splitlines(keepends=True),
                _source(self.buggy, self.buggy, self.correct).splitlines(keepends=True),
                fromfile=f"correct ({_where(self.correct)})",
                tofile=f"{self.name} ({_where(self.buggy)})",
            )
        )


def _where(obj: Any) -> str:
    return f"{obj.__module__.removeprefix('backprop.')}.{obj.__qualname__}"


def _source(obj: Any, buggy: Any, correct: Any) -> str:
    """The source of the methods ``buggy`` overrides, taken from ``obj`` (or a whole function)."""
    if inspect.isfunction(obj):
        # the body only, under one signature line, so that names and line breaks do not differ
        lines = inspect.getsource(obj).splitlines(keepends=True)
        body = ast.parse(textwrap.dedent("".join(lines))).body[0]
        assert isinstance(body, ast.FunctionDef)
        start = body.body[0].lineno - 1
        return f"def {correct.__name__}(...):\n" + "".join(lines[start:])
    names = [n for n, v in vars(buggy).items() if inspect.isfunction(v)]
    return "\n".join(inspect.getsource(getattr(obj, n)) for n in names)


# ---------------------------------------------------------------- the cases


def _sizes(rng: np.random.Generator) -> tuple[int, int, int]:
    """Batch size n, input features d, outputs k: n and k differ and neither is 2, so that a
    factor N, D or 2 can be told apart."""
    n, d = int(rng.integers(3, 7)), int(rng.integers(2, 6))
    k = int(rng.choice([v for v in range(3, 7) if v != n]))
    return n, d, k


def _regression(rng: np.random.Generator, d: int, k: int) -> tuple[Array, Array]:
    x = rng.standard_normal((64, d))
    return x, np.tanh(x @ rng.standard_normal((d, k)))


def _classes(rng: np.random.Generator, d: int, k: int) -> tuple[Array, Array]:
    x = rng.standard_normal((64, d))
    return x, np.argmax(x @ rng.standard_normal((d, k)), axis=1)


def _torch_fn(name: str) -> Callable[[], Any]:
    def build() -> Any:
        import torch

        F = torch.nn.functional
        fns = {
            "mse": lambda p, t: F.mse_loss(p, t, reduction="sum") / p.shape[0],
            "cross_entropy": F.cross_entropy,
            "sigmoid": torch.sigmoid,
            "relu": torch.relu,
            "tanh": torch.tanh,
        }
        return fns[name]

    return build


def _net(rng: np.random.Generator, d: int, k: int, middle: Any = None) -> Any:
    from ..nn import Linear, Sequential, Tanh

    h = 4
    mid = Tanh() if middle is None else middle
    return Sequential(Linear(d, h, rng=rng), mid, Linear(h, k, rng=rng))


def _loss_case(correct: type, buggy: type, classes: bool = False) -> Callable[..., Case]:
    def setup(rng: np.random.Generator, bug: bool) -> Case:
        n, d, k = _sizes(rng)
        loss = buggy() if bug else correct()
        pred = rng.standard_normal((n, k))
        if classes:
            target: Array = rng.integers(0, k, size=n)
            pred[rng.integers(n), 0] = 800.0  # a confident network's logit: e^800 overflows
            data = _classes(rng, d, k)
        else:
            target = rng.standard_normal((n, k))
            data = _regression(rng, d, k)
        ref = _torch_fn("cross_entropy" if classes else "mse")
        return Case(loss, pred, target, ref, _net(rng, d, k), loss, loops.train_step, data)

    return setup


def _linear_case(cls: type) -> Callable[..., Case]:
    def setup(rng: np.random.Generator, bug: bool) -> Case:
        n, d, k = _sizes(rng)
        layer = (cls if bug else layers.Linear)(d, d, rng)

        def ref() -> Any:
            import torch

            return torch.nn.Linear(d, d)

        from ..nn import Linear, Sequential, Tanh

        build = cls if bug else layers.Linear
        net = Sequential(
            Linear(d, 4, rng=rng), Tanh(), build(4, 4, rng), Tanh(), Linear(4, k, rng=rng)
        )
        x = rng.standard_normal((n, d))
        return Case(
            layer, x, None, ref, net, losses.MSELoss(), loops.train_step, _regression(rng, d, k)
        )

    return setup


def _activation_case(correct: type, buggy: type, fn: str) -> Callable[..., Case]:
    def setup(rng: np.random.Generator, bug: bool) -> Case:
        n, d, k = _sizes(rng)
        cls = buggy if bug else correct
        x = rng.standard_normal((n, d))
        net = _net(rng, d, k, cls())
        return Case(
            cls(),
            x,
            None,
            _torch_fn(fn),
            net,
            losses.MSELoss(),
            loops.train_step,
            _regression(rng, d, k),
        )

    return setup


def _loop_case(rng: np.random.Generator, bug: bool) -> Case:
    n, d, k = _sizes(rng)
    net = _net(rng, d, k)

    def ref() -> Any:
        from ..interop import to_torch

        return to_torch(net)

    step = loops.train_step_without_zero_grad if bug else loops.train_step
    x = rng.standard_normal((n, d))
    return Case(net, x, None, ref, net, losses.MSELoss(), step, _regression(rng, d, k))


def _input_case(make: Callable[..., Array], subject: str) -> Callable[..., Case]:
    def setup(rng: np.random.Generator, bug: bool) -> Case:
        from ..nn import Linear, ReLU

        n, d, k = _sizes(rng)
        if subject == "relu":
            layer: Any = ReLU()
            ref = _torch_fn("relu")
            net = _net(rng, d, k, ReLU())
        else:
            dtype = np.float32 if bug else np.float64
            layer = Linear(d, k, rng=rng, dtype=dtype)

            def ref() -> Any:
                import torch

                return torch.nn.Linear(d, k)

            net = _net(rng, d, k)
        data = _regression(rng, d, k)
        x = (make if bug else loops.check_input)(rng, n, d)  # drawn last: the rest is the same
        return Case(layer, x, None, ref, net, losses.MSELoss(), loops.train_step, data)

    return setup


def _batchnorm_case(rng: np.random.Generator, bug: bool) -> Case:
    n, d, k = _sizes(rng)
    n += 2  # at least 5 samples: the batch statistics' terms must be told from noise
    cls = layers.BatchNormWithoutMeanTerms if bug else layers.BatchNorm1d

    def ref() -> Any:
        import torch

        return torch.nn.BatchNorm1d(d)

    layer = cls(d, rng)
    net = _net(rng, d, k, cls(4, rng))
    x = rng.standard_normal((n, d))
    data = _regression(rng, d, k)
    return Case(layer, x, None, ref, net, losses.MSELoss(), loops.train_step, data)


def _dropout_case(rng: np.random.Generator, bug: bool) -> Case:
    n, d, k = _sizes(rng)
    p, seed = 0.2, int(rng.integers(2**31))
    cls = layers.DropoutNotRescaled if bug else layers.Dropout

    def ref() -> Any:
        import torch

        # PyTorch's F.dropout with the same mask: x ⊙ m / (1 − p)
        mask = torch.from_numpy(layers.Dropout(p, seed).mask((n, d)).astype(np.float64))
        return lambda t: t * mask / (1 - p)

    net = _net(rng, d, k, cls(p, seed))
    x = rng.standard_normal((n, d))
    data = _regression(rng, d, k)
    return Case(cls(p, seed), x, None, ref, net, losses.MSELoss(), loops.train_step, data)


BUGS: list[Bug] = [
    Bug("missing-1/N", "MSE backward without the mean's 1/N", losses.MSELoss,
        losses.MissingOneOverN, "scaled", "N", "differences",
        _loss_case(losses.MSELoss, losses.MissingOneOverN)),
    Bug("post-sign", "the post's sign: 2/N (T − O) instead of 2/N (O − T)", losses.MSELoss,
        losses.PostSign, "sign", None, "differences", _loss_case(losses.MSELoss, losses.PostSign)),
    Bug("missing-2", "MSE backward without the 2 of the square", losses.MSELoss,
        losses.MissingTwo, "scaled", "1/2", "differences",
        _loss_case(losses.MSELoss, losses.MissingTwo)),
    Bug("divided-by-D", "MSE backward divided by N·D, the loss by N", losses.MSELoss,
        losses.DividedByD, "scaled", "1/D", "differences",
        _loss_case(losses.MSELoss, losses.DividedByD)),
    Bug("transposed-dW", "dW = dL/dyᵀ · x, transposed (hidden when in = out)", layers.Linear,
        layers.TransposedWeightGrad, "transposed", None, "differences",
        _linear_case(layers.TransposedWeightGrad)),
    Bug("bias-not-summed", "db from the first sample's row instead of the batch's sum",
        layers.Linear, layers.BiasNotSummed, "unsummed", None, "differences",
        _linear_case(layers.BiasNotSummed)),
    Bug("zero-grad-forgotten", "the training loop never calls zero_grad", loops.train_step,
        loops.train_step_without_zero_grad, "accumulated", None, "two-step", _loop_case),
    Bug("sigmoid-at-output", "Sigmoid's f′ taken at the output: σ(y)(1 − σ(y))", layers.Sigmoid,
        layers.SigmoidPrimeAtOutput, "wrong_point", None, "differences",
        _activation_case(layers.Sigmoid, layers.SigmoidPrimeAtOutput, "sigmoid")),
    Bug("relu-mask-after-in-place", "ReLU's mask taken after the in-place update", layers.ReLU,
        layers.ReLUMaskAfterInPlace, "partial", None, "differences",
        _activation_case(layers.ReLU, layers.ReLUMaskAfterInPlace, "relu")),
    Bug("cache-overwritten", "Tanh caches its input, then overwrites it in place", layers.Tanh,
        layers.TanhCacheOverwritten, "wrong_point", None, "differences",
        _activation_case(layers.Tanh, layers.TanhCacheOverwritten, "tanh")),
    Bug("softmax-no-max-shift", "softmax without subtracting the row maximum (overflow)",
        losses.CrossEntropyLoss, losses.NoMaxShift, "partial", None, "pytorch",
        _loss_case(losses.CrossEntropyLoss, losses.NoMaxShift, classes=True)),
    Bug("batchnorm-mean-terms", "BatchNorm's backward without the batch mean's two terms",
        layers.BatchNorm1d, layers.BatchNormWithoutMeanTerms, "batch_terms", None, "differences",
        _batchnorm_case),
    Bug("dropout-not-rescaled", "dropout without the 1/(1 − p) in forward and backward",
        layers.Dropout, layers.DropoutNotRescaled, "scaled", None, "pytorch", _dropout_case),
    Bug("float32-check", "a gradient check run in float32", loops.check_input,
        loops.check_input_float32, "precision", None, "differences",
        _input_case(loops.check_input_float32, "linear")),
    Bug("check-at-kink", "a ReLU checked at x = 0, its kink", loops.check_input,
        loops.check_input_whole_numbers, "kink", None, "differences",
        _input_case(loops.check_input_whole_numbers, "relu")),
]  # fmt: skip

BY_NAME = {b.name: b for b in BUGS}
