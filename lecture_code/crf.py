"""Linear-chain conditional random fields (chapter 9, "CRF：点からパスへ").

Two layers live in this file.

1. **Lesson functions** for one sequence, written to be read: the path score
   S(y|x) = Σ_t ψ_t(y_t) + Σ_t φ(y_t, y_{t+1}) (eq-crf-score), the partition function by
   enumerating all K^T paths (eq-crf-partition), the forward algorithm in log space
   (eq-crf-forward), forward–backward with node and pairwise marginals (eq-crf-backward,
   eq-crf-marginals, eq-crf-pairwise), the forward recursion normalised at every step
   (eq-crf-scaled-forward), Viterbi with backtracking (eq-crf-viterbi), the CRF as an
   exponential family: its sufficient statistics and Fisher matrix by enumeration
   (eq-crf-expfamily, eq-crf-fisher), and the locally normalised chain (MEMM, eq-crf-memm)
   that the label-bias example compares against.
2. :class:`LinearChainCRF`, a drop-in replacement for ``torchcrf.CRF`` (PyPI
   ``pytorch-crf==0.7.2``): same constructor, parameters (``start_transitions``,
   ``end_transitions``, ``transitions``, initialised from U(-0.1, 0.1) in the same order),
   ``forward`` returning the log-likelihood with reductions ``none|sum|mean|token_mean``,
   ``decode`` returning lists of tag ids, the same mask rules and the same error messages
   for bad shapes. It is faster on CPU because

   - the forward recursion is a (B, K) × (K, K) matrix product per step in a rescaled
     exp space (eq-crf-scaled-forward) instead of a (B, K, K) log-sum-exp;
   - the gradient of log Z is the vector of marginals (eq-crf-grad-marginals), so a custom
     ``autograd.Function`` computes it with one backward recursion instead of letting
     autograd retrace T steps;
   - the gold-path score is gathered without a Python loop;
   - Viterbi backtracking runs on an array, not with one ``.item()`` per tag.

   Extras: :meth:`LinearChainCRF.log_partition`, :meth:`LinearChainCRF.marginals`
   (forward–backward, eq-crf-marginals) and hard constraints (``allowed_transitions``,
   e.g. from :func:`bio_allowed_transitions`) enforced as −∞ scores in training and decoding.

3. The simulated BIO corpus of the chapter and its known process (:func:`sample_bio_corpus`,
   :data:`BIO_START_PROBS`, :data:`BIO_TRANSITION_PROBS`, :func:`bio_emission_probs`).

References: Lafferty, McCallum & Pereira (2001) [Lafferty2001] (CRFs, label bias of MEMMs);
McCallum, Freitag & Pereira (2000) [McCallum2000] (MEMMs); Sutton & McCallum (2012)
[Sutton2012] for the forward–backward algorithm and the scaling trick.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import torch
import torch.nn as nn

from .softmax import log_softmax, logsumexp

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
    "bio_allowed_transitions",
    "illegal_transitions",
    "bio_entities",
    "entity_f1",
    "LinearChainCRF",
    "BIO_TAGS",
    "VOCAB",
    "VOCAB_SIZE",
    "BIO_START_PROBS",
    "BIO_TRANSITION_PROBS",
    "bio_emission_probs",
    "sample_bio_corpus",
    "pad_batch",
    "WindowEncoder",
]


# ----------------------------------------------------------------------------------------
# Lesson functions: one sequence, emissions (T, K), transitions (K, K)
# ----------------------------------------------------------------------------------------


def _lesson_inputs(emissions, transitions, start, end):
    emissions = torch.as_tensor(emissions)
    if not emissions.is_floating_point():
        emissions = emissions.to(torch.get_default_dtype())
    if emissions.dim() != 2 or emissions.shape[0] == 0 or emissions.shape[1] == 0:
        raise ValueError(f"emissions must have shape (T, K) with T, K >= 1, got {tuple(emissions.shape)}")
    K = emissions.shape[1]
    transitions = torch.as_tensor(transitions, dtype=emissions.dtype)
    if transitions.shape != (K, K):
        raise ValueError(f"transitions must have shape ({K}, {K}), got {tuple(transitions.shape)}")
    start = torch.zeros(K, dtype=emissions.dtype) if start is None else torch.as_tensor(start, dtype=emissions.dtype)
    end = torch.zeros(K, dtype=emissions.dtype) if end is None else torch.as_tensor(end, dtype=emissions.dtype)
    for name, v in (("start", start), ("end", end)):
        if v.shape != (K,):
            raise ValueError(f"{name} must have shape ({K},), got {tuple(v.shape)}")
    return emissions, transitions, start, end


def sequence_score(emissions, tags, transitions, start=None, end=None) -> torch.Tensor:
    """The score of one tag path (eq-crf-score), plus optional start/end scores.

    S(y|x) = start[y_1] + Σ_t ψ_t(y_t) + Σ_t φ(y_t, y_{t+1}) + end[y_T], where
    ``emissions[t, k]`` = ψ_t(k) and ``transitions[i, j]`` = φ(i, j). ``tags`` may be one
    path (T,) or a batch of paths (N, T); the result has shape () or (N,).
    """
    emissions, transitions, start, end = _lesson_inputs(emissions, transitions, start, end)
    tags = torch.as_tensor(tags, dtype=torch.long)
    T, K = emissions.shape
    if tags.shape[-1:] != (T,):
        raise ValueError(f"tags must have last dimension T={T}, got shape {tuple(tags.shape)}")
    if ((tags < 0) | (tags >= K)).any():
        raise ValueError(f"tags must lie in [0, {K}), got values in [{tags.min().item()}, {tags.max().item()}]")
    psi = emissions[torch.arange(T), tags].sum(-1)  # Σ_t ψ_t(y_t)
    phi = transitions[tags[..., :-1], tags[..., 1:]].sum(-1)  # Σ_t φ(y_t, y_{t+1})
    return start[tags[..., 0]] + psi + phi + end[tags[..., -1]]


def all_paths(T: int, K: int) -> torch.Tensor:
    """Every tag path of length T over K tags, shape (K**T, T), in lexicographic order."""
    if T < 1 or K < 1:
        raise ValueError(f"T and K must be >= 1, got T={T}, K={K}")
    if K**T > 2_000_000:
        raise ValueError(f"K**T = {K**T} paths is too many to enumerate; use forward_log_partition")
    return torch.tensor(list(itertools.product(range(K), repeat=T)), dtype=torch.long).reshape(K**T, T)


def brute_force_log_partition(emissions, transitions, start=None, end=None) -> torch.Tensor:
    """log Z = log Σ_y exp S(y|x) by enumerating all K^T paths (eq-crf-partition)."""
    emissions, transitions, start, end = _lesson_inputs(emissions, transitions, start, end)
    scores = sequence_score(emissions, all_paths(*emissions.shape), transitions, start, end)  # (K^T,)
    return logsumexp(scores, dim=0)


def forward_log_partition(emissions, transitions, start=None, end=None) -> torch.Tensor:
    """log Z by the forward algorithm in log space, O(T K²) (eq-crf-forward).

    log α_1(j) = start[j] + ψ_1(j);  log α_t(j) = ψ_t(j) + LSE_i(log α_{t-1}(i) + φ(i, j));
    log Z = LSE_j(log α_T(j) + end[j]).
    """
    emissions, transitions, start, end = _lesson_inputs(emissions, transitions, start, end)
    log_alpha = start + emissions[0]  # (K,)
    for t in range(1, emissions.shape[0]):
        log_alpha = emissions[t] + logsumexp(log_alpha[:, None] + transitions, dim=0)  # (K,)
    return logsumexp(log_alpha + end, dim=0)


class ForwardBackward(NamedTuple):
    """What :func:`forward_backward` returns; every array is indexed from t = 0."""

    log_alpha: torch.Tensor  #: (T, K) log α_t(j), including ψ_t(j)
    log_beta: torch.Tensor  #: (T, K) log β_t(i), excluding ψ_t(i)
    log_z: torch.Tensor  #: () log Z(x)
    marginals: torch.Tensor  #: (T, K) p(y_t = k | x)
    pair_marginals: torch.Tensor  #: (T-1, K, K) p(y_{t-1} = i, y_t = j | x), entry [t-1, i, j]


def forward_backward(emissions, transitions, start=None, end=None) -> ForwardBackward:
    """Forward and backward messages and the marginals of one sequence, in log space.

    Forward (eq-crf-forward), α_t includes ψ_t:
    log α_1(j) = start[j] + ψ_1(j),  log α_t(j) = ψ_t(j) + LSE_i(log α_{t-1}(i) + φ(i, j)).
    Backward (eq-crf-backward), β_t excludes ψ_t:
    log β_T(i) = end[i],  log β_t(i) = LSE_j(φ(i, j) + ψ_{t+1}(j) + log β_{t+1}(j)).
    Then α_t(k) β_t(k) sums exp S over the paths with y_t = k, so
    p(y_t = k | x) = α_t(k) β_t(k) / Z (eq-crf-marginals) and
    p(y_{t-1} = i, y_t = j | x) = α_{t-1}(i) e^{φ(i, j) + ψ_t(j)} β_t(j) / Z (eq-crf-pairwise).
    Scores must be finite (hard constraints are :class:`LinearChainCRF`'s job).

    Parameters
    ----------
    emissions : tensor (T, K)
        ψ_t(k).
    transitions : tensor (K, K)
        φ(i, j), the score of tag j right after tag i.
    start, end : tensor (K,), optional
        Scores of the first and the last tag (zero if omitted).

    Returns
    -------
    ForwardBackward
        ``log_alpha``, ``log_beta`` (T, K), ``log_z`` (), ``marginals`` (T, K),
        ``pair_marginals`` (T-1, K, K). Differentiable (autograd) in every input.

    Examples
    --------
    >>> fb = forward_backward(torch.zeros(3, 2, dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64))
    >>> round(float(fb.log_z.exp()), 12), fb.marginals[0].numpy().round(12), fb.pair_marginals[0].numpy().round(12)
    (8.0, array([0.5, 0.5]), array([[0.25, 0.25],
           [0.25, 0.25]]))
    """
    emissions, transitions, start, end = _lesson_inputs(emissions, transitions, start, end)
    T, K = emissions.shape
    log_alpha = [start + emissions[0]]  # (K,) per step
    for t in range(1, T):
        log_alpha.append(emissions[t] + logsumexp(log_alpha[-1][:, None] + transitions, dim=0))  # sum over i
    log_beta = [end]  # built from t = T backwards
    for t in range(T - 2, -1, -1):
        log_beta.append(logsumexp(transitions + (emissions[t + 1] + log_beta[-1])[None, :], dim=1))  # sum over j
    log_alpha, log_beta = torch.stack(log_alpha), torch.stack(log_beta[::-1])  # (T, K) each
    log_z = logsumexp(log_alpha[-1] + end, dim=0)
    marginals = torch.exp(log_alpha + log_beta - log_z)  # (T, K)
    pair = log_alpha[:-1, :, None] + transitions + (emissions[1:] + log_beta[1:])[:, None, :]  # (T-1, K, K)
    return ForwardBackward(log_alpha, log_beta, log_z, marginals, torch.exp(pair - log_z))


def scaled_forward(emissions, transitions, start=None, end=None):
    """The forward recursion normalised at every step (eq-crf-scaled-forward).

    α̃_1 = e^{start + ψ_1},  α̃_t = (α̂_{t-1}ᵀ e^Φ) ⊙ e^{ψ_t};  c_t = Σ_j α̃_t(j),  α̂_t = α̃_t / c_t.
    By induction α_t = c_1 ⋯ c_t α̂_t, so log Z = Σ_t log c_t + log Σ_j α̂_T(j) e^{end_j}.
    Each α̂_t is a point of Δ^{K-1}: the distribution of the last tag of the chain cut after
    position t (for a CRF that is an HMM posterior, the filtering distribution p(y_t | x_1..x_t)).
    Before each exponential the largest exponent is subtracted and added back to log c_t,
    so nothing overflows; the returned log c_t are those of the formula above.

    Returns
    -------
    alpha_hat : tensor (T, K)
        α̂_t, rows on the simplex.
    log_c : tensor (T,)
        log c_t (their cumulative sums are log Σ_j α_t(j)).
    log_z : tensor ()
        log Z(x).
    """
    emissions, transitions, start, end = _lesson_inputs(emissions, transitions, start, end)
    m_tr = transitions.max()
    W = torch.exp(transitions - m_tr)  # e^Φ divided by e^{max φ}, entries in (0, 1]
    alpha_hat, log_c = [], []
    for t in range(emissions.shape[0]):
        if t == 0:
            a = start + emissions[0]
            m = a.max()
            tilde, shift = torch.exp(a - m), m  # α̃_1 / e^m
        else:
            m = emissions[t].max()
            tilde, shift = (alpha_hat[-1] @ W) * torch.exp(emissions[t] - m), m + m_tr  # α̃_t / e^{shift}
        c = tilde.sum()
        alpha_hat.append(tilde / c)
        log_c.append(torch.log(c) + shift)
    alpha_hat, log_c = torch.stack(alpha_hat), torch.stack(log_c)
    m_end = end.max()
    log_z = log_c.sum() + torch.log(alpha_hat[-1] @ torch.exp(end - m_end)) + m_end
    return alpha_hat, log_c, log_z


def viterbi(emissions, transitions, start=None, end=None) -> tuple[list[int], float]:
    """The highest-scoring path and its score, by dynamic programming (eq-crf-viterbi).

    δ_1(j) = start[j] + ψ_1(j);  δ_t(j) = ψ_t(j) + max_i(δ_{t-1}(i) + φ(i, j)), remembering
    the maximising i; the best path is read backwards from argmax_j(δ_T(j) + end[j]).
    """
    emissions, transitions, start, end = _lesson_inputs(emissions, transitions, start, end)
    delta = start + emissions[0]  # (K,)
    back = []  # back[t-1][j]: best predecessor of tag j at step t
    for t in range(1, emissions.shape[0]):
        best, arg = (delta[:, None] + transitions).max(dim=0)  # over the previous tag i
        delta = best + emissions[t]
        back.append(arg)
    final = delta + end
    path = [int(final.argmax())]
    for arg in reversed(back):
        path.append(int(arg[path[-1]]))
    return path[::-1], float(final.max())


def path_features(paths, K: int) -> torch.Tensor:
    """The sufficient statistics f(y) of a linear-chain CRF (eq-crf-expfamily), one row per path.

    f(y) = ([y_t = k] for t, k in row-major order (T·K entries), n_ij(y) = #{t : y_{t-1} = i, y_t = j}
    (K² entries)), so that S(y|x) = ⟨(ψ, φ), f(y)⟩ with ψ (T, K) and φ (K, K) flattened row-major
    (without start/end scores: with free ψ they only shift ψ_1 and ψ_T).

    Parameters
    ----------
    paths : tensor (N, T) or (T,) of tag ids in [0, K)
    K : int
        Number of tags.

    Returns
    -------
    torch.Tensor, shape (N, T*K + K*K) (or (T*K + K*K,)), float64

    Examples
    --------
    >>> path_features(torch.tensor([0, 1, 1]), 2).tolist()
    [1.0, 0.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 1.0]
    """
    if isinstance(K, bool) or not isinstance(K, (int, np.integer)) or K < 1:
        raise ValueError(f"K must be an int >= 1, got {K!r}")
    paths = torch.as_tensor(paths)
    if paths.dtype.is_floating_point or paths.dtype == torch.bool or paths.dim() not in (1, 2) or paths.shape[-1] == 0:
        raise ValueError(f"paths must be integer tag ids of shape (T,) or (N, T), got dtype {paths.dtype}, shape {tuple(paths.shape)}")
    if ((paths < 0) | (paths >= K)).any():
        raise ValueError(f"paths must hold tags in [0, {K}), got values in [{int(paths.min())}, {int(paths.max())}]")
    one = paths.dim() == 1
    paths = paths.long().reshape(-1, paths.shape[-1])  # (N, T)
    N, T = paths.shape
    unary = torch.nn.functional.one_hot(paths, K).reshape(N, T * K)  # [y_t = k]
    pairs = paths[:, :-1] * K + paths[:, 1:]  # index of (y_{t-1}, y_t) in the flattened K x K grid
    counts = torch.zeros(N, K * K, dtype=torch.int64).scatter_add_(1, pairs, torch.ones_like(pairs))
    f = torch.cat([unary, counts], dim=1).to(torch.float64)  # (N, T*K + K*K)
    return f[0] if one else f


def crf_fisher(emissions, transitions, start=None, end=None) -> torch.Tensor:
    """The CRF's Fisher matrix in the coordinates (ψ, φ), by enumerating all K^T paths (eq-crf-fisher).

    F = Cov_{p(y|x)}[f(y)] with f from :func:`path_features`: the score of log p(y|x) with respect
    to (ψ, φ) is f(y) - E[f], so the Fisher matrix (eq-fisher-def) is the covariance of the
    sufficient statistics, which is also ∇² log Z. Shape (T*K + K*K, T*K + K*K), float64.
    """
    emissions, transitions, start, end = _lesson_inputs(emissions, transitions, start, end)
    T, K = emissions.shape
    paths = all_paths(T, K)  # (K^T, T)
    scores = sequence_score(emissions.double(), paths, transitions.double(), start.double(), end.double())
    p = torch.exp(scores - logsumexp(scores, dim=0))  # (K^T,)
    f = path_features(paths, K)  # (K^T, M)
    mean = p @ f  # (M,) = (marginals, expected transition counts)
    return (f * p[:, None]).T @ f - torch.outer(mean, mean)


def memm_log_prob(emissions, tags, transitions, start=None) -> torch.Tensor:
    """log p(y|x) of the locally normalised chain (an MEMM) built from the same scores (eq-crf-memm).

    p(y|x) = softmax(start + ψ_1)[y_1] · Π_{t>=2} softmax_j(φ(y_{t-1}, j) + ψ_t(j))[y_t]: one softmax
    per position (given the previous tag), each a point of Δ^{K-1}. The product sums to 1 over
    the K^T paths with no global Z. A CRF puts one softmax over all paths instead
    (eq-crf-likelihood). ``-inf`` entries of ``transitions`` forbid moves (every row needs one
    allowed move). ``tags`` is one path (T,) or a batch (N, T); the result has shape () or (N,).
    """
    emissions, transitions, start, _ = _lesson_inputs(emissions, transitions, start, None)
    tags = torch.as_tensor(tags, dtype=torch.long)
    T, K = emissions.shape
    if tags.shape[-1:] != (T,):
        raise ValueError(f"tags must have last dimension T={T}, got shape {tuple(tags.shape)}")
    if ((tags < 0) | (tags >= K)).any():
        raise ValueError(f"tags must lie in [0, {K})")
    first = log_softmax(start + emissions[0])[tags[..., 0]]  # log p(y_1 | x)
    rows = log_softmax(transitions[tags[..., :-1]] + emissions[1:], dim=-1)  # (..., T-1, K): p(· | y_{t-1}, x)
    rest = rows.gather(-1, tags[..., 1:, None]).squeeze(-1).sum(-1)  # Σ_t log p(y_t | y_{t-1}, x)
    return first + rest


# ----------------------------------------------------------------------------------------
# BIO tags: legal transitions, illegal-transition counts, entities and entity-level F1
# ----------------------------------------------------------------------------------------


def _parse_bio(tag_names: Sequence[str]) -> list[tuple[str, str | None]]:
    if isinstance(tag_names, str) or len(tag_names) == 0:
        raise ValueError("tag_names must be a non-empty list of tag names such as ['O', 'B-PER', 'I-PER']")
    parsed = []
    for name in tag_names:
        if not isinstance(name, str):
            raise TypeError(f"tag names must be strings, got {type(name).__name__}")
        if name == "O":
            parsed.append(("O", None))
        elif len(name) > 2 and name[:2] in ("B-", "I-"):
            parsed.append((name[0], name[2:]))
        else:
            raise ValueError(f"tag name {name!r} is not BIO: expected 'O', 'B-<type>' or 'I-<type>'")
    if len(set(tag_names)) != len(tag_names):
        raise ValueError(f"tag_names contains duplicates: {list(tag_names)}")
    return parsed


def bio_allowed_transitions(tag_names: Sequence[str]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Legal BIO moves: ``I-X`` may only follow ``B-X`` or ``I-X`` and may not start a sentence.

    Returns ``(allowed, allowed_start, allowed_end)``: bool tensors of shape (K, K), (K,), (K,)
    with ``allowed[i, j]`` true when tag j may follow tag i. Pass them to
    :class:`LinearChainCRF` (``allowed_transitions=...``), which turns the forbidden
    entries into −∞ scores.
    """
    parsed = _parse_bio(tag_names)
    K = len(parsed)
    allowed = torch.ones(K, K, dtype=torch.bool)
    for j, (kind_j, type_j) in enumerate(parsed):
        if kind_j == "I":
            for i, (kind_i, type_i) in enumerate(parsed):
                allowed[i, j] = kind_i in ("B", "I") and type_i == type_j
    allowed_start = torch.tensor([kind != "I" for kind, _ in parsed])
    allowed_end = torch.ones(K, dtype=torch.bool)
    return allowed, allowed_start, allowed_end


def illegal_transitions(paths, allowed, allowed_start=None) -> int:
    """Count forbidden moves in tag paths (a list of lists or one list of tag ids).

    A move i → j counts when ``allowed[i, j]`` is false; a path starting with a tag whose
    ``allowed_start`` is false counts once more.
    """
    allowed = torch.as_tensor(allowed, dtype=torch.bool)
    if len(paths) and isinstance(paths[0], (int, np.integer)):
        paths = [paths]
    count = 0
    for path in paths:
        p = torch.as_tensor(list(path), dtype=torch.long)
        if p.numel() == 0:
            continue
        count += int((~allowed[p[:-1], p[1:]]).sum())
        if allowed_start is not None:
            count += int(not bool(torch.as_tensor(allowed_start)[p[0]]))
    return count


def bio_entities(path: Sequence[int], tag_names: Sequence[str]) -> set[tuple[int, int, str]]:
    """Entities ``(first, last + 1, type)`` in one BIO path, read as the CoNLL scorer does.

    An entity starts at ``B-X``, or at an ``I-X`` that does not continue an entity of type X
    (an illegal path still yields entities); it continues over the following ``I-X``.
    """
    parsed = _parse_bio(tag_names)
    entities, begin, current = set(), None, None
    for t, tag in enumerate(list(path) + [None]):
        kind, etype = ("O", None) if tag is None else parsed[int(tag)]
        continues = kind == "I" and etype == current
        if current is not None and not continues:
            entities.add((begin, t, current))
            current = None
        if kind == "B" or (kind == "I" and not continues):
            begin, current = t, etype
    return entities


def entity_f1(true_paths, pred_paths, tag_names: Sequence[str]) -> dict[str, float]:
    """Entity-level precision, recall and F1 (an entity counts only if span and type match)."""
    if len(true_paths) != len(pred_paths):
        raise ValueError(f"true_paths and pred_paths differ in length: {len(true_paths)} vs {len(pred_paths)}")
    tp = n_true = n_pred = 0
    for y, p in zip(true_paths, pred_paths):
        if len(y) != len(p):
            raise ValueError(f"a true path has length {len(y)} but its prediction has length {len(p)}")
        ey, ep = bio_entities(y, tag_names), bio_entities(p, tag_names)
        tp, n_true, n_pred = tp + len(ey & ep), n_true + len(ey), n_pred + len(ep)
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"precision": precision, "recall": recall, "f1": f1}


