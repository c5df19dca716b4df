"""Tests for lecture_code.convexity against autograd, scikit-learn and the
bounds they claim."""

import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from lecture_code.convexity import (
    classification_margins,
    cross_entropy_on_logits,
    fit_mlp,
    fit_softmax_regression,
    gradient_descent_on_logits,
    gradient_descent_softmax_regression,
    hessian_max_eigenvalue,
    lbfgs_minimize,
    loss_along_line,
    lse_hessian,
    max_above_chord,
    sklearn_C,
    softmax_regression_hessian,
    softmax_regression_hvp,
    softmax_regression_lipschitz_bound,
    softmax_regression_objective,
)
from lecture_code.models import make_mlp
from lecture_code.softmax import softmax

logit_vectors = st.lists(
    st.floats(-20, 20, allow_nan=False), min_size=2, max_size=7
)


@settings(max_examples=50, deadline=None)
@given(z=logit_vectors)
def test_hessian_matches_autograd(z):
    z = torch.tensor(z, dtype=torch.float64)
    H_auto = torch.autograd.functional.hessian(
        lambda v: torch.logsumexp(v, 0), z
    )
    torch.testing.assert_close(
        lse_hessian(softmax(z)), H_auto, atol=1e-12, rtol=1e-10
    )


@settings(max_examples=50, deadline=None)
@given(z=logit_vectors)
def test_hessian_psd_null_vector_and_eigenvalue_bound(z):
    p = softmax(torch.tensor(z, dtype=torch.float64))
    H = lse_hessian(p)
    eig = torch.linalg.eigvalsh(H)
    assert eig.min() > -1e-12
    assert (H @ torch.ones(len(z), dtype=torch.float64)).abs().max() < 1e-12
    assert hessian_max_eigenvalue(p) <= 0.5 + 1e-12


def test_max_eigenvalue_is_attained_at_half_half():
    assert float(
        hessian_max_eigenvalue([0.5, 0.5, 0.0, 0.0])
    ) == pytest.approx(0.5, abs=1e-15)
    assert float(hessian_max_eigenvalue([1 / 3] * 3)) == pytest.approx(
        1 / 3, abs=1e-15
    )
    assert float(hessian_max_eigenvalue([1.0, 0.0, 0.0])) == pytest.approx(
        0.0, abs=1e-15
    )


def test_hessian_bad_input():
    with pytest.raises(ValueError, match="non-negative"):
        lse_hessian([1.5, -0.5])
    with pytest.raises(ValueError, match="sum to 1"):
        lse_hessian([0.5, 0.6])
    with pytest.raises(ValueError, match="K >= 1"):
        lse_hessian(torch.zeros(3, 0))


def test_cross_entropy_on_logits_matches_torch():
    z = torch.tensor([[2.0, -1.0, 0.3], [0.0, 5.0, 1.0]], dtype=torch.float64)
    for y in range(3):
        onehot = torch.eye(3, dtype=torch.float64)[y]
        ref = torch.nn.functional.cross_entropy(
            z, torch.tensor([y, y]), reduction="none"
        )
        torch.testing.assert_close(cross_entropy_on_logits(z, onehot), ref)
    q = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    ref = torch.nn.functional.cross_entropy(
        z, q.expand(2, 3), reduction="none"
    )
    torch.testing.assert_close(cross_entropy_on_logits(z, q), ref)
    with pytest.raises(ValueError, match="q must have shape"):
        cross_entropy_on_logits(z, [0.5, 0.5])
    with pytest.raises(ValueError, match="q must be non-negative"):
        cross_entropy_on_logits(z, [0.5, 0.6, -0.1])


def test_gradient_descent_step_matches_autograd_and_descent_lemma():
    q = torch.tensor([0.49, 0.49, 0.02], dtype=torch.float64)
    z = torch.tensor([0.0, 1.0, 0.0], dtype=torch.float64, requires_grad=True)
    cross_entropy_on_logits(z, q).backward()
    torch.testing.assert_close(z.grad, softmax(z.detach()) - q)
    losses = gradient_descent_on_logits([0.0, 1.0, 0.0], q, lr=2.0, steps=100)
    assert (losses.diff() <= 1e-15).all()
    # approaches the minimum H(q)
    assert losses[-1] - (-(q * q.log()).sum()) < 1e-3
    wild = gradient_descent_on_logits([0.0, 1.0, 0.0], q, lr=20.0, steps=30)
    assert (wild.diff() > 0).any()
    with pytest.raises(ValueError, match="lr must be"):
        gradient_descent_on_logits([0.0, 1.0], [0.5, 0.5], lr=-1.0, steps=3)
    with pytest.raises(TypeError, match="steps must be an integer, got float"):
        gradient_descent_on_logits([0.0, 1.0], [0.5, 0.5], lr=1.0, steps=2.5)


