"""Tests for lecture_code.dual: the Legendre pair against torch/autograd,
Bregman against scipy/torch KL, geodesics, the Pythagorean identity,
natural gradient = mirror descent, and input validation."""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.special import rel_entr

from lecture_code.dual import (
    bregman,
    bregman_lse,
    e_geodesic,
    fenchel_young_gap,
    kl_free,
    lse_free,
    m_geodesic,
    mirror_descent_step,
    natural_gradient_step_free,
    neg_entropy_free,
    to_expectation,
    to_natural,
)
from lecture_code.fisher import (
    categorical_fisher,
    fisher_rao_geodesic,
    kl_divergence,
    kl_gradient,
)


def interior_points(K=None, K_min=2, K_max=6):
    sizes = st.just(K) if K is not None else st.integers(K_min, K_max)
    return sizes.flatmap(
        lambda k: st.lists(st.floats(0.02, 1.0), min_size=k, max_size=k).map(
            lambda v: np.array(v) / np.sum(v)
        )
    )


def logits(K):
    return st.lists(st.floats(-8.0, 8.0), min_size=K, max_size=K).map(np.array)


P = np.array([0.2, 0.3, 0.5])
Q = np.array([0.6, 0.3, 0.1])


def torch_lse_free(t):
    """LSE(θ, 0) with torch's own logsumexp: the potential in free natural
    coordinates."""
    return torch.logsumexp(torch.cat([t, torch.zeros(1, dtype=t.dtype)]), 0)


def torch_neg_entropy_free(x):
    """-H(π̃, 1 - Σπ̃) written directly in torch: the potential in free
    expectation coordinates."""
    full = torch.cat([x, 1 - x.sum(0, keepdim=True)])
    return (full * torch.log(full)).sum()


# ------------------------------------------------------------------ Legendre
# pair (eq-dual-legendre)


@settings(max_examples=40)
@given(st.integers(2, 6).flatmap(logits))
def test_to_natural_after_to_expectation_is_centring(z):
    np.testing.assert_allclose(
        to_natural(to_expectation(z)), z - z.mean(), atol=1e-11
    )
    np.testing.assert_allclose(
        to_expectation(z),
        torch.softmax(torch.tensor(z), 0).numpy(),
        atol=1e-15,
    )


@settings(max_examples=40)
@given(interior_points())
def test_to_expectation_after_to_natural_is_identity(p):
    for gauge in ("centred", "free"):
        np.testing.assert_allclose(
            to_expectation(to_natural(p, gauge), gauge), p, atol=1e-14
        )
    assert abs(to_natural(p).sum()) < 1e-12
    np.testing.assert_allclose(
        to_natural(p, "free"), np.log(p[:-1] / p[-1]), atol=1e-13
    )


def test_batches_keep_their_shape():
    Pb = np.stack([P, Q])  # (2, 3)
    assert to_natural(Pb).shape == (2, 3) and to_natural(Pb, "free").shape == (
        2,
        2,
    )
    np.testing.assert_allclose(to_natural(Pb).sum(axis=1), 0, atol=1e-14)
    assert to_expectation(np.zeros((5, 4))).shape == (5, 4)
    assert to_expectation(torch.zeros(2, 3), "free").shape == (2, 4)


@settings(max_examples=30)
@given(interior_points())
def test_gradients_of_the_potentials_are_the_coordinate_maps(p):
    theta = torch.tensor(to_natural(p, "free"))
    # the library's potentials equal the torch references
    assert float(lse_free(theta)) == pytest.approx(
        float(torch_lse_free(theta)), abs=1e-14
    )
    assert float(neg_entropy_free(torch.tensor(p[:-1]))) == pytest.approx(
        float(torch_neg_entropy_free(torch.tensor(p[:-1]))), abs=1e-14
    )
    g_lse = torch.autograd.functional.jacobian(lse_free, theta)
    np.testing.assert_allclose(g_lse.numpy(), p[:-1], atol=1e-14)
    g_negH = torch.autograd.functional.jacobian(
        neg_entropy_free, torch.tensor(p[:-1])
    )
    np.testing.assert_allclose(
        g_negH.numpy(), to_natural(p, "free"), atol=1e-10
    )


