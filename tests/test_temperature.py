"""Tests for lecture_code.temperature against torch, scipy and sklearn
references (float64)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.optimize import minimize_scalar
from sklearn.calibration import calibration_curve

from lecture_code.fisher import (
    categorical_fisher,
    fisher_rao_distance,
    fisher_rao_geodesic,
    sphere_map,
)
from lecture_code.softmax import entropy, softmax
from lecture_code.temperature import (
    distillation_loss,
    entropy_tau_derivative,
    expected_calibration_error,
    fisher_information_lambda,
    fit_temperature,
    label_smoothing_logits,
    path_fisher_rao_length,
    path_speed,
    reliability_bins,
    shuffle_non_target,
    soft_target_loss,
)

DT = torch.float64


def logits(n=16, k=5, seed=0, scale=3.0):
    g = torch.Generator().manual_seed(seed)
    return scale * torch.randn(n, k, generator=g, dtype=DT)


# --- entropy along the temperature path --------------------------------------


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


# --- the temperature path seen geometrically ---------------------------------


@settings(max_examples=40, deadline=None)
@given(
    z=st.lists(st.floats(-5, 5), min_size=2, max_size=6),
    lam=st.floats(0.0, 20.0),
)
def test_fisher_information_lambda_is_the_score_second_moment(z, lam):
    z = torch.tensor(z, dtype=DT)
    lam_t = torch.tensor(lam, dtype=DT, requires_grad=True)
    log_p = torch.log_softmax(lam_t * z, dim=-1)  # (K,)
    score = torch.stack(
        [
            torch.autograd.grad(log_p[i], lam_t, retain_graph=True)[0]
            for i in range(len(z))
        ]
    )
    # E[(∂_λ log p)²] (eq-fisher-def)
    from_definition = (log_p.exp() * score**2).sum()
    ours = fisher_information_lambda(z, lam)
    assert torch.allclose(
        ours, from_definition.detach(), atol=1e-10, rtol=1e-8
    )
    # the same number as the pull-back zᵀ F_z z of the logit Fisher matrix
    # (eq-fisher-logits)
    p = softmax(lam * (z - z.max()))
    if (p > 0).all():
        pullback = z.numpy() @ categorical_fisher(p, "logits") @ z.numpy()
        assert float(ours) == pytest.approx(pullback, abs=1e-9, rel=1e-7)


def test_fisher_information_is_lse_second_derivative_and_drives_entropy():
    z = torch.tensor([2.0, 1.0, 0.1], dtype=DT)
    for lam in (0.0, 0.3, 1.0, 4.0):
        lam_t = torch.tensor(lam, dtype=DT, requires_grad=True)
        (d1,) = torch.autograd.grad(
            torch.logsumexp(lam_t * z, -1), lam_t, create_graph=True
        )
        (d2,) = torch.autograd.grad(d1, lam_t)
        info = fisher_information_lambda(z, lam)
        assert torch.allclose(info, d2, atol=1e-12)
        lam_t = torch.tensor(lam, dtype=DT, requires_grad=True)
        (dH,) = torch.autograd.grad(
            entropy(torch.softmax(lam_t * z, -1)), lam_t
        )
        assert torch.allclose(dH, -lam * info, atol=1e-12)  # dH/dλ = -λ I(λ)
    assert float(fisher_information_lambda(z, 1.0)) == pytest.approx(
        0.41360, abs=1e-5
    )


def test_fisher_information_lambda_batched_and_edge_cases():
    z = torch.tensor(
        [[2.0, 1.0, 0.1], [1.0, 1.0, 1.0], [0.0, 3.0, -1.0]], dtype=DT
    )
    info = fisher_information_lambda(z, 0.7)
    assert info.shape == (3,) and info[1] == 0.0
    assert torch.allclose(
        info, torch.stack([fisher_information_lambda(r, 0.7) for r in z])
    )
    assert torch.allclose(fisher_information_lambda(z.T, 0.7, dim=0), info)
    # λ = 0 is the uniform point: the plain (population) variance of the logits
    assert np.allclose(
        fisher_information_lambda(z, 0.0).numpy(), np.var(z.numpy(), axis=1)
    )
    # no overflow for a huge λ: the mass sits on the argmax and the variance
    # vanishes
    assert float(fisher_information_lambda([1000.0, 0.0], 1e6)) == 0.0


def test_fisher_information_lambda_bad_inputs():
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        fisher_information_lambda([1.0, 2.0], -1.0)
    with pytest.raises(ValueError, match="lam must be a finite number >= 0"):
        fisher_information_lambda([1.0, 2.0], float("inf"))
    with pytest.raises(TypeError, match="lam must be a number"):
        fisher_information_lambda([1.0, 2.0], "cold")
    with pytest.raises(ValueError, match="z must be finite"):
        fisher_information_lambda([1.0, float("-inf")], 1.0)
    with pytest.raises(ValueError, match="dim=3 is out of range"):
        fisher_information_lambda([1.0, 2.0], 1.0, dim=3)


def test_temperature_path_is_a_ray_in_natural_coordinates():
    # clr(softmax(z/τ)) = (z - mean z)/τ: every point is a multiple of one
    # vector (an e-geodesic)
    z = torch.tensor([2.0, 1.0, 0.1, -0.7], dtype=DT)
    lams = torch.linspace(0.1, 5.0, 30, dtype=DT)
    log_p = torch.log_softmax(lams[:, None] * z, dim=-1)  # (30, 4)
    clr = log_p - log_p.mean(-1, keepdim=True)
    assert torch.allclose(clr, lams[:, None] * (z - z.mean()), atol=1e-12)
    s = torch.linalg.svdvals(clr)
    assert s[1] / s[0] < 1e-13
    # ... and the e-geodesic u^(1-t) q^t / Σ between u and q = softmax(z) is
    # softmax(t z)
    q = torch.softmax(z, -1)
    u = torch.full_like(q, 0.25)
    for t in (0.3, 1.0, 2.5):
        w = u ** (1 - t) * q**t
        assert torch.allclose(
            w / w.sum(), torch.softmax(t * z, -1), atol=1e-14
        )


def test_path_length_matches_the_sphere_polyline():
    z = np.array([2.0, 1.0, 0.1])
    length = path_fisher_rao_length(z)
    ref, _ = quad(
        lambda lam: float(fisher_information_lambda(z, lam)) ** 0.5,
        0,
        60,
        limit=200,
    )
    # the tail beyond λ = 60 is ~2e-13
    assert length == pytest.approx(ref, abs=1e-9)
    lams = np.linspace(0.0, 60.0, 60001)
    # (60001, 3)
    P = softmax(torch.tensor(lams[:, None] * (z - z.max()))).numpy()
    # on the sphere of radius 2
    chords = np.linalg.norm(np.diff(2 * sphere_map(P), axis=0), axis=1).sum()
    assert 0 < length - chords < 3e-8  # the chords cut the corners by O(h²)
    # a list is read in float64 too
    assert path_fisher_rao_length(z.tolist()) == length
    assert length == pytest.approx(2.022415, abs=1e-6)
    d = float(fisher_rao_distance(np.ones(3) / 3, [1.0, 0.0, 0.0]))
    # not the shortest path
    assert length > d and length / d == pytest.approx(1.0585, abs=1e-4)


@pytest.mark.parametrize(
    "z, end",
    [
        # K = 2: the simplex is a curve, every path is the geodesic
        ([5.0, 0.0], [1.0, 0.0]),
        # symmetric: the path lies on the median p_2 = p_3
        ([1.0, 0.0, 0.0], [1.0, 0.0, 0.0]),
        # a tie: the path ends at the midpoint of an edge
        ([1.0, 1.0, 0.0], [0.5, 0.5, 0.0]),
    ],
)
def test_path_length_equals_the_distance_when_the_path_is_a_geodesic(z, end):
    K = len(z)
    u = np.ones(K) / K
    assert path_fisher_rao_length(z) == pytest.approx(
        float(fisher_rao_distance(u, end)), abs=1e-9
    )
    # the Fisher–Rao geodesic from u to the end point is the same set of points
    if K == 3:
        gamma = fisher_rao_geodesic(u, end, np.linspace(0, 1, 11))
        lams = np.linspace(0, 10, 11)
        path = softmax(torch.tensor(lams[:, None] * np.array(z))).numpy()
        sym = (1, 2) if z[1] == z[2] else (0, 1)
        assert np.allclose(gamma[:, sym[0]], gamma[:, sym[1]]) and np.allclose(
            path[:, sym[0]], path[:, sym[1]]
        )


def test_path_length_invariances_and_bad_inputs():
    z = torch.tensor([2.0, 1.0, 0.1], dtype=DT)
    base = path_fisher_rao_length(z)
    # same curve, other speed
    assert path_fisher_rao_length(3.0 * z) == pytest.approx(base, abs=1e-9)
    # the gauge
    assert path_fisher_rao_length(z + 7.0) == pytest.approx(base, abs=1e-9)
    assert path_fisher_rao_length([1.5, 1.5, 1.5]) == 0.0
    with pytest.raises(ValueError, match="z must be one vector"):
        path_fisher_rao_length([[1.0, 2.0]])
    with pytest.raises(ValueError, match="z must be one vector"):
        path_fisher_rao_length([1.0])
    with pytest.raises(ValueError, match="z must be finite"):
        path_fisher_rao_length([1.0, float("nan")])
    with pytest.raises(TypeError, match="z must be a tensor"):
        path_fisher_rao_length("abc")


# --- distillation ------------------------------------------------------------


@pytest.mark.parametrize("tau", [1.0, 2.0, 5.0, 20.0])
def test_soft_target_loss_matches_kl_div(tau):
    s, t = logits(seed=1), logits(seed=2)
    ref = F.kl_div(
        F.log_softmax(s / tau, -1),
        F.log_softmax(t / tau, -1),
        reduction="batchmean",
        log_target=True,
    )
    assert torch.allclose(
        soft_target_loss(s, t, tau), tau**2 * ref, atol=1e-12
    )


def test_soft_target_loss_gradient_and_teacher_detached():
    tau = 4.0
    s = logits(seed=3).requires_grad_()
    t = logits(seed=4).requires_grad_()
    soft_target_loss(s, t, tau).backward()
    # d/ds [τ² KL(q‖p)] = τ (p - q) / N  for p = softmax(s/τ), q = softmax(t/τ)
    expected = (
        tau
        * (torch.softmax(s / tau, -1) - torch.softmax(t / tau, -1))
        / s.shape[0]
    )
    assert torch.allclose(s.grad, expected, atol=1e-12)
    assert t.grad is None


def test_high_temperature_gradient_tends_to_logit_matching():
    s, t = logits(seed=5), logits(seed=6)
    # zero-mean logits
    s, t = s - s.mean(-1, keepdim=True), t - t.mean(-1, keepdim=True)
    # (z_s - z_t) / (K N): matching logits
    target = (s - t) / (s.shape[1] * s.shape[0])
    errors = []
    for tau in (1e2, 1e3, 1e4):
        ss = s.clone().requires_grad_()
        soft_target_loss(ss, t, tau).backward()
        errors.append((ss.grad - target).abs().max().item())
    assert errors[2] < 1e-4
    # the error shrinks like 1/τ
    assert errors[0] / errors[1] == pytest.approx(10, rel=0.05)
    assert errors[1] / errors[2] == pytest.approx(10, rel=0.05)


def test_distillation_loss_mixes_hard_and_soft():
    s, t = logits(seed=7), logits(seed=8)
    y = torch.arange(16) % 5
    hard = F.cross_entropy(s, y)
    soft = soft_target_loss(s, t, 3.0)
    assert torch.allclose(
        distillation_loss(s, t, y, 3.0, soft_weight=0.25),
        0.25 * soft + 0.75 * hard,
    )
    assert torch.equal(distillation_loss(s, t, y, 3.0, soft_weight=0.0), hard)


def test_distillation_bad_inputs():
    s, t = logits(seed=7), logits(seed=8)
    y = torch.arange(16) % 5
    with pytest.raises(ValueError, match="soft_weight must be a number in"):
        distillation_loss(s, t, y, 2.0, soft_weight=1.5)
    with pytest.raises(ValueError, match="same shape"):
        soft_target_loss(s, t[:, :4], 2.0)
    with pytest.raises(ValueError, match="labels must lie in 0..4"):
        distillation_loss(s, t, y + 1, 2.0)
    with pytest.raises(
        TypeError, match="labels must hold integer class labels"
    ):
        distillation_loss(s, t, y.double(), 2.0)
    with pytest.raises(ValueError, match="student_logits must have shape"):
        soft_target_loss(s[0], t[0], 2.0)
    with pytest.raises(ValueError, match="must be finite"):
        soft_target_loss(torch.full_like(s, float("nan")), t, 2.0)


# --- controls for distillation -----------------------------------------------


@pytest.mark.parametrize("k", [2, 3, 10])
def test_shuffle_non_target_keeps_the_true_logit_and_the_multiset(k):
    v = logits(n=200, k=k, seed=9)
    y = torch.arange(200) % k
    w = shuffle_non_target(v, y, torch.Generator().manual_seed(0))
    assert w.dtype == v.dtype and w.shape == v.shape
    # true class untouched
    assert torch.equal(w.gather(1, y[:, None]), v.gather(1, y[:, None]))
    # a permutation of each row
    assert torch.equal(w.sort(dim=1).values, v.sort(dim=1).values)
    # hence the same true-class probability and entropy at every τ
    for tau in (1.0, 10.0):
        p, q = softmax(v, tau), softmax(w, tau)
        assert torch.allclose(entropy(p), entropy(q), atol=1e-12)
        assert torch.allclose(
            p.gather(1, y[:, None]), q.gather(1, y[:, None]), atol=1e-15
        )
    if k == 2:
        assert torch.equal(w, v)  # one other class: nothing to permute
    else:
        assert (w != v).any(dim=1).double().mean() > 0.3  # most rows change
        again = shuffle_non_target(v, y, torch.Generator().manual_seed(0))
        assert torch.equal(again, w)  # reproducible from the seed


def test_shuffle_non_target_is_uniform_over_positions():
    # the largest of the other logits should land on each of the K - 1
    # positions equally often
    v = torch.tensor([[5.0, 3.0, 0.0, -1.0]], dtype=DT).expand(6000, -1)
    y = torch.zeros(6000, dtype=torch.long)
    w = shuffle_non_target(v, y, torch.Generator().manual_seed(1))
    counts = torch.bincount(w[:, 1:].argmax(1), minlength=3).double() / 6000
    assert torch.allclose(counts, torch.full((3,), 1 / 3, dtype=DT), atol=0.03)


def test_label_smoothing_logits_match_torch_label_smoothing():
    y = torch.tensor([0, 3, 2, 2, 1])
    K, mass, tau = 4, 0.55, 10.0
    v = label_smoothing_logits(y, K, mass, tau)
    q = softmax(v, tau)
    assert torch.allclose(q.sum(-1), torch.ones(5, dtype=DT), atol=1e-15)
    assert torch.allclose(
        q.gather(1, y[:, None]).squeeze(1),
        torch.full((5,), mass, dtype=DT),
        atol=1e-15,
    )
    # cross-entropy to q = torch's label smoothing with
    # ε = (1 - mass)·K/(K - 1)
    eps = (1 - mass) * K / (K - 1)
    s = logits(n=5, k=K, seed=10)
    ours = -(q * torch.log_softmax(s, -1)).sum(-1).mean()
    assert torch.allclose(
        ours, F.cross_entropy(s, y, label_smoothing=eps), atol=1e-12
    )
    # as the teacher in the distillation loss: τ²·KL(q ‖ softmax(s/τ))
    ref = F.kl_div(
        F.log_softmax(s / tau, -1),
        q.log(),
        reduction="batchmean",
        log_target=True,
    )
    assert torch.allclose(
        soft_target_loss(s, v, tau), tau**2 * ref, atol=1e-12
    )
    # mass 1/K: the uniform target
    assert torch.allclose(
        softmax(label_smoothing_logits(y, K, 0.25, 2.0), 2.0),
        torch.full((5, K), 0.25, dtype=DT),
    )


def test_distillation_controls_bad_inputs():
    v, y = logits(n=4, k=3), torch.tensor([0, 1, 2, 0])
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        shuffle_non_target(v, y, 0)
    with pytest.raises(ValueError, match="labels must lie in 0..2"):
        shuffle_non_target(v, y + 1, torch.Generator())
    with pytest.raises(ValueError, match="true_mass must be a number in"):
        label_smoothing_logits(y, 3, 1.0, 2.0)
    with pytest.raises(ValueError, match="true_mass must be a number in"):
        label_smoothing_logits(y, 3, 0.2, 2.0)
    with pytest.raises(ValueError, match="num_classes must be"):
        label_smoothing_logits(y, 1, 0.5, 2.0)
    with pytest.raises(ValueError, match="tau must be"):
        label_smoothing_logits(y, 3, 0.5, 0.0)
    with pytest.raises(ValueError, match=r"labels must have shape \(N,\)"):
        label_smoothing_logits(y[None], 3, 0.5, 2.0)


# --- calibration -------------------------------------------------------------


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
            total += inside.mean() * abs(
                correct[inside].mean() - conf[inside].mean()
            )
    return total


@pytest.mark.parametrize("n_bins", [1, 5, 10, 15])
def test_ece_and_bins_match_references(n_bins):
    z = logits(n=400, k=4, seed=9)
    y = torch.randint(
        0, 4, (400,), generator=torch.Generator().manual_seed(10)
    )
    p = torch.softmax(z, -1)
    assert expected_calibration_error(p, y, n_bins) == pytest.approx(
        _ece_loop(p, y, n_bins), abs=1e-12
    )
    bins = reliability_bins(p, y, n_bins)
    conf, pred = p.max(1)
    correct = (pred == y).numpy()
    prob_true, prob_pred = calibration_curve(
        correct, conf.numpy(), n_bins=n_bins, strategy="uniform"
    )
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
    with pytest.raises(ValueError, match="probs must be non-negative"):
        expected_calibration_error(torch.tensor([[2.0, -1.0], [0.0, 1.0]]), y)
    with pytest.raises(ValueError, match="n_bins must be a positive integer"):
        expected_calibration_error(
            torch.tensor([[0.5, 0.5], [0.2, 0.8]]), y, n_bins=0
        )
    with pytest.raises(ValueError, match=r"labels must have shape \(2,\)"):
        expected_calibration_error(
            torch.tensor([[0.5, 0.5], [0.2, 0.8]]), torch.tensor([0])
        )


def test_fit_temperature_matches_scipy():
    g = torch.Generator().manual_seed(11)
    y = torch.randint(0, 5, (300,), generator=g)
    # over-confident logits
    z = 4.0 * torch.randn(300, 5, generator=g, dtype=DT) + 3.0 * F.one_hot(
        y, 5
    )
    tau = fit_temperature(z, y)
    ref = minimize_scalar(
        lambda t: F.cross_entropy(z / t, y).item(),
        bounds=(0.05, 50),
        method="bounded",
        options={"xatol": 1e-10},
    )
    assert tau == pytest.approx(ref.x, rel=1e-5)
    # these logits are too sharp: the fitted temperature softens them
    assert tau > 1.0


def test_fit_temperature_rejects_separable_data():
    z = torch.tensor([[5.0, 0.0], [0.0, 5.0]], dtype=DT)
    with pytest.raises(
        ValueError, match="every held-out example is classified correctly"
    ):
        fit_temperature(z, torch.tensor([0, 1]))


def test_fit_temperature_rejects_worse_than_uniform_logits():
    # one example is misclassified (so L'(∞) > 0), but the true logits are
    # below the mean logit on average, L'(0) > 0: the NLL falls all the way to
    # τ → ∞
    z = torch.tensor([[0.0, 4.0], [0.0, 4.0], [0.0, 1.0]], dtype=DT)
    y = torch.tensor([0, 0, 1])
    lam = torch.tensor(1e-6, dtype=DT, requires_grad=True)
    (slope,) = torch.autograd.grad(F.cross_entropy(lam * z, y), lam)
    assert slope > 0  # L'(0+) > 0
    with pytest.raises(ValueError, match="not above the mean logit"):
        fit_temperature(z, y)


def test_fit_temperature_hessian_is_the_mean_fisher_information():
    g = torch.Generator().manual_seed(12)
    z = 3.0 * torch.randn(50, 4, generator=g, dtype=DT)
    y = torch.randint(0, 4, (50,), generator=g)
    for lam in (0.2, 1.0, 3.0):
        lam_t = torch.tensor(lam, dtype=DT, requires_grad=True)
        (d1,) = torch.autograd.grad(
            F.cross_entropy(lam_t * z, y), lam_t, create_graph=True
        )
        (d2,) = torch.autograd.grad(d1, lam_t)
        assert torch.allclose(
            d2, fisher_information_lambda(z, lam).mean(), atol=1e-12
        )


def test_docstring_examples_run():
    import doctest

    import lecture_code.temperature as module

    result = doctest.testmod(module)
    assert result.attempted >= 4 and result.failed == 0


def test_path_speed_is_the_standard_deviation_of_z():
    z = torch.tensor([2.0, 1.0, 0.1], dtype=DT)
    for lam in [0.0, 0.5, 3.0]:
        p = softmax(lam * z)
        sd = float(((p * z**2).sum() - (p * z).sum() ** 2).sqrt())
        assert path_speed(z, lam) == pytest.approx(sd, rel=1e-12)
    # λ = 0: the unweighted (population) standard deviation of z
    assert path_speed(z, 0.0) == pytest.approx(z.std(unbiased=False).item())
    # the integrand of the length
    ref, _ = quad(lambda lam: path_speed(z, lam), 0, 60, limit=200)
    assert path_fisher_rao_length(z) == pytest.approx(ref, abs=1e-9)
