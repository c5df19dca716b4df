"""Scaled dot-product attention written out: scores, causal mask, row-wise softmax (chapter 11).

Book equations: (eq-attn-scores) S = Q Kᵀ / √d, (eq-attn-mask) S_ij = -∞ for j > i,
(eq-attn-softmax) A = softmax(S) row by row, output A V (Vaswani et al. 2017).

nanochat (Karpathy 2025) calls ``torch.nn.functional.scaled_dot_product_attention`` with
``is_causal=True``; the functions here spell out what that call computes, and the tests check
that they agree with it. The row-wise softmax is :func:`lecture_code.softmax.softmax`.
"""

from __future__ import annotations

import math

import torch

from .softmax import softmax


def _check_qk(q, k) -> None:
    for name, t in (("q", q), ("k", k)):
        if not isinstance(t, torch.Tensor):
            raise TypeError(f"{name} must be a torch.Tensor of shape (..., T, d), got {type(t).__name__}")
        if t.dim() < 2:
            raise ValueError(f"{name} must have shape (..., T, d), got shape {tuple(t.shape)}")
        if not t.is_floating_point():
            raise TypeError(f"{name} must be a floating tensor, got dtype {t.dtype}")
    if q.shape[-1] != k.shape[-1]:
        raise ValueError(f"q and k must share the last dimension d, got {q.shape[-1]} and {k.shape[-1]}")


def causal_mask(t_q: int, t_k: int | None = None) -> torch.Tensor:
    """Boolean (t_q, t_k) mask, True where query i may look at key j, i.e. j <= i + (t_k - t_q)."""
    t_k = t_q if t_k is None else t_k
    if t_q < 1 or t_k < t_q:
        raise ValueError(f"need 1 <= t_q <= t_k, got t_q={t_q}, t_k={t_k}")
    return torch.ones(t_q, t_k, dtype=torch.bool).tril(diagonal=t_k - t_q)


def attention_scores(q, k, scale: bool = True) -> torch.Tensor:
    """S = Q Kᵀ / √d (eq-attn-scores), or Q Kᵀ with ``scale=False``; shape (..., T_q, T_k)."""
    _check_qk(q, k)
    s = q @ k.transpose(-2, -1)  # (..., Tq, Tk)
    return s / math.sqrt(q.shape[-1]) if scale else s


def attention_weights(q, k, causal: bool = True, scale: bool = True) -> torch.Tensor:
    """Row-wise softmax of the (masked) scores (eq-attn-mask, eq-attn-softmax); every row sums to 1."""
    s = attention_scores(q, k, scale=scale)  # (..., Tq, Tk)
    if causal:
        s = s.masked_fill(~causal_mask(s.shape[-2], s.shape[-1]), float("-inf"))
    return softmax(s, dim=-1)


def attention(q, k, v, causal: bool = True, scale: bool = True):
    """Attention output A V and the weights A; q (..., T_q, d), k (..., T_k, d), v (..., T_k, d_v)."""
    if not isinstance(v, torch.Tensor) or v.shape[-2] != k.shape[-2]:
        raise ValueError("v must be a tensor with as many rows (keys) as k")
    a = attention_weights(q, k, causal=causal, scale=scale)  # (..., Tq, Tk)
    return a @ v, a  # (..., Tq, d_v), (..., Tq, Tk)