# ----------------------------------------------------------------------------------------
# Fast batched internals on NumPy arrays (CPU, float32/float64). Layout: time first,
# emissions (T, B, K); lengths (B,) >= 1 count the active (left-aligned) steps.
# NumPy is used because the per-step arrays are tiny: a NumPy call costs about a microsecond,
# a torch call several, and torch's thread pool stalls when the CPU is shared.
# ----------------------------------------------------------------------------------------


def _scaled_forward(em, start, trans, end, lengths, full):
    """Rescaled forward recursion in exp space (eq-crf-scaled-forward).

    With E = exp(φ - max φ) and P_t = exp(ψ_t - max_k ψ_t(k)), the recursion
    α̃_t = (α̂_{t-1} E) ⊙ P_t, c_t = Σ_j α̃_t(j), α̂_t = α̃_t / c_t keeps every α̂_t on the
    simplex, and log Z = Σ_t (log c_t + shifts) + log(α̂_{L-1} · exp(end - max end)).
    Returns log Z (B,), whether no scale underflowed (else use the log-space recursion)
    and the arrays the backward recursion needs.
    """
    T, B, K = em.shape
    with np.errstate(all="ignore"):  # padded steps may hold -inf rows; they are never read
        m_em = em.max(axis=2, keepdims=True)  # (T, B, 1)
        P = np.exp(em - m_em)  # (T, B, K), entries in [0, 1]
        m_tr = trans.max() if np.isfinite(trans.max()) else trans.dtype.type(0)
        E = np.exp(trans - m_tr)  # (K, K)
        m_end = end.max()
        e_end = np.exp(end - m_end)  # (K,)
        s0 = start + em[0]  # (B, K)
        m0 = s0.max(axis=1, keepdims=True)  # (B, 1)
        alphas = np.empty_like(em)  # α̂_t, (T, B, K)
        scales = np.ones((T, B, 1), dtype=em.dtype)  # c_t
        np.exp(s0 - m0, out=alphas[0])
        np.sum(alphas[0], axis=1, keepdims=True, out=scales[0])
        alphas[0] /= scales[0]
        for t in range(1, T):
            a = alphas[t]
            np.dot(alphas[t - 1], E, out=a)  # (B, K) × (K, K)
            a *= P[t]
            np.sum(a, axis=1, keepdims=True, out=scales[t])
            a /= scales[t]
        steps = np.log(scales[1:, :, 0]) + m_em[1:, :, 0] + m_tr  # (T-1, B)
        if full:
            last, step_sum, used = alphas[T - 1], steps.sum(axis=0), scales[:, :, 0]
        else:
            valid = np.arange(T)[:, None] < lengths  # (T, B)
            last = alphas[lengths - 1, np.arange(B)]  # (B, K)
            step_sum = np.where(valid[1:], steps, 0).sum(axis=0)
            used = np.where(valid, scales[:, :, 0], 1)
        c_end = last @ e_end  # (B,)
        log_z = m0[:, 0] + np.log(scales[0, :, 0]) + step_sum + m_end + np.log(c_end)
    tiny = np.finfo(em.dtype).tiny * 1e6
    ok = bool((used > tiny).all() and (c_end > tiny).all() and np.isfinite(log_z).all())
    return log_z, ok, (P, E, e_end, alphas, scales, c_end)


