"""Linear-chain conditional random fields, the lesson (chapter 9,
"CRF：点からパスへ").

Functions for one sequence, written to be read: the path score
S(y|x) = Σ_t ψ_t(y_t) + Σ_t φ(y_t, y_{t+1}) (eq-crf-score), the partition
function by enumerating all K^T paths (eq-crf-partition), the forward
algorithm in log space (eq-crf-forward), forward–backward with node and
pairwise marginals (eq-crf-backward, eq-crf-marginals, eq-crf-pairwise), the
forward recursion normalised at every step (eq-crf-scaled-forward), Viterbi
with backtracking (eq-crf-viterbi), the CRF as an exponential family: its
sufficient statistics and Fisher matrix by enumeration (eq-crf-expfamily,
eq-crf-fisher), and the locally normalised chain (MEMM, eq-crf-memm) that the
label-bias example compares against.

The rest of the chapter's code lives next door: :mod:`lecture_code.bio` (BIO
tags, entities, entity F1, the simulated corpus),
:mod:`lecture_code.linear_chain_crf` (the batched, torchcrf-compatible
:class:`LinearChainCRF`, re-exported here so that ``from lecture_code.crf
import LinearChainCRF`` keeps working) and :mod:`lecture_code.crf_experiment`
(the chapter's taggers and measurements).

References: Lafferty, McCallum & Pereira (2001) [Lafferty2001] (CRFs, label
bias of MEMMs); McCallum, Freitag & Pereira (2000) [McCallum2000] (MEMMs);
Sutton & McCallum (2012) [Sutton2012] for the forward–backward algorithm and
the scaling trick.
"""

from __future__ import annotations

import itertools
from typing import NamedTuple

import torch

from .linear_chain_crf import LinearChainCRF
from .softmax import log_softmax, logsumexp
from .validate import integer

__all__ = [
    "sequence_score",
    "all_paths",
    "brute_force_log_partition",
    "forward_log_partition",
    "ForwardBackward",
    "forward_backward",
    "scaled_forward",
    "viterbi",
    "path_features",
    "crf_fisher",
    "memm_log_prob",
    "LinearChainCRF",
]


def _paths(tags, T: int, K: int) -> torch.Tensor:
    """``tags`` as a long tensor of paths (..., T) with labels in [0, K)."""
    tags = torch.as_tensor(tags, dtype=torch.long)
    if tags.shape[-1:] != (T,):
        raise ValueError(
            f"tags must have last dimension T={T}, got shape "
            f"{tuple(tags.shape)}"
        )
    if ((tags < 0) | (tags >= K)).any():
        raise ValueError(
            f"tags must lie in [0, {K}), got values in [{tags.min().item()}, "
            f"{tags.max().item()}]"
        )
    return tags


def _lesson_inputs(emissions, transitions, start, end):
    emissions = torch.as_tensor(emissions)
    if not emissions.is_floating_point():
        emissions = emissions.to(torch.get_default_dtype())
    if (
        emissions.dim() != 2
        or emissions.shape[0] == 0
        or emissions.shape[1] == 0
    ):
        raise ValueError(
            "emissions must have shape (T, K) with T, K >= 1, got "
            f"{tuple(emissions.shape)}"
        )
    K = emissions.shape[1]
    transitions = torch.as_tensor(transitions, dtype=emissions.dtype)
    if transitions.shape != (K, K):
        raise ValueError(
            f"transitions must have shape ({K}, {K}), got "
            f"{tuple(transitions.shape)}"
        )
    start = (
        torch.zeros(K, dtype=emissions.dtype)
        if start is None
        else torch.as_tensor(start, dtype=emissions.dtype)
    )
    end = (
        torch.zeros(K, dtype=emissions.dtype)
        if end is None
        else torch.as_tensor(end, dtype=emissions.dtype)
    )
    for name, v in (("start", start), ("end", end)):
        if v.shape != (K,):
            raise ValueError(
                f"{name} must have shape ({K},), got {tuple(v.shape)}"
            )
    return emissions, transitions, start, end


