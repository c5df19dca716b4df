"""Tests for lecture_code.discrete: Gumbel-max, Gumbel-softmax,
straight-through, gradient estimators."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from scipy import stats

from lecture_code.discrete import (
    exact_gradient,
    gumbel_max_sample,
    gumbel_noise,
    gumbel_softmax,
    relaxed_grads,
    score_function_grads,
    straight_through,
)
from lecture_code.softmax import softmax

Z = torch.tensor([2.0, 1.0, 0.1], dtype=torch.float64)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def test_gumbel_noise_matches_scipy_gumbel():
    g = gumbel_noise((50_000,), generator=gen(), dtype=torch.float64)
    assert torch.isfinite(g).all()
    assert stats.kstest(g.numpy(), stats.gumbel_r.cdf).pvalue > 1e-3


def test_gumbel_noise_is_reproducible_and_validates():
    assert torch.equal(
        gumbel_noise((4, 3), gen(1)), gumbel_noise((4, 3), gen(1))
    )
    with pytest.raises(ValueError, match="shape"):
        gumbel_noise((-1, 2))
    with pytest.raises(TypeError, match="generator"):
        gumbel_noise((2,), generator=0)


def test_gumbel_max_is_distributed_as_softmax():
    n = 60_000
    y = gumbel_max_sample(Z.expand(n, -1), generator=gen(2))
    counts = torch.bincount(y, minlength=3).numpy()
    expected = (softmax(Z) * n).numpy()
    assert stats.chisquare(counts, expected).pvalue > 1e-3


def test_gumbel_max_never_picks_masked():
    z = torch.tensor([0.0, float("-inf"), 0.0])
    y = gumbel_max_sample(z.expand(1000, -1), generator=gen(3))
    assert not (y == 1).any()


def test_gumbel_softmax_lies_on_simplex_and_validates():
    y = gumbel_softmax(Z.expand(100, -1), tau=0.5, generator=gen())
    assert torch.allclose(y.sum(-1), torch.ones(100, dtype=torch.float64))
    assert (y > 0).all()
    for bad in (0.0, -1.0, float("inf")):
        with pytest.raises(ValueError, match="tau"):
            gumbel_softmax(Z, tau=bad)
    with pytest.raises(ValueError, match="NaN"):
        gumbel_softmax(torch.tensor([0.0, float("nan")]), tau=1.0)
    with pytest.raises(TypeError, match="hard"):
        gumbel_softmax(Z, tau=1.0, hard=1)


def test_gumbel_softmax_equals_softmax_of_perturbed_logits():
    g = gumbel_noise(Z.shape, generator=gen(5), dtype=torch.float64)
    y = gumbel_softmax(Z, tau=0.7, generator=gen(5))
    assert torch.allclose(y, torch.softmax((Z + g) / 0.7, dim=-1))


def test_straight_through_value_and_gradient():
    z = Z.clone().requires_grad_(True)
    w = torch.tensor([0.3, -1.0, 2.0], dtype=torch.float64)
    hard = gumbel_softmax(z, tau=0.5, hard=True, generator=gen(7))
    assert torch.equal(
        hard.detach(), F.one_hot(hard.argmax(), 3).to(torch.float64)
    )
    (g_hard,) = torch.autograd.grad((w * hard).sum(), z)
    z2 = Z.clone().requires_grad_(True)
    soft = gumbel_softmax(z2, tau=0.5, hard=False, generator=gen(7))
    (g_soft,) = torch.autograd.grad((w * soft).sum(), z2)
    assert torch.allclose(g_hard, g_soft)
    assert hard.argmax() == soft.argmax()


def test_straight_through_validates():
    with pytest.raises(TypeError, match="soft"):
        straight_through([0.2, 0.8])
    with pytest.raises(ValueError, match="NaN"):
        straight_through(torch.tensor([0.5, float("nan")]))


def test_agrees_in_distribution_with_torch_gumbel_softmax():
    n = 20_000
    ours = gumbel_softmax(Z.expand(n, -1), tau=0.8, generator=gen(11))
    torch.manual_seed(11)
    ref = F.gumbel_softmax(Z.expand(n, -1), tau=0.8)
    assert stats.ks_2samp(ours[:, 0].numpy(), ref[:, 0].numpy()).pvalue > 1e-3
    ours_h = gumbel_softmax(
        Z.expand(n, -1), tau=0.8, hard=True, generator=gen(12)
    ).argmax(-1)
    ref_h = F.gumbel_softmax(Z.expand(n, -1), tau=0.8, hard=True).argmax(-1)
    table = torch.stack(
        [
            torch.bincount(ours_h, minlength=3),
            torch.bincount(ref_h, minlength=3),
        ]
    ).numpy()
    assert stats.chi2_contingency(table).pvalue > 1e-3


def f_quadratic(y):
    t = torch.tensor([0.2, 0.5, 0.3], dtype=y.dtype)
    return ((y - t) ** 2).sum(-1)


def test_exact_gradient_matches_autograd_enumeration():
    z = Z.clone().requires_grad_(True)
    p = torch.softmax(z, -1)
    fv = f_quadratic(torch.eye(3, dtype=torch.float64))
    (ref,) = torch.autograd.grad((p * fv).sum(), z)
    assert torch.allclose(exact_gradient(Z, f_quadratic), ref)


@pytest.mark.parametrize("baseline", [False, True])
def test_score_function_is_unbiased(baseline):
    g = score_function_grads(
        Z, f_quadratic, 200_000, baseline=baseline, generator=gen(13)
    )
    se = g.std(0) / g.shape[0] ** 0.5
    assert (
        (g.mean(0) - exact_gradient(Z, f_quadratic)).abs() < 5 * se + 1e-12
    ).all()


def test_baseline_reduces_variance():
    a = (
        score_function_grads(
            Z, f_quadratic, 50_000, baseline=False, generator=gen(14)
        )
        .var(0)
        .sum()
    )
    b = (
        score_function_grads(
            Z, f_quadratic, 50_000, baseline=True, generator=gen(14)
        )
        .var(0)
        .sum()
    )
    assert b < a


def test_relaxed_grads_match_single_autograd():
    grads = relaxed_grads(Z, f_quadratic, tau=0.5, n=4, generator=gen(15))
    zs = Z.expand(4, -1).clone().requires_grad_(True)
    y = gumbel_softmax(zs, 0.5, generator=gen(15))
    (ref,) = torch.autograd.grad(f_quadratic(y).sum(), zs)
    assert torch.allclose(grads, ref)


def test_gumbel_softmax_gradient_is_biased_at_tau_one():
    g = relaxed_grads(Z, f_quadratic, tau=1.0, n=100_000, generator=gen(16))
    se = g.std(0) / g.shape[0] ** 0.5
    assert ((g.mean(0) - exact_gradient(Z, f_quadratic)).abs() > 10 * se).any()


def test_estimators_validate():
    with pytest.raises(ValueError, match="n must"):
        score_function_grads(Z, f_quadratic, 1)
    with pytest.raises(ValueError, match="z must have 1 dimension"):
        exact_gradient(Z.expand(2, -1), f_quadratic)


def test_group_baseline_is_unbiased_and_leave_one_out():
    g = score_function_grads(
        Z, f_quadratic, 200_000, baseline=True, group=16, generator=gen(20)
    )
    se = g.std(0) / g.shape[0] ** 0.5
    assert (
        (g.mean(0) - exact_gradient(Z, f_quadratic)).abs() < 5 * se + 1e-12
    ).all()
    # group = n is the default (one group of all samples)
    a = score_function_grads(
        Z, f_quadratic, 64, baseline=True, group=64, generator=gen(21)
    )
    b = score_function_grads(
        Z, f_quadratic, 64, baseline=True, generator=gen(21)
    )
    assert torch.allclose(a, b)
    # by hand for one group of 4
    y = gumbel_max_sample(Z.expand(4, -1), generator=gen(22))
    fy = f_quadratic(torch.eye(3, dtype=torch.float64))[y]
    ref = torch.stack(
        [
            (fy[i] - (fy.sum() - fy[i]) / 3)
            * (F.one_hot(y[i], 3).double() - softmax(Z))
            for i in range(4)
        ]
    )
    assert torch.allclose(
        score_function_grads(
            Z, f_quadratic, 4, baseline=True, group=4, generator=gen(22)
        ),
        ref,
    )
    with pytest.raises(ValueError, match="group"):
        score_function_grads(Z, f_quadratic, 10, baseline=True, group=3)
    with pytest.raises(ValueError, match="baseline=True"):
        score_function_grads(Z, f_quadratic, 10, group=5)


def test_deterministic_ste_is_jacobian_times_grad_f_at_argmax_vertex():
    from lecture_code.discrete import deterministic_ste_grad
    from lecture_code.softmax import softmax_jacobian

    z = torch.tensor([0.3, 1.7, -0.4, 0.9], dtype=torch.float64)
    t = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    vertex = F.one_hot(z.argmax(), 4).double()
    grad_f = 2 * (vertex - t)  # ∇ ||y - t||² at the vertex
    ref = softmax_jacobian(z).T @ grad_f
    assert torch.allclose(
        deterministic_ste_grad(z, lambda y: ((y - t) ** 2).sum(-1)), ref
    )


def test_summarize_estimates_by_hand():
    from lecture_code.discrete import summarize_estimates

    G = torch.tensor(
        [[1.0, 0.0], [3.0, 0.0], [0.0, 2.0], [0.0, 2.0]], dtype=torch.float64
    )
    s = summarize_estimates(
        G, torch.tensor([1.0, 1.0], dtype=torch.float64), batch=2
    )
    assert math.isclose(s["rel_bias"], 0.0, abs_tol=1e-15) and math.isclose(
        s["cos"], 1.0
    )
    assert math.isclose(s["norm_ratio"], 1.0) and math.isclose(
        s["var"], G.var(0).sum().item()
    )
    # batch means (2, 0) and (0, 2)
    assert math.isclose(s["batch_cos"], 1 / math.sqrt(2))
    assert math.isclose(s["se"], torch.linalg.norm(G.std(0)).item() / 2)
    with pytest.raises(ValueError, match="batch"):
        summarize_estimates(G, torch.ones(2, dtype=torch.float64), batch=5)


def test_bayes_vertex_zero_one_is_argmax_and_absolute_loss_is_the_median():
    from lecture_code.discrete import bayes_vertex

    P = np.random.default_rng(0).dirichlet(np.ones(5), size=500)
    zero_one = 1 - np.eye(5)
    R, k = bayes_vertex(P, zero_one)
    assert np.allclose(R, 1 - P) and (k == P.argmax(1)).all()
    absolute = np.abs(np.subtract.outer(np.arange(5), np.arange(5)))
    R, k = bayes_vertex(P, absolute)
    # the (lower) median
    assert (k == (np.cumsum(P, 1) >= 0.5).argmax(1)).all()
    # the risk is the 1-Wasserstein distance to the point mass at k (L1 between
    # the CDFs)
    W1 = np.stack(
        [
            np.abs(np.cumsum(P, 1) - np.cumsum(np.eye(5)[j])).sum(1)
            for j in range(5)
        ],
        axis=1,
    )
    assert np.allclose(R, W1)
    assert bayes_vertex([0.45, 0.15, 0.40], absolute[:3, :3])[1] == 1
    with pytest.raises(ValueError, match="loss"):
        bayes_vertex(P, np.ones((3, 3)))
    with pytest.raises(ValueError, match="P must sum to 1"):
        bayes_vertex([0.5, 0.6], np.ones((2, 2)))
