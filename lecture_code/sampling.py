"""Next-token sampling as nanochat does it: temperature, top-k and (added here)
top-p (chapter 11).

Book equations: (eq-sample-temperature) p = softmax(z/τ), τ = 0 meaning argmax;
(eq-sample-topk) keep the k largest logits; (eq-sample-topp) keep the smallest
set of most probable tokens whose probability reaches p_top (nucleus sampling,
Holtzman et al. 2020); (eq-softcap) the logit soft cap c·tanh(z/c) and
(eq-softcap-bounds) the bounds it puts on every probability,
1/(1 + (V-1) e^{2c/τ}) < p_i < 1/(1 + (V-1) e^{-2c/τ}).

:func:`sample_next_token` performs the operations of ``sample_next_token`` in
nanochat's ``nanochat/engine.py`` (Karpathy 2025; commit 92d63d4, lines
141-156) in the same order — top-k, divide by the temperature, softmax,
``torch.multinomial`` with the caller's generator, gather back the token ids —
so with the same ``torch.Generator`` seed and no ``top_p`` it draws the same
tokens (tests/test_sampling.py restates nanochat's order and checks this).
nanochat has no ``top_p``; here it only sets the probabilities of the tokens
outside the nucleus (:func:`top_p_mask`) to 0, after the temperature, and the
draw sees the candidates in nanochat's order (not re-sorted). ``top_p = 1`` is
no truncation at all, so it draws exactly the tokens that ``top_p=None`` draws.
:func:`sampling_distribution` returns the exact distribution the sampler draws
from. :func:`softcap` is what nanochat's ``GPT.forward`` (``nanochat/gpt.py``
lines 511-515 at the same commit) applies to the logits, with c = 15, before
both the loss and sampling.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .validate import as_tensor, generator, in_interval, integer, positive


def _check_logits(logits) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(
            "logits must be a torch.Tensor of shape (B, V), got "
            f"{type(logits).__name__}"
        )
    if not logits.is_floating_point():
        raise TypeError(
            f"logits must be a floating tensor, got dtype {logits.dtype}"
        )
    if logits.dim() != 2:
        raise ValueError(
            f"logits must have shape (B, V), got shape {tuple(logits.shape)}"
        )
    logits = as_tensor(logits, "logits", nan=False)
    if logits.shape[1] == 0:
        raise ValueError("logits has an empty vocabulary axis (V = 0)")
    return logits


def _check_options(temperature, top_k, top_p):
    positive(temperature, "temperature", allow_zero=True)  # 0 means argmax
    if top_k is not None:
        integer(top_k, "top_k", minimum=1)
    if top_p is not None:
        in_interval(top_p, "top_p", 0.0, 1.0, closed="right")


def top_p_mask(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Boolean mask (B, n) of the tokens that top-p keeps (eq-sample-topp), in
    the order of ``probs``.

    Rule: with the probabilities sorted in decreasing order, p_(1) >= p_(2) >=
    ..., the token of rank r is kept iff the mass strictly before it is below
    ``top_p``,

        sum_{s<r} p_(s) < top_p * S, S = sum_s p_(s) (S = 1 up to rounding),

    which is r <= N_p in (eq-sample-topp); the most probable token is always
    kept. ``top_p = 1`` keeps every token (no truncation, decided before any
    arithmetic).

    The mass before r is not taken from a running sum of the most probable
    tokens: in float32 that sum reaches 1.0 while tokens remain (it
    "saturates"; with logits (10, -10, ..., -10) the first probability already
    rounds to 1.0), then 1.0 - p_(r) rounds to 1.0 and every later token is
    dropped, even at top_p = 1. Instead the comparison is written with the tail
    T_r = sum_{s>=r} p_(s) = S - sum_{s<r} p_(s) as T_r > (1 - top_p) * S, and
    T_r is summed in float64 from the least probable token up
    (float32 -> float64 is exact). No small term is then absorbed by a large
    one: each T_r carries a relative error of at most about n * 2^-53
    (n = number of tokens), so only a token whose mass before lies that close
    to top_p * S can land on the wrong side of the cut. Ties are ranked by
    position (stable sort).

    Parameters
    ----------
    probs : torch.Tensor, shape (B, n)
        Non-negative probabilities (each row sums to 1 up to rounding), any
        order.
    top_p : float
        Target mass of the nucleus, in (0, 1].

    Returns
    -------
    torch.Tensor of bool, shape (B, n)
        True for the tokens in the nucleus.

    Examples
    --------
    >>> top_p_mask(torch.tensor([[0.15, 0.5, 0.3, 0.05]]), 0.6).tolist()
    [[False, True, True, False]]
    """
    if not isinstance(probs, torch.Tensor) or not probs.is_floating_point():
        raise TypeError(
            "probs must be a floating torch.Tensor of shape (B, n), got "
            f"{type(probs).__name__}"
        )
    if probs.dim() != 2:
        raise ValueError(
            f"probs must have shape (B, n), got shape {tuple(probs.shape)}"
        )
    if not (probs >= 0).all():  # also catches NaN
        raise ValueError("probs must be non-negative (and not NaN)")
    if not (probs.sum(dim=-1) > 0).all():
        raise ValueError("every row of probs must have a positive sum")
    if in_interval(top_p, "top_p", 0.0, 1.0, closed="right") >= 1.0:
        return torch.ones_like(probs, dtype=torch.bool)
    ranked, order = torch.sort(probs, dim=-1, descending=True, stable=True)
    # (B, n): T_r, summed from the smallest up
    tail = ranked.double().flip(-1).cumsum(dim=-1).flip(-1)
    # tail[:, 0] = S; rank 1 always passes
    keep_ranked = tail > (1.0 - top_p) * tail[:, :1]
    # back to the order of probs
    return torch.zeros_like(keep_ranked).scatter_(1, order, keep_ranked)