def _scaled_backward(P, E, e_end, alphas, scales, c_end, lengths, full):
    """Rescaled backward recursion: the marginals γ_t and the pairwise factors Q_t.

    β̂_{L-1} = exp(end - max end) / c_end and β̂_t = ((P_{t+1} ⊙ β̂_{t+1}) Eᵀ) / c_{t+1};
    then γ_t = α̂_t ⊙ β̂_t (eq-crf-marginals), and the pairwise marginal of (y_{t-1}, y_t) = (i, j)
    is α̂_{t-1}(i) E_ij Q_t(j) with Q_t = P_t ⊙ β̂_t / c_t. Steps t >= L are set to zero.
    """
    T, B, K = alphas.shape
    betas = np.empty_like(alphas)  # β̂_t, (T, B, K)
    Q = np.zeros_like(alphas)  # P_t ⊙ β̂_t, divided by c_t below
    beta_last = e_end / c_end[:, None]  # (B, K)
    Et = np.ascontiguousarray(E.T)
    betas[T - 1] = beta_last
    with np.errstate(all="ignore"):
        if not full:
            is_last = (lengths - 1 == np.arange(T)[:, None])[:, :, None]  # (T, B, 1)
        for t in range(T - 2, -1, -1):
            np.multiply(P[t + 1], betas[t + 1], out=Q[t + 1])
            b = betas[t]
            np.dot(Q[t + 1], Et, out=b)
            b /= scales[t + 1]
            if not full:  # sequences that end at step t start their recursion here
                np.copyto(b, beta_last, where=is_last[t])
        gamma = alphas * betas  # (T, B, K)
        Q /= scales
        if not full:
            valid = (np.arange(T)[:, None] < lengths)[:, :, None]  # (T, B, 1)
            gamma, Q, alphas = (np.where(valid, x, 0) for x in (gamma, Q, alphas))
    return gamma, Q, alphas