def test_sklearn_C_mapping_and_errors():
    assert sklearn_C(0.01, 200) == pytest.approx(0.5)
    with pytest.raises(ValueError, match="rho must be"):
        sklearn_C(0.0, 10)
    with pytest.raises(ValueError, match="n_samples must be"):
        sklearn_C(0.1, 0)


@pytest.fixture(scope="module")
def small_problem():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(120, 5))
    W_true = rng.normal(size=(3, 5))
    y = (X @ W_true.T + rng.gumbel(size=(120, 3))).argmax(1)
    return torch.tensor(X), torch.tensor(y)


def test_softmax_regression_agrees_with_sklearn_and_across_seeds(
    small_problem,
):
    X, y = small_problem
    lam = 0.05
    fits = [fit_softmax_regression(X, y, lam, seed=s) for s in range(3)]
    clf = LogisticRegression(
        C=sklearn_C(lam, len(y)), tol=1e-12, max_iter=10_000
    ).fit(X.numpy(), y.numpy())
    W_sk = torch.tensor(clf.coef_)
    b_sk = torch.tensor(clf.intercept_ - clf.intercept_.mean())
    for fit in fits:
        assert fit.grad_norm < 1e-8
        assert (
            abs(
                fit.loss
                - float(softmax_regression_objective(W_sk, b_sk, X, y, lam))
            )
            < 1e-10
        )
        torch.testing.assert_close(fit.W, W_sk, atol=1e-5, rtol=0)
        torch.testing.assert_close(fit.b, b_sk, atol=1e-5, rtol=0)
        assert fit.initial_loss > fit.loss + 1.0
    # the penalty pins the gauge of W: its columns sum to zero at the optimum
    assert fits[0].W.sum(0).abs().max() < 1e-6


def test_objective_matches_manual_formula(small_problem):
    X, y = small_problem
    gen = torch.Generator().manual_seed(1)
    W = torch.randn(3, 5, generator=gen, dtype=torch.float64)
    b = torch.randn(3, generator=gen, dtype=torch.float64)
    logits = X @ W.T + b
    manual = (
        torch.logsumexp(logits, 1) - logits[torch.arange(len(y)), y]
    ).mean() + 0.5 * 0.1 * (W**2).sum()
    torch.testing.assert_close(
        softmax_regression_objective(W, b, X, y, 0.1), manual
    )


def test_fit_bad_input(small_problem):
    X, y = small_problem
    with pytest.raises(ValueError, match="rho must be a finite number > 0"):
        fit_softmax_regression(X, y, 0.0, seed=0)
    with pytest.raises(ValueError, match=r"X must have shape \(N, D\)"):
        fit_softmax_regression(X[:, 0], y, 0.1, seed=0)


def test_loss_along_line_endpoints_and_convex_case(small_problem):
    X, y = small_problem
    model = torch.nn.Linear(5, 3).double()
    gen = torch.Generator().manual_seed(0)
    a = torch.randn(18, generator=gen, dtype=torch.float64)
    b = torch.randn(18, generator=gen, dtype=torch.float64)
    loss_fn = lambda m: torch.nn.functional.cross_entropy(m(X), y)
    ts = np.linspace(0, 1, 21)
    curve = loss_along_line(model, a, b, loss_fn, ts)
    torch.nn.utils.vector_to_parameters(a, model.parameters())
    with torch.no_grad():
        assert curve[0] == pytest.approx(float(loss_fn(model)))
    # convex in the parameters
    assert (curve[2:] - 2 * curve[1:-1] + curve[:-2]).min() > -1e-12
    with pytest.raises(ValueError, match="flat vectors of length 18"):
        loss_along_line(model, a[:5], b, loss_fn, ts)


def test_lbfgs_minimize_matches_closed_form_least_squares():
    rng = np.random.default_rng(3)
    A = torch.tensor(rng.normal(size=(40, 6)))
    t = torch.tensor(rng.normal(size=40))
    x = torch.zeros(6, dtype=torch.float64, requires_grad=True)
    info = lbfgs_minimize([x], lambda: ((A @ x - t) ** 2).mean(), gtol=1e-12)
    x_ref = torch.linalg.lstsq(A, t).solution
    torch.testing.assert_close(x.detach(), x_ref, atol=1e-8, rtol=0)
    assert info["grad_norm"] < 1e-8 and info["iterations"] > 0
    with pytest.raises(TypeError, match="requires_grad=True"):
        lbfgs_minimize([torch.zeros(3)], lambda: torch.zeros(()))


