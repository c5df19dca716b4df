"""Softmax, log-softmax and log-sum-exp written out, plus the Jacobian and entropy (chapter 2).

Book equations: (eq-softmax) softmax with temperature, (eq-stable-softmax) the
max-subtraction form, (eq-lse) log-sum-exp, (eq-log-softmax), (eq-softmax-jacobian)
diag(p) - p pᵀ, (eq-entropy) Shannon entropy in nats.

The functions here are the lesson: they write out the max subtraction that
``torch.softmax`` does internally. Tests check that they agree with ``torch.softmax``,
``torch.log_softmax`` and ``torch.logsumexp``. Bad input (NaN, a row of only ``-inf``,
a non-positive temperature, an empty axis) raises ``ValueError``; never a silent NaN.
"""

from __future__ import annotations

import math

import torch


def as_logits(z, name: str = "z") -> torch.Tensor:
    """Return ``z`` as a floating tensor (array-likes and integer tensors are converted)."""
    if isinstance(z, (str, bytes)):
        raise TypeError(f"{name} must be a tensor or an array of numbers, got {type(z).__name__}")
    if not isinstance(z, torch.Tensor):
        try:
            z = torch.as_tensor(z)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{name} must be a tensor or an array of numbers: {exc}") from None
    if z.dtype == torch.bool or z.is_complex():
        raise TypeError(f"{name} must hold real numbers, got dtype {z.dtype}")
    if not z.is_floating_point():
        z = z.to(torch.get_default_dtype())
    return z


def _check_dim(z: torch.Tensor, dim: int, name: str) -> int:
    if not isinstance(dim, int) or isinstance(dim, bool):
        raise TypeError(f"dim must be an int, got {type(dim).__name__}")
    if z.dim() == 0:
        raise ValueError(f"{name} must have at least one dimension, got a scalar")
    if not -z.dim() <= dim < z.dim():
        raise ValueError(f"dim={dim} is out of range for {name} with shape {tuple(z.shape)}")
    if z.shape[dim] == 0:
        raise ValueError(f"{name} is empty along dim={dim} (shape {tuple(z.shape)}): softmax needs K >= 1")
    return dim


def _check_values(z: torch.Tensor, dim: int, name: str) -> None:
    if torch.isnan(z).any():
        raise ValueError(f"{name} contains NaN")
    if torch.isposinf(z).any():
        raise ValueError(f"{name} contains +inf: the distribution would be undefined")
    if z.numel() and torch.isneginf(z).all(dim=dim).any():
        raise ValueError(f"{name} has a row that is all -inf (every category masked): no distribution")


def _check_temperature(temperature) -> float:
    if isinstance(temperature, torch.Tensor):
        if temperature.numel() != 1:
            raise ValueError("temperature must be a single number")
        temperature = temperature.item()
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return float(temperature)


def _prepare(z, temperature, dim):
    z = as_logits(z)
    dim = _check_dim(z, dim, "z")
    _check_values(z, dim, "z")
    tau = _check_temperature(temperature)
    return (z / tau if tau != 1.0 else z), dim


def logsumexp(z, dim: int = -1) -> torch.Tensor:
    """LSE(z) = log Σ_j exp z_j, computed as m + log Σ_j exp(z_j - m) with m = max_j z_j (eq-lse).

    Masked entries (``-inf``) contribute exp(-inf) = 0. The reduced axis is removed.
    """
    z = as_logits(z)
    dim = _check_dim(z, dim, "z")
    _check_values(z, dim, "z")
    m = z.amax(dim=dim, keepdim=True).detach()  # the shift is a constant: no gradient through it
    return (m + torch.log(torch.exp(z - m).sum(dim=dim, keepdim=True))).squeeze(dim)


def softmax(z, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    """softmax(z/τ)_i = exp(z_i/τ - m) / Σ_j exp(z_j/τ - m), m = max_j z_j/τ (eq-stable-softmax).

    Subtracting m changes nothing mathematically (numerator and denominator are both
    multiplied by exp(-m)) but keeps every exponent <= 0, so nothing overflows.

    Examples
    --------
    >>> softmax([1.0, 2.0, 3.0]).numpy().round(4)
    array([0.09  , 0.2447, 0.6652], dtype=float32)
    """
    z, dim = _prepare(z, temperature, dim)
    shifted = z - z.amax(dim=dim, keepdim=True).detach()
    e = torch.exp(shifted)  # every entry in (0, 1]; masked entries give exactly 0
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(z, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    """log softmax(z/τ)_i = z_i/τ - LSE(z/τ) (eq-log-softmax), finite wherever z_i is finite.

    Unlike ``log(softmax(z))`` this never rounds a tiny probability to 0 before taking the log.
    """
    z, dim = _prepare(z, temperature, dim)
    return z - logsumexp(z, dim=dim).unsqueeze(dim)


def naive_softmax(z, dim: int = -1) -> torch.Tensor:
    """The textbook formula exp(z_i) / Σ_j exp(z_j) with no shift (eq-softmax, τ = 1).

    Kept only to show what goes wrong: for z = (1000, 1001, 1002) every exp overflows to inf
    and inf/inf = nan. Use :func:`softmax` for real work.
    """
    z = as_logits(z)
    dim = _check_dim(z, dim, "z")
    e = torch.exp(z)
    return e / e.sum(dim=dim, keepdim=True)


def softmax_jacobian(z=None, *, p=None) -> torch.Tensor:
    """The Jacobian ∂p_i/∂z_j = p_i(δ_ij - p_j) = (diag(p) - p pᵀ)_ij (eq-softmax-jacobian).

    Pass logits ``z`` (..., K) or, with the keyword ``p=``, probabilities (..., K).
    Returns (..., K, K); leading axes are a batch.
    """
    if (z is None) == (p is None):
        raise TypeError("pass exactly one of z (logits) or p= (probabilities)")
    if p is None:
        p = softmax(z, dim=-1)
    else:
        p = as_logits(p, "p")
        _check_dim(p, -1, "p")
        if torch.isnan(p).any() or (p < 0).any():
            raise ValueError("p must be a probability vector (non-negative, no NaN)")
    return torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)  # (..., K, K)


def entropy(p, dim: int = -1) -> torch.Tensor:
    """Shannon entropy H(p) = -Σ_i p_i log p_i in nats, with 0·log 0 = 0 (eq-entropy)."""
    p = as_logits(p, "p")
    dim = _check_dim(p, dim, "p")
    if torch.isnan(p).any():
        raise ValueError("p contains NaN")
    if (p < 0).any():
        raise ValueError(f"p must be non-negative, got a minimum entry of {p.min().item():.3g}")
    terms = torch.where(p > 0, -p * torch.log(torch.where(p > 0, p, torch.ones_like(p))), torch.zeros_like(p))
    return terms.sum(dim=dim)