class _ChainCRF(torch.autograd.Function):
    """log Z(x), or log p(y|x) = S(y|x) - log Z(x) when ``tags`` is given, for left-aligned masks.

    The backward pass uses ∇ log Z = marginals (eq-crf-grad-marginals): the gradient with
    respect to ψ_t(k) is p(y_t = k | x), with respect to φ(i, j) the expected number of
    i → j moves. For the log-likelihood the gold path's one-hot counts are added with a minus
    sign on the marginals. No autograd graph is built over the T steps.
    """

    @staticmethod
    def forward(ctx, emissions, start, transitions, end, tags, lengths, batch_first, full):
        em = emissions.detach().numpy()
        em = np.ascontiguousarray(em.transpose(1, 0, 2) if batch_first else em)  # (T, B, K)
        st, tr, en = (x.detach().numpy() for x in (start, transitions, end))
        L = lengths.numpy()
        T, B, K = em.shape
        log_z, ok, saved = _scaled_forward(em, st, tr, en, L, full)
        value = log_z
        y = None
        if tags is not None:
            y = tags.numpy()
            y = np.ascontiguousarray(y.T if batch_first else y)  # (T, B), padding already set to 0
            em_y = np.take_along_axis(em, y[:, :, None], axis=2)[:, :, 0]  # ψ_t(y_t), (T, B)
            inner = tr[y[:-1], y[1:]] + em_y[1:]  # φ(y_{t-1}, y_t) + ψ_t(y_t), (T-1, B)
            if not full:
                inner = np.where(np.arange(1, T)[:, None] < L, inner, 0)
            gold = st[y[0]] + em_y[0] + inner.sum(axis=0) + en[y[L - 1, np.arange(B)]]
            value = gold - log_z
        ctx.saved = saved, L, y, batch_first, full
        return torch.from_numpy(np.ascontiguousarray(value)), torch.tensor(ok)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_value, _grad_ok):
        (P, E, e_end, alphas, scales, c_end), L, y, batch_first, full = ctx.saved
        T, B, K = alphas.shape
        rows = np.arange(B)
        gamma, Q, alphas = _scaled_backward(P, E, e_end, alphas, scales, c_end, L, full)
        g = grad_value.detach().numpy().astype(alphas.dtype)  # (B,)
        gw = g if y is None else -g  # log p(y|x) = S - log Z: the marginals enter with a minus
        g_em = gamma * gw[None, :, None]  # (T, B, K)
        g_start = g_em[0].sum(axis=0)  # (K,)
        g_end = (g_em[T - 1] if full else g_em[L - 1, rows]).sum(axis=0)
        # Σ_{t,b} α̂_{t-1}(i) E_ij Q_t(j) g_b: one (K, (T-1)B) × ((T-1)B, K) product
        g_tr = E * (alphas[:-1].reshape(-1, K).T @ (Q[1:] * gw[None, :, None]).reshape(-1, K))
        if y is not None:  # + the gold path's counts
            w = np.broadcast_to(g, (T, B)) if full else np.where(np.arange(T)[:, None] < L, g, 0)
            g_em.reshape(T * B, K)[np.arange(T * B), y.ravel()] += w.ravel()
            g_start += np.bincount(y[0], weights=g, minlength=K).astype(g.dtype)
            g_end += np.bincount(y[L - 1, rows], weights=g, minlength=K).astype(g.dtype)
            pairs = (y[:-1] * K + y[1:]).ravel()
            g_tr += np.bincount(pairs, weights=w[1:].ravel(), minlength=K * K).reshape(K, K).astype(g.dtype)
        if batch_first:
            g_em = np.ascontiguousarray(g_em.transpose(1, 0, 2))
        grads = [torch.from_numpy(x) for x in (g_em, g_start, g_tr, g_end)]
        return (*[gr if need else None for gr, need in zip(grads, ctx.needs_input_grad[:4])], None, None, None, None)