@settings(max_examples=30)
@given(interior_points())
def test_hessians_are_inverse_fisher_matrices(p):
    theta = torch.tensor(to_natural(p, "free"))
    H_lse = torch.autograd.functional.hessian(lse_free, theta).numpy()
    H_negH = torch.autograd.functional.hessian(
        neg_entropy_free, torch.tensor(p[:-1])
    ).numpy()
    np.testing.assert_allclose(
        H_lse, categorical_fisher(p, "logits")[:-1, :-1], atol=1e-13
    )
    np.testing.assert_allclose(
        H_negH, categorical_fisher(p, "free"), rtol=1e-9, atol=1e-9
    )
    np.testing.assert_allclose(H_lse @ H_negH, np.eye(p.size - 1), atol=1e-8)


@settings(max_examples=30)
@given(
    st.integers(2, 6).flatmap(
        lambda K: st.tuples(interior_points(K), interior_points(K))
    )
)
def test_kl_free_value_and_gradients_in_both_coordinates(pq):
    p, q = pq
    theta = torch.tensor(to_natural(p, "free"))
    pi = torch.tensor(p[:-1])
    kl_ref = rel_entr(q, p).sum()  # scipy
    for coords, x in (("natural", theta), ("expectation", pi)):
        assert float(kl_free(q, x, coords)) == pytest.approx(kl_ref, abs=1e-12)
    g_theta = torch.autograd.functional.jacobian(
        lambda x: kl_free(q, x, "natural"), theta
    ).numpy()
    g_pi = torch.autograd.functional.jacobian(
        lambda x: kl_free(q, x, "expectation"), pi
    ).numpy()
    np.testing.assert_allclose(g_theta, (p - q)[:-1], atol=1e-12)
    np.testing.assert_allclose(
        g_pi, kl_gradient(q, p, "free"), rtol=1e-9, atol=1e-12
    )


@settings(max_examples=30)
@given(
    st.integers(2, 6).flatmap(
        lambda K: st.tuples(logits(K), interior_points(K))
    )
)
def test_fenchel_young_gap_is_kl_and_vanishes_at_softmax(args):
    theta, p = args
    # LSE(θ) - H(p) - ⟨θ, p⟩ = KL(p ‖ softmax θ) (eq-dual-fenchel-young)
    lse = np.log(np.exp(theta - theta.max()).sum()) + theta.max()
    log_s = theta - lse
    assert float(fenchel_young_gap(theta, p)) == pytest.approx(
        float((p * (np.log(p) - log_s)).sum()), abs=1e-10
    )
    assert float(fenchel_young_gap(theta, p)) >= -1e-12
    assert abs(float(fenchel_young_gap(theta, to_expectation(theta)))) < 1e-12


def test_fenchel_young_gap_batches():
    TH = np.random.default_rng(0).normal(size=(5, 3))
    PP = np.full((5, 3), 1 / 3)
    np.testing.assert_allclose(
        fenchel_young_gap(TH, PP),
        kl_divergence(PP, to_expectation(TH)),
        atol=1e-13,
    )


# ------------------------------------------------------------------ Bregman
# divergences (eq-dual-bregman)


@settings(max_examples=50)
@given(
    st.integers(2, 6).flatmap(
        lambda K: st.tuples(interior_points(K), interior_points(K))
    )
)
def test_bregman_of_negative_entropy_is_kl(pq):
    p, q = pq
    ref = rel_entr(p, q).sum()  # scipy
    np.testing.assert_allclose(bregman(p, q), ref, atol=1e-13)
    np.testing.assert_allclose(bregman(p, q), kl_divergence(p, q), atol=1e-13)
    torch_kl = torch.distributions.kl_divergence(
        torch.distributions.Categorical(probs=torch.tensor(p)),
        torch.distributions.Categorical(probs=torch.tensor(q)),
    )
    np.testing.assert_allclose(bregman(p, q), torch_kl.item(), atol=1e-12)


@settings(max_examples=50)
@given(
    st.integers(2, 6).flatmap(
        lambda K: st.tuples(logits(K), logits(K), st.floats(-5, 5))
    )
)
def test_bregman_of_lse_is_kl_with_swapped_arguments(args):
    t1, t2, c = args
    p1, p2 = to_expectation(t1), to_expectation(t2)
    np.testing.assert_allclose(
        bregman_lse(t1, t2), rel_entr(p2, p1).sum(), atol=1e-10
    )
    # gauge invariant
    np.testing.assert_allclose(
        bregman_lse(t1 + c, t2 - c), bregman_lse(t1, t2), atol=1e-10
    )


