"""gradcheck itself: it runs on a float64 copy whatever the subject's dtype, leaves the subject as
it was, and fails a report as soon as one gradient is wrong."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from backprop import CrossEntropyLoss, Linear, MSELoss, Sequential, Sigmoid, Tanh, gradcheck
from backprop.gradcheck import numerical_gradient, rel_error
from backprop.nn import Module


def float32_models(rng: np.random.Generator) -> list[Any]:
    f32 = np.float32
    return [
        Linear(5, 3, rng=rng, dtype=f32),
        Sequential(
            Linear(5, 6, rng=rng, dtype=f32), Tanh(), Linear(6, 4, rng=rng, dtype=f32), Sigmoid(),
            Linear(4, 2, rng=rng, dtype=f32),
        ),
    ]  # fmt: skip


@pytest.mark.parametrize("index", [0, 1], ids=["Linear", "Sequential"])
@pytest.mark.parametrize("seed", range(3))
def test_a_correct_float32_model_passes_on_a_float64_copy(index: int, seed: int) -> None:
    rng = np.random.default_rng(seed)
    model = float32_models(rng)[index]
    x = rng.normal(size=(4, 5)).astype(np.float32)
    before = [p.data.copy() for p in model.parameters()]
    report = gradcheck(model, x, rng=rng)
    # In float32 the same differences are off by ~1e-2 (see the test below); on the float64
    # copy they agree to float64 precision.
    assert report.passed, str(report)
    assert report.max_rel_error < 1e-7, str(report)
    names = [name for name, _ in model.named_parameters()]
    assert [r.name for r in report.rows] == ["input", *names]
    # the subject is left as it was: float32, the same values, no gradient written into it
    for p, b in zip(model.parameters(), before, strict=True):
        assert p.dtype == np.float32
        np.testing.assert_array_equal(p.data, b)
        assert not np.any(p.grad)
    assert x.dtype == np.float32


def test_the_same_check_in_float32_cannot_tell_a_correct_linear_from_a_bug() -> None:
    """Why gradcheck copies: float32 central differences of a correct Linear are off by far
    more than the 1e-7 threshold (the rounding error ε/h with ε ≈ 1.2e-7, h = 1e-6)."""
    rng = np.random.default_rng(0)
    layer = Linear(5, 3, rng=rng, dtype=np.float32)
    x = rng.normal(size=(4, 5)).astype(np.float32)
    upstream = rng.normal(size=(4, 3)).astype(np.float32)
    layer(x)
    layer.backward(upstream)
    numeric = numerical_gradient(lambda: float(np.sum(upstream * layer(x))), layer.weight.data)
    assert rel_error(layer.weight.grad, numeric) > 1e-3


@pytest.mark.parametrize("seed", range(3))
def test_a_loss_on_float32_predictions_is_checked_in_float64(seed: int) -> None:
    rng = np.random.default_rng(seed)
    pred = rng.normal(size=(5, 4)).astype(np.float32)
    before = pred.copy()
    cases: list[tuple[MSELoss | CrossEntropyLoss, np.ndarray]] = [
        (MSELoss("mean"), rng.normal(size=(5, 4)).astype(np.float32)),
        (CrossEntropyLoss(), rng.integers(0, 4, size=5)),
    ]
    for loss_fn, target in cases:
        report = gradcheck(loss_fn, pred, target)
        assert report.passed and report.max_rel_error < 1e-7, str(report)
    np.testing.assert_array_equal(pred, before)


class HalfBiasGradLinear(Linear):
    """A Linear whose bias gradient is half what it should be; weight and input are right."""

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        dx = super().backward(grad_output)
        assert self.bias is not None
        self.bias.grad = self.bias.grad / 2
        return dx


def test_one_wrong_gradient_fails_the_report_and_is_named() -> None:
    rng = np.random.default_rng(1)
    report = gradcheck(HalfBiasGradLinear(4, 3, rng=rng), rng.normal(size=(6, 4)), rng=rng)
    by_name = {r.name: r.rel_error for r in report.rows}
    assert by_name["input"] < 1e-8 and by_name["weight"] < 1e-8
    # ‖g/2 − g‖ / (‖g/2‖ + ‖g‖) = 1/3 exactly, up to the differences' error
    assert by_name["bias"] == pytest.approx(1 / 3, rel=1e-6)
    assert not report.passed and not report
    failing = [line for line in str(report).splitlines() if line.endswith("FAIL")]
    assert len(failing) == 1 and failing[0].split()[0] == "bias"


def test_rel_error_is_normwise() -> None:
    a, n = np.array([3.0, 0.0]), np.array([0.0, 4.0])
    assert rel_error(a, n) == pytest.approx(5 / 7, rel=1e-15)
    assert rel_error(np.zeros(3), np.zeros(3)) == 0.0
    assert rel_error(a, a) == 0.0


class Wrapped(Module):
    """A module around a Sequential that it runs without requires_grad: no dL/dx comes back."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.net = Sequential(Linear(3, 2, rng=rng), Tanh())

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.net(x)

    def backward(self, grad_output: np.ndarray) -> Any:
        return self.net.backward(grad_output)


def test_a_sequential_is_checked_on_its_input_gradient_and_none_is_an_error() -> None:
    rng = np.random.default_rng(2)
    model = Sequential(Sequential(Linear(3, 4, rng=rng), Tanh()), Linear(4, 2, rng=rng))
    report = gradcheck(model, rng.normal(size=(5, 3)), rng=rng)
    assert report.passed and report.rows[0].name == "input" and report.rows[0].rel_error < 1e-8
    with pytest.raises(ValueError, match=r"Wrapped.backward returned None, not dL/dx"):
        gradcheck(Wrapped(rng), rng.normal(size=(5, 3)))


# Seeds on which `backprop gradcheck` failed correct code while BatchNorm's batch or LayerNorm's
# row could hold two values (normalised to ±1, so that dL/dx was almost zero and its relative
# error only the noise of the differences).
ONCE_FAILING = [14, 23, 25, 30, 32, 34, 35, 42, 47, 48, 57, 60, 65, 69, 79, 102, 113, 200]


def test_the_builtin_reports_pass_over_many_seeds() -> None:
    from backprop.gradcheck import builtin_reports

    failed = {}
    for seed in sorted({*range(12), *ONCE_FAILING}):
        reports = builtin_reports(seed=seed)
        if bad := [str(r) for r in reports if not r.passed]:
            failed[seed] = bad
        rows = {r.subject: r.rows[0].shape for r in reports}
        batch = next(s for label, s in rows.items() if label.endswith(") train"))
        features = next(s for label, s in rows.items() if label.startswith("LayerNorm("))
        assert batch[0] >= 4 and features[-1] >= 4, (seed, batch, features)
    assert not failed, failed