def sequence_score(
    emissions, tags, transitions, start=None, end=None
) -> torch.Tensor:
    """The score of one tag path (eq-crf-score), plus optional start/end
    scores.

    S(y|x) = start[y_1] + Σ_t ψ_t(y_t) + Σ_t φ(y_t, y_{t+1}) + end[y_T], where
    ``emissions[t, k]`` = ψ_t(k) and ``transitions[i, j]`` = φ(i, j). ``tags``
    may be one path (T,) or a batch of paths (N, T); the result has shape () or
    (N,).

    Parameters
    ----------
    emissions : torch.Tensor, shape (T, K)
        Emission scores ψ_t(k).
    tags : torch.Tensor of int, shape (T,) or (N, T)
        One tag path or a batch of paths.
    transitions : torch.Tensor, shape (K, K)
        φ(i, j), the score of tag j right after tag i.
    start, end : torch.Tensor, shape (K,), optional
        Scores of the first and the last tag (zero if omitted).

    Returns
    -------
    torch.Tensor, shape () or (N,)
        S(y|x) of each path.
    """
    emissions, transitions, start, end = _lesson_inputs(
        emissions, transitions, start, end
    )
    T, K = emissions.shape
    tags = _paths(tags, T, K)
    psi = emissions[torch.arange(T), tags].sum(-1)  # Σ_t ψ_t(y_t)
    # Σ_t φ(y_t, y_{t+1})
    phi = transitions[tags[..., :-1], tags[..., 1:]].sum(-1)
    return start[tags[..., 0]] + psi + phi + end[tags[..., -1]]


def all_paths(T: int, K: int) -> torch.Tensor:
    """Every tag path of length T over K tags, shape (K**T, T), in
    lexicographic order.

    Parameters
    ----------
    T : int
        Path length.
    K : int
        Number of tags.

    Returns
    -------
    torch.Tensor of int64, shape (K**T, T)
        One path per row.
    """
    if T < 1 or K < 1:
        raise ValueError(f"T and K must be >= 1, got T={T}, K={K}")
    if K**T > 2_000_000:
        raise ValueError(
            f"K**T = {K**T} paths is too many to enumerate; use "
            "forward_log_partition"
        )
    return torch.tensor(
        list(itertools.product(range(K), repeat=T)), dtype=torch.long
    ).reshape(K**T, T)


def brute_force_log_partition(
    emissions, transitions, start=None, end=None
) -> torch.Tensor:
    """log Z = log Σ_y exp S(y|x) by enumerating all K^T paths
    (eq-crf-partition).

    Parameters
    ----------
    emissions : torch.Tensor, shape (T, K)
        Emission scores ψ_t(k).
    transitions : torch.Tensor, shape (K, K)
        φ(i, j), the score of tag j right after tag i.
    start, end : torch.Tensor, shape (K,), optional
        Scores of the first and the last tag (zero if omitted).

    Returns
    -------
    torch.Tensor, shape ()
        log Z(x).
    """
    emissions, transitions, start, end = _lesson_inputs(
        emissions, transitions, start, end
    )
    paths = all_paths(*emissions.shape)  # (K^T, T)
    scores = sequence_score(emissions, paths, transitions, start, end)
    return logsumexp(scores, dim=0)


def forward_log_partition(
    emissions, transitions, start=None, end=None
) -> torch.Tensor:
    """log Z by the forward algorithm in log space, O(T K²) (eq-crf-forward).

    log α_1(j) = start[j] + ψ_1(j);
    log α_t(j) = ψ_t(j) + LSE_i(log α_{t-1}(i) + φ(i, j));
    log Z = LSE_j(log α_T(j) + end[j]).

    Parameters
    ----------
    emissions : torch.Tensor, shape (T, K)
        Emission scores ψ_t(k).
    transitions : torch.Tensor, shape (K, K)
        φ(i, j), the score of tag j right after tag i.
    start, end : torch.Tensor, shape (K,), optional
        Scores of the first and the last tag (zero if omitted).

    Returns
    -------
    torch.Tensor, shape ()
        log Z(x), differentiable in every input.
    """
    emissions, transitions, start, end = _lesson_inputs(
        emissions, transitions, start, end
    )
    log_alpha = start + emissions[0]  # (K,)
    for t in range(1, emissions.shape[0]):
        via_i = log_alpha[:, None] + transitions  # (K, K), [i, j]
        log_alpha = emissions[t] + logsumexp(via_i, dim=0)  # (K,)
    return logsumexp(log_alpha + end, dim=0)


class ForwardBackward(NamedTuple):
    """What :func:`forward_backward` returns; every array is indexed from
    t = 0."""

    log_alpha: torch.Tensor  #: (T, K) log α_t(j), including ψ_t(j)
    log_beta: torch.Tensor  #: (T, K) log β_t(i), excluding ψ_t(i)
    log_z: torch.Tensor  #: () log Z(x)
    marginals: torch.Tensor  #: (T, K) p(y_t = k | x)
    #: (T-1, K, K) p(y_{t-1} = i, y_t = j | x), entry [t-1, i, j]
    pair_marginals: torch.Tensor


