"""Tests for lecture_code.optim (optimizer steps, damped Newton, chapter 7's
training loops) and lecture_code.models (softmax regression, the
pooled-digits problem), against torch.optim, autograd and sklearn."""

import pytest
import torch

from lecture_code.models import (
    SoftmaxRegression,
    make_mlp,
    pooled_digits_problem,
)
from lecture_code.natgrad import (
    empirical_fisher,
    per_sample_grads,
    precondition,
    softmax_regression_diag_fisher,
    with_bias,
)
from lecture_code.optim import (
    adam_step,
    damped_newton,
    full_batch_run,
    minibatch_run,
    newton_optimum,
    train_mlp,
)

DT = torch.float64


pytestmark = pytest.mark.usefixtures("one_thread")  # tests/conftest.py


def test_adam_step_matches_torch_optim_adam():
    g0 = torch.Generator().manual_seed(3)
    A = torch.randn(4, 4, generator=g0, dtype=DT)
    A = A @ A.T + torch.eye(4, dtype=DT)
    b = torch.randn(4, generator=g0, dtype=DT)
    loss = lambda w: 0.5 * w @ A @ w - b @ w
    w_ref = torch.zeros(4, dtype=DT, requires_grad=True)
    opt = torch.optim.Adam([w_ref], lr=0.1)
    w, state = torch.zeros(4, dtype=DT), {}
    for _ in range(7):
        opt.zero_grad()
        loss(w_ref).backward()
        opt.step()
        w = adam_step(w, A @ w - b, state, lr=0.1)
    torch.testing.assert_close(w, w_ref.detach())
    assert state["t"] == 7
    # the state chapter 7 reads as Adam's v̂ is torch.optim.Adam's exp_avg_sq
    # (and m its exp_avg)
    torch.testing.assert_close(state["v"], opt.state[w_ref]["exp_avg_sq"])
    torch.testing.assert_close(state["m"], opt.state[w_ref]["exp_avg"])


def test_newton_optimum_reaches_sklearns_optimum_on_pooled_digits():
    # Chapter 7's reference optimum W* (newton_optimum on
    # pooled_digits_problem), compared with scikit-learn (the chapter itself
    # does not import scikit-learn, which would cost it about two seconds).
    from sklearn.linear_model import LogisticRegression

    problem = pooled_digits_problem()
    W, iterations, grad_max, short = newton_optimum(problem)
    assert grad_max < 1e-12 and (iterations, short) == (10, 0)
    # the value chapter 7 prints
    assert round(problem.objective(W).item(), 6) == 0.635333
    Z, (N, _) = problem.X[:, :-1], problem.X.shape
    clf = LogisticRegression(
        C=1 / (problem.rho * N), tol=1e-12, max_iter=10_000
    ).fit(Z.numpy(), problem.y.numpy())
    torch.testing.assert_close(
        W[:, :-1], torch.tensor(clf.coef_), atol=1e-5, rtol=0
    )
    torch.testing.assert_close(
        W[:, -1],
        torch.tensor(clf.intercept_ - clf.intercept_.mean()),
        atol=1e-5,
        rtol=0,
    )


def test_newton_optimum_needs_its_line_search_on_some_splits():
    # split 2: pure Newton steps cycle (chapter 7's table), the line search
    # still converges
    problem = pooled_digits_problem(split_seed=2)
    W, _, grad_max, short = newton_optimum(problem)
    assert grad_max < 1e-12 and short > 0
    losses, _ = full_batch_run(problem, "natural", 1.0, n_iter=40)
    assert losses[-1] - problem.objective(W).item() > 1e-4


def small_problem(seed=0, N=40, D=4, K=3):
    g = torch.Generator().manual_seed(seed)
    X = with_bias(torch.randn(N, D, generator=g, dtype=DT))
    return SoftmaxRegression(X, torch.randint(0, K, (N,), generator=g), K, 0.1)


