"""Tests for lecture_code.maxent: the one-scalar dual against a general
constrained optimizer."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lecture_code.maxent import (
    dual_objective,
    euclidean_to_center,
    gibbs,
    kl_to_uniform,
    maxent_slsqp,
    mean_feature,
    solve_maxent,
)
from lecture_code.simplex import project_to_simplex
from lecture_code.softmax import entropy


@pytest.mark.parametrize(
    "f, fbar",
    [
        ([1, 2, 3, 4, 5, 6], 4.5),
        ([1, 2, 3, 4, 5, 6], 2.0),
        ([0.0, 1.0, 2.0], 1.3),
        ([-1.0, 0.5, 0.5, 3.0], 0.2),
    ],
)
def test_dual_matches_slsqp(f, fbar):
    sol = solve_maxent(f, fbar)
    ref = maxent_slsqp(f, fbar)
    np.testing.assert_allclose(sol.p.numpy(), ref, atol=2e-6)
    assert (
        abs(float(sol.p @ torch.tensor(f, dtype=torch.float64)) - fbar) < 1e-10
    )
    # ours is at least as good
    assert entropy(sol.p) >= entropy(torch.tensor(ref)) - 1e-9


@settings(max_examples=60, deadline=None)
@given(
    f=st.lists(st.floats(-5, 5, allow_nan=False), min_size=2, max_size=8),
    t=st.floats(0.02, 0.98),
)
def test_solution_is_softmax_of_lambda_f_and_meets_constraint(f, t):
    f = np.asarray(f)
    if f.max() - f.min() < 1e-3:
        return
    fbar = f.min() + t * (f.max() - f.min())
    sol = solve_maxent(f, fbar)
    assert math.isfinite(sol.lam)
    np.testing.assert_allclose(
        sol.p.numpy(),
        torch.softmax(torch.tensor(sol.lam * f), 0).numpy(),
        atol=1e-12,
    )
    assert abs(float(sol.p.numpy() @ f) - fbar) < 1e-9 * max(
        1, np.abs(f).max()
    )
    # strong duality: max H = min_λ g(λ) = g(λ*)
    assert abs(sol.entropy - dual_objective(f, fbar, sol.lam)) < 1e-8


def test_mean_is_increasing_in_lambda():
    f = [0.3, -1.0, 2.0, 0.3]
    lams = np.linspace(-6, 6, 61)
    m = np.array([mean_feature(f, lam) for lam in lams])
    assert (np.diff(m) > 0).all()
    # derivative = variance under softmax(λ f)
    h, lam = 1e-5, 0.7
    p = gibbs(f, lam).numpy()
    var = p @ np.square(f) - (p @ f) ** 2
    assert (
        abs(
            (mean_feature(f, lam + h) - mean_feature(f, lam - h)) / (2 * h)
            - var
        )
        < 1e-7
    )


def test_dual_is_minimized_at_lambda_star():
    f, fbar = [1, 2, 3, 4, 5, 6], 4.5
    sol = solve_maxent(f, fbar)
    for d in (-0.1, -1e-3, 1e-3, 0.1):
        assert dual_objective(f, fbar, sol.lam + d) > dual_objective(
            f, fbar, sol.lam
        )


def test_endpoints_give_vertex_or_face():
    top = solve_maxent([0.0, 1.0, 2.0], 2.0)
    assert top.lam == math.inf and top.p.tolist() == [0.0, 0.0, 1.0]
    bottom = solve_maxent([0.0, 1.0, 2.0], 0.0)
    assert bottom.lam == -math.inf and bottom.p.tolist() == [1.0, 0.0, 0.0]
    face = solve_maxent([1.0, 1.0, 0.0], 1.0)
    assert (
        face.p.tolist() == [0.5, 0.5, 0.0]
        and abs(face.entropy - math.log(2)) < 1e-15
    )
    # the limit of the interior solutions as f̄ approaches the endpoint
    near = solve_maxent([1.0, 1.0, 0.0], 1.0 - 1e-9)
    np.testing.assert_allclose(near.p.numpy(), [0.5, 0.5, 0.0], atol=1e-8)


def test_constant_feature_gives_uniform():
    sol = solve_maxent([2.0, 2.0, 2.0, 2.0], 2.0)
    assert sol.lam == 0.0
    np.testing.assert_allclose(sol.p.numpy(), 0.25)


def test_center_is_lambda_zero():
    sol = solve_maxent([1, 2, 3, 4, 5, 6], 3.5)
    assert abs(sol.lam) < 1e-10
    assert abs(sol.entropy - math.log(6)) < 1e-12


@pytest.mark.parametrize("fbar", [2.5, -0.1, 1e9])
def test_infeasible_fbar_raises(fbar):
    with pytest.raises(
        ValueError, match=r"fbar=.*infeasible.*\[min f, max f\]"
    ):
        solve_maxent([0.0, 1.0, 2.0], fbar)


def test_bad_inputs_raise():
    with pytest.raises(
        ValueError, match=r"f must be a non-empty array of shape \(K,\)"
    ):
        solve_maxent([[0.0, 1.0]], 0.5)
    with pytest.raises(
        ValueError, match=r"f must be a non-empty array of shape \(K,\)"
    ):
        solve_maxent([], 0.5)
    with pytest.raises(ValueError, match="f must be finite"):
        solve_maxent([0.0, float("nan")], 0.5)
    with pytest.raises(TypeError, match="f must be"):
        solve_maxent("abc", 0.5)
    with pytest.raises(ValueError, match="fbar must be a finite number"):
        solve_maxent([0.0, 1.0], float("nan"))
    with pytest.raises(TypeError, match="fbar must be a number"):
        solve_maxent([0.0, 1.0], "0.5")
    with pytest.raises(TypeError, match="lam must be a number"):
        gibbs([0.0, 1.0], None)


def test_kl_to_uniform_and_euclidean_distance():
    rng = np.random.default_rng(0)
    p = rng.dirichlet(np.ones(5), size=20)
    u = np.full(5, 0.2)
    kl_ref = (p * np.log(p / u)).sum(axis=1)
    np.testing.assert_allclose(kl_to_uniform(p).numpy(), kl_ref, atol=1e-12)
    np.testing.assert_allclose(
        kl_to_uniform(torch.tensor(p)).numpy(),
        torch.nn.functional.kl_div(
            torch.log(torch.tensor(u)).expand(20, 5),
            torch.tensor(p),
            reduction="none",
        )
        .sum(1)
        .numpy(),
        atol=1e-12,
    )
    np.testing.assert_allclose(
        euclidean_to_center(p).numpy(),
        np.linalg.norm(p - u, axis=1),
        atol=1e-15,
    )
    assert float(kl_to_uniform([1.0, 0.0, 0.0])) == pytest.approx(math.log(3))
    with pytest.raises(ValueError, match="non-negative"):
        kl_to_uniform([1.5, -0.5])
    with pytest.raises(ValueError, match="K >= 1"):
        euclidean_to_center(np.zeros((3, 0)))


def test_constraint_segment():
    from lecture_code.maxent import constraint_segment

    f = np.array([0.0, 1.0, 2.0])
    for fbar in (0.3, 1.0, 1.7):
        seg = constraint_segment(f, fbar)
        assert seg.shape == (2, 3)
        np.testing.assert_allclose(seg @ f, fbar, atol=1e-12)
        np.testing.assert_allclose(seg.sum(1), 1.0, atol=1e-12)
        assert (seg >= 0).all()
        # the maximum-entropy point lies on the segment
        p = solve_maxent(f, fbar).p.numpy()
        a, b = seg
        t = np.dot(p - a, b - a) / np.dot(b - a, b - a)
        np.testing.assert_allclose(a + t * (b - a), p, atol=1e-9)
    assert constraint_segment(f, 2.0).tolist() == [[0.0, 0.0, 1.0]]
    assert constraint_segment(f, 3.0).shape == (0, 3)
    assert constraint_segment([1.0, 1.0, 0.0], 1.0).tolist() == [
        [1.0, 0.0, 0.0],
        [0.0, 1.0, 0.0],
    ]
    with pytest.raises(ValueError, match="K = 3"):
        constraint_segment([0.0, 1.0], 0.5)


# ---------------------------------------------------------------------------
# Several features, the conditional problem, and its match with multinomial
# logistic regression
# ---------------------------------------------------------------------------

from lecture_code.fisher import kl_divergence  # noqa: E402
from lecture_code.maxent import (  # noqa: E402
    POSITIVITY_TOL,
    class_features,
    constraint_segment,
    empirical_moments,
    feature_dual,
    model_moments,
    positivity_margin,
    solve_conditional_maxent,
    solve_maxent_features,
)


# fmt: off
@pytest.mark.parametrize(
    "F, fbar",
    [
        (np.stack([np.arange(1.0, 7), np.arange(1.0, 7) ** 2], 1),
         [3.5, 13.5]),
        (np.stack([np.arange(1.0, 7), np.arange(1.0, 7) ** 2], 1),
         [4.5, 22.0]),
        # f̄ = mean of a random interior p
        (np.random.default_rng(3).normal(size=(7, 3)), None),
    ],
)
# fmt: on
def test_features_match_slsqp_and_meet_constraints(F, fbar):
    if fbar is None:
        fbar = np.random.default_rng(4).dirichlet(np.ones(len(F))) @ F
    sol = solve_maxent_features(F, fbar)
    np.testing.assert_allclose(
        sol.p.numpy(), maxent_slsqp(F, np.asarray(fbar)), atol=2e-6
    )
    np.testing.assert_allclose(sol.p.numpy() @ F, fbar, atol=1e-11)
    np.testing.assert_allclose(
        sol.p.numpy(),
        torch.softmax(torch.tensor(F) @ sol.lam, 0).numpy(),
        atol=1e-14,
    )
    assert abs(sol.entropy - sol.dual) < 1e-11  # strong duality
    assert (
        abs(sol.dual - feature_dual(torch.tensor(F)[None], fbar, sol.lam))
        < 1e-12
    )


def test_features_reduce_to_the_scalar_solver():
    f = np.array([1.0, 2, 3, 4, 5, 6])
    vec = solve_maxent_features(f[:, None], [4.5])
    one = solve_maxent(f, 4.5)
    np.testing.assert_allclose(vec.p.numpy(), one.p.numpy(), atol=1e-13)
    assert abs(float(vec.lam[0]) - one.lam) < 1e-10


def test_one_hot_features_give_centred_logits():
    p_hat = np.array([0.1, 0.2, 0.3, 0.4])
    sol = solve_maxent_features(np.eye(4), p_hat)
    np.testing.assert_allclose(sol.p.numpy(), p_hat, atol=1e-12)
    np.testing.assert_allclose(
        sol.lam.numpy(), np.log(p_hat) - np.log(p_hat).mean(), atol=1e-11
    )


def test_redundant_feature_gets_zero_multiplier():
    f = np.arange(1.0, 7)
    p_star = solve_maxent(f, 4.5).p.numpy()
    sol = solve_maxent_features(np.stack([f, f**2], 1), [4.5, p_star @ f**2])
    np.testing.assert_allclose(
        sol.lam.numpy(), [solve_maxent(f, 4.5).lam, 0.0], atol=1e-10
    )


def test_gauge_component_is_removed():
    # a constant extra feature (f_i = 1 for all i) never changes p: its
    # multiplier must be 0
    f = np.arange(1.0, 5)
    sol = solve_maxent_features(np.stack([f, np.ones(4)], 1), [3.0, 1.0])
    assert abs(float(sol.lam[1])) < 1e-12
    np.testing.assert_allclose(
        sol.p.numpy(), solve_maxent(f, 3.0).p.numpy(), atol=1e-12
    )


def test_positivity_margin_and_infeasible_or_boundary_targets():
    F = np.stack([np.arange(1.0, 7), np.arange(1.0, 7) ** 2], 1)
    assert positivity_margin(F[None], [3.5, 13.5]) > 0.05
    assert positivity_margin(F[None], [1.0, 1.0]) == 0.0  # only the vertex e_1
    # variance 0 at a non-integer mean
    assert positivity_margin(F[None], [3.5, 12.25]) is None
    # the uniform distribution: margin 1/K
    assert abs(positivity_margin(F[None], F.mean(0)) - 1 / 6) < 1e-9
    with pytest.raises(ValueError, match="infeasible"):
        solve_maxent_features(F, [3.5, 12.25])
    with pytest.raises(
        ValueError, match="boundary of the simplex and no finite λ"
    ):
        solve_maxent_features(F, [1.0, 1.0])
    assert POSITIVITY_TOL < 1e-6


def test_class_features_layout_and_dual_is_cross_entropy():
    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(20, 4)), rng.integers(0, 3, size=20)
    Phi = class_features(X, 3)
    assert Phi.shape == (20, 3, 15)
    lam = torch.tensor(rng.normal(size=15))
    W = lam.reshape(3, 5)  # [W b]
    Xt = torch.cat(
        [torch.tensor(X), torch.ones(20, 1, dtype=torch.float64)], 1
    )
    np.testing.assert_allclose(
        (Phi @ lam).numpy(), (Xt @ W.T).numpy(), atol=1e-12
    )
    target = empirical_moments(Phi, y)
    ce = torch.nn.functional.cross_entropy(Xt @ W.T, torch.tensor(y))
    assert abs(feature_dual(Phi, target, lam) - float(ce)) < 1e-12
    assert (
        abs(
            feature_dual(Phi, target, lam, l2=0.3)
            - float(ce)
            - 0.15 * float(lam @ lam)
        )
        < 1e-12
    )
    assert class_features(X, 3, bias=False).shape == (20, 3, 12)
    # model moments of one-hot "predictions" are the empirical moments
    np.testing.assert_allclose(
        model_moments(Phi, np.eye(3)[y]).numpy(), target.numpy(), atol=1e-14
    )


def _blobs(separable: bool, n: int = 40, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]]) * (
        3.0 if separable else 0.5
    )
    y = np.repeat(np.arange(3), n)
    X = centres[y] + rng.normal(size=(3 * n, 2))
    return X, y


@pytest.mark.parametrize("rho", [0.0, 1e-3, 0.1])
def test_conditional_maxent_is_logistic_regression(rho):
    from sklearn.linear_model import LogisticRegression

    X, y = _blobs(separable=False)
    Phi = class_features(X, 3)
    sol = solve_conditional_maxent(Phi, y, l2=rho)
    gap = empirical_moments(Phi, y) - model_moments(Phi, sol.p)
    # exact condition
    np.testing.assert_allclose(gap.numpy(), rho * sol.lam.numpy(), atol=1e-12)
    N = len(y)
    Xt = np.hstack([X, np.ones((N, 1))])
    C = np.inf if rho == 0 else 1 / (rho * N)
    lr = LogisticRegression(
        C=C, fit_intercept=False, tol=1e-12, max_iter=10_000
    ).fit(Xt, y)
    np.testing.assert_allclose(sol.p.numpy(), lr.predict_proba(Xt), atol=1e-6)
    W_lr = lr.coef_ - lr.coef_.mean(0)
    np.testing.assert_allclose(sol.lam.reshape(3, 3).numpy(), W_lr, atol=1e-5)
    # the returned λ has no gauge component: Σ_k w_k = 0
    assert np.abs(sol.lam.reshape(3, 3).sum(0).numpy()).max() < 1e-12
    if rho == 0:
        # max conditional entropy = min mean cross-entropy
        assert abs(sol.entropy - sol.dual) < 1e-12


def test_separable_data_have_no_finite_multipliers():
    X, y = _blobs(separable=True)
    Phi = class_features(X, 3)
    assert positivity_margin(Phi, empirical_moments(Phi, y)) == 0.0
    with pytest.raises(ValueError, match="separable"):
        solve_conditional_maxent(Phi, y)
    norms = [
        float(solve_conditional_maxent(Phi, y, l2=r).lam.norm())
        for r in (1e-1, 1e-2, 1e-3)
    ]
    assert norms[0] < norms[1] < norms[2]


def test_gibbs_identity_and_pythagoras():
    f, fbar = np.array([0.0, 1.0, 2.0]), 1.6
    p_star = solve_maxent(f, fbar).p.numpy()
    a, b = constraint_segment(f, fbar)
    pts = np.array([(1 - t) * a + t * b for t in np.linspace(0, 1, 11)])
    u = np.full(3, 1 / 3)
    np.testing.assert_allclose(
        kl_divergence(pts, u),
        kl_divergence(pts, p_star) + kl_divergence(p_star, u),
        atol=1e-14,
    )
    for lam in (-2.0, 0.3, 1.7):
        q = gibbs(f, lam).numpy()
        np.testing.assert_allclose(
            kl_divergence(pts, q),
            -entropy(pts).numpy() + dual_objective(f, fbar, lam),
            atol=1e-13,
        )


def test_feature_inputs_are_validated():
    with pytest.raises(
        ValueError, match=r"F must be a non-empty array of shape \(K, M\)"
    ):
        solve_maxent_features([1.0, 2.0], [1.5])
    with pytest.raises(ValueError, match="fbar must have shape"):
        solve_maxent_features(np.eye(3), [0.5, 0.5])
    with pytest.raises(ValueError, match="F must be finite"):
        solve_maxent_features([[1.0], [np.nan]], [0.5])
    with pytest.raises(TypeError, match="F must be an array"):
        solve_maxent_features("abc", [0.5])
    Phi = class_features(np.zeros((4, 2)), 2)
    with pytest.raises(ValueError, match="y must lie in 0..1"):
        solve_conditional_maxent(Phi, [0, 1, 2, 0])
    with pytest.raises(TypeError, match="integer class labels"):
        solve_conditional_maxent(Phi, [0.0, 1.0, 0.0, 1.0])
    with pytest.raises(
        ValueError, match=r"y must have shape \(4,\), got \(2,\)"
    ):
        solve_conditional_maxent(Phi, [0, 1])
    with pytest.raises(ValueError, match="l2 must be a finite number >= 0"):
        solve_conditional_maxent(Phi, [0, 1, 0, 1], l2=-1.0)
    with pytest.raises(
        ValueError, match="num_classes must be an integer >= 2"
    ):
        class_features(np.zeros((4, 2)), 1)
    with pytest.raises(ValueError, match=r"P must have shape \(N, K\)"):
        model_moments(Phi, np.full((3, 2), 0.5))


def test_sparsemax_from_entmax_is_the_euclidean_projection():
    """The chapter uses PyPI entmax's sparsemax as the projection onto the
    simplex (Martins & Astudillo 2016)."""
    entmax = pytest.importorskip("entmax")
    rng = np.random.default_rng(5)
    for z in rng.normal(scale=1.5, size=(20, 4)):
        sp = entmax.sparsemax(torch.tensor(z), dim=-1).numpy()
        np.testing.assert_allclose(sp, project_to_simplex(z), atol=1e-7)
        np.testing.assert_allclose(
            entmax.sparsemax(torch.tensor(z + 3.0), dim=-1).numpy(),
            sp,
            atol=1e-12,
        )


def test_the_slsqp_reference_says_when_it_fails():
    with pytest.raises(RuntimeError, match="SLSQP did not converge"):
        # no distribution on {1, 2, 3} has mean 5
        maxent_slsqp([1.0, 2.0, 3.0], 5.0)
    with pytest.raises(TypeError, match="F must be"):
        maxent_slsqp("123", 2.0)