def _logspace_log_partition(emissions, start, transitions, end, mask):
    """log Z by the log-space forward recursion, exactly as torchcrf computes it (the fallback)."""
    score = start + emissions[0]  # (B, K)
    for t in range(1, emissions.shape[0]):
        nxt = torch.logsumexp(score.unsqueeze(2) + transitions + emissions[t].unsqueeze(1), dim=1)  # (B, K)
        score = torch.where(mask[t].unsqueeze(1), nxt, score)
    return torch.logsumexp(score + end, dim=1)


def _viterbi_batch(em, start, trans, end, mask, lengths, prefix):
    """Batched Viterbi on arrays: torchcrf's additions in torchcrf's order, so the same paths.

    Per step δ_t = max_i((δ_{t-1}(i) + φ(i, j)) + ψ_t(j)) with the first maximiser kept (as
    ``torch.max`` does); the paths are then read backwards for all sequences at once.
    """
    T, B, K = em.shape
    scores = np.empty_like(em)  # δ_t, (T, B, K)
    history = np.empty((max(T - 1, 0), B, K), dtype=np.int64)  # best predecessor, (T-1, B, K)
    buf = np.empty((B, K, K), dtype=em.dtype)  # previous tag i on axis 1, next tag j on axis 2
    np.add(start, em[0], out=scores[0])
    with np.errstate(invalid="ignore"):
        for t in range(1, T):
            np.add(scores[t - 1][:, :, None], trans, out=buf)
            buf += em[t][:, None, :]
            arg = history[t - 1]
            np.argmax(buf, axis=1, out=arg)  # (B, K)
            scores[t] = np.take_along_axis(buf, arg[:, None, :], axis=1)[:, 0, :]  # the max itself
            if not prefix:  # a gap in the mask: carry the score over it, as torchcrf does
                np.copyto(scores[t], scores[t - 1], where=~mask[t][:, None])
    rows = np.arange(B)
    final = (scores[lengths - 1, rows] if prefix else scores[T - 1]) + end  # (B, K)
    best_last = final.argmax(axis=1)
    if not np.isfinite(final[rows, best_last]).all():
        bad = int(np.flatnonzero(~np.isfinite(final[rows, best_last]))[0])
        raise ValueError(f"sequence {bad} has no path with a finite score: constraints or -inf emissions forbid every path")
    # Read the paths backwards: path[p - 1] = history[p - 1][path[p]] for p = seq_end, ..., 1.
    seq_end = lengths - 1
    paths = np.zeros((T, B), dtype=np.int64)
    paths[seq_end, rows] = cur = best_last
    for p in range(T - 1, 0, -1):
        cur = np.where(p <= seq_end, history[p - 1, rows, cur], cur)
        paths[p - 1] = cur
    return [paths[: seq_end[b] + 1, b].tolist() for b in range(B)]


# ----------------------------------------------------------------------------------------
# The module
# ----------------------------------------------------------------------------------------

_FAST_DTYPES = (torch.float32, torch.float64)
_INT_DTYPES = (torch.int64, torch.int32, torch.int16, torch.int8, torch.uint8)