def test_softmax_regression_problem_matches_autograd_and_chapter_4():
    from lecture_code.convexity import softmax_regression_objective

    pb = small_problem()
    W = torch.randn(
        pb.shape, generator=torch.Generator().manual_seed(1), dtype=DT
    )
    ref = softmax_regression_objective(
        W[:, :-1], W[:, -1], pb.X[:, :-1], pb.y, pb.rho
    )
    torch.testing.assert_close(pb.objective(W), ref)
    # the same objective with W and b apart, and written out by hand
    Z = pb.X @ W.T  # (N, K)
    by_hand = (
        torch.logsumexp(Z, 1) - Z[torch.arange(len(pb.y)), pb.y]
    ).mean() + 0.5 * pb.rho * (W[:, :-1] ** 2).sum()
    torch.testing.assert_close(pb.objective_wb(W), ref)
    torch.testing.assert_close(pb.objective_wb(W), by_hand)
    torch.testing.assert_close(pb.autograd_gradient(W), pb.gradient(W))
    torch.testing.assert_close(
        pb.autograd_gradient(W), torch.func.grad(pb.objective_wb)(W)
    )
    w = W.reshape(-1).requires_grad_(True)
    f = lambda t: pb.objective(t.reshape(pb.shape))
    (grad,) = torch.autograd.grad(f(w), w)
    torch.testing.assert_close(pb.gradient(W).reshape(-1), grad)
    torch.testing.assert_close(
        pb.hessian(W), torch.autograd.functional.hessian(f, W.reshape(-1))
    )
    Ws = torch.stack([W, 2 * W, torch.zeros_like(W)])
    torch.testing.assert_close(
        pb.objective_along(Ws), torch.stack([pb.objective(w_) for w_ in Ws])
    )
    assert (pb.reg[:, -1] == 0).all() and (pb.reg[:, :-1] == pb.rho).all()


def test_full_batch_run_gd_and_adam_are_the_hand_written_steps():
    pb = small_problem()
    losses, W = full_batch_run(pb, "gd", 0.5, n_iter=7)
    W_ref = torch.zeros(pb.shape, dtype=DT)
    for _ in range(7):
        W_ref = W_ref - 0.5 * pb.gradient(W_ref)
    torch.testing.assert_close(W, W_ref)
    torch.testing.assert_close(losses[-1], pb.objective(W_ref))
    _, W_adam = full_batch_run(pb, "adam", 0.05, n_iter=7)
    W_ref, state = torch.zeros(pb.shape, dtype=DT), {}
    for _ in range(7):
        # torch.optim.Adam = adam_step
        W_ref = adam_step(W_ref, pb.gradient(W_ref), state, 0.05)
    torch.testing.assert_close(W_adam, W_ref)


def test_full_batch_run_preconditioned_steps():
    pb = small_problem()
    _, W = full_batch_run(pb, "natural", 1.0, n_iter=1)
    g = pb.gradient(torch.zeros(pb.shape, dtype=DT)).reshape(-1)
    torch.testing.assert_close(
        W.reshape(-1),
        -precondition(g, pb.hessian(torch.zeros(pb.shape, dtype=DT)), 1e-4),
    )
    P0 = torch.softmax(pb.X @ torch.zeros(pb.shape, dtype=DT).T, 1)
    _, W = full_batch_run(pb, "diag_empirical", 0.3, n_iter=1)
    torch.testing.assert_close(
        W.reshape(-1),
        -0.3 * g / (softmax_regression_diag_fisher(pb.X, P0, pb.y) + 1e-3),
    )
    _, W = full_batch_run(pb, "empirical", 0.3, n_iter=1, damping=1e-2)
    C = empirical_fisher(per_sample_grads(pb.X, P0, pb.y)) + torch.diag(
        pb.reg.reshape(-1)
    )
    torch.testing.assert_close(W.reshape(-1), -0.3 * precondition(g, C, 1e-2))
    losses, _ = full_batch_run(pb, "natural", 1.0, n_iter=20)
    assert losses[-1] < losses[0] and (losses.diff() <= 1e-12).all()


def test_minibatch_run_rules():
    pb = small_problem(N=30)
    losses, G, S = minibatch_run(
        pb, "lecture", 0.01, seed=3, damping=1e-4, n_steps=5, batch=8
    )
    assert losses.shape == (6,) and G.shape == S.shape == (
        5,
        pb.shape[0] * pb.shape[1],
    )
    # |Δξ| = η|ḡ|/(ḡ² + δ)
    torch.testing.assert_close(S, 0.01 * G / (G**2 + 1e-4))
    _, G, S = minibatch_run(pb, "sgd", 0.2, seed=3, n_steps=5, batch=8)
    torch.testing.assert_close(S, 0.2 * G)
    # the same seed draws the same mini-batches for every rule: the first
    # gradient (at W = 0) agrees
    firsts = [
        minibatch_run(pb, r, 0.1, seed=3, n_steps=1, batch=8)[1][0]
        for r in ("sgd", "diag_fisher", "adam")
    ]
    torch.testing.assert_close(
        firsts[0], firsts[1]
    ) and torch.testing.assert_close(firsts[0], firsts[2])
    _, G, S = minibatch_run(
        pb, "diag_fisher", 0.1, seed=3, damping=1e-2, n_steps=1, batch=8
    )
    rows = torch.randint(
        0, 30, (8,), generator=torch.Generator().manual_seed(3)
    )
    c = softmax_regression_diag_fisher(
        pb.X[rows], torch.full((8, 3), 1 / 3, dtype=DT)
    )
    torch.testing.assert_close(S[0], 0.1 * G[0] / (c + 1e-2))