def _truncated(logits: torch.Tensor, temperature: float, top_k, top_p):
    """(weights over the candidates, their token ids or None for the full
    vocabulary).

    The weights are the tempered softmax with the tokens outside the nucleus
    set to 0, not renormalized (``torch.multinomial`` normalizes; with nothing
    removed they are bit for bit the probabilities nanochat draws from).
    """
    idx = None
    vals = logits
    if top_k is not None:
        k = min(top_k, logits.size(-1))
        vals, idx = torch.topk(logits, k, dim=-1)  # (B, k), sorted descending
    probs = F.softmax(vals / temperature, dim=-1)  # (B, k) or (B, V)
    if top_p is not None and top_p < 1.0:
        # (B, k) or (B, V)
        probs = probs.masked_fill(~top_p_mask(probs, top_p), 0.0)
    return probs, idx


@torch.no_grad()
def sample_next_token(
    logits, rng, temperature: float = 1.0, top_k=None, top_p=None
) -> torch.Tensor:
    """Draw one next token per row of ``logits`` (B, V); returns token ids (B,
    1) (eq-sample-temperature).

    Parameters
    ----------
    logits : torch.Tensor, shape (B, V)
        Next-token logits, one row per sequence.
    rng : torch.Generator or None
        Generator passed to ``torch.multinomial`` (same seed → same tokens).
    temperature : float
        τ >= 0; 0 returns the argmax (no randomness); otherwise logits are
        divided by it.
    top_k : int or None
        Keep only the k >= 1 largest logits (k is capped at V)
        (eq-sample-topk).
    top_p : float or None
        In (0, 1]: keep the smallest set of most probable tokens (after
        temperature and top-k) whose probability reaches ``top_p``
        (eq-sample-topp; rule in :func:`top_p_mask`). ``top_p=1`` removes
        nothing and draws the same tokens as ``top_p=None``.

    Returns
    -------
    torch.Tensor of int64, shape (B, 1)
        One token id per row.

    Examples
    --------
    >>> z = torch.tensor([[1.0, 3.0, 2.0]])
    >>> sample_next_token(z, None, temperature=0.0).tolist()
    [[1]]
    >>> gen = torch.Generator().manual_seed(0)
    >>> sample_next_token(z, gen, top_k=1).tolist()
    [[1]]
    """
    logits = _check_logits(logits)
    _check_options(temperature, top_k, top_p)
    generator(rng, "rng")
    if temperature == 0.0:
        return torch.argmax(logits, dim=-1, keepdim=True)  # (B, 1)
    probs, idx = _truncated(logits, float(temperature), top_k, top_p)
    # (B, 1) position among candidates
    choice = torch.multinomial(probs, num_samples=1, generator=rng)
    return choice if idx is None else idx.gather(1, choice)  # (B, 1) token ids


@torch.no_grad()
def sampling_distribution(
    logits, temperature: float = 1.0, top_k=None, top_p=None
) -> torch.Tensor:
    """The exact distribution (B, V) that :func:`sample_next_token` draws from,
    on the full vocabulary.

    Tokens removed by top-k / top-p get probability 0 and the rest are
    renormalized; ``temperature=0`` gives the one-hot of the argmax.
    ``top_p=1`` gives the same distribution as ``top_p=None``.

    Parameters
    ----------
    logits : torch.Tensor, shape (B, V)
        Next-token logits.
    temperature : float
        τ >= 0; 0 is the argmax.
    top_k : int or None
        Keep the k largest logits (eq-sample-topk).
    top_p : float or None
        Keep the nucleus of mass ``top_p`` (eq-sample-topp).

    Returns
    -------
    torch.Tensor, shape (B, V)
        Rows of probabilities, 0 outside the kept tokens.

    Examples
    --------
    >>> z = torch.log(torch.tensor([[0.15, 0.5, 0.3, 0.05]]))
    >>> # 0.5 and 0.3, renormalized
    >>> sampling_distribution(z, top_p=0.6)[0].numpy().round(4).tolist()
    [0.0, 0.625, 0.375, 0.0]
    """
    logits = _check_logits(logits)
    _check_options(temperature, top_k, top_p)
    if temperature == 0.0:
        return F.one_hot(torch.argmax(logits, dim=-1), logits.size(-1)).to(
            logits.dtype
        )
    probs, idx = _truncated(logits, float(temperature), top_k, top_p)
    if top_p is not None and top_p < 1.0:
        # renormalize the nucleus
        probs = probs / probs.sum(dim=-1, keepdim=True)
    if idx is None:
        return probs
    return torch.zeros_like(logits).scatter_(1, idx, probs)  # (B, V)