@settings(max_examples=30)
@given(
    st.integers(2, 6).flatmap(lambda K: st.tuples(logits(K), st.floats(-5, 5)))
)
def test_bregman_of_lse_vanishes_exactly_along_the_gauge(args):
    # LSE is linear along 1 (not strictly convex on R^K): D_LSE(θ + c1, θ) = 0
    # although θ + c1 ≠ θ
    t, c = args
    assert bregman_lse(t + c, t) == pytest.approx(0.0, abs=1e-10)


@settings(max_examples=30)
@given(
    st.integers(2, 6).flatmap(
        lambda K: st.tuples(interior_points(K), interior_points(K))
    )
)
def test_bregman_swap_in_free_coordinates(pq):
    # ex-dual-bregman-swap: with the strictly convex pair LSE(θ, 0) and -H(π̃,
    # 1 - Σπ̃), D_f(θ1, θ2) = D_f*(π̃2, π̃1) = KL(p2 ‖ p1); the gradients come
    # from torch autograd.
    p1, p2 = pq
    t1, t2 = (torch.tensor(to_natural(x, "free")) for x in (p1, p2))
    pi1, pi2 = (torch.tensor(x[:-1]) for x in (p1, p2))
    grad_f = torch.autograd.functional.jacobian(torch_lse_free, t2)
    d_f = torch_lse_free(t1) - torch_lse_free(t2) - grad_f @ (t1 - t2)
    grad_fstar = torch.autograd.functional.jacobian(
        torch_neg_entropy_free, pi1
    )
    d_fstar = (
        torch_neg_entropy_free(pi2)
        - torch_neg_entropy_free(pi1)
        - grad_fstar @ (pi2 - pi1)
    )
    np.testing.assert_allclose(d_f.item(), d_fstar.item(), atol=1e-10)
    np.testing.assert_allclose(d_f.item(), rel_entr(p2, p1).sum(), atol=1e-10)


def test_bregman_boundary_and_batches():
    e1 = np.array([1.0, 0.0, 0.0])
    # p may have zeros
    np.testing.assert_allclose(bregman(e1, Q), -np.log(Q[0]), atol=1e-15)
    assert bregman(np.stack([P, Q, P]), Q).shape == (3,)
    assert bregman(P, P) == pytest.approx(0.0, abs=1e-15)
    with pytest.raises(ValueError, match="q lies on the boundary"):
        # the gradient of -H does not exist at q on the boundary
        bregman(P, e1)


# ------------------------------------------------------------------ geodesics
# (eq-dual-mgeodesic, eq-dual-egeodesic)


def test_geodesic_endpoints_and_shapes():
    for geodesic in (m_geodesic, e_geodesic):
        np.testing.assert_allclose(geodesic(P, Q, 0.0), P, atol=1e-15)
        np.testing.assert_allclose(geodesic(P, Q, 1), Q, atol=1e-15)
        assert geodesic(P, Q, 0.5).shape == (3,)
        assert geodesic(P, Q, np.linspace(0, 1, 7)).shape == (7, 3)
        assert geodesic(P, Q, [0.25]).shape == (1, 3)
        rows = geodesic(P, Q, torch.linspace(0, 1, 11))
        assert (rows > 0).all()
        np.testing.assert_allclose(rows.sum(axis=1), 1, atol=1e-15)


@settings(max_examples=40)
@given(
    st.integers(2, 6).flatmap(
        lambda K: st.tuples(interior_points(K), interior_points(K))
    ),
    st.floats(0, 1),
)
def test_geodesics_are_straight_in_their_coordinates(pq, t):
    p, q = pq
    np.testing.assert_allclose(
        m_geodesic(p, q, t), (1 - t) * p + t * q, atol=1e-15
    )
    g = p ** (1 - t) * q**t
    np.testing.assert_allclose(e_geodesic(p, q, t), g / g.sum(), atol=1e-14)
    np.testing.assert_allclose(
        to_natural(e_geodesic(p, q, t)),
        (1 - t) * to_natural(p) + t * to_natural(q),
        atol=1e-11,
    )