class LinearChainCRF(nn.Module):
    """Linear-chain CRF, a faster drop-in replacement for ``torchcrf.CRF`` (pytorch-crf 0.7.2).

    Parameters
    ----------
    num_tags : int
        Number of tags K.
    batch_first : bool
        If true, emissions are (B, T, K) and tags/masks (B, T); otherwise (T, B, K) and (T, B).
    allowed_transitions : bool tensor (K, K), optional
        Hard constraints: ``allowed_transitions[i, j]`` false forbids tag j right after tag i
        (its score becomes −∞ in :meth:`forward`, :meth:`log_partition`, :meth:`marginals`
        and :meth:`decode`). See :func:`bio_allowed_transitions`.
    allowed_start, allowed_end : bool tensor (K,), optional
        Tags that may open / close a sequence.

    Notes
    -----
    ``start_transitions`` (K,), ``end_transitions`` (K,) and ``transitions`` (K, K; entry
    ``[i, j]`` scores the move i → j) are drawn from U(-0.1, 0.1) in torchcrf's order, so the
    same seed gives the same parameters, and the ``state_dict`` keys are the same (constraints
    are buffers outside it). Masks are bool or uint8, their first step must be on; a mask with
    a gap inside a sequence is treated as torchcrf treats it. CPU float32/float64 inputs take
    the fast path; other dtypes and devices fall back to torchcrf's log-space recursion
    (``decode`` always runs on the CPU, half precision in float32).

    Examples
    --------
    >>> _ = torch.manual_seed(0)
    >>> crf = LinearChainCRF(3, batch_first=True)
    >>> emissions = torch.randn(2, 4, 3)
    >>> tags = torch.tensor([[0, 1, 2, 1], [2, 2, 0, 0]])
    >>> crf(emissions, tags).shape  # the summed log-likelihood
    torch.Size([])
    >>> [len(path) for path in crf.decode(emissions, mask=torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool))]
    [4, 2]
    """

    def __init__(self, num_tags: int, batch_first: bool = False, *, allowed_transitions=None,
                 allowed_start=None, allowed_end=None) -> None:
        if isinstance(num_tags, bool) or not isinstance(num_tags, (int, np.integer)):
            raise TypeError(f"num_tags must be an int, got {type(num_tags).__name__}")
        if num_tags <= 0:
            raise ValueError(f"invalid number of tags: {num_tags}")
        super().__init__()
        self.num_tags = int(num_tags)
        self.batch_first = batch_first
        self.start_transitions = nn.Parameter(torch.empty(num_tags))
        self.end_transitions = nn.Parameter(torch.empty(num_tags))
        self.transitions = nn.Parameter(torch.empty(num_tags, num_tags))
        self.register_buffer("allowed_transitions", None, persistent=False)
        self.register_buffer("allowed_start", None, persistent=False)
        self.register_buffer("allowed_end", None, persistent=False)
        self.reset_parameters()
        self.set_constraints(allowed_transitions, allowed_start, allowed_end)

    def reset_parameters(self) -> None:
        """Initialise the three score tensors from U(-0.1, 0.1), as torchcrf does."""
        nn.init.uniform_(self.start_transitions, -0.1, 0.1)
        nn.init.uniform_(self.end_transitions, -0.1, 0.1)
        nn.init.uniform_(self.transitions, -0.1, 0.1)

    def set_constraints(self, allowed_transitions=None, allowed_start=None, allowed_end=None) -> None:
        """Set hard constraints (bool tensors, true = allowed); call with no arguments to remove them."""
        K = self.num_tags
        for name, value, shape in (("allowed_transitions", allowed_transitions, (K, K)),
                                   ("allowed_start", allowed_start, (K,)), ("allowed_end", allowed_end, (K,))):
            if value is not None:
                value = torch.as_tensor(value)
                if value.dtype != torch.bool:
                    raise TypeError(f"{name} must be a bool tensor, got dtype {value.dtype}")
                if tuple(value.shape) != shape:
                    raise ValueError(f"{name} must have shape {shape}, got {tuple(value.shape)}")
                if not value.any():
                    raise ValueError(f"{name} forbids everything: no tag path would be possible")
                value = value.to(self.transitions.device)
            setattr(self, name, value)

    @property
    def constrained(self) -> bool:
        """Whether any hard constraint is set."""
        return any(x is not None for x in (self.allowed_transitions, self.allowed_start, self.allowed_end))

    def __repr__(self) -> str:
        return f"{self.__class__.__name__}(num_tags={self.num_tags})"

    # -- helpers -----------------------------------------------------------------------

    def _scores(self, dtype):
        """start, transitions, end in ``dtype`` with the forbidden entries set to −∞."""
        start, trans, end = self.start_transitions, self.transitions, self.end_transitions
        if self.allowed_start is not None:
            start = start.masked_fill(~self.allowed_start, -math.inf)
        if self.allowed_transitions is not None:
            trans = trans.masked_fill(~self.allowed_transitions, -math.inf)
        if self.allowed_end is not None:
            end = end.masked_fill(~self.allowed_end, -math.inf)
        return start.to(dtype), trans.to(dtype), end.to(dtype)

    def _validate(self, emissions, tags=None, mask=None):
        """torchcrf's checks with torchcrf's messages, then the checks torchcrf lacks."""
        if not isinstance(emissions, torch.Tensor):
            raise TypeError(f"emissions must be a torch.Tensor, got {type(emissions).__name__}")
        if emissions.dim() != 3:
            raise ValueError(f"emissions must have dimension of 3, got {emissions.dim()}")
        if emissions.size(2) != self.num_tags:
            raise ValueError(f"expected last dimension of emissions is {self.num_tags}, got {emissions.size(2)}")
        if tags is not None:
            if not isinstance(tags, torch.Tensor):
                raise TypeError(f"tags must be a torch.Tensor, got {type(tags).__name__}")
            if emissions.shape[:2] != tags.shape:
                raise ValueError("the first two dimensions of emissions and tags must match, "
                                 f"got {tuple(emissions.shape[:2])} and {tuple(tags.shape)}")
            if tags.dtype not in _INT_DTYPES:
                raise TypeError(f"tags must be an integer tensor, got dtype {tags.dtype}")
        if mask is not None:
            if not isinstance(mask, torch.Tensor):
                raise TypeError(f"mask must be a torch.Tensor, got {type(mask).__name__}")
            if emissions.shape[:2] != mask.shape:
                raise ValueError("the first two dimensions of emissions and mask must match, "
                                 f"got {tuple(emissions.shape[:2])} and {tuple(mask.shape)}")
        if 0 in emissions.shape[:2]:
            raise ValueError(f"emissions must hold at least one time step and one sequence, got shape {tuple(emissions.shape)}")
        if mask is not None:
            if mask.dtype not in (torch.bool, torch.uint8):
                raise TypeError(f"mask must be a bool or uint8 tensor, got dtype {mask.dtype}")
            first = mask[:, 0] if self.batch_first else mask[0]
            if not first.all():
                raise ValueError("mask of the first timestep must all be on")
        if not emissions.is_floating_point():
            raise TypeError(f"emissions must be a floating-point tensor, got dtype {emissions.dtype}")
        x = emissions.detach()
        top = x.numpy().max() if x.device.type == "cpu" and x.dtype in _FAST_DTYPES else x.amax().item()
        if not top < math.inf:  # max is NaN if any entry is NaN
            raise ValueError("emissions contain NaN or +inf")

    def _mask_info(self, mask, T, B, device):
        """The mask as a (T, B) bool tensor (or None), lengths (B,), left-aligned?, all full?"""
        if mask is None:
            return None, torch.full((B,), T, dtype=torch.long), True, True
        mask = (mask.transpose(0, 1) if self.batch_first else mask).to(device=device, dtype=torch.bool)
        lengths = mask.sum(dim=0)  # (B,)
        prefix = bool((mask == (torch.arange(T, device=device)[:, None] < lengths)).all())
        return mask, lengths.cpu(), prefix, prefix and bool((lengths == T).all())

    def _time_first(self, x):
        return x.transpose(0, 1) if self.batch_first else x

    def _fast(self, emissions):
        return emissions.device.type == "cpu" and torch.promote_types(emissions.dtype, self.transitions.dtype) in _FAST_DTYPES

    def _log_z(self, em, scores, mask, lengths, prefix, full):
        """log Z from time-first emissions (any mask); falls back to the log-space recursion."""
        start, trans, end = scores
        if not prefix:  # left-align each sequence's active steps: torchcrf skips the gaps likewise
            order = torch.sort((~mask).to(torch.int8), dim=0, stable=True).indices  # (T, B)
            em = em.gather(0, order[:, :, None].expand_as(em))
        if self._fast(em):
            log_z, ok = _ChainCRF.apply(em, start, trans, end, None, lengths, False, full)
            if bool(ok):
                return log_z
        steps = torch.arange(em.shape[0], device=em.device)[:, None] < lengths.to(em.device)
        return _logspace_log_partition(em, start, trans, end, steps)

    # -- log Z, log-likelihood ------------------------------------------------------------

    def log_partition(self, emissions: torch.Tensor, mask=None) -> torch.Tensor:
        """log Z(x) of every sequence, shape (B,) (eq-crf-partition via eq-crf-scaled-forward)."""
        self._validate(emissions, mask=mask)
        T, B = self._time_first(emissions).shape[:2]
        mask, lengths, prefix, full = self._mask_info(mask, T, B, emissions.device)
        dtype = torch.promote_types(emissions.dtype, self.transitions.dtype)
        return self._log_z(self._time_first(emissions).to(dtype), self._scores(dtype), mask, lengths, prefix, full)

    def _check_tags(self, tags, mask, lengths, prefix):
        """Range and constraint checks on time-first tags; returns tags with padding set to 0."""
        K = self.num_tags
        tags = tags.long()
        out_of_range = (tags < 0) | (tags >= K)
        if prefix and mask is not None:
            out_of_range &= mask  # padding may hold anything (e.g. -100)
        if out_of_range.any():
            t, b = (int(i) for i in out_of_range.nonzero()[0])
            raise ValueError(f"tags must lie in [0, {K}), got {int(tags[t, b])} at time step {t} of sequence {b}")
        if prefix and mask is not None:
            tags = tags.masked_fill(~mask, 0)
        if self.constrained:
            T, B = tags.shape
            on = torch.ones(T, B, dtype=torch.bool) if mask is None else mask.cpu()
            y = tags.cpu()
            last = y[lengths - 1, torch.arange(B)]
            if self.allowed_start is not None and not self.allowed_start.cpu()[y[0]].all():
                raise ValueError("tags start with a tag that allowed_start forbids")
            if self.allowed_end is not None and not self.allowed_end.cpu()[last].all():
                raise ValueError("tags end with a tag that allowed_end forbids")
            if self.allowed_transitions is not None:
                forbidden = on[1:] & ~self.allowed_transitions.cpu()[y[:-1], y[1:]]  # (T-1, B)
                if forbidden.any():
                    t, b = (int(i) for i in forbidden.nonzero()[0])
                    raise ValueError("tags contain a transition that allowed_transitions forbids "
                                     f"({int(y[t, b])} -> {int(y[t + 1, b])} at time step {t + 1} of sequence {b})")
        return tags

    def _gold_score(self, em, tags, mask, lengths, scores):
        """S(y|x) for time-first tensors with torchcrf's mask rule, no time loop (eq-crf-score)."""
        T, B, K = em.shape
        start, trans, end = scores
        on = torch.ones(T, B, dtype=torch.bool, device=em.device) if mask is None else mask
        psi = em.gather(2, tags.unsqueeze(2)).squeeze(2)  # ψ_t(y_t), (T, B)
        phi = trans[tags[:-1], tags[1:]]  # φ(y_{t-1}, y_t), (T-1, B)
        inner = torch.where(on[1:], phi + psi[1:], 0.0).sum(dim=0)  # (B,)
        last = tags[lengths.to(tags.device) - 1, torch.arange(B, device=tags.device)]
        return start[tags[0]] + psi[0] + inner + end[last]

    def forward(self, emissions: torch.Tensor, tags: torch.Tensor, mask=None, reduction: str = "sum") -> torch.Tensor:
        """log p(y|x) = S(y|x) - log Z(x) (eq-crf-likelihood), reduced like torchcrf.

        Returns shape (B,) for ``reduction='none'``, a scalar otherwise (``sum``, ``mean``
        over sequences, ``token_mean`` = sum / number of active mask entries).
        """
        self._validate(emissions, tags=tags, mask=mask)
        if reduction not in ("none", "sum", "mean", "token_mean"):
            raise ValueError(f"invalid reduction: {reduction}")
        T, B = self._time_first(emissions).shape[:2]
        mask, lengths, prefix, full = self._mask_info(mask, T, B, emissions.device)
        tags = self._check_tags(self._time_first(tags), mask, lengths, prefix)
        dtype = torch.promote_types(emissions.dtype, self.transitions.dtype)
        scores = self._scores(dtype)
        llh = None
        if prefix and self._fast(emissions):
            tags_in = tags.transpose(0, 1) if self.batch_first else tags
            value, ok = _ChainCRF.apply(emissions.to(dtype), *scores, tags_in.contiguous(), lengths, self.batch_first, full)
            llh = value if bool(ok) else None
        if llh is None:  # gaps in the mask, another dtype or device, or extreme scores
            em = self._time_first(emissions).to(dtype)
            tags = tags.to(em.device)
            llh = self._gold_score(em, tags, mask, lengths, scores) - self._log_z(em, scores, mask, lengths, prefix, full)
        if reduction == "none":
            return llh
        if reduction == "sum":
            return llh.sum()
        if reduction == "mean":
            return llh.mean()
        return llh.sum() / lengths.sum().float()

    # -- marginals and decoding -----------------------------------------------------------

    def marginals(self, emissions: torch.Tensor, mask=None) -> torch.Tensor:
        """p(y_t = k | x) by forward–backward (eq-crf-marginals), in the layout of ``emissions``.

        Returns (B, T, K) when ``batch_first`` (else (T, B, K)); masked steps are zero. Not
        differentiable (differentiate :meth:`log_partition` instead: its gradient is this).
        """
        self._validate(emissions, mask=mask)
        em = self._time_first(emissions).detach()
        T, B = em.shape[:2]
        mask, lengths, prefix, full = self._mask_info(mask, T, B, emissions.device)
        dtype = torch.promote_types(em.dtype, self.transitions.dtype)
        start, trans, end = (x.detach().cpu() for x in self._scores(dtype))
        em = em.to(dtype).cpu()
        if not prefix:
            order = torch.sort((~mask.cpu()).to(torch.int8), dim=0, stable=True).indices  # (T, B)
            em = em.gather(0, order[:, :, None].expand_as(em))
        ok = False
        if dtype in _FAST_DTYPES:
            _, ok, saved = _scaled_forward(np.ascontiguousarray(em.numpy()), start.numpy(), trans.numpy(),
                                           end.numpy(), lengths.numpy(), full)
        if ok:
            gamma = torch.from_numpy(_scaled_backward(*saved, lengths.numpy(), full)[0])
        else:  # extreme scores or another dtype: differentiate the log-space recursion
            with torch.enable_grad():
                e = em.clone().requires_grad_(True)
                log_z = _logspace_log_partition(e, start, trans, end, torch.arange(T)[:, None] < lengths)
                gamma = torch.autograd.grad(log_z.sum(), e)[0]
        if not prefix:  # undo the left-alignment
            gamma = torch.zeros_like(gamma).scatter_(0, order[:, :, None].expand_as(gamma), gamma)
        gamma = gamma.to(emissions.device)
        return gamma.transpose(0, 1) if self.batch_first else gamma

    def decode(self, emissions: torch.Tensor, mask=None) -> list[list[int]]:
        """The best tag path of every sequence by Viterbi (eq-crf-viterbi), as lists of tag ids."""
        self._validate(emissions, mask=mask)
        em = self._time_first(emissions).detach()
        T, B = em.shape[:2]
        mask, lengths, prefix, _ = self._mask_info(mask, T, B, emissions.device)
        dtype = torch.promote_types(em.dtype, self.transitions.dtype)
        if dtype not in _FAST_DTYPES:
            dtype = torch.float32
        start, trans, end = (x.detach().cpu().numpy() for x in self._scores(dtype))
        em = np.ascontiguousarray(em.to(dtype).cpu().numpy())
        mask = None if mask is None else mask.cpu().numpy()
        return _viterbi_batch(em, start, trans, end, mask, lengths.numpy(), prefix)


