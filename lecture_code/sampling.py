"""Next-token sampling as nanochat does it: temperature, top-k and (added here) top-p (chapter 11).

Book equations: (eq-sample-temperature) p = softmax(z/τ), τ = 0 meaning argmax;
(eq-sample-topk) keep the k largest logits; (eq-sample-topp) keep the smallest set of
most probable tokens whose probability reaches p (nucleus sampling, Holtzman et al. 2020).

:func:`sample_next_token` performs the operations of ``sample_next_token`` in nanochat's
``nanochat/engine.py`` (Karpathy 2025) in the same order — top-k, divide by the temperature,
softmax, ``torch.multinomial`` with the caller's generator, gather back the token ids — so with
the same ``torch.Generator`` seed and no ``top_p`` it draws the same tokens (tests/test_sampling.py
restates nanochat's order and checks this). nanochat has no ``top_p``; here it is applied after
the temperature, to the sorted tempered probabilities, before the draw.
:func:`sampling_distribution` returns the exact distribution the sampler draws from.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F


def _check_logits(logits) -> torch.Tensor:
    if not isinstance(logits, torch.Tensor):
        raise TypeError(f"logits must be a torch.Tensor of shape (B, V), got {type(logits).__name__}")
    if logits.dim() != 2:
        raise ValueError(f"logits must have shape (B, V), got shape {tuple(logits.shape)}")
    if not logits.is_floating_point():
        raise TypeError(f"logits must be a floating tensor, got dtype {logits.dtype}")
    if logits.shape[1] == 0:
        raise ValueError("logits has an empty vocabulary axis (V = 0)")
    if torch.isnan(logits).any():
        raise ValueError("logits contains NaN")
    return logits


def _check_options(temperature, top_k, top_p):
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
    if not math.isfinite(temperature) or temperature < 0:
        raise ValueError(f"temperature must be a finite number >= 0 (0 means argmax), got {temperature!r}")
    if top_k is not None:
        if isinstance(top_k, bool) or not isinstance(top_k, int):
            raise TypeError(f"top_k must be an int or None, got {type(top_k).__name__}")
        if top_k < 1:
            raise ValueError(f"top_k must be >= 1 (or None for no truncation), got {top_k}")
    if top_p is not None:
        if isinstance(top_p, bool) or not isinstance(top_p, (int, float)):
            raise TypeError(f"top_p must be a number or None, got {type(top_p).__name__}")
        if not 0.0 < top_p <= 1.0:
            raise ValueError(f"top_p must lie in (0, 1] (or be None), got {top_p!r}")


def _nucleus(probs: torch.Tensor, top_p: float) -> torch.Tensor:
    """Zero all but the smallest prefix of ``probs`` (sorted descending) whose sum reaches ``top_p``; renormalize."""
    before = probs.cumsum(dim=-1) - probs  # (B, k): mass of the strictly more probable tokens
    keep = before < top_p  # the first token always stays
    kept = probs * keep
    return kept / kept.sum(dim=-1, keepdim=True)


def _truncated(logits: torch.Tensor, temperature: float, top_k, top_p):
    """(probabilities over the kept candidates, their token ids or None for the full vocabulary)."""
    idx = None
    vals = logits
    if top_k is not None:
        k = min(top_k, logits.size(-1))
        vals, idx = torch.topk(logits, k, dim=-1)  # (B, k), sorted descending
    elif top_p is not None:
        vals, idx = torch.sort(logits, dim=-1, descending=True, stable=True)  # (B, V)
    vals = vals / temperature
    probs = F.softmax(vals, dim=-1)  # (B, k) or (B, V)
    if top_p is not None:
        probs = _nucleus(probs, top_p)
    return probs, idx


@torch.no_grad()
def sample_next_token(logits, rng, temperature: float = 1.0, top_k=None, top_p=None) -> torch.Tensor:
    """Draw one next token per row of ``logits`` (B, V); returns token ids (B, 1) (eq-sample-temperature).

    Parameters
    ----------
    logits : Tensor (B, V)
        Next-token logits, one row per sequence.
    rng : torch.Generator or None
        Generator passed to ``torch.multinomial`` (same seed → same tokens).
    temperature : float >= 0
        0 returns the argmax (no randomness); otherwise logits are divided by it.
    top_k : int >= 1 or None
        Keep only the k largest logits (k is capped at V) (eq-sample-topk).
    top_p : float in (0, 1] or None
        Keep the smallest set of most probable tokens (after temperature and top-k)
        whose probability reaches ``top_p`` (eq-sample-topp).

    Examples
    --------
    >>> z = torch.tensor([[1.0, 3.0, 2.0]])
    >>> sample_next_token(z, None, temperature=0.0).tolist()
    [[1]]
    >>> sample_next_token(z, torch.Generator().manual_seed(0), top_k=1).tolist()
    [[1]]
    """
    logits = _check_logits(logits)
    _check_options(temperature, top_k, top_p)
    if rng is not None and not isinstance(rng, torch.Generator):
        raise TypeError(f"rng must be a torch.Generator or None, got {type(rng).__name__}")
    if temperature == 0.0:
        return torch.argmax(logits, dim=-1, keepdim=True)  # (B, 1)
    probs, idx = _truncated(logits, float(temperature), top_k, top_p)
    choice = torch.multinomial(probs, num_samples=1, generator=rng)  # (B, 1) position among candidates
    return choice if idx is None else idx.gather(1, choice)  # (B, 1) token ids


@torch.no_grad()
def sampling_distribution(logits, temperature: float = 1.0, top_k=None, top_p=None) -> torch.Tensor:
    """The exact distribution (B, V) that :func:`sample_next_token` draws from, on the full vocabulary.

    Tokens removed by top-k / top-p get probability 0; ``temperature=0`` gives the one-hot of the argmax.
    """
    logits = _check_logits(logits)
    _check_options(temperature, top_k, top_p)
    if temperature == 0.0:
        return F.one_hot(torch.argmax(logits, dim=-1), logits.size(-1)).to(logits.dtype)
    probs, idx = _truncated(logits, float(temperature), top_k, top_p)
    if idx is None:
        return probs
    return torch.zeros_like(logits).scatter_(1, idx, probs)  # (B, V)