def test_three_geodesics_differ_inside():
    t = np.linspace(0.1, 0.9, 9)
    m, e, fr = (
        m_geodesic(P, Q, t),
        e_geodesic(P, Q, t),
        fisher_rao_geodesic(P, Q, t),
    )
    assert (
        np.abs(m - e).max(axis=1).min() > 1e-3
        and np.abs(m - fr).max(axis=1).min() > 1e-4
    )


# ------------------------------------------------------------------ Pythagoras
# (eq-dual-pythagoras)


@settings(max_examples=60)
@given(
    st.integers(2, 6).flatmap(
        lambda K: st.tuples(
            interior_points(K), interior_points(K), interior_points(K)
        )
    )
)
def test_three_point_identity(pqr):
    p, q, r = pqr
    lhs = kl_divergence(r, p) - kl_divergence(r, q) - kl_divergence(q, p)
    rhs = np.sum((r - q) * (np.log(q) - np.log(p)))
    np.testing.assert_allclose(lhs, rhs, atol=1e-12)
    # the right side is the Fisher inner product at q of r - q and the
    # e-geodesic's velocity F_z(θ_q - θ_p)
    velocity = categorical_fisher(q, "logits") @ (
        to_natural(q) - to_natural(p)
    )
    np.testing.assert_allclose(
        (r - q) @ categorical_fisher(q, "probs") @ velocity, rhs, atol=1e-10
    )


def test_pythagoras_holds_on_the_orthogonal_line():
    d = np.log(Q) - np.log(P)
    v = np.cross(np.ones(3), d)  # Σ v = 0 and Σ v d = 0
    # small enough to stay inside the simplex
    for s in np.linspace(-0.04, 0.04, 5):
        r = Q + s * v
        assert (r > 0).all()
        np.testing.assert_allclose(
            kl_divergence(r, P),
            kl_divergence(r, Q) + kl_divergence(Q, P),
            atol=1e-14,
        )


# ------------------------------------------------------------------ natural
# gradient = mirror descent


@settings(max_examples=50)
@given(
    st.integers(2, 6).flatmap(
        lambda K: st.tuples(interior_points(K), interior_points(K))
    ),
    st.floats(1e-3, 2.0),
)
def test_natural_gradient_step_equals_mirror_descent_step(pq, eta):
    p, q = pq
    theta = to_natural(p, "free")
    g_theta = (p - q)[:-1]  # ∇_θ KL(q ‖ p) with z_K fixed
    g_pi = kl_gradient(q, p, "free")
    p_ng = to_expectation(
        natural_gradient_step_free(theta, g_theta, eta), "free"
    )
    p_md = mirror_descent_step(p, g_pi, eta)
    np.testing.assert_allclose(p_ng, p_md, atol=1e-10, rtol=0)
    # the other half: a natural-gradient step in π̃ is mirror descent
    # with LSE, π̃ - η ∇_θ L
    pi_step = natural_gradient_step_free(p[:-1], g_pi, eta, "expectation")
    np.testing.assert_allclose(pi_step, p[:-1] - eta * g_theta, atol=1e-10)


def test_natural_gradient_step_against_autograd_gradient():
    q_t = torch.tensor(Q)
    theta = torch.tensor(to_natural(P, "free"), requires_grad=True)
    log_p = torch.log_softmax(
        torch.cat([theta, torch.zeros(1, dtype=theta.dtype)]), 0
    )
    # ∇_θ KL(q ‖ p(θ))
    (g,) = torch.autograd.grad((q_t * (torch.log(q_t) - log_p)).sum(), theta)
    th, g = theta.detach().numpy(), g.numpy()
    F = categorical_fisher(P, "logits")[:-1, :-1]
    np.testing.assert_allclose(
        natural_gradient_step_free(th, g, 0.3),
        th - 0.3 * np.linalg.solve(F, g),
        atol=1e-14,
    )


def test_mirror_descent_is_exponentiated_gradient():
    g = np.array([0.7, -1.3])
    w = P * np.exp(-0.5 * np.append(g, 0.0))
    out = w / w.sum()
    np.testing.assert_allclose(mirror_descent_step(P, g, 0.5), out, atol=1e-15)


def test_expectation_steps_stay_on_the_m_geodesic():
    p = P.copy()
    for k in range(1, 6):
        pi = natural_gradient_step_free(
            p[:-1], kl_gradient(Q, p, "free"), 0.3, "expectation"
        )
        p = np.append(pi, 1 - pi.sum())
        np.testing.assert_allclose(p, Q + 0.7**k * (P - Q), atol=1e-15)