# ----------------------------------------------------------------------------------------
# A BIO corpus from a known process, and a small window encoder (the chapter's experiment)
# ----------------------------------------------------------------------------------------

#: Tag names of the simulated corpus.
BIO_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]

#: Word-id ranges of the simulated vocabulary: ordinary words, person names, place names,
#: and ambiguous words that can be either a person or a place.
VOCAB = {"O": range(0, 60), "PER": range(60, 80), "LOC": range(80, 100), "AMB": range(100, 120)}
VOCAB_SIZE = 121  # id 120 is padding


#: The corpus's true process, row by row: p(first tag) and p(next tag | previous tag), in the
#: order of :data:`BIO_TAGS`. Only legal BIO moves have positive probability.
BIO_START_PROBS = (0.6, 0.2, 0.0, 0.2, 0.0)
BIO_TRANSITION_PROBS = (
    (0.7, 0.15, 0.0, 0.15, 0.0),  # after O
    (0.3, 0.05, 0.6, 0.05, 0.0),  # after B-PER
    (0.3, 0.05, 0.6, 0.05, 0.0),  # after I-PER
    (0.3, 0.05, 0.0, 0.05, 0.6),  # after B-LOC
    (0.3, 0.05, 0.0, 0.05, 0.6),  # after I-LOC
)
_KIND = (None, "PER", "PER", "LOC", "LOC")  # entity type of each tag


