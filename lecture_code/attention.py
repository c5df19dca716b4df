"""Scaled dot-product attention written out: scores, causal mask, row-wise
softmax (chapter 11).

Book equations: (eq-attn-scores) S = Q Kᵀ / √d, (eq-attn-mask) S_ij = -∞ for j
> i, (eq-attn-softmax) A = softmax(S) row by row, output A V (Vaswani et al.
2017); (eq-attn-qknorm) with QK-norm, S_ij = g² √d cos∠(q_i, k_j) (q_i and k_j
rescaled to length √d by RMS normalization, both multiplied by a gain g;
nanochat uses g = 1.2).

nanochat (Karpathy 2025; commit 92d63d4, ``nanochat/gpt.py`` lines 102-110)
RMS-normalizes q and k, multiplies both by 1.2 and calls
``flash_attn.flash_attn_func(q, k, v, causal=True, window_size=...)``, which is
FlashAttention-3 on a GPU that has it and
``torch.nn.functional.scaled_dot_product_attention`` otherwise; the functions
here spell out what that computes (including the sliding window), and the tests
check them against ``scaled_dot_product_attention``. The row-wise softmax is
:func:`lecture_code.softmax.softmax`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .softmax import softmax
from .validate import integer, positive


def _check_qk(q, k) -> None:
    for name, t in (("q", q), ("k", k)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(
                f"{name} must be a torch.Tensor of shape (..., T, d), got "
                f"{type(t).__name__}"
            )
        if t.dim() < 2:
            raise ValueError(
                f"{name} must have shape (..., T, d), got shape "
                f"{tuple(t.shape)}"
            )
        if not t.is_floating_point():
            raise TypeError(
                f"{name} must be a floating tensor, got dtype {t.dtype}"
            )
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(
            f"q and k must share the last dimension d, got {q.shape[-1]} and "
            f"{k.shape[-1]}"
        )


def causal_mask(
    t_q: int, t_k: int | None = None, window: int | None = None
) -> torch.Tensor:
    """Boolean (t_q, t_k) mask, True where query i may look at key j.

    Causal: j <= i + (t_k - t_q) (the queries are the last t_q positions). With
    ``window = w`` (a sliding window, as in nanochat's short layers) also j >=
    i + (t_k - t_q) - w: each query sees itself and the w keys before it.

    Parameters
    ----------
    t_q : int
        Number of queries.
    t_k : int or None
        Number of keys, >= t_q (default t_q).
    window : int or None
        Keys before the query that stay visible (None: all).

    Returns
    -------
    torch.Tensor of bool, shape (t_q, t_k)
        True where query i may attend to key j.
    """
    t_q = integer(t_q, "t_q", minimum=1)
    # t_q <= t_k
    t_k = t_q if t_k is None else integer(t_k, "t_k", minimum=t_q)
    mask = torch.ones(t_q, t_k, dtype=torch.bool).tril(diagonal=t_k - t_q)
    if window is not None:  # an integer >= 0, or None for no window
        mask &= torch.ones(t_q, t_k, dtype=torch.bool).triu(
            diagonal=t_k - t_q - integer(window, "window", minimum=0)
        )
    return mask


def attention_scores(
    q, k, scale: bool = True, qk_norm: bool = False, gain: float = 1.0
) -> torch.Tensor:
    """S = Q Kᵀ / √d (eq-attn-scores), or Q Kᵀ with ``scale=False``; shape
    (..., T_q, T_k).

    With ``qk_norm=True`` every q_i and k_j is first RMS-normalized (length √d)
    and multiplied by ``gain``, so S_ij = gain² √d cos∠(q_i, k_j)
    (eq-attn-qknorm): |S_ij| <= gain² √d whatever the inputs.

    Parameters
    ----------
    q : torch.Tensor, shape (..., T_q, d)
        Queries.
    k : torch.Tensor, shape (..., T_k, d)
        Keys.
    scale : bool
        Divide by √d.
    qk_norm : bool
        RMS-normalize q and k first (eq-attn-qknorm).
    gain : float
        Gain g after the normalization.

    Returns
    -------
    torch.Tensor, shape (..., T_q, T_k)
        The scores S.
    """
    _check_qk(q, k)
    if qk_norm:
        gain, d = positive(gain, "gain"), q.shape[-1]
        # (..., Tq, d), every row of length gain·√d
        q = gain * F.rms_norm(q, (d,))
        k = gain * F.rms_norm(k, (d,))  # (..., Tk, d)
    s = q @ k.transpose(-2, -1)  # (..., Tq, Tk)
    return s / math.sqrt(q.shape[-1]) if scale else s


def attention_weights(
    q,
    k,
    causal: bool = True,
    scale: bool = True,
    window: int | None = None,
    qk_norm: bool = False,
    gain: float = 1.0,
) -> torch.Tensor:
    """Row-wise softmax of the (masked) scores (eq-attn-mask, eq-attn-softmax);
    every row sums to 1.

    ``window`` (with ``causal=True``) restricts each query to itself and the
    ``window`` keys before it; ``qk_norm`` and ``gain`` are passed to
    :func:`attention_scores`.

    Parameters
    ----------
    q : torch.Tensor, shape (..., T_q, d)
        Queries.
    k : torch.Tensor, shape (..., T_k, d)
        Keys.
    causal : bool
        Mask the future keys (eq-attn-mask).
    scale : bool
        Divide the scores by √d.
    window : int or None
        Sliding window (causal only).
    qk_norm : bool
        RMS-normalize q and k first (eq-attn-qknorm).
    gain : float
        Gain g after the normalization.

    Returns
    -------
    torch.Tensor, shape (..., T_q, T_k)
        The weights A; every row sums to 1.
    """
    if window is not None and not causal:
        raise ValueError("window applies to causal attention only")
    s = attention_scores(q, k, scale=scale, qk_norm=qk_norm, gain=gain)
    if causal:
        s = s.masked_fill(
            ~causal_mask(s.shape[-2], s.shape[-1], window), float("-inf")
        )
    return softmax(s, dim=-1)


def attention(
    q,
    k,
    v,
    causal: bool = True,
    scale: bool = True,
    window: int | None = None,
    qk_norm: bool = False,
    gain: float = 1.0,
):
    """Attention output A V and the weights A; q (..., T_q, d), k (..., T_k,
    d), v (..., T_k, d_v).

    Parameters
    ----------
    q : torch.Tensor, shape (..., T_q, d)
        Queries.
    k : torch.Tensor, shape (..., T_k, d)
        Keys.
    v : torch.Tensor, shape (..., T_k, d_v)
        Values.
    causal : bool
        Mask the future keys (eq-attn-mask).
    scale : bool
        Divide the scores by √d.
    window : int or None
        Sliding window (causal only).
    qk_norm : bool
        RMS-normalize q and k first (eq-attn-qknorm).
    gain : float
        Gain g after the normalization.

    Returns
    -------
    tuple of torch.Tensor
        The output A V (..., T_q, d_v) and the weights A (..., T_q, T_k).
    """
    if not isinstance(v, torch.Tensor) or v.shape[-2] != k.shape[-2]:
        raise ValueError("v must be a tensor with as many rows (keys) as k")
    a = attention_weights(
        q,
        k,
        causal=causal,
        scale=scale,
        window=window,
        qk_norm=qk_norm,
        gain=gain,
    )
    return a @ v, a  # (..., Tq, d_v), (..., Tq, Tk)


def random_attention_rows(
    d: int,
    n_keys: int = 16,
    rows: int = 400,
    seed: int = 0,
    scale: bool = True,
    qk_norm: bool = False,
) -> torch.Tensor:
    """Attention weights of ``rows`` random queries, each over its own
    ``n_keys`` random keys (eq-attn-scores, eq-attn-softmax; no mask).

    Queries and keys have independent N(0, 1) entries (float64), drawn with
    ``seed``; the same seed gives the same queries and keys for ``scale=True``
    and ``scale=False``, so the two differ only by the 1/√d.

    Parameters
    ----------
    d : int
        Head dimension.
    n_keys : int
        Keys per query.
    rows : int
        Number of queries.
    seed : int
        Seed of the generator.
    scale : bool
        Divide the scores by √d.
    qk_norm : bool
        RMS-normalize q and k first (eq-attn-qknorm, gain 1).

    Returns
    -------
    torch.Tensor, shape (rows, n_keys)
        One row of weights per query; every row sums to 1.
    """
    d, n_keys, rows = (
        integer(d, "d", minimum=1),
        integer(n_keys, "n_keys", minimum=1),
        integer(rows, "rows", minimum=1),
    )
    g = torch.Generator().manual_seed(seed)
    # (rows, 1, d): one query per row
    q = torch.randn(rows, 1, d, generator=g, dtype=torch.float64)
    k = torch.randn(rows, n_keys, d, generator=g, dtype=torch.float64)
    a = attention_weights(q, k, causal=False, scale=scale, qk_norm=qk_norm)
    return a[:, 0]  # (rows, n_keys)