# ------------------------------------------------------------------ bad input


# fmt: off
@pytest.mark.parametrize(
    "call, match",
    [
        (lambda: to_natural([0.5, 0.5, 0.0]), "boundary"),
        (lambda: to_natural([0.5, 0.6]), "sum to 1"),
        (lambda: to_natural([0.5, np.nan]), "p contains NaN"),
        (lambda: to_natural(P, "logit"), "gauge"),
        (lambda: to_expectation([0.0, np.inf]), "theta must be finite"),
        (lambda: to_expectation([0.0, np.nan]),
         "theta must be finite \\(no NaN or inf\\)"),
        (lambda: to_expectation([]), "theta must have a last axis"),
        (lambda: m_geodesic(P, Q, 1.5), r"t must lie in \[0, 1\]"),
        (lambda: e_geodesic(P, Q, -0.1), r"t must lie in \[0, 1\]"),
        (lambda: e_geodesic(P, Q, np.nan), "t contains NaN"),
        (lambda: e_geodesic(P, Q, np.zeros((2, 2))),
         "t must be a number or a non-empty 1-D array"),
        (lambda: m_geodesic(P, Q, []),
         "t must be a number or a non-empty 1-D array"),
        (lambda: m_geodesic([1.0, 0.0, 0.0], Q, 0.5),
         "p lies on the boundary"),
        (lambda: e_geodesic(P, [0.0, 0.5, 0.5], 0.5),
         "q lies on the boundary"),
        (lambda: e_geodesic(P, [0.5, 0.5], 0.5), "same K"),
        (lambda: m_geodesic(np.stack([P, Q]), Q, 0.5), "two 1-D points"),
        (lambda: bregman([0.5, 0.5], P), "same K"),
        (lambda: bregman_lse([0.0, 1.0], [0.0, 1.0, 2.0]), "same K"),
        (lambda: natural_gradient_step_free([0.0, 1.0], [0.1, 0.2], -0.1),
         "lr must be a finite number > 0"),
        (lambda: natural_gradient_step_free([0.0, 1.0], [0.1], 0.1),
         "same length"),
        (lambda: natural_gradient_step_free([0.0, 1.0], [0.1, np.nan], 0.1),
         "grad must be finite \\(no NaN or inf\\)"),
        (
            lambda: natural_gradient_step_free(
                [0.7, 0.5], [0.1, 0.1], 0.1, "expectation"
            ),
            "non-negative|boundary",
        ),
        (
            lambda: natural_gradient_step_free(
                [0.0, 1.0], [0.1, 0.1], 0.1, "probs"
            ),
            "coordinates",
        ),
        (lambda: mirror_descent_step(P, [0.1, 0.2, 0.3], 0.1),
         r"grad_p a vector \(K-1,\)"),
        (lambda: mirror_descent_step([0.0, 0.5, 0.5], [0.1, 0.2], 0.1),
         "boundary"),
        (lambda: lse_free(torch.zeros(2, 2)), "theta"),
        (lambda: neg_entropy_free(torch.tensor([np.nan, 0.1])), "pi"),
        (lambda: kl_free(Q, torch.zeros(3)), "q must have K = 4"),
        (lambda: kl_free(Q, torch.zeros(2), "logits"), "coordinates"),
        (lambda: kl_free([0.5, 0.6, 0.1], torch.zeros(2)), "sum to 1"),
        (lambda: fenchel_young_gap([0.0, 1.0], P), "same K"),
        (lambda: fenchel_young_gap([0.0, np.inf, 1.0], P), "theta"),
    ],
)
# fmt: on
def test_bad_input_raises_value_error(call, match):
    with pytest.raises(ValueError, match=match):
        call()


@pytest.mark.parametrize(
    "call",
    [
        lambda: to_natural("abc"),
        lambda: to_expectation("abc"),
        lambda: m_geodesic(P, Q, "half"),
        lambda: e_geodesic(P, Q, object()),
        lambda: natural_gradient_step_free([0.0, 1.0], [0.1, 0.2], "0.1"),
        lambda: mirror_descent_step(P, [0.1, 0.2], None),
        lambda: lse_free("abc"),
        lambda: kl_free(Q, "abc"),
    ],
)
def test_wrong_types_raise_type_error(call):
    with pytest.raises(TypeError):
        call()