def forward_backward(
    emissions, transitions, start=None, end=None
) -> ForwardBackward:
    """Forward and backward messages and the marginals of one sequence, in log
    space.

    Forward (eq-crf-forward), α_t includes ψ_t: log α_1(j) = start[j] + ψ_1(j),
    log α_t(j) = ψ_t(j) + LSE_i(log α_{t-1}(i) + φ(i, j)). Backward
    (eq-crf-backward), β_t excludes ψ_t: log β_T(i) = end[i],
    log β_t(i) = LSE_j(φ(i, j) + ψ_{t+1}(j) + log β_{t+1}(j)). Then
    α_t(k) β_t(k) sums exp S over the paths with y_t = k, so
    p(y_t = k | x) = α_t(k) β_t(k) / Z (eq-crf-marginals) and
    p(y_{t-1} = i, y_t = j | x) = α_{t-1}(i) e^{φ(i, j) + ψ_t(j)} β_t(j) / Z
    (eq-crf-pairwise). Scores must be finite (hard constraints are
    :class:`LinearChainCRF`'s job).

    Parameters
    ----------
    emissions : torch.Tensor, shape (T, K)
        ψ_t(k).
    transitions : torch.Tensor, shape (K, K)
        φ(i, j), the score of tag j right after tag i.
    start, end : torch.Tensor, shape (K,), optional
        Scores of the first and the last tag (zero if omitted).

    Returns
    -------
    ForwardBackward
        ``log_alpha``, ``log_beta`` (T, K), ``log_z`` (), ``marginals`` (T, K),
        ``pair_marginals`` (T-1, K, K). Differentiable (autograd) in every
        input.

    Examples
    --------
    >>> zeros = torch.zeros(2, 2, dtype=torch.float64)
    >>> fb = forward_backward(torch.zeros(3, 2, dtype=torch.float64), zeros)
    >>> (round(float(fb.log_z.exp()), 12), fb.marginals[0].numpy().round(12),
    ...  fb.pair_marginals[0].numpy().round(12))
    (8.0, array([0.5, 0.5]), array([[0.25, 0.25],
           [0.25, 0.25]]))
    """
    emissions, transitions, start, end = _lesson_inputs(
        emissions, transitions, start, end
    )
    T, K = emissions.shape
    log_alpha = [start + emissions[0]]  # (K,) per step
    for t in range(1, T):
        # sum over i
        log_alpha.append(
            emissions[t]
            + logsumexp(log_alpha[-1][:, None] + transitions, dim=0)
        )
    log_beta = [end]  # built from t = T backwards
    for t in range(T - 2, -1, -1):
        # sum over j
        log_beta.append(
            logsumexp(
                transitions + (emissions[t + 1] + log_beta[-1])[None, :], dim=1
            )
        )
    # (T, K) each
    log_alpha, log_beta = torch.stack(log_alpha), torch.stack(log_beta[::-1])
    log_z = logsumexp(log_alpha[-1] + end, dim=0)
    marginals = torch.exp(log_alpha + log_beta - log_z)  # (T, K)
    pair = (
        log_alpha[:-1, :, None]
        + transitions
        + (emissions[1:] + log_beta[1:])[:, None, :]
    )
    return ForwardBackward(
        log_alpha, log_beta, log_z, marginals, torch.exp(pair - log_z)
    )