def truncate_top_n(probs, n: int) -> torch.Tensor:
    """Keep the ``n`` most probable entries of each row and renormalize: the
    truncated distribution p̃ of exercise ex-09-truncation-entropy
    (eq-sample-topk with k = n, written on probabilities).

    Entries tied with the n-th largest are all kept.

    Parameters
    ----------
    probs : torch.Tensor, shape (B, V)
        Rows of probabilities.
    n : int
        Entries kept per row, 1 <= n <= V.

    Returns
    -------
    torch.Tensor, shape (B, V)
        The kept entries renormalized to sum 1 per row, the others 0.

    Examples
    --------
    >>> truncate_top_n(torch.tensor([[0.5, 0.3, 0.2]]), 2)
    tensor([[0.6250, 0.3750, 0.0000]])
    """
    probs = as_tensor(probs, "probs", ndim=2, finite=True)
    n = integer(n, "n", minimum=1, maximum=probs.shape[-1])
    # (B, 1) the n-th largest entry
    kth = torch.sort(probs, dim=-1, descending=True).values[:, n - 1 : n]
    kept = torch.where(probs >= kth, probs, torch.zeros_like(probs))
    return kept / kept.sum(dim=-1, keepdim=True)


def softcap(logits, cap: float = 15.0) -> torch.Tensor:
    """The logit soft cap c·tanh(z/c) (eq-softcap): close to z for |z| << c,
    inside (-c, c).

    In exact arithmetic the cap is never reached; in float32, tanh(x) rounds to
    ±1 once |x| > 9.01 (|z| > 9.01 c), so there the result is exactly ±c and
    the bounds of :func:`softcap_probability_bounds` are attained instead of
    approached.

    nanochat applies it with c = 15 to the output logits (in float32) before
    the cross-entropy and before returning them for sampling.

    Parameters
    ----------
    logits : torch.Tensor
        Logits z, any shape.
    cap : float
        The cap c > 0.

    Returns
    -------
    torch.Tensor
        c·tanh(z/c), the shape of ``logits``.
    """
    if not isinstance(logits, torch.Tensor) or not logits.is_floating_point():
        raise TypeError(
            "logits must be a floating torch.Tensor, got "
            f"{type(logits).__name__}"
        )
    cap, logits = positive(cap, "cap"), as_tensor(logits, "logits", nan=False)
    return cap * torch.tanh(logits / cap)


def softcap_probability_bounds(
    vocab_size: int, cap: float = 15.0, temperature: float = 1.0
) -> tuple[float, float]:
    """Infimum and supremum of any p_i = softmax(z/τ)_i when every logit lies
    in (-c, c) (eq-softcap-bounds).

    The extremes are approached (never reached) by one logit at -c (or +c) and
    the other V - 1 at +c (or -c): p_min = 1 / (1 + (V-1) e^{2c/τ}),
    p_max = 1 / (1 + (V-1) e^{-2c/τ}). Computed in float64 through log1p/exp,
    so very small p_min stay accurate.

    Parameters
    ----------
    vocab_size : int
        V >= 2, the number of tokens.
    cap : float
        c > 0, the soft cap (nanochat: 15).
    temperature : float
        τ > 0, the sampling temperature (the loss uses τ = 1).

    Returns
    -------
    p_min, p_max : float
        The infimum and the supremum.

    Examples
    --------
    >>> lo, hi = softcap_probability_bounds(32768, 15.0)
    >>> f"{lo:.3e}", f"{1 - hi:.3e}"
    ('2.856e-18', '3.066e-09')
    """
    vocab_size, cap, temperature = (
        integer(vocab_size, "vocab_size", minimum=2),
        positive(cap, "cap"),
        positive(temperature, "temperature"),
    )
    a = 2.0 * cap / temperature
    log_rest = math.log(vocab_size - 1)
    # 1 / (1 + (V-1) e^{a})
    p_min = math.exp(-(a + log_rest) - math.log1p(math.exp(-(a + log_rest))))
    p_max = 1.0 / (1.0 + math.exp(log_rest - a))  # 1 / (1 + (V-1) e^{-a})
    return p_min, p_max
