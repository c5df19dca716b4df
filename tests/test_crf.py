"""Tests for lecture_code.crf, the lesson: every function against
enumeration of all K^T paths and autograd."""

from __future__ import annotations

import math

import pytest
import torch

from lecture_code import crf as lc
from lecture_code.crf import LinearChainCRF

BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def brute_force(emissions, start, trans, end, allowed=None):
    """log Z, the best path and the marginals of one sequence (T, K) by
    listing all paths."""
    T, K = emissions.shape
    paths = lc.all_paths(T, K)
    scores = lc.sequence_score(emissions, paths, trans, start, end)
    if allowed is not None:
        legal = allowed[paths[:, :-1], paths[:, 1:]].all(dim=1)
        scores = torch.where(legal, scores, -torch.inf)
    p = torch.softmax(scores, dim=0)
    marg = torch.zeros(T, K, dtype=emissions.dtype)
    for t in range(T):
        marg[t].index_add_(0, paths[:, t], p)
    return torch.logsumexp(scores, 0), paths[scores.argmax()].tolist(), marg


@pytest.mark.parametrize("T,K", [(1, 3), (2, 2), (4, 3), (5, 4), (3, 6)])
def test_log_partition_forward_and_viterbi_match_enumeration(T, K):
    g = torch.Generator().manual_seed(T * 10 + K)
    em = torch.randn(T, K, generator=g, dtype=torch.float64) * 2
    trans = torch.randn(K, K, generator=g, dtype=torch.float64)
    start, end = (
        torch.randn(K, generator=g, dtype=torch.float64),
        torch.randn(K, generator=g, dtype=torch.float64),
    )
    log_z, best, marg = brute_force(em, start, trans, end)
    torch.testing.assert_close(
        lc.brute_force_log_partition(em, trans, start, end), log_z
    )
    torch.testing.assert_close(
        lc.forward_log_partition(em, trans, start, end),
        log_z,
        rtol=1e-12,
        atol=1e-12,
    )
    path, score = lc.viterbi(em, trans, start, end)
    assert path == best
    assert score == pytest.approx(
        float(lc.sequence_score(em, best, trans, start, end)), abs=1e-12
    )
    crf = LinearChainCRF(K, batch_first=True).double()
    with torch.no_grad():
        (
            crf.start_transitions.copy_(start),
            crf.transitions.copy_(trans),
            crf.end_transitions.copy_(end),
        )
    torch.testing.assert_close(
        crf.log_partition(em[None])[0], log_z, rtol=1e-12, atol=1e-12
    )
    assert crf.decode(em[None]) == [best]
    m = crf.marginals(em[None])[0]
    torch.testing.assert_close(m, marg, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(m.sum(-1), torch.ones(T, dtype=torch.float64))


def test_sequence_score_is_the_sum_of_emissions_and_transitions():
    em = torch.tensor(
        [[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]], dtype=torch.float64
    )
    trans = torch.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=torch.float64)
    # path 1 -> 0 -> 0: ψ = 2 + 0.5 + 3, φ = 0.3 + 0.1
    assert float(lc.sequence_score(em, [1, 0, 0], trans)) == pytest.approx(5.9)


def _case(T, K, seed, scale=1.0, ends=True):
    g = torch.Generator().manual_seed(seed)
    em = scale * torch.randn(T, K, generator=g, dtype=torch.float64)
    tr = torch.randn(K, K, generator=g, dtype=torch.float64)
    st = torch.randn(K, generator=g, dtype=torch.float64) if ends else None
    en = torch.randn(K, generator=g, dtype=torch.float64) if ends else None
    return em, tr, st, en