def scaled_forward(emissions, transitions, start=None, end=None):
    """The forward recursion normalised at every step (eq-crf-scaled-forward).

    α̃_1 = e^{start + ψ_1}, α̃_t = (α̂_{t-1}ᵀ e^Φ) ⊙ e^{ψ_t};
    c_t = Σ_j α̃_t(j), α̂_t = α̃_t / c_t. By induction α_t = c_1 ⋯ c_t α̂_t, so
    log Z = Σ_t log c_t + log Σ_j α̂_T(j) e^{end_j}. Each α̂_t is a point of
    Δ^{K-1}: the distribution of the last tag of the chain cut after position t
    (for a CRF that is an HMM posterior, the filtering distribution
    p(y_t | x_1..x_t)). Before each exponential the largest exponent is
    subtracted and added back to log c_t, so nothing overflows; the returned
    log c_t are those of the formula above.

    Parameters
    ----------
    emissions : torch.Tensor, shape (T, K)
        Emission scores ψ_t(k).
    transitions : torch.Tensor, shape (K, K)
        φ(i, j), the score of tag j right after tag i.
    start, end : torch.Tensor, shape (K,), optional
        Scores of the first and the last tag (zero if omitted).

    Returns
    -------
    alpha_hat : torch.Tensor, shape (T, K)
        α̂_t, rows on the simplex.
    log_c : torch.Tensor, shape (T,)
        log c_t (their cumulative sums are log Σ_j α_t(j)).
    log_z : torch.Tensor, shape ()
        log Z(x).
    """
    emissions, transitions, start, end = _lesson_inputs(
        emissions, transitions, start, end
    )
    m_tr = transitions.max()
    # e^Φ divided by e^{max φ}, entries in (0, 1]
    W = torch.exp(transitions - m_tr)
    alpha_hat, log_c = [], []
    for t in range(emissions.shape[0]):
        if t == 0:
            a = start + emissions[0]
            m = a.max()
            tilde, shift = torch.exp(a - m), m  # α̃_1 / e^m
        else:
            m = emissions[t].max()
            # α̃_t / e^{shift}
            tilde, shift = (
                (alpha_hat[-1] @ W) * torch.exp(emissions[t] - m),
                m + m_tr,
            )
        c = tilde.sum()
        alpha_hat.append(tilde / c)
        log_c.append(torch.log(c) + shift)
    alpha_hat, log_c = torch.stack(alpha_hat), torch.stack(log_c)
    m_end = end.max()
    log_z = (
        log_c.sum() + torch.log(alpha_hat[-1] @ torch.exp(end - m_end)) + m_end
    )
    return alpha_hat, log_c, log_z


def viterbi(
    emissions, transitions, start=None, end=None
) -> tuple[list[int], float]:
    """The highest-scoring path and its score, by dynamic programming
    (eq-crf-viterbi).

    δ_1(j) = start[j] + ψ_1(j); δ_t(j) = ψ_t(j) + max_i(δ_{t-1}(i) + φ(i, j)),
    remembering the maximising i; the best path is read backwards from
    argmax_j(δ_T(j) + end[j]).

    Parameters
    ----------
    emissions : torch.Tensor, shape (T, K)
        Emission scores ψ_t(k).
    transitions : torch.Tensor, shape (K, K)
        φ(i, j), the score of tag j right after tag i.
    start, end : torch.Tensor, shape (K,), optional
        Scores of the first and the last tag (zero if omitted).

    Returns
    -------
    tuple
        The best path (list of T tag ids) and its score S(y|x) (float).
    """
    emissions, transitions, start, end = _lesson_inputs(
        emissions, transitions, start, end
    )
    delta = start + emissions[0]  # (K,)
    back = []  # back[t-1][j]: best predecessor of tag j at step t
    for t in range(1, emissions.shape[0]):
        # over the previous tag i
        best, arg = (delta[:, None] + transitions).max(dim=0)
        delta = best + emissions[t]
        back.append(arg)
    final = delta + end
    path = [int(final.argmax())]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    return path[::-1], float(final.max())


def path_features(paths, K: int) -> torch.Tensor:
    """The sufficient statistics f(y) of a linear-chain CRF (eq-crf-expfamily),
    one row per path.

    f(y) = ([y_t = k] for t, k in row-major order (T·K entries),
    n_ij(y) = #{t : y_{t-1} = i, y_t = j} (K² entries)), so that
    S(y|x) = ⟨(ψ, φ), f(y)⟩ with ψ (T, K) and φ (K, K) flattened row-major
    (without start/end scores: with free ψ they only shift ψ_1 and ψ_T).

    Parameters
    ----------
    paths : torch.Tensor of int, shape (N, T) or (T,)
        Tag ids in [0, K).
    K : int
        Number of tags.

    Returns
    -------
    torch.Tensor, shape (N, T*K + K*K) or (T*K + K*K,)
        f(y) of every path, float64.

    Examples
    --------
    >>> path_features(torch.tensor([0, 1, 1]), 2).tolist()
    [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    """
    K = integer(K, "K", minimum=1)
    paths = torch.as_tensor(paths)
    if (
        paths.dtype.is_floating_point
        or paths.dtype == torch.bool
        or paths.dim() not in (1, 2)
        or paths.shape[-1] == 0
    ):
        raise ValueError(
            "paths must be integer tag ids of shape (T,) or (N, T), got "
            f"dtype {paths.dtype}, shape {tuple(paths.shape)}"
        )
    if ((paths < 0) | (paths >= K)).any():
        raise ValueError(
            f"paths must hold tags in [0, {K}), got values in "
            f"[{int(paths.min())}, {int(paths.max())}]"
        )
    one = paths.dim() == 1
    paths = paths.long().reshape(-1, paths.shape[-1])  # (N, T)
    N, T = paths.shape
    # [y_t = k]
    unary = torch.nn.functional.one_hot(paths, K).reshape(N, T * K)
    # index of (y_{t-1}, y_t) in the flattened K x K grid
    pairs = paths[:, :-1] * K + paths[:, 1:]
    counts = torch.zeros(N, K * K, dtype=torch.int64).scatter_add_(
        1, pairs, torch.ones_like(pairs)
    )
    f = torch.cat([unary, counts], dim=1).to(torch.float64)  # (N, T*K + K*K)
    return f[0] if one else f


