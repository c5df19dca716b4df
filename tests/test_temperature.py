"""Tests for lecture_code.temperature against torch, scipy and sklearn references (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize_scalar
from sklearn.calibration import calibration_curve

from lecture_code.softmax import entropy, softmax
from lecture_code.temperature import (
    distillation_loss,
    entropy_tau_derivative,
    expected_calibration_error,
    fit_temperature,
    reliability_bins,
    soft_target_loss,
)

DT = torch.float64


def logits(n=16, k=5, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, k, generator=g, dtype=DT)


# --- entropy along the temperature path -------------------------------------------------

@settings(max_examples=40, deadline=None)
@given(
    z=st.lists(st.floats(-5, 5), min_size=2, max_size=6),
    tau=st.floats(0.05, 20.0),
)
def test_entropy_derivative_matches_autograd(z, tau):
    z = torch.tensor(z, dtype=DT)
    t = torch.tensor(tau, dtype=DT, requires_grad=True)
    h = entropy(torch.softmax(z / t, dim=-1))
    (grad,) = torch.autograd.grad(h, t)
    ours = entropy_tau_derivative(z, tau)
    assert torch.allclose(ours, grad, atol=1e-9, rtol=1e-6)
    assert ours >= -1e-12  # entropy never decreases with τ


def test_entropy_derivative_batched_and_zero_for_constant_logits():
    z = torch.tensor([[1.0, 1.0, 1.0], [2.0, 1.0, 0.1]], dtype=DT)
    d = entropy_tau_derivative(z, 1.5)
    assert d.shape == (2,)
    assert d[0] == 0.0 and d[1] > 0


def test_entropy_derivative_rejects_bad_tau():
    with pytest.raises(ValueError, match="tau must be a finite number > 0"):
        entropy_tau_derivative([1.0, 2.0], 0.0)
    with pytest.raises(TypeError, match="tau must be a number"):
        entropy_tau_derivative([1.0, 2.0], "hot")


# --- distillation -----------------------------------------------------------------------

@pytest.mark.parametrize("tau", [1.0, 2.0, 5.0, 20.0])
def test_soft_target_loss_matches_kl_div(tau):
    s, t = logits(seed=1), logits(seed=2)
    ref = F.kl_div(F.log_softmax(s / tau, -1), F.log_softmax(t / tau, -1), reduction="batchmean", log_target=True)
    assert torch.allclose(soft_target_loss(s, t, tau), tau**2 * ref, atol=1e-12)


def test_soft_target_loss_gradient_and_teacher_detached():
    tau = 4.0
    s = logits(seed=3).requires_grad_()
    t = logits(seed=4).requires_grad_()
    soft_target_loss(s, t, tau).backward()
    # d/ds [τ² KL(q‖p)] = τ (p - q) / N  for p = softmax(s/τ), q = softmax(t/τ)
    expected = tau * (torch.softmax(s / tau, -1) - torch.softmax(t / tau, -1)) / s.shape[0]
    assert torch.allclose(s.grad, expected, atol=1e-12)
    assert t.grad is None


def test_high_temperature_gradient_tends_to_logit_matching():
    s, t = logits(seed=5), logits(seed=6)
    s, t = s - s.mean(-1, keepdim=True), t - t.mean(-1, keepdim=True)  # zero-mean logits
    target = (s - t) / (s.shape[1] * s.shape[0])  # (z_s - z_t) / (K N): matching logits
    errors = []
    for tau in (1e2, 1e3, 1e4):
        ss = s.clone().requires_grad_()
        soft_target_loss(ss, t, tau).backward()
        errors.append((ss.grad - target).abs().max().item())
    assert errors[2] < 1e-4
    assert errors[0] / errors[1] == pytest.approx(10, rel=0.05)  # the error shrinks like 1/τ
    assert errors[1] / errors[2] == pytest.approx(10, rel=0.05)


def test_distillation_loss_mixes_hard_and_soft():
    s, t = logits(seed=7), logits(seed=8)
    y = torch.arange(16) % 5
    hard = F.cross_entropy(s, y)
    soft = soft_target_loss(s, t, 3.0)
    assert torch.allclose(distillation_loss(s, t, y, 3.0, alpha=0.25), 0.25 * soft + 0.75 * hard)
    assert torch.equal(distillation_loss(s, t, y, 3.0, alpha=0.0), hard)


def test_distillation_bad_inputs():
    s, t = logits(seed=7), logits(seed=8)
    y = torch.arange(16) % 5
    with pytest.raises(ValueError, match="alpha must be a number in"):
        distillation_loss(s, t, y, 2.0, alpha=1.5)
    with pytest.raises(ValueError, match="same shape"):
        soft_target_loss(s, t[:, :4], 2.0)
    with pytest.raises(ValueError, match="labels must lie in 0..4"):
        distillation_loss(s, t, y + 1, 2.0)
    with pytest.raises(TypeError, match="labels must be integer"):
        distillation_loss(s, t, y.double(), 2.0)
    with pytest.raises(ValueError, match="student_logits must have shape"):
        soft_target_loss(s[0], t[0], 2.0)
    with pytest.raises(ValueError, match="must be finite"):
        soft_target_loss(torch.full_like(s, float("nan")), t, 2.0)


# --- calibration ------------------------------------------------------------------------

def _ece_loop(probs, labels, n_bins):
    """Independent plain-Python ECE over bins ((m-1)/M, m/M]."""
    p = np.asarray(probs)
    conf, pred = p.max(1), p.argmax(1)
    correct = pred == np.asarray(labels)
    total = 0.0
    for m in range(n_bins):
        lo, hi = m / n_bins, (m + 1) / n_bins
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            total += inside.mean() * abs(correct[inside].mean() - conf[inside].mean())
    return total


@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
def test_ece_and_bins_match_references(n_bins):
    z = logits(n=400, k=4, seed=9)
    y = torch.randint(0, 4, (400,), generator=torch.Generator().manual_seed(10))
    p = torch.softmax(z, -1)
    assert expected_calibration_error(p, y, n_bins) == pytest.approx(_ece_loop(p, y, n_bins), abs=1e-12)
    bins = reliability_bins(p, y, n_bins)
    conf, pred = p.max(1)
    correct = (pred == y).numpy()
    prob_true, prob_pred = calibration_curve(correct, conf.numpy(), n_bins=n_bins, strategy="uniform")
    nonempty = bins.count > 0
    assert np.allclose(bins.accuracy[nonempty].numpy(), prob_true)
    assert np.allclose(bins.confidence[nonempty].numpy(), prob_pred)
    assert int(bins.count.sum()) == 400


def test_bin_edges_are_right_closed():
    # confidence exactly 0.5 belongs to the bin (0.4, 0.5], not (0.5, 0.6]
    p = torch.tensor([[0.5, 0.5, 0.0]], dtype=DT)
    bins = reliability_bins(p, torch.tensor([0]), n_bins=10)
    assert bins.count[4] == 1 and bins.count.sum() == 1


def test_calibration_bad_inputs():
    y = torch.tensor([0, 1])
    with pytest.raises(ValueError, match="probs must be probabilities"):
        expected_calibration_error(torch.tensor([[2.0, -1.0], [0.0, 1.0]]), y)
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        expected_calibration_error(torch.tensor([[0.5, 0.5], [0.2, 0.8]]), y, n_bins=0)
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        expected_calibration_error(torch.tensor([[0.5, 0.5], [0.2, 0.8]]), torch.tensor([0]))


def test_fit_temperature_matches_scipy():
    g = torch.Generator().manual_seed(11)
    y = torch.randint(0, 5, (300,), generator=g)
    z = 4.0 * torch.randn(300, 5, generator=g, dtype=DT) + 3.0 * F.one_hot(y, 5)  # over-confident logits
    tau = fit_temperature(z, y)
    ref = minimize_scalar(lambda t: F.cross_entropy(z / t, y).item(), bounds=(0.05, 50), method="bounded",
                          options={"xatol": 1e-10})
    assert tau == pytest.approx(ref.x, rel=1e-5)
    assert tau > 1.0  # these logits are too sharp: the fitted temperature softens them


def test_fit_temperature_rejects_separable_data():
    z = torch.tensor([[5.0, 0.0], [0.0, 5.0]], dtype=DT)
    with pytest.raises(ValueError, match="every held-out example is classified correctly"):
        fit_temperature(z, torch.tensor([0, 1]))


def test_docstring_examples_run():
    import doctest

    import lecture_code.temperature as module

    result = doctest.testmod(module)
    assert result.attempted >= 2 and result.failed == 0