def test_train_mlp_sgd_is_torch_sgd_and_kfac_lowers_the_loss():
    g = torch.Generator().manual_seed(0)
    X, y = (
        torch.randn(50, 5, generator=g, dtype=DT),
        torch.randint(0, 3, (50,), generator=g),
    )
    losses = train_mlp(X, y, "sgd", 0.5, seed=2, n_steps=6, batch=10, hidden=4)
    default = torch.get_default_dtype()
    torch.set_default_dtype(DT)
    try:
        model = make_mlp(5, 4, 3, seed=2)
    finally:
        torch.set_default_dtype(default)
    gen = torch.Generator().manual_seed(2)
    for _ in range(6):
        rows = torch.randint(0, 50, (10,), generator=gen)
        model.zero_grad()
        torch.nn.functional.cross_entropy(model(X[rows]), y[rows]).backward()
        with torch.no_grad():
            for p in model.parameters():
                p -= 0.5 * p.grad
    torch.testing.assert_close(
        losses[-1], torch.nn.functional.cross_entropy(model(X), y).detach()
    )
    assert losses.shape == (7,) and train_mlp(
        X, y, "sgd", 0.5, seed=2, n_steps=6, batch=10, hidden=4, record=False
    ).shape == (1,)
    k = train_mlp(X, y, "kfac", 0.3, seed=2, n_steps=20, batch=25, hidden=4)
    assert k[-1] < 0.8 * k[0]


# fmt: off
@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: adam_step(torch.zeros(2), torch.ones(2), {}, lr=0.0),
         ValueError, "lr must be"),
        (
            lambda: adam_step(
                torch.zeros(2), torch.ones(2), {}, lr=0.1, betas=(1.0, 0.9)
            ),
            ValueError,
            "betas",
        ),
        (lambda: full_batch_run(small_problem(), "newton", 0.1), ValueError,
         "method must be one of"),
        (lambda: full_batch_run(small_problem(), "gd", 0.0), ValueError,
         "lr must be"),
        (lambda: minibatch_run(small_problem(), "rmsprop", 0.1), ValueError,
         "rule must be one of"),
        (
            lambda: train_mlp(
                torch.zeros(4, 2), torch.tensor([0, 1, 0, 1]), "lbfgs", 0.1
            ),
            ValueError,
            "method must be",
        ),
        (lambda: pooled_digits_problem(rho=0.0), ValueError, "rho must be"),
    ],
)
# fmt: on
def test_bad_input_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_damped_newton_minimizes_a_convex_quartic_and_backtracks_from_far():
    f = lambda x: (x**4).sum() + (x**2).sum()
    grad = lambda x: 4 * x**3 + 2 * x
    r = damped_newton(
        f,
        grad,
        lambda x, g: g / (12 * x**2 + 2),
        torch.tensor([30.0, -0.5], dtype=DT),
        tol=1e-12,
    )
    assert r.converged and r.grad_max < 1e-12 and r.x.abs().max() < 1e-12
    # a feasibility rule halves the step: keep x > 0 while minimizing x - log x
    # (minimum at 1)
    g1 = lambda x: 1 - 1 / x
    r = damped_newton(
        lambda x: (x - x.log()).sum(),
        g1,
        lambda x, g: g * x**2,
        torch.tensor([8.0], dtype=DT),
        feasible=lambda x: bool((x > 0).all()),
    )
    assert r.converged and abs(r.x.item() - 1) < 1e-12 and r.short_steps >= 1


def test_make_mlp_depends_only_on_seed_and_restores_rng():
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    m1, m2 = make_mlp(64, 8, 10, seed=1), make_mlp(64, 8, 10, seed=1)
    # the global generator was not disturbed
    assert torch.equal(torch.rand(1), before)
    for p1, p2 in zip(m1.parameters(), m2.parameters()):
        assert torch.equal(p1, p2)
