"""Tests for lecture_code.fisher: closed forms against autograd/torch,
geometry against scipy."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.integrate import quad
from scipy.spatial.distance import euclidean

from lecture_code.fisher import (
    COORDINATES,
    categorical_fisher,
    check_interior,
    coordinates_of,
    curve_length,
    fisher_rao_distance,
    fisher_rao_geodesic,
    from_free,
    kl_divergence,
    kl_gradient,
    log_prob,
    monte_carlo_fisher,
    point_pair,
    probs_of,
    score_matrix,
    sphere_map,
)


def interior_points(K_min=2, K_max=6):
    return st.integers(K_min, K_max).flatmap(
        lambda K: st.lists(st.floats(0.05, 1.0), min_size=K, max_size=K).map(
            lambda v: np.array(v) / np.sum(v)
        )
    )


P = np.array([0.2, 0.3, 0.5])


@settings(max_examples=40, deadline=None)
@given(interior_points())
def test_closed_forms_match_the_definition(p):
    # E_k[s(k) s(k)^T] with the score from autograd equals each closed form.
    for c in COORDINATES:
        S = score_matrix(p, c)
        np.testing.assert_allclose(
            S.T @ (p[:, None] * S),
            categorical_fisher(p, c),
            atol=1e-9,
            rtol=1e-9,
        )


@settings(max_examples=30, deadline=None)
@given(interior_points())
def test_logit_fisher_is_hessian_of_torch_logsumexp(p):
    z = torch.tensor(np.log(p)) + 0.7  # any representative of the gauge class
    H = torch.autograd.functional.hessian(
        lambda t: torch.logsumexp(t, 0), z
    ).numpy()
    np.testing.assert_allclose(categorical_fisher(p, "logits"), H, atol=1e-12)


@settings(max_examples=30, deadline=None)
@given(interior_points())
def test_null_vectors_and_definiteness(p):
    np.testing.assert_allclose(
        categorical_fisher(p, "probs") @ p, 0, atol=1e-12
    )
    np.testing.assert_allclose(
        categorical_fisher(p, "logits") @ np.ones(p.size), 0, atol=1e-12
    )
    assert np.linalg.eigvalsh(categorical_fisher(p, "free")).min() > 0


@settings(max_examples=30, deadline=None)
@given(interior_points())
def test_free_fisher_is_inverse_of_gauge_fixed_logit_fisher(p):
    # exponential-family duality: mixture coordinates p_1..p_{K-1} vs natural
    # z_i - z_K
    Fz = categorical_fisher(p, "logits")[:-1, :-1]
    np.testing.assert_allclose(
        categorical_fisher(p, "free") @ Fz, np.eye(p.size - 1), atol=1e-8
    )


def test_change_of_coordinates_with_jacobians():
    z = torch.tensor(np.log(P))
    # (K-1, K)
    J = torch.autograd.functional.jacobian(
        lambda t: torch.softmax(t, 0)[:-1], z
    ).numpy()
    np.testing.assert_allclose(
        J.T @ categorical_fisher(P, "free") @ J,
        categorical_fisher(P, "logits"),
        atol=1e-12,
    )
    M = np.diag(1 / P)  # z = log π
    np.testing.assert_allclose(
        M.T @ categorical_fisher(P, "logits") @ M,
        categorical_fisher(P, "probs"),
        atol=1e-12,
    )
    L = np.vstack([np.eye(2), -np.ones((1, 2))])  # π = (θ, 1 - Σθ)
    np.testing.assert_allclose(
        L.T @ categorical_fisher(P, "probs") @ L,
        categorical_fisher(P, "free"),
        atol=1e-12,
    )


def test_batched_shapes():
    p = np.array([[0.2, 0.3, 0.5], [0.1, 0.1, 0.8]])
    assert categorical_fisher(p, "logits").shape == (2, 3, 3)
    assert categorical_fisher(p, "free").shape == (2, 2, 2)
    np.testing.assert_allclose(
        categorical_fisher(p, "probs")[1], categorical_fisher(p[1], "probs")
    )


def test_monte_carlo_converges():
    for c in COORDINATES:
        F = categorical_fisher(P, c)
        err = np.linalg.norm(
            monte_carlo_fisher(P, c, 10**6, seed=1) - F
        ) / np.linalg.norm(F)
        assert err < 0.01
        assert (
            np.linalg.norm(monte_carlo_fisher(P, c, 10, seed=1) - F)
            / np.linalg.norm(F)
            > err
        )


def test_fisher_rao_distance_values():
    assert fisher_rao_distance([1, 0, 0], [0, 1, 0]) == pytest.approx(np.pi)
    assert fisher_rao_distance(P, P) == pytest.approx(0, abs=1e-7)
    assert fisher_rao_distance([1 / 3] * 3, [1, 0, 0]) == pytest.approx(
        2 * np.arccos(1 / np.sqrt(3))
    )
    q = np.array([0.6, 0.3, 0.1])
    # via scipy: |√p - √q|² = 2 - 2 cos(d/2)
    chord = euclidean(np.sqrt(P), np.sqrt(q))
    assert fisher_rao_distance(P, q) == pytest.approx(
        2 * np.arccos(1 - chord**2 / 2)
    )


@settings(max_examples=40, deadline=None)
@given(interior_points(3, 3), interior_points(3, 3), interior_points(3, 3))
def test_metric_axioms(p, q, r):
    assert fisher_rao_distance(p, q) == pytest.approx(
        fisher_rao_distance(q, p)
    )
    assert (
        fisher_rao_distance(p, r)
        <= fisher_rao_distance(p, q) + fisher_rao_distance(q, r) + 1e-9
    )


def test_geodesic_length_equals_distance_and_beats_the_segment():
    p, q = np.array([0.49, 0.49, 0.02]), np.array([0.02, 0.49, 0.49])

    def speed(curve, t, h=1e-6):
        v = (curve(t + h) - curve(t - h)) / (2 * h)  # (K,)
        pt = curve(t)
        return np.sqrt(v[:-1] @ categorical_fisher(pt, "free") @ v[:-1])

    geo = lambda t: fisher_rao_geodesic(p, q, t)
    seg = lambda t: (1 - t) * p + t * q
    length_geo = quad(lambda t: speed(geo, t), 1e-5, 1 - 1e-5)[0]
    length_seg = quad(lambda t: speed(seg, t), 1e-5, 1 - 1e-5)[0]
    assert length_geo == pytest.approx(fisher_rao_distance(p, q), rel=1e-4)
    assert length_seg > length_geo * 1.02
    # the library's Gauss–Legendre length (what chapter 5 uses) agrees with
    # adaptive quadrature
    assert curve_length(geo) == pytest.approx(length_geo, rel=1e-4)
    assert curve_length(seg) == pytest.approx(length_seg, rel=1e-4)
    with pytest.raises(TypeError, match="curve must be a function"):
        curve_length(p)


def test_geodesic_endpoints_and_constant_speed():
    q = np.array([0.6, 0.3, 0.1])
    t = np.linspace(0, 1, 11)
    g = fisher_rao_geodesic(P, q, t)
    assert g.shape == (11, 3)
    np.testing.assert_allclose(g[0], P, atol=1e-12)
    np.testing.assert_allclose(g[-1], q, atol=1e-12)
    np.testing.assert_allclose(g.sum(axis=1), 1)
    np.testing.assert_allclose(
        fisher_rao_distance(P, g), t * fisher_rao_distance(P, q), atol=1e-9
    )
    assert fisher_rao_geodesic(P, q, 0.5).shape == (3,)
    np.testing.assert_allclose(fisher_rao_geodesic(P, P, [0.0, 0.5]), [P, P])


def test_sphere_map_lands_on_the_unit_sphere():
    np.testing.assert_allclose(
        (sphere_map(np.array([[0.2, 0.3, 0.5], [1, 0, 0]])) ** 2).sum(axis=1),
        1,
    )


@settings(max_examples=40, deadline=None)
@given(interior_points(), st.integers(0, 10**6))
def test_kl_gradient_matches_autograd(p, seed):
    # the closed forms against torch.autograd on -Σ q_k log p(k; θ), in every
    # coordinate system; the target q is random and may put zero mass on a
    # category
    q = np.random.default_rng(seed).dirichlet(np.ones(p.size))
    q[0] = 0.0
    q /= q.sum()
    for c in COORDINATES:
        theta = torch.tensor(coordinates_of(p, c), requires_grad=True)
        loss = -(torch.tensor(q) * log_prob(theta, c)).sum()
        (expected,) = torch.autograd.grad(loss, theta)
        np.testing.assert_allclose(
            kl_gradient(q, p, c), expected.numpy(), rtol=1e-10, atol=1e-12
        )
        np.testing.assert_allclose(
            kl_gradient(q, p, c),
            -score_matrix(p, c).T @ q,
            rtol=1e-10,
            atol=1e-12,
        )


def test_kl_gradient_vanishes_at_the_target_and_is_batched():
    for c in COORDINATES:
        np.testing.assert_allclose(kl_gradient(P, P, c), 0.0, atol=1e-15)
    batch = np.array([P, [0.6, 0.3, 0.1]])
    assert kl_gradient(batch[::-1], batch, "free").shape == (2, 2)
    np.testing.assert_allclose(
        kl_gradient(batch[::-1], batch, "logits")[1], batch[1] - batch[0]
    )


def test_kl_divergence_matches_scipy_and_handles_zeros():
    from scipy.stats import entropy

    rng = np.random.default_rng(0)
    P, Q = rng.dirichlet(np.ones(4), size=5), rng.dirichlet(np.ones(4), size=5)
    np.testing.assert_allclose(
        kl_divergence(P, Q), entropy(P, Q, axis=1), rtol=1e-12
    )
    assert kl_divergence(P[0], P[0]) == 0.0
    uniform, vertex = np.full(3, 1 / 3), np.array([1.0, 0.0, 0.0])
    # q misses outcomes that p produces
    assert kl_divergence(uniform, vertex) == np.inf
    # zero terms of p contribute 0
    assert abs(kl_divergence(vertex, uniform) - np.log(3)) < 1e-15
    # no warning is left over from the zero entries
    with np.errstate(all="raise"):
        kl_divergence(vertex, uniform), kl_divergence(uniform, vertex)


def test_kl_is_half_the_squared_fisher_rao_distance_nearby():
    p = np.array([0.2, 0.3, 0.5])
    for h in (1e-2, 1e-3):
        q = p + h * np.array([1.0, -2.0, 1.0])
        ratio = kl_divergence(p, q) / (fisher_rao_distance(p, q) ** 2 / 2)
        assert abs(ratio - 1) < 30 * h  # the next term is of order h


@settings(max_examples=40, deadline=None)
@given(interior_points())
def test_probs_of_inverts_coordinates_of(p):
    for c in COORDINATES:
        np.testing.assert_allclose(
            probs_of(coordinates_of(p, c), c), p, rtol=1e-12, atol=1e-15
        )
    # logits are defined up to the gauge: adding c·1 gives the same
    # distribution
    np.testing.assert_allclose(
        probs_of(coordinates_of(p, "logits") + 7.0, "logits"), p, rtol=1e-12
    )
    # torch input and batches
    np.testing.assert_allclose(
        probs_of(torch.tensor(np.stack([p, p])[:, :-1]), "free"),
        np.stack([p, p]),
        atol=1e-15,
    )


# fmt: off
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: categorical_fisher([0.0, 0.5, 0.5], "free"), "boundary"),
        (lambda: categorical_fisher([1.2, -0.2], "logits"), "non-negative"),
        (lambda: categorical_fisher([0.3, 0.3], "probs"), "sum to 1"),
        (lambda: categorical_fisher(P, "natural"),
         "coordinates must be one of"),
        (lambda: categorical_fisher([1.0], "logits"), "K >= 2"),
        (lambda: categorical_fisher([np.nan, 0.5, 0.5], "logits"), "NaN"),
        (lambda: check_interior([0.5, 0.5, 0.0]), "boundary"),
        (lambda: fisher_rao_distance([0.5, 0.5], P), "same K"),
        (lambda: fisher_rao_distance([0.5, 0.6], [0.5, 0.5]), "sum to 1"),
        (lambda: fisher_rao_geodesic(P, [0.5, 0.5], 0.5), "same K"),
        (lambda: fisher_rao_geodesic(P, P, [[0.5]]), "t must be"),
        (lambda: monte_carlo_fisher(P, "logits", 0), "n_samples"),
        (lambda: score_matrix([[0.2, 0.3, 0.5]] * 2, "logits"),
         "single point"),
        (lambda: kl_gradient(P, [0.5, 0.5, 0.0], "free"), "boundary"),
        (lambda: kl_gradient([0.5, 0.5], P, "logits"), "shape of p"),
        (lambda: kl_gradient([0.5, 0.6, -0.1], P, "logits"), "non-negative"),
        (lambda: kl_gradient(P, P, "angles"), "coordinates must be one of"),
        (lambda: kl_divergence([0.5, 0.5], P), "same K"),
        (lambda: kl_divergence(P, [0.5, 0.6, -0.1]), "non-negative"),
        (lambda: probs_of([0.1, np.nan], "free"), "NaN"),
        (lambda: probs_of(np.zeros((2, 0)), "logits"),
         "xi must have a last axis of length K >= 1"),
        (lambda: probs_of([0.1, 0.2], "angles"), "coordinates must be one of"),
    ],
)
# fmt: on
def test_bad_input_raises(call, match):
    with pytest.raises(ValueError, match=match):
        call()


def test_type_errors():
    with pytest.raises(TypeError, match="p must be an array"):
        categorical_fisher("abc", "logits")


def test_fisher_rao_distance_is_accurate_for_nearby_points():
    # For q = p + ε v (Σ v = 0) the distance is √(vᵀ diag(1/p) v)·ε to first
    # order. The arccos form 2 arccos Σ√(p_i q_i) loses half the digits here
    # (relative error ~1e-3 at ε = 1e-7).
    p = np.array([0.2, 0.3, 0.5])
    v = np.array([1.0, -1.0, 0.0])
    for eps in (1e-5, 1e-7, 1e-9):
        first_order = eps * np.sqrt((v**2 / p).sum())
        assert (
            abs(fisher_rao_distance(p, p + eps * v) / first_order - 1) < 1e-5
        )
    assert fisher_rao_distance(p, p) == 0.0


def test_from_free_appends_the_last_probability():
    pi = np.array([[0.2, 0.3], [0.5, 0.25]])
    np.testing.assert_array_equal(
        from_free(pi), [[0.2, 0.3, 0.5], [0.5, 0.25, 0.25]]
    )
    # a tensor keeps its graph: d p_K / d π̃_i = -1
    t = torch.tensor([0.2, 0.3], dtype=torch.float64, requires_grad=True)
    (grad,) = torch.autograd.grad(from_free(t)[-1], t)
    torch.testing.assert_close(grad, -torch.ones(2, dtype=torch.float64))
    with pytest.raises(TypeError, match="pi must be"):
        from_free("abc")


def test_point_pair_checks_both_points():
    p, q = point_pair([0.5, 0.5], [0.0, 1.0], interior=(True, False))
    assert p.dtype == q.dtype == np.float64 and p.shape == q.shape == (2,)
    with pytest.raises(ValueError, match="q lies on the boundary"):
        point_pair([0.5, 0.5], [0.0, 1.0])
    with pytest.raises(ValueError, match="p0 and q must be two 1-D points"):
        point_pair([0.5, 0.5], [0.2, 0.3, 0.5], ("p0", "q"))
    with pytest.raises(ValueError, match="two 1-D points"):
        point_pair([[0.5, 0.5]], [[0.5, 0.5]])
