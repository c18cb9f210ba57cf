"""Losses against PyTorch (float64, ~1e-10), central differences, and their error messages."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_reference import assert_close

from backprop import BCEWithLogitsLoss, CrossEntropyLoss, L1Loss, MSELoss, NLLLoss, gradcheck
from backprop.gradcheck import numerical_gradient, rel_error

F = torch.nn.functional


@pytest.mark.parametrize("reduction", ["batchmean", "mean", "sum"])
@settings(max_examples=20, deadline=None)
@given(seed=st.integers(0, 2**31), n=st.integers(1, 10), d=st.integers(1, 10))
def test_mse_matches_torch(reduction: str, seed: int, n: int, d: int) -> None:
    rng = np.random.default_rng(seed)
    pred, target = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    loss_fn = MSELoss(reduction)
    loss = loss_fn(pred, target)
    grad = loss_fn.backward()
    pt = torch.tensor(pred, requires_grad=True)
    if reduction == "batchmean":
        ref = F.mse_loss(pt, torch.tensor(target), reduction="sum") / n
    else:
        ref = F.mse_loss(pt, torch.tensor(target), reduction=reduction)
    ref.backward()
    assert_close("loss value", loss, ref.item())
    assert_close("input gradient dL/dpred", grad, pt.grad.numpy())  # type: ignore[union-attr]
    assert isinstance(loss, float)


def test_batchmean_is_d_times_pytorch_mean() -> None:
    rng = np.random.default_rng(0)
    pred, target = rng.normal(size=(3, 7)), rng.normal(size=(3, 7))
    ours = MSELoss("batchmean")(pred, target)
    torch_default = torch.nn.MSELoss()(torch.tensor(pred), torch.tensor(target)).item()
    assert ours == pytest.approx(7 * torch_default, rel=1e-13)


@settings(max_examples=30, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.integers(1, 12),
    c=st.integers(2, 10),
    scale=st.sampled_from([1.0, 30.0, 1e4]),
)
def test_cross_entropy_matches_torch(seed: int, n: int, c: int, scale: float) -> None:
    rng = np.random.default_rng(seed)
    logits, labels = scale * rng.normal(size=(n, c)), rng.integers(0, c, size=n)
    loss_fn = CrossEntropyLoss()
    loss = loss_fn(logits, labels)
    grad = loss_fn.backward()
    lt = torch.tensor(logits, requires_grad=True)
    ref = F.cross_entropy(lt, torch.tensor(labels))
    ref.backward()
    # When the true class dominates, the loss log(1 + s) and the gradient p − 1 = −s/(1 + s)
    # are of the size of s, far below their natural scales (log 1 = 0 ± ε for the loss,
    # 1/N for a gradient entry), and float64 rounding at those scales is all either library
    # can promise: at logits ~30, both PyTorch and this library lose digits of an s ≈ 1e-12
    # (each is then off from the exact value by 1e-6 to 1e-5 relative). So the errors are
    # measured against those scales.
    assert_close("loss value", loss, ref.item(), floor=1.0)
    assert_close("input gradient dL/dlogits", grad, lt.grad.numpy(), floor=1 / n)  # type: ignore[union-attr]


def test_cross_entropy_does_not_overflow_or_take_log_zero() -> None:
    logits = np.array([[1000.0, -1000.0, 0.0], [-1000.0, 1000.0, 999.0]])
    loss_fn = CrossEntropyLoss()
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = loss_fn(logits, np.array([1, 2]))
        grad = loss_fn.backward()
    lt = torch.tensor(logits, requires_grad=True)
    ref = F.cross_entropy(lt, torch.tensor([1, 2]))
    ref.backward()
    assert lt.grad is not None
    # exactly (2000 + 1 + log(1 + e⁻¹)) / 2: row 1 pays 1000 − (−1000), row 2 log(e¹ + e⁰)
    assert loss == pytest.approx(ref.item(), rel=1e-12)
    assert loss == pytest.approx((2001 + np.log1p(np.exp(-1))) / 2, rel=1e-14)
    # dL/dZ = (softmax − onehot)/N: ±1/2 where one logit dominates, and row 2's split between
    # the logits 1000 and 999 (softmax e/(1+e) and 1/(1+e)); e^-1000 terms underflow to 0.
    np.testing.assert_allclose(grad, lt.grad.numpy(), rtol=1e-12, atol=1e-16)
    e = np.e
    expected = np.array([[0.5, -0.5, 0.0], [0.0, e / (1 + e) / 2, 1 / (1 + e) / 2 - 0.5]])
    np.testing.assert_allclose(grad, expected, rtol=1e-12, atol=1e-16)


@pytest.mark.parametrize("seed", range(5))
def test_gradcheck_every_loss(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, d = rng.integers(1, 8, size=2) + 1
    pred, target = rng.normal(size=(n, d)), rng.normal(size=(n, d))
    for reduction in ("batchmean", "mean", "sum"):
        assert gradcheck(MSELoss(reduction), pred, target).passed
    assert gradcheck(CrossEntropyLoss(), pred, rng.integers(0, d, size=n)).passed


def test_gradcheck_catches_a_wrong_backward() -> None:
    class WrongMSE(MSELoss):
        def backward(self, grad_output: float | None = None) -> np.ndarray:
            return super().backward() / 2  # forgets the 2 from the square's derivative

    rng = np.random.default_rng(0)
    report = gradcheck(WrongMSE(), rng.normal(size=(3, 2)), rng.normal(size=(3, 2)))
    assert not report.passed
    assert report.max_rel_error > 0.1
    assert "FAIL" in str(report)


def test_unknown_reduction_lists_the_valid_ones() -> None:
    with pytest.raises(ValueError, match="unknown reduction 'avg'; valid: batchmean, mean, sum"):
        MSELoss("avg")


def test_mse_target_shape_mismatch() -> None:
    with pytest.raises(
        ValueError, match=r"target shape \(3, 1\) does not match prediction shape \(3, 2\)"
    ):
        MSELoss()(np.zeros((3, 2)), np.zeros((3, 1)))


def test_mse_nan_in_target_is_located() -> None:
    target = np.zeros((3, 2))
    target[2, 1] = np.nan
    with pytest.raises(ValueError, match=r"target has nan at \[2, 1\]"):
        MSELoss()(np.zeros((3, 2)), target)


def test_cross_entropy_labels_out_of_range() -> None:
    with pytest.raises(
        ValueError, match=r"label 3 at index 1 is out of range \[0, 2\] for 3 classes"
    ):
        CrossEntropyLoss()(np.zeros((2, 3)), np.array([0, 3]))
    with pytest.raises(ValueError, match=r"label -1 at index 0"):
        CrossEntropyLoss()(np.zeros((2, 3)), np.array([-1, 0]))


@pytest.mark.parametrize("loss", [CrossEntropyLoss, NLLLoss])
@pytest.mark.parametrize(
    ("dtype", "classes", "bad"),
    [
        ("int8", 5, -1),
        ("int8", 128, -128),  # the most negative int8, viewed unsigned, is 128: not below C
        ("int8", 200, -60),  # more classes than int8's positive range: viewed unsigned, 196
        ("int16", 300, -1),
        ("int32", 10, -(2**31)),
        ("int64", 27, -1),
        ("uint8", 200, 255),
        ("uint64", 3, 2**64 - 1),
    ],
)
def test_labels_out_of_range_are_refused_in_every_integer_type(
    loss: Any, dtype: str, classes: int, bad: int
) -> None:
    # As torch refuses them (an IndexError there): each label outside [0, C), named with its
    # index, whatever the integer type, and the same labels in range are accepted.
    top = min(classes - 1, int(np.iinfo(dtype).max))  # the largest class the type can hold
    target = np.array([0, top, bad, 1], dtype=dtype)
    scores = np.zeros((4, classes))
    with pytest.raises(ValueError, match=rf"label {bad} at index 2 is out of range"):
        loss()(scores, target)
    target[2] = top
    assert np.isfinite(loss()(scores, target))


def test_cross_entropy_bad_target_shape_and_dtype() -> None:
    with pytest.raises(ValueError, match=r"target must be \(2,\)"):
        CrossEntropyLoss()(np.zeros((2, 3)), np.array([[0], [1]]))
    with pytest.raises(ValueError, match="integer class labels"):
        CrossEntropyLoss()(np.zeros((2, 3)), np.array([0.0, 1.0]))


def test_cross_entropy_of_nonfinite_logits_is_nan_as_in_pytorch() -> None:
    # A diverging network's logits are not data errors: the loss reports them as PyTorch does,
    # and the training loop turns a non-finite loss into its "diverged" message.
    logits = np.zeros((2, 3))
    logits[1, 0] = np.nan
    ref = F.cross_entropy(torch.tensor(logits), torch.tensor([0, 1])).item()
    assert np.isnan(ref) and np.isnan(CrossEntropyLoss()(logits, np.array([0, 1])))


# ------------------------------------------- BCEWithLogitsLoss, NLLLoss, L1Loss, CrossEntropy's
# options: each against torch.nn's loss of the same name and arguments, in float64.


def _torch_args(kwargs: dict[str, Any]) -> dict[str, Any]:
    return {k: torch.tensor(v) if isinstance(v, np.ndarray) else v for k, v in kwargs.items()}


def _draw(kind: str, rng: np.random.Generator, n: int, c: int, scale: float) -> tuple[Any, Any]:
    """(input, target) for the loss ``kind``: logits or log-probabilities and labels, or two
    arrays of one shape."""
    if kind in ("CrossEntropyLoss", "NLLLoss"):
        x = scale * rng.normal(size=(n, c))
        if kind == "NLLLoss":
            x = F.log_softmax(torch.tensor(x), dim=1).numpy()
        return x, rng.integers(0, c, size=n)
    if kind == "BCEWithLogitsLoss":
        return scale * rng.normal(size=(n, c)), rng.uniform(size=(n, c)).round(rng.integers(0, 2))
    return scale * rng.normal(size=(n, c)), rng.normal(size=(n, c))


def _options(kind: str, rng: np.random.Generator, n: int, c: int) -> list[dict[str, Any]]:
    """The argument combinations checked for ``kind`` (beyond reduction)."""
    weight = rng.uniform(0.2, 2.0, size=c)
    if kind == "CrossEntropyLoss":
        return [
            {},
            {"label_smoothing": 0.1},
            {"weight": weight},
            {"weight": weight, "label_smoothing": 0.25, "ignore_index": 1},
            {"ignore_index": 0},
        ]
    if kind == "NLLLoss":
        return [{}, {"weight": weight}, {"weight": weight, "ignore_index": 1}]
    if kind == "BCEWithLogitsLoss":
        return [
            {},
            {"pos_weight": weight},
            {"weight": rng.uniform(0.2, 2.0, size=(n, c))},
            {"weight": weight, "pos_weight": rng.uniform(0.5, 3.0, size=c)},
        ]
    return [{}]


LOSS_CLASSES = {
    "CrossEntropyLoss": CrossEntropyLoss,
    "NLLLoss": NLLLoss,
    "BCEWithLogitsLoss": BCEWithLogitsLoss,
    "L1Loss": L1Loss,
}


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("kind", list(LOSS_CLASSES))
@settings(max_examples=12, deadline=None)
@given(
    seed=st.integers(0, 2**31),
    n=st.sampled_from([1, 2, 5, 13]),
    c=st.integers(1, 7),
    scale=st.sampled_from([1.0, 30.0, 1e4]),
)
def test_loss_matches_torch(
    kind: str, reduction: str, seed: int, n: int, c: int, scale: float
) -> None:
    rng = np.random.default_rng(seed)
    x, target = _draw(kind, rng, n, c, scale)
    for kwargs in _options(kind, rng, n, c):
        loss_fn = LOSS_CLASSES[kind](**kwargs, reduction=reduction)
        loss = loss_fn(x, target)
        g = rng.normal(size=np.shape(loss)) if reduction == "none" else None
        grad = loss_fn.backward(g)
        xt = torch.tensor(x, requires_grad=True)
        ref = getattr(torch.nn, kind)(**_torch_args(kwargs), reduction=reduction)(
            xt, torch.tensor(target)
        )
        ref.backward(None if g is None else torch.tensor(g))
        what = f"{kind} {kwargs} reduction={reduction}"
        if np.isnan(ref.item()) if reduction != "none" else False:
            assert np.isnan(loss), f"{what}: every row ignored; PyTorch gives nan, we {loss}"
            # and a gradient of 0 for every ignored row (not nan), as PyTorch's
            ref_grad = xt.grad.numpy()  # type: ignore[union-attr]
            np.testing.assert_array_equal(np.isnan(grad), np.isnan(ref_grad), err_msg=what)
            finite = ~np.isnan(ref_grad)
            np.testing.assert_allclose(grad[finite], ref_grad[finite], atol=1e-12, err_msg=what)
            continue
        # As for the plain cross-entropy above: the loss is measured against its natural scale
        # (1, or the largest logit), the gradient against 1/N (that of one entry of the mean).
        assert_close(f"{kind} loss ({what})", loss, ref.detach().numpy(), floor=1.0)
        assert_close(f"{kind} dL/dinput ({what})", grad, xt.grad.numpy(), floor=1 / x.size)  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", list(LOSS_CLASSES))
@pytest.mark.parametrize("seed", range(3))
def test_every_loss_passes_central_differences(kind: str, seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, c = (int(v) for v in rng.integers(1, 6, size=2) + 1)
    x, target = _draw(kind, rng, n, c, 1.0)
    for kwargs in _options(kind, rng, n, c):
        for reduction in ("mean", "sum"):
            report = gradcheck(LOSS_CLASSES[kind](**kwargs, reduction=reduction), x, target)
            assert report.passed, f"{kwargs} {reduction}: {report}"
        # reduction="none": the vector-Jacobian product with a random upstream gradient
        loss_fn = LOSS_CLASSES[kind](**kwargs, reduction="none")
        g = rng.normal(size=np.shape(loss_fn(x, target)))
        analytic = loss_fn.backward(g)

        def weighted_sum(loss_fn: Any = loss_fn, g: Any = g) -> float:
            return float(np.sum(g * loss_fn(x, target)))

        numeric = numerical_gradient(weighted_sum, x)
        assert rel_error(analytic, numeric) < 1e-7, f"{kind} {kwargs} none"


def test_bce_with_logits_is_finite_for_huge_logits() -> None:
    x = np.array([[1e4, -1e4, 800.0, -800.0, 0.0]])
    y = np.array([[0.0, 1.0, 1.0, 0.0, 0.5]])
    loss_fn = BCEWithLogitsLoss(reduction="none")
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        loss = loss_fn(x, y)
        grad = loss_fn.backward(np.ones_like(x))
    np.testing.assert_allclose(loss, [[1e4, 1e4, 0.0, 0.0, np.log(2)]], rtol=1e-15, atol=1e-300)
    np.testing.assert_allclose(grad, [[1.0, -1.0, 0.0, 0.0, 0.0]], rtol=1e-15, atol=1e-300)


def test_l1_subgradient_at_zero_is_zero_as_in_torch() -> None:
    pred, target = np.array([[1.0, 2.0, 3.0]]), np.array([[1.0, 0.0, 5.0]])
    loss_fn = L1Loss(reduction="sum")
    loss_fn(pred, target)
    xt = torch.tensor(pred, requires_grad=True)
    F.l1_loss(xt, torch.tensor(target), reduction="sum").backward()
    np.testing.assert_array_equal(loss_fn.backward(), [[0.0, 1.0, -1.0]])
    np.testing.assert_array_equal(xt.grad.numpy(), [[0.0, 1.0, -1.0]])  # type: ignore[union-attr]


def test_every_ignored_row_gives_nan_as_in_torch() -> None:
    logits, labels = np.zeros((2, 3)), np.array([-100, -100])
    ref = F.cross_entropy(torch.tensor(logits), torch.tensor(labels)).item()
    assert np.isnan(ref) and np.isnan(CrossEntropyLoss()(logits, labels))
    assert np.isnan(NLLLoss()(logits, labels))


@pytest.mark.parametrize("kind", ["CrossEntropyLoss", "NLLLoss"])
@pytest.mark.parametrize(
    ("options", "labels"),
    [
        ({"ignore_index": 1}, [1, 1, 1]),  # every row ignored: 0/0, the gradient 0
        ({"weight": [0.0, 1.0, 1.0, 1.0]}, [0, 0, 0]),  # counted rows weighing 0: nan
        ({"weight": [0.0, 1.0, 1.0, 1.0], "ignore_index": 2}, [0, 2, 0]),
        ({"ignore_index": 1, "label_smoothing": 0.2}, [1, 1, 1]),
        ({"weight": [0.0, 1.0, 1.0, 1.0], "label_smoothing": 0.2}, [0, 0, 0]),
    ],
)
@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_a_batch_weighing_nothing_has_pytorchs_loss_and_gradient(
    kind: str, options: dict[str, Any], labels: list[int], reduction: str
) -> None:
    """An all-padding batch: PyTorch's mean is nan, but an ignored row's gradient stays 0, so a
    training run that meets one is not filled with nan (rows of weight 0 that count give nan)."""
    if kind == "NLLLoss" and "label_smoothing" in options:
        return
    x = np.random.default_rng(3).normal(size=(3, 4))
    if kind == "NLLLoss":
        x = F.log_softmax(torch.tensor(x), dim=1).numpy()
    loss_fn = LOSS_CLASSES[kind](**{**options, "weight": _maybe(options)}, reduction=reduction)
    loss, grad = loss_fn(x, np.array(labels)), loss_fn.backward()
    xt = torch.tensor(x, requires_grad=True)
    torch_options = {
        **options,
        "weight": None
        if "weight" not in options
        else torch.tensor(options["weight"], dtype=torch.float64),
    }
    ref = getattr(torch.nn, kind)(**torch_options, reduction=reduction)(xt, torch.tensor(labels))
    ref.backward()
    ref_grad = xt.grad.numpy()  # type: ignore[union-attr]
    np.testing.assert_array_equal(np.isnan(loss), np.isnan(ref.item()))
    np.testing.assert_array_equal(np.isnan(grad), np.isnan(ref_grad))
    finite = ~np.isnan(ref_grad)
    np.testing.assert_allclose(grad[finite], ref_grad[finite], rtol=1e-12, atol=1e-15)


def _maybe(options: dict[str, Any]) -> Any:
    return None if "weight" not in options else np.array(options["weight"])


@pytest.mark.parametrize(
    ("make", "x", "target", "message"),
    [
        (lambda: CrossEntropyLoss(reduction="avg"), None, None, "unknown reduction 'avg'; valid: mean, sum, none"),
        (lambda: CrossEntropyLoss(label_smoothing=1.5), None, None, r"label_smoothing must lie in \[0, 1\]"),
        (lambda: NLLLoss(), np.zeros((2, 3)), np.array([0, 5]), r"NLLLoss: label 5 at index 1 is out of range \[0, 2\]"),
        (lambda: NLLLoss(), np.zeros(3), np.array([0]), r"NLLLoss: input must be \(N, C\), got shape \(3,\)"),
        (lambda: CrossEntropyLoss(weight=np.ones(2)), np.zeros((2, 3)), np.array([0, 1]), r"weight must have shape \(3,\)"),
        (lambda: BCEWithLogitsLoss(), np.zeros((2, 3)), np.zeros((3, 2)), r"target shape \(3, 2\) does not match input shape \(2, 3\)"),
        (lambda: BCEWithLogitsLoss(pos_weight=np.ones(2)), np.zeros((2, 3)), np.zeros((2, 3)), r"pos_weight of shape \(2,\) does not broadcast"),
        (lambda: L1Loss(), np.zeros((2, 3)), np.zeros((2, 1)), r"L1Loss: target shape \(2, 1\) does not match"),
    ],
)  # fmt: skip
def test_bad_loss_input_is_one_clear_error(make: Any, x: Any, target: Any, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        loss_fn = make()
        loss_fn(x, target)


def test_reduction_none_backward_needs_grad_output() -> None:
    loss_fn = L1Loss(reduction="none")
    loss_fn(np.zeros((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match=r"needs grad_output of shape \(2, 2\)"):
        loss_fn.backward()


@pytest.mark.parametrize("reduction", ["batchmean", "mean", "sum"])
def test_mse_backward_takes_grad_output_as_the_other_losses(reduction: str) -> None:
    rng = np.random.default_rng(4)
    pred, target = rng.normal(size=(4, 3)), rng.normal(size=(4, 3))
    loss_fn = MSELoss(reduction)
    loss_fn(pred, target)
    np.testing.assert_allclose(loss_fn.backward(2.5), 2.5 * loss_fn.backward(), rtol=1e-15)


def test_label_smoothing_of_the_wrong_type_is_named() -> None:
    with pytest.raises(TypeError, match=r"label_smoothing must be a number, got '0\.1'"):
        CrossEntropyLoss(label_smoothing="0.1")  # type: ignore[arg-type]
