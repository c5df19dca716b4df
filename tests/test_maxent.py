"""Tests for lecture_code.maxent: the one-scalar dual against a general constrained optimizer."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.optimize import minimize

from lecture_code.maxent import (
    dual_objective,
    euclidean_to_center,
    gibbs,
    kl_to_uniform,
    mean_feature,
    solve_maxent,
)
from lecture_code.softmax import entropy


def slsqp_maxent(f, fbar):
    """Max entropy with scipy's SLSQP on all K probabilities (no knowledge of the softmax form)."""
    f = np.asarray(f, dtype=float)
    K = f.size

    def neg_entropy(p):
        q = np.clip(p, 1e-300, None)
        return float(np.sum(q * np.log(q)))

    def grad(p):
        return np.log(np.clip(p, 1e-300, None)) + 1.0

    cons = [
        {"type": "eq", "fun": lambda p: p.sum() - 1.0, "jac": lambda p: np.ones(K)},
        {"type": "eq", "fun": lambda p: p @ f - fbar, "jac": lambda p: f},
    ]
    res = minimize(
        neg_entropy, np.full(K, 1.0 / K), jac=grad, method="SLSQP", constraints=cons,
        bounds=[(1e-12, 1.0)] * K, options={"ftol": 1e-14, "maxiter": 1000},
    )
    assert res.success, res.message
    return res.x


@pytest.mark.parametrize(
    "f, fbar",
    [([1, 2, 3, 4, 5, 6], 4.5), ([1, 2, 3, 4, 5, 6], 2.0), ([0.0, 1.0, 2.0], 1.3), ([-1.0, 0.5, 0.5, 3.0], 0.2)],
)
def test_dual_matches_slsqp(f, fbar):
    sol = solve_maxent(f, fbar)
    ref = slsqp_maxent(f, fbar)
    np.testing.assert_allclose(sol.p.numpy(), ref, atol=2e-6)
    assert abs(float(sol.p @ torch.tensor(f, dtype=torch.float64)) - fbar) < 1e-10
    assert entropy(sol.p) >= entropy(torch.tensor(ref)) - 1e-9  # ours is at least as good


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
    np.testing.assert_allclose(sol.p.numpy(), torch.softmax(torch.tensor(sol.lam * f), 0).numpy(), atol=1e-12)
    assert abs(float(sol.p.numpy() @ f) - fbar) < 1e-9 * max(1, np.abs(f).max())
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
    assert abs((mean_feature(f, lam + h) - mean_feature(f, lam - h)) / (2 * h) - var) < 1e-7


def test_dual_is_minimized_at_lambda_star():
    f, fbar = [1, 2, 3, 4, 5, 6], 4.5
    sol = solve_maxent(f, fbar)
    for d in (-0.1, -1e-3, 1e-3, 0.1):
        assert dual_objective(f, fbar, sol.lam + d) > dual_objective(f, fbar, sol.lam)


def test_endpoints_give_vertex_or_face():
    top = solve_maxent([0.0, 1.0, 2.0], 2.0)
    assert top.lam == math.inf and top.p.tolist() == [0.0, 0.0, 1.0]
    bottom = solve_maxent([0.0, 1.0, 2.0], 0.0)
    assert bottom.lam == -math.inf and bottom.p.tolist() == [1.0, 0.0, 0.0]
    face = solve_maxent([1.0, 1.0, 0.0], 1.0)
    assert face.p.tolist() == [0.5, 0.5, 0.0] and abs(face.entropy - math.log(2)) < 1e-15
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
    with pytest.raises(ValueError, match=r"fbar=.*infeasible.*\[min f, max f\]"):
        solve_maxent([0.0, 1.0, 2.0], fbar)


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="f must be a 1-D array"):
        solve_maxent([[0.0, 1.0]], 0.5)
    with pytest.raises(ValueError, match="f must be a 1-D array"):
        solve_maxent([], 0.5)
    with pytest.raises(ValueError, match="f must be finite"):
        solve_maxent([0.0, float("nan")], 0.5)
    with pytest.raises(TypeError, match="f must be"):
        solve_maxent("abc", 0.5)
    with pytest.raises(ValueError, match="fbar must be finite"):
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
        torch.nn.functional.kl_div(torch.log(torch.tensor(u)).expand(20, 5), torch.tensor(p), reduction="none")
        .sum(1)
        .numpy(),
        atol=1e-12,
    )
    np.testing.assert_allclose(euclidean_to_center(p).numpy(), np.linalg.norm(p - u, axis=1), atol=1e-15)
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
    assert constraint_segment([1.0, 1.0, 0.0], 1.0).tolist() == [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]
    with pytest.raises(ValueError, match="K = 3"):
        constraint_segment([0.0, 1.0], 0.5)
