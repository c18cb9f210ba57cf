"""Losses against PyTorch (float64, ~1e-10), central differences, and their error messages."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch_reference import assert_close

from backprop import CrossEntropyLoss, MSELoss, gradcheck

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
        def backward(self) -> np.ndarray:
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