@pytest.mark.parametrize("T,K", [(1, 3), (2, 2), (4, 3), (5, 4)])
def test_forward_backward_matches_enumeration(T, K):
    em, tr, st, en = _case(T, K, seed=T + 7 * K)
    fb = lc.forward_backward(em, tr, st, en)
    log_z, _, marg = brute_force(em, st, tr, en)
    torch.testing.assert_close(fb.log_z, log_z, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fb.marginals, marg, rtol=1e-10, atol=1e-12)
    # Σ_k α_t(k) β_t(k) = Z at every t (eq-crf-marginals)
    torch.testing.assert_close(
        torch.logsumexp(fb.log_alpha + fb.log_beta, 1),
        log_z.expand(T),
        rtol=1e-12,
        atol=1e-12,
    )
    # pairwise marginals by enumeration
    paths = lc.all_paths(T, K)
    p = torch.softmax(lc.sequence_score(em, paths, tr, st, en), 0)
    pair = torch.zeros(max(T - 1, 0), K, K, dtype=torch.float64)
    for t in range(1, T):
        pair[t - 1].index_put_(
            (paths[:, t - 1], paths[:, t]), p, accumulate=True
        )
    torch.testing.assert_close(fb.pair_marginals, pair, rtol=1e-10, atol=1e-12)
    # β_T = exp(end), α_1 = exp(start + ψ_1)
    torch.testing.assert_close(fb.log_beta[-1], en)
    torch.testing.assert_close(fb.log_alpha[0], st + em[0])


def test_forward_backward_gradients_are_its_marginals():
    """autograd of log Z from forward_backward gives its own node and pair
    marginals (eq-crf-grad-marginals)."""
    em, tr, st, en = _case(5, 3, seed=11)
    em.requires_grad_(True), tr.requires_grad_(True)
    fb = lc.forward_backward(em, tr, st, en)
    g_em, g_tr = torch.autograd.grad(fb.log_z, (em, tr))
    torch.testing.assert_close(
        g_em, fb.marginals.detach(), rtol=1e-10, atol=1e-12
    )
    torch.testing.assert_close(
        g_tr, fb.pair_marginals.detach().sum(0), rtol=1e-10, atol=1e-12
    )