def _check_corpus_args(p_ambiguous):
    if not 0 <= p_ambiguous <= 1:
        raise ValueError(f"p_ambiguous must lie in [0, 1], got {p_ambiguous!r}")


def bio_emission_probs(p_ambiguous: float = 0.6) -> torch.Tensor:
    """p(word | tag) of :func:`sample_bio_corpus`, shape (VOCAB_SIZE, 5), float64.

    An O token is uniform over the 60 ordinary words; a token of an entity of type X is an
    ambiguous word (uniform over 20) with probability ``p_ambiguous``, else a word of type X
    (uniform over 20). The padding id has probability 0 under every tag. B-X and I-X emit alike.
    """
    _check_corpus_args(p_ambiguous)
    E = torch.zeros(VOCAB_SIZE, len(BIO_TAGS), dtype=torch.float64)
    for k, kind in enumerate(_KIND):
        if kind is None:
            E[list(VOCAB["O"]), k] = 1 / len(VOCAB["O"])
        else:
            E[list(VOCAB["AMB"]), k] += p_ambiguous / len(VOCAB["AMB"])
            E[list(VOCAB[kind]), k] += (1 - p_ambiguous) / len(VOCAB[kind])
    return E


def sample_bio_corpus(n_sentences: int, seed: int = 0, min_len: int = 6, max_len: int = 20,
                      p_ambiguous: float = 0.6):
    """Sentences from a known hidden Markov process over BIO tags (simulated data).

    Tags follow a Markov chain that only makes legal BIO moves (:data:`BIO_START_PROBS`,
    :data:`BIO_TRANSITION_PROBS`): a sentence starts with O (0.6) or B-PER / B-LOC (0.2 each);
    after O comes O (0.7) or a B- tag (0.15 each); inside an entity, I-X continues it (0.6),
    O ends it (0.3) or another entity begins (0.05 each). Each word is drawn given its tag only
    (:func:`bio_emission_probs`): an entity token of type X is an ambiguous word
    (``VOCAB['AMB']``, shared by PER and LOC) with probability ``p_ambiguous``, else a word of
    type X; an O token is an ordinary word. Lengths are uniform on [min_len, max_len] and
    independent of the tags.

    Returns ``(words, tags)``: two lists of ``n_sentences`` integer lists.
    """
    if n_sentences < 1 or not 1 <= min_len <= max_len:
        raise ValueError("need n_sentences >= 1 and 1 <= min_len <= max_len")
    _check_corpus_args(p_ambiguous)
    rng = np.random.default_rng(seed)
    # cumulative probabilities of the next tag, one row per previous tag; row 5 is "start"
    next_tag = np.cumsum([*BIO_TRANSITION_PROBS, BIO_START_PROBS], axis=1)
    words, tags = [], []
    for _ in range(n_sentences):
        T = int(rng.integers(min_len, max_len + 1))
        u_tag, u_amb, u_word = rng.random(T), rng.random(T), rng.random(T)
        y, x, prev = [], [], 5
        for t in range(T):
            prev = int(np.searchsorted(next_tag[prev], u_tag[t], side="right"))
            pool = "O" if _KIND[prev] is None else ("AMB" if u_amb[t] < p_ambiguous else _KIND[prev])
            ids = VOCAB[pool]
            y.append(prev)
            x.append(ids[int(u_word[t] * len(ids))])
        words.append(x)
        tags.append(y)
    return words, tags


def pad_batch(seqs, pad: int):
    """Pad integer lists into a (B, T_max) long tensor; returns it and the (B, T_max) bool mask."""
    lengths = np.array([len(s) for s in seqs])
    if len(seqs) == 0 or lengths.min() < 1:
        raise ValueError("seqs must be a non-empty list of non-empty sequences")
    mask = np.arange(lengths.max())[None, :] < lengths[:, None]  # (B, T_max)
    out = np.full(mask.shape, pad, dtype=np.int64)
    out[mask] = np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs])  # row by row
    return torch.from_numpy(out), torch.from_numpy(mask)


class WindowEncoder(nn.Module):
    """Emission scores ψ_t from the words at t-1, t, t+1: embeddings → MLP → K scores (B, T, K)."""

    def __init__(self, vocab_size: int, num_tags: int, dim: int = 16, hidden: int = 32, pad: int | None = None):
        super().__init__()
        self.pad = vocab_size - 1 if pad is None else pad
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=self.pad)
        self.mlp = nn.Sequential(nn.Linear(3 * dim, hidden), nn.Tanh(), nn.Linear(hidden, num_tags))

    def forward(self, words: torch.Tensor) -> torch.Tensor:
        padded = nn.functional.pad(words, (1, 1), value=self.pad)  # (B, T + 2)
        e = self.embed(padded)  # (B, T + 2, dim)
        window = torch.cat([e[:, :-2], e[:, 1:-1], e[:, 2:]], dim=-1)  # (B, T, 3 dim)
        return self.mlp(window)  # (B, T, K)