# --- parameter space: Hessian, Lipschitz bound, gradient descent, margins
# --------------------


def _random_Wb(K, D, seed, scale=1.0):
    gen = torch.Generator().manual_seed(seed)
    return (
        scale * torch.randn(K, D, generator=gen, dtype=torch.float64),
        scale * torch.randn(K, generator=gen, dtype=torch.float64),
    )


@pytest.mark.parametrize("rho", [0.0, 0.1])
def test_softmax_regression_hessian_matches_autograd(small_problem, rho):
    X, y = small_problem
    W, b = _random_Wb(3, 5, seed=2)

    def objective(theta):  # theta: rows (w_k, b_k), row-major (K, D + 1)
        M = theta.reshape(3, 6)
        return softmax_regression_objective(M[:, :-1], M[:, -1], X, y, rho)

    theta = torch.cat([W, b[:, None]], dim=1).reshape(-1)
    H_auto = torch.autograd.functional.hessian(objective, theta)
    torch.testing.assert_close(
        softmax_regression_hessian(W, b, X, rho),
        H_auto,
        atol=1e-12,
        rtol=1e-10,
    )


def test_lipschitz_bound_dominates_the_hessian_everywhere(small_problem):
    X, y = small_problem
    rho = 0.05
    L = softmax_regression_lipschitz_bound(X, rho)
    Xt = torch.cat([X, torch.ones(len(X), 1, dtype=X.dtype)], dim=1)
    assert L == pytest.approx(
        0.5 * np.linalg.eigvalsh((Xt.T @ Xt / len(X)).numpy())[-1] + rho,
        rel=1e-12,
    )
    for seed, scale in [(0, 0.0), (1, 0.3), (2, 1.0), (3, 5.0)]:
        W, b = _random_Wb(3, 5, seed, scale)
        top = float(
            torch.linalg.eigvalsh(softmax_regression_hessian(W, b, X, rho))[-1]
        )
        assert 0 < top <= L + 1e-12
    # at W = 0 every p_n is uniform: the largest eigenvalue is λ_max(X̃ᵀX̃/N)/K
    # (+ ρ on the W part)
    zero = softmax_regression_hessian(
        torch.zeros(3, 5, dtype=torch.float64),
        torch.zeros(3, dtype=torch.float64),
        X,
        0.0,
    )
    assert float(torch.linalg.eigvalsh(zero)[-1]) == pytest.approx(
        (L - rho) * 2 / 3, rel=1e-10
    )


def test_gradient_descent_with_step_one_over_L_is_monotone(small_problem):
    X, y = small_problem
    rho = 0.05
    L = softmax_regression_lipschitz_bound(X, rho)
    losses = gradient_descent_softmax_regression(
        X, y, rho, lr=1 / L, steps=200
    )
    assert losses.shape == (201,)
    assert (losses.diff() <= 1e-15).all()
    # W = 0: uniform predictions
    assert losses[0] == pytest.approx(math.log(3), abs=1e-15)
    best = fit_softmax_regression(X, y, rho, seed=0).loss
    assert -1e-12 < float(losses[-1]) - best < 1e-3
    # one step by hand: ∇_W = (P - Y)ᵀX/N + ρW, ∇_b = mean(P - Y), at W = 0
    P = torch.full((len(y), 3), 1 / 3, dtype=torch.float64)
    R = P - torch.nn.functional.one_hot(y, 3).double()
    W1, b1 = -(1 / L) * (R.T @ X / len(y)), -(1 / L) * R.mean(0)
    assert float(losses[1]) == pytest.approx(
        float(softmax_regression_objective(W1, b1, X, y, rho)), abs=1e-14
    )


def test_parameter_space_bad_input(small_problem):
    X, y = small_problem
    with pytest.raises(ValueError, match="rho must be"):
        softmax_regression_lipschitz_bound(X, -1.0)
    with pytest.raises(ValueError, match="X must have shape"):
        softmax_regression_lipschitz_bound(X[:, 0], 0.1)
    with pytest.raises(ValueError, match="lr must be"):
        gradient_descent_softmax_regression(X, y, 0.1, lr=0.0, steps=3)
    with pytest.raises(ValueError, match="steps must be"):
        gradient_descent_softmax_regression(X, y, 0.1, lr=0.1, steps=-1)
    W, b = _random_Wb(3, 5, 0)
    with pytest.raises(ValueError, match="do not fit"):
        softmax_regression_hessian(W, b, X[:, :4], 0.1)
    with pytest.raises(TypeError, match="y must hold integer class labels"):
        classification_margins(W, b, X, y.double())