def crf_fisher(emissions, transitions, start=None, end=None) -> torch.Tensor:
    """The CRF's Fisher matrix in the coordinates (ψ, φ), by enumerating all
    K^T paths (eq-crf-fisher).

    F = Cov_{p(y|x)}[f(y)] with f from :func:`path_features`: the score of log
    p(y|x) with respect to (ψ, φ) is f(y) - E[f], so the Fisher matrix
    (eq-fisher-def) is the covariance of the sufficient statistics, which is
    also ∇² log Z. Shape (T*K + K*K, T*K + K*K), float64.

    Parameters
    ----------
    emissions : torch.Tensor, shape (T, K)
        Emission scores ψ_t(k).
    transitions : torch.Tensor, shape (K, K)
        φ(i, j), the score of tag j right after tag i.
    start, end : torch.Tensor, shape (K,), optional
        Scores of the first and the last tag (zero if omitted).

    Returns
    -------
    torch.Tensor, shape (T*K + K*K, T*K + K*K)
        The Fisher matrix, float64.
    """
    emissions, transitions, start, end = _lesson_inputs(
        emissions, transitions, start, end
    )
    T, K = emissions.shape
    paths = all_paths(T, K)  # (K^T, T)
    scores = sequence_score(
        emissions.double(),
        paths,
        transitions.double(),
        start.double(),
        end.double(),
    )
    p = torch.exp(scores - logsumexp(scores, dim=0))  # (K^T,)
    f = path_features(paths, K)  # (K^T, M)
    mean = p @ f  # (M,) = (marginals, expected transition counts)
    return (f * p[:, None]).T @ f - torch.outer(mean, mean)


def memm_log_prob(emissions, tags, transitions, start=None) -> torch.Tensor:
    """log p(y|x) of the locally normalised chain (an MEMM) built from the same
    scores (eq-crf-memm).

    p(y|x) = Π_t softmax_j(φ(y_{t-1}, j) + ψ_t(j))[y_t] with
    φ(y_0, j) = start[j]: one softmax per position (given the previous tag),
    each a point of Δ^{K-1}. The product sums to 1 over the K^T paths with no
    global Z. A CRF puts one softmax over all paths instead
    (eq-crf-likelihood). ``-inf`` entries of ``transitions`` forbid moves
    (every row needs one allowed move). ``tags`` is one path (T,) or a batch
    (N, T); the result has shape () or (N,).

    Parameters
    ----------
    emissions : torch.Tensor, shape (T, K)
        Emission scores ψ_t(k).
    tags : torch.Tensor of int, shape (T,) or (N, T)
        One tag path or a batch of paths.
    transitions : torch.Tensor, shape (K, K)
        φ(i, j), the score of tag j right after tag i.
    start : torch.Tensor, shape (K,), optional
        Scores of the first tag (zero if omitted).

    Returns
    -------
    torch.Tensor, shape () or (N,)
        log p(y|x) of each path.
    """
    emissions, transitions, start, _ = _lesson_inputs(
        emissions, transitions, start, None
    )
    T, K = emissions.shape
    tags = _paths(tags, T, K)
    first = log_softmax(start + emissions[0])[tags[..., 0]]  # log p(y_1 | x)
    # (..., T-1, K): p(· | y_{t-1}, x)
    rows = log_softmax(transitions[tags[..., :-1]] + emissions[1:], dim=-1)
    # Σ_t log p(y_t | y_{t-1}, x)
    rest = rows.gather(-1, tags[..., 1:, None]).squeeze(-1).sum(-1)
    return first + rest
