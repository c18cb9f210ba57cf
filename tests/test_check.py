"""backprop.check and the diagnosis: hand-made mistakes in layers and losses written the way a
learner writes them (plain classes, no backprop base class), every built-in layer without a
false alarm, and cmp's one line."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from backprop import CrossEntropyLoss, Identity, Linear, MSELoss, ReLU, Sequential, Sigmoid, Tanh
from backprop.check import check, cmp
from backprop.diagnose import diagnose
from backprop.loopcheck import two_step
from backprop.nn import GELU, BatchNorm1d, Dropout, LayerNorm, LeakyReLU, LogSoftmax, Softmax


class P:
    """A parameter as a learner writes one: an array and its gradient."""

    def __init__(self, data: np.ndarray) -> None:
        self.data = data
        self.grad = np.zeros_like(data)


class MyLinear:
    def __init__(self, d_in: int, d_out: int, mistake: str = "", seed: int = 0) -> None:
        rng = np.random.default_rng(seed)
        self.W, self.b = P(rng.standard_normal((d_in, d_out))), P(rng.standard_normal(d_out))
        self.mistake = mistake

    def parameters(self) -> list[P]:
        return [self.W, self.b]

    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return x @ self.W.data + self.b.data

    def backward(self, g: np.ndarray) -> np.ndarray:
        self.W.grad += g.T @ self.x if self.mistake == "transposed" else self.x.T @ g
        if self.mistake == "unsummed":
            self.b.grad = g.copy()
        else:
            self.b.grad += g.sum(axis=0)
        return g @ self.W.data.T


class MyMSE:
    """L = 1/N Σ (O − T)², with its backward missing the 1/N (or, with ok=True, not)."""

    def __init__(self, ok: bool = False) -> None:
        self.ok = ok

    def forward(self, pred: np.ndarray, target: np.ndarray) -> float:
        self.diff = pred - target
        return float(np.sum(self.diff**2) / len(pred))

    def backward(self) -> np.ndarray:
        return 2 * self.diff / (len(self.diff) if self.ok else 1)


class MyReLU:
    def forward(self, x: np.ndarray) -> np.ndarray:
        self.x = x
        return np.maximum(x, 0)

    def backward(self, g: np.ndarray) -> np.ndarray:
        return g * (self.x > 0)


@pytest.mark.parametrize("n", [3, 32])
def test_missing_one_over_n_is_scaled_by_n(n: int) -> None:
    rng = np.random.default_rng(n)
    pred, target = rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
    row = check(MyMSE(), pred, target=target).row("prediction")
    assert row.verdict == "wrong"
    assert row.diagnosis.kind == "scaled"
    assert row.diagnosis.factor == pytest.approx(n, rel=1e-8)
    assert row.diagnosis.factor_name == "N"


def test_missing_one_over_n_cannot_show_with_one_sample() -> None:
    # with N = 1 the factor is 1: the gradient is right, and the check must not invent a bug
    rng = np.random.default_rng(1)
    report = check(MyMSE(), rng.standard_normal((1, 3)), target=rng.standard_normal((1, 3)))
    assert report.ok and report.rows[0].diagnosis.kind == "none"


def test_correct_learner_loss_passes_and_agrees_with_torch() -> None:
    rng = np.random.default_rng(2)
    pred, target = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))

    def ref(p: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
        return ((p - t) ** 2).sum() / p.shape[0]

    report = check(MyMSE(ok=True), pred, target=target, reference=ref)
    assert report.ok, report
    assert [r.name for r in report.rows] == [
        "prediction",
        "prediction vs reference",
        "loss vs reference",
    ]


def test_transposed_weight_gradient_in_the_square_case() -> None:
    x = np.random.default_rng(3).standard_normal((5, 4))
    report = check(MyLinear(4, 4, "transposed"), x, reference=torch.nn.Linear(4, 4))
    assert report.row("W").diagnosis.kind == "transposed"
    assert report.row("W vs reference").diagnosis.kind == "transposed"
    assert report.row("input").ok and report.row("b").ok
    assert report.row("output vs reference").ok


def test_an_input_from_seed_0_does_not_hide_a_transpose() -> None:
    # were the upstream gradient G drawn like x, xᵀG = xᵀx would be symmetric and hide it
    x = np.random.default_rng(0).standard_normal((5, 3))
    for rng in (None, np.random.default_rng(0)):
        report = check(MyLinear(3, 3, "transposed"), x, rng=rng)
        assert report.row("W").diagnosis.kind == "transposed"


def test_unsummed_bias_keeps_the_batch_rows() -> None:
    x = np.random.default_rng(4).standard_normal((5, 3))
    row = check(MyLinear(3, 2, "unsummed"), x).row("b")
    assert row.verdict == "wrong" and row.diagnosis.kind == "unsummed"
    assert "5 rows" in row.diagnosis.hint


def test_kink_exactly_at_zero_is_reported_and_left_out() -> None:
    x = np.array([[0.0, 1.5, -0.7], [2.0, -1.0, 0.3]])
    report = check(MyReLU(), x)
    row = report.row("input")
    assert report.ok
    assert row.diagnosis.kind == "kink"
    assert "1 entry within h" in row.diagnosis.hint


def test_kink_does_not_hide_a_real_mistake() -> None:
    class LeakyMask(MyReLU):
        def backward(self, g: np.ndarray) -> np.ndarray:
            return g * (self.x >= -1)  # wrong where -1 <= x < 0

    x = np.array([[0.0, 1.5, -0.7], [2.0, -0.5, 0.3]])
    row = check(LeakyMask(), x).row("input")
    assert row.verdict == "wrong"
    assert row.diagnosis.kind == "partial"
    assert "non-differentiable" in row.diagnosis.hint


def test_float32_is_rerun_in_float64_and_said_so() -> None:
    rng = np.random.default_rng(5)
    x = rng.standard_normal((4, 3)).astype(np.float32)
    report = check(Linear(3, 2, rng=rng, dtype=np.float32), x)
    assert report.ok
    assert {r.diagnosis.kind for r in report.rows} == {"precision"}
    assert "rerun in float64" in report.rows[0].diagnosis.hint


def test_sign_and_wrong_point_and_partial_rows() -> None:
    rng = np.random.default_rng(6)
    correct = rng.standard_normal((4, 3))
    assert diagnose(-correct, correct).kind == "sign"
    rows = correct.copy()
    rows[[1, 3]] *= 3
    d = diagnose(rows, correct)
    assert d.kind == "partial" and "whole rows 1, 3" in d.hint

    class SigmoidAtOutput:
        def forward(self, x: np.ndarray) -> np.ndarray:
            self.y = 1 / (1 + np.exp(-x))
            return self.y

        def backward(self, g: np.ndarray) -> np.ndarray:
            s = 1 / (1 + np.exp(-self.y))
            return g * s * (1 - s)

    assert check(SigmoidAtOutput(), correct).row("input").diagnosis.kind == "wrong_point"


def test_a_linear_map_is_not_mistaken_for_a_kink() -> None:
    class Centre:
        def forward(self, x: np.ndarray) -> np.ndarray:
            return x - x.mean(axis=0)

        def backward(self, g: np.ndarray) -> np.ndarray:
            return g  # the mean's term forgotten

    x = np.random.default_rng(7).standard_normal((4, 3))
    for upstream in (None, np.ones((4, 3))):
        row = check(Centre(), x, upstream=upstream).row("input")
        assert row.verdict == "wrong" and "non-differentiable" not in row.diagnosis.hint


def test_all_ones_upstream_hides_a_batchnorm_bug_and_is_pointed_out() -> None:
    from backprop.bugs.layers import BatchNorm1d as LabBatchNorm

    class NoVarianceTerm(LabBatchNorm):
        def backward(self, grad_output: np.ndarray) -> np.ndarray:
            self.weight.accumulate((grad_output * self.x_hat).sum(axis=0))
            self.bias.accumulate(grad_output.sum(axis=0))
            g = grad_output * self.weight.data
            return self.inv_std * (g - g.mean(axis=0))  # − x̂·mean(g·x̂) forgotten

    rng = np.random.default_rng(10)
    x = rng.standard_normal((6, 3))
    blind = check(NoVarianceTerm(3, rng), x, upstream=np.ones((6, 3)))
    assert blind.ok  # under a constant dL/dy the missing term is zero anyway
    assert "upstream gradient is constant" in blind.row("input").diagnosis.hint
    seen = check(NoVarianceTerm(3, rng), x)
    assert seen.row("input").diagnosis.kind == "batch_terms"


def test_two_steps_find_a_forgotten_zero_grad() -> None:
    rng = np.random.default_rng(8)
    model = Sequential(Linear(3, 4, rng=rng), Tanh(), Linear(4, 2, rng=rng))

    def step(model: Any, loss_fn: Any, opt: Any, x: np.ndarray, t: np.ndarray) -> float:
        loss = loss_fn(model(x), t)
        model.backward(loss_fn.backward())
        opt.step()
        return loss

    x, t = rng.standard_normal((6, 3)), rng.standard_normal((6, 2))
    report = two_step(step, model, MSELoss(), x, t)
    first = [r for r in report.rows if "step 1" in r.name]
    second = [r for r in report.rows if "step 2" in r.name]
    assert all(r.ok for r in first)
    assert all(r.diagnosis.kind == "accumulated" and r.diagnosis.factor == 2 for r in second)


def builtin(rng: np.random.Generator, n: int, d: int, k: int) -> list[tuple[Any, Any]]:
    lin = Linear(d, k, rng=rng)
    return [
        (lin, torch.nn.Linear(d, k)),
        (Linear(d, d, rng=rng), torch.nn.Linear(d, d)),
        (Linear(d, k, bias=False, rng=rng), torch.nn.Linear(d, k, bias=False)),
        (ReLU(), torch.relu),
        (Sigmoid(), torch.sigmoid),
        (Tanh(), torch.tanh),
        (Identity(), lambda t: t),
        (Sequential(Linear(d, 5, rng=rng), Tanh(), Linear(5, k, rng=rng)), None),
        (BatchNorm1d(d), torch.nn.BatchNorm1d(d)),
        (LayerNorm(d), torch.nn.LayerNorm(d)),
        (GELU(), torch.nn.GELU()),
        (LeakyReLU(0.1), torch.nn.LeakyReLU(0.1)),
        (Softmax(dim=1), torch.nn.Softmax(dim=1)),
        (LogSoftmax(dim=1), torch.nn.LogSoftmax(dim=1)),
        (Dropout(0.3, rng=rng).eval(), torch.nn.Dropout(0.3).eval()),
    ]


@pytest.mark.parametrize("seed", range(4))
def test_builtin_layers_raise_no_false_alarm(seed: int) -> None:
    from backprop.bugs import _sizes

    rng = np.random.default_rng(seed)
    n, d, k = _sizes(rng)
    x = rng.standard_normal((n, d))
    for layer, ref in builtin(rng, n, d, k):
        report = check(layer, x, reference=ref)
        assert report.ok, report
        assert {r.diagnosis.kind for r in report.rows} == {"none"}, report
    pred = rng.standard_normal((n, k))
    target = rng.standard_normal((n, k))
    F = torch.nn.functional
    refs = {
        "batchmean": lambda p, t: F.mse_loss(p, t, reduction="sum") / p.shape[0],
        "mean": F.mse_loss,
        "sum": lambda p, t: F.mse_loss(p, t, reduction="sum"),
    }
    for reduction, ref in refs.items():
        assert check(MSELoss(reduction), pred, target=target, reference=ref).ok
    labels = rng.integers(0, k, size=n)
    assert check(CrossEntropyLoss(), pred, target=labels, reference=F.cross_entropy).ok


def test_a_random_forward_pass_is_refused() -> None:
    x = np.random.default_rng(11).standard_normal((4, 3))
    with pytest.raises(ValueError, match="Dropout's forward pass gives a different output"):
        check(Dropout(0.5, rng=np.random.default_rng(0)), x)


def test_the_subject_is_left_unchanged() -> None:
    rng = np.random.default_rng(9)
    layer = MyLinear(3, 2)
    before = layer.W.data.copy(), layer.W.grad.copy()
    check(layer, rng.standard_normal((4, 3)).astype(np.float32))
    assert np.array_equal(layer.W.data, before[0]) and np.array_equal(layer.W.grad, before[1])


def test_bad_subjects_are_named() -> None:
    with pytest.raises(TypeError, match="no forward/backward"):
        check(object(), np.zeros((2, 2)))
    with pytest.raises(TypeError, match="x must hold floats"):
        check(MyReLU(), np.zeros((2, 2), dtype=int))

    class Bare:
        def parameters(self) -> list[np.ndarray]:
            return [np.zeros(2)]

        forward = backward = MyReLU.forward

    with pytest.raises(TypeError, match="parameter 'param0' of Bare is ndarray"):
        check(Bare(), np.zeros((2, 2)))


def test_cmp_prints_the_ninja_line(capsys: pytest.CaptureFixture[str]) -> None:
    a = np.array([1.0, 2.0])
    line = cmp("dW", a, a + 3.1e-10)
    assert line == "dW              | exact: False | approximate: True  | maxdiff: 3.1e-10"
    assert capsys.readouterr().out == line + "\n"
    assert cmp("db", a, a).startswith("db              | exact: True  | approximate: True")


def test_one_of_our_layers_and_losses_as_the_reference() -> None:
    rng = np.random.default_rng(13)
    x = rng.standard_normal((5, 3))
    report = check(MyLinear(3, 3, "transposed"), x, reference=Linear(3, 3, rng=rng))
    assert report.row("output vs reference").ok  # our weights were copied in, as they are
    assert report.row("W vs reference").diagnosis.kind == "transposed"
    assert report.row("b vs reference").ok and report.row("input vs reference").ok
    pred, target = rng.standard_normal((6, 2)), rng.standard_normal((6, 2))
    row = check(MyMSE(), pred, target=target, reference=MSELoss()).row("prediction vs reference")
    assert (row.diagnosis.kind, row.diagnosis.factor_name) == ("scaled", "N")


def test_a_sequential_is_asked_for_its_input_gradient_as_subject_and_reference() -> None:
    rng = np.random.default_rng(14)
    x = rng.standard_normal((5, 3))
    model = Sequential(Linear(3, 4, rng=rng), Tanh(), Linear(4, 2, rng=rng))
    report = check(model, x)
    assert report.ok and report.row("input").relative_error < 1e-7, str(report)
    ref = Sequential(Linear(3, 2, rng=rng))
    report = check(MyLinear(3, 2), x, reference=ref)
    assert report.row("output vs reference").ok and report.row("input vs reference").ok


class Wrapped:
    """A learner's class around a backprop Sequential, which is run without requires_grad."""

    def __init__(self, rng: np.random.Generator) -> None:
        self.net = Sequential(Linear(3, 2, rng=rng), Tanh())

    def parameters(self) -> list[Any]:
        return self.net.parameters()

    def forward(self, x: np.ndarray) -> np.ndarray:
        return self.net(x)

    def backward(self, g: np.ndarray) -> Any:
        return self.net.backward(g)


def test_a_backward_that_returns_none_is_named_never_compared() -> None:
    rng = np.random.default_rng(15)
    x = rng.standard_normal((4, 3))
    report = check(Wrapped(rng), x)
    row = report.row("input")
    assert not report.ok and row.verdict == "wrong"
    assert row.diagnosis.hint.startswith("backward returned None, not dL/dx")
    assert report.row("param0").ok  # the parameter gradients are still checked
    with pytest.raises(ValueError, match="reference Wrapped's backward returned None"):
        check(MyLinear(3, 2), x, reference=Wrapped(rng))