def test_margins_certify_separability_and_the_missing_minimizer():
    # two well-separated clusters per class: a W with all margins > 0 exists
    gen = torch.Generator().manual_seed(0)
    centres = torch.tensor(
        [[4.0, 0.0], [-4.0, 0.0], [0.0, 4.0]], dtype=torch.float64
    )
    y = torch.arange(3).repeat_interleave(20)
    X = centres[y] + 0.3 * torch.randn(
        60, 2, generator=gen, dtype=torch.float64
    )
    W, b = centres.clone(), torch.zeros(3, dtype=torch.float64)
    m = classification_margins(W, b, X, y)
    logits = X @ W.T + b
    manual = torch.stack(
        [
            logits[n, y[n]] - max(logits[n, k] for k in range(3) if k != y[n])
            for n in range(60)
        ]
    )
    torch.testing.assert_close(m, manual)
    assert m.min() > 0
    # scaling a separating classifier lowers the unregularized loss towards 0,
    # never reaching it
    # (larger s: 0 in float64)
    losses = [
        float(softmax_regression_objective(s * W, s * b, X, y, 0.0))
        for s in (0.05, 0.1, 0.2, 0.4)
    ]
    assert all(a > c > 0 for a, c in zip(losses, losses[1:]))


def test_docstring_examples_run():
    import doctest

    import lecture_code.convexity as module

    result = doctest.testmod(module)
    assert result.attempted >= 2 and result.failed == 0


# --- chords, Hessian-vector products, a non-convex MLP
# --------------------------------------------------------------------------


def test_max_above_chord_convex_and_not():
    ts = np.linspace(-0.25, 1.25, 31)
    # convex: never above the chord; the chord itself: 0
    assert max_above_chord(ts, ts**2) <= 1e-15
    assert max_above_chord(ts, 3 * ts - 1) == pytest.approx(0.0, abs=1e-15)
    # a bump of height 1 at t = 1/2 over a flat chord (outside [0, 1] ignored)
    bump = np.sin(np.pi * ts) + 5.0 * (ts > 1)
    assert max_above_chord(ts, bump) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="include t = 0 and t = 1"):
        max_above_chord(np.linspace(0.1, 1, 10), np.zeros(10))
    with pytest.raises(ValueError, match="shape of ts"):
        max_above_chord(ts, np.zeros(5))


@pytest.mark.parametrize("rho", [0.0, 0.1])
def test_softmax_regression_hvp_is_the_hessian_times_v(small_problem, rho):
    X, y = small_problem
    W, b = _random_Wb(3, 5, seed=4)
    v = torch.randn(18, generator=torch.Generator().manual_seed(1)).double()

    def objective(theta):  # rows (w_k, b_k)
        M = theta.reshape(3, 6)
        return softmax_regression_objective(M[:, :-1], M[:, -1], X, y, rho)

    theta = torch.cat([W, b[:, None]], dim=1).reshape(-1)
    _, ref = torch.autograd.functional.hvp(objective, theta, v)
    hvp = softmax_regression_hvp(W, b, X, y, rho, v)
    torch.testing.assert_close(hvp, ref, atol=1e-13, rtol=0)
    torch.testing.assert_close(
        hvp, softmax_regression_hessian(W, b, X, rho) @ v, atol=1e-13, rtol=0
    )
    with pytest.raises(ValueError, match=r"v must have shape \(18,\)"):
        softmax_regression_hvp(W, b, X, y, rho, v[:5])


def test_fit_mlp_trains_and_depends_on_the_seed(small_problem):
    X, y = small_problem
    nets = [fit_mlp(X, y, hidden=8, seed=s, max_iter=100) for s in (0, 1)]
    for s, net in enumerate(nets):
        assert net[0].weight.dtype == torch.float64
        start = make_mlp(5, 8, 3, seed=s).double()
        with torch.no_grad():
            before = torch.nn.functional.cross_entropy(start(X), y)
            after = torch.nn.functional.cross_entropy(net(X), y)
        assert after < 0.5 * before
    vecs = [torch.nn.utils.parameters_to_vector(n.parameters()) for n in nets]
    assert (vecs[0] - vecs[1]).abs().max() > 0.1  # different minima
    with pytest.raises(ValueError, match="hidden must be"):
        fit_mlp(X, y, hidden=0, seed=0)