def test_scaled_forward_log_z_scales_and_filtering():
    em, tr, st, en = _case(6, 3, seed=2)
    alpha_hat, log_c, log_z = lc.scaled_forward(em, tr, st, en)
    fb = lc.forward_backward(em, tr, st, en)
    torch.testing.assert_close(log_z, fb.log_z, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(
        alpha_hat.sum(1), torch.ones(6, dtype=torch.float64)
    )
    torch.testing.assert_close(
        log_c.cumsum(0),
        torch.logsumexp(fb.log_alpha, 1),
        rtol=1e-12,
        atol=1e-12,
    )
    # α̂_t = marginal of the last tag of the chain cut after t
    for t in range(6):
        paths = lc.all_paths(t + 1, 3)
        p = torch.softmax(lc.sequence_score(em[: t + 1], paths, tr, st), 0)
        last = torch.zeros(3, dtype=torch.float64).index_add_(
            0, paths[:, -1], p
        )
        torch.testing.assert_close(alpha_hat[t], last, rtol=1e-10, atol=1e-12)
    # huge scores: the direct product would overflow float64, the scaled
    # recursion does not
    big = 1000.0 * em
    _, _, log_z_big = lc.scaled_forward(big, tr, st, en)
    torch.testing.assert_close(
        log_z_big,
        lc.forward_log_partition(big, tr, st, en),
        rtol=1e-12,
        atol=1e-9,
    )
    assert torch.isfinite(log_z_big)
    # and it agrees with the library's batched NumPy version
    crf = LinearChainCRF(3, batch_first=True).double()
    with torch.no_grad():
        (
            crf.start_transitions.copy_(st),
            crf.transitions.copy_(tr),
            crf.end_transitions.copy_(en),
        )
    torch.testing.assert_close(
        crf.log_partition(em[None])[0], log_z, rtol=1e-12, atol=1e-12
    )


def test_path_features_give_the_score():
    em, tr, _, _ = _case(4, 3, seed=5, ends=False)
    paths = lc.all_paths(4, 3)
    f = lc.path_features(paths, 3)
    assert f.shape == (81, 4 * 3 + 9) and f.dtype == torch.float64
    xi = torch.cat([em.ravel(), tr.ravel()])
    torch.testing.assert_close(
        f @ xi, lc.sequence_score(em, paths, tr), rtol=1e-12, atol=1e-12
    )
    assert torch.equal(lc.path_features(paths[5], 3), f[5])
    assert (f[:, :12].reshape(81, 4, 3).sum(-1) == 1).all() and (
        f[:, 12:].sum(-1) == 3
    ).all()
    with pytest.raises(ValueError, match="paths must hold tags"):
        lc.path_features([0, 3], 3)
    with pytest.raises(ValueError, match="K must be"):
        lc.path_features([0, 1], 0)
    with pytest.raises(ValueError, match="integer tag ids"):
        lc.path_features(torch.tensor([0.0, 1.0]), 2)


@pytest.mark.parametrize("T,K", [(2, 2), (3, 2), (4, 3), (6, 3), (3, 5)])
def test_crf_fisher_is_the_hessian_and_has_the_family_dimension(T, K):
    """rank Cov[f] = T(K-1) + (K-1)² (prop-crf-dimension); at φ = 0 the ψ
    block has rank T(K-1)."""
    em, tr, _, _ = _case(T, K, seed=3 * T + K, ends=False)
    F = lc.crf_fisher(em, tr)
    d = T * (K - 1) + (K - 1) ** 2
    assert int(torch.linalg.matrix_rank(F)) == d
    ev = torch.linalg.eigvalsh(F)
    assert ev[-d] > 1e-5 and ev[:-d].abs().max() < 1e-12
    F0 = lc.crf_fisher(em, torch.zeros(K, K, dtype=torch.float64))[
        : T * K, : T * K
    ]
    assert int(torch.linalg.matrix_rank(F0)) == T * (K - 1)
    if T * K + K * K <= 40:
        xi = torch.cat([em.ravel(), tr.ravel()])
        H = torch.autograd.functional.hessian(
            lambda v: lc.forward_log_partition(
                v[: T * K].reshape(T, K), v[T * K :].reshape(K, K)
            ),
            xi,
        )
        torch.testing.assert_close(H, F, rtol=1e-10, atol=1e-12)


def test_crf_fisher_for_a_single_position_is_the_softmax_covariance():
    em = torch.tensor([[0.3, -1.0, 2.0]], dtype=torch.float64)
    F = lc.crf_fisher(em, torch.zeros(3, 3, dtype=torch.float64))
    p = torch.softmax(em[0], 0)
    torch.testing.assert_close(F[:3, :3], torch.diag(p) - torch.outer(p, p))
    # K - 1 (no transitions when T = 1)
    assert int(torch.linalg.matrix_rank(F)) == 2


def test_memm_is_locally_normalised_and_causal():
    em, tr, st, _ = _case(3, 3, seed=9)
    paths = lc.all_paths(3, 3)
    p = lc.memm_log_prob(em, paths, tr, st).exp()
    torch.testing.assert_close(p.sum(), torch.tensor(1.0, dtype=torch.float64))
    # p(y_1, y_2 | x) does not depend on ψ_3 (label bias: later words cannot
    # change earlier decisions)
    em2 = em.clone()
    em2[2] = torch.tensor([5.0, -3.0, 0.0], dtype=torch.float64)
    p2 = lc.memm_log_prob(em2, paths, tr, st).exp()
    prefix = paths[:, 0] * 3 + paths[:, 1]
    torch.testing.assert_close(
        torch.zeros(9, dtype=torch.float64).index_add_(0, prefix, p),
        torch.zeros(9, dtype=torch.float64).index_add_(0, prefix, p2),
    )
    # with φ = 0 both models are the product of per-position softmaxes
    zero = torch.zeros(3, 3, dtype=torch.float64)
    torch.testing.assert_close(
        lc.memm_log_prob(em, paths, zero),
        lc.sequence_score(em, paths, zero)
        - lc.forward_log_partition(em, zero),
    )
    # a state with one allowed successor passes all its mass on, whatever the
    # next word says
    tr_one = torch.full((2, 2), -torch.inf, dtype=torch.float64)
    tr_one[0, 1] = tr_one[1, 0] = 0.0
    for s in (-4.0, 0.0, 4.0):
        e = torch.tensor([[0.0, 0.3], [s, -s]], dtype=torch.float64)
        assert float(
            lc.memm_log_prob(e, [0, 1], tr_one).exp()
        ) == pytest.approx(1 / (1 + math.exp(0.3)))
    with pytest.raises(ValueError, match="last dimension"):
        lc.memm_log_prob(em, [0, 1], tr)


def test_lesson_input_errors():
    with pytest.raises(ValueError, match="transitions must have shape"):
        lc.forward_log_partition(torch.randn(3, 2), torch.randn(3, 3))
    with pytest.raises(ValueError, match="too many"):
        lc.all_paths(30, 9)
