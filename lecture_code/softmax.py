"""Softmax, log-softmax and log-sum-exp written out, plus the Jacobian and entropy (chapter 2).

Book equations: (eq-softmax) softmax with temperature, (eq-stable-softmax) the
max-subtraction form, (eq-lse) log-sum-exp, (eq-log-softmax), (eq-softmax-jacobian)
diag(p) - p pᵀ, and the Shannon entropy in nats (the objective of eq-maxent-primal).

The functions here are the lesson: they write out the max subtraction that
``torch.softmax`` does internally. Tests check that they agree with ``torch.softmax``,
``torch.log_softmax`` and ``torch.logsumexp``. Bad input (NaN, a row of only ``-inf``,
a non-positive temperature, an empty axis) raises ``ValueError``; never a silent NaN.
"""

from __future__ import annotations

import math
import numbers
import operator

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
    if isinstance(dim, bool):
        raise TypeError("dim must be an int, got bool")
    try:
        dim = operator.index(dim)  # accepts int and NumPy integers, rejects floats
    except TypeError:
        raise TypeError(f"dim must be an int, got {type(dim).__name__}") from None
    if z.dim() == 0:
        raise ValueError(f"{name} must have at least one dimension, got a scalar")
    if not -z.dim() <= dim < z.dim():
        raise ValueError(f"dim={dim} is out of range for {name} with shape {tuple(z.shape)}")
    if z.shape[dim] == 0:
        raise ValueError(f"{name} is empty along dim={dim} (shape {tuple(z.shape)}): softmax needs K >= 1")
    return dim


def _check_values(z: torch.Tensor, dim: int, name: str) -> None:
    if z.numel() and math.isfinite(z.detach().sum().item()):
        return  # fast path: a NaN or an infinity anywhere would make the sum NaN or infinite
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
    if isinstance(temperature, bool) or not isinstance(temperature, numbers.Real):
        raise TypeError(f"temperature must be a number, got {type(temperature).__name__}")
    if not math.isfinite(temperature) or temperature <= 0:
        raise ValueError(f"temperature must be a finite number > 0, got {temperature!r}")
    return float(temperature)


def _shifted(z, temperature, dim):
    """Validate, then return (z - max z)/τ (..., K): every entry <= 0, the largest exactly 0.

    Subtracting before dividing keeps a tiny τ from turning finite logits into ±inf
    (z/τ could overflow; (z - max z)/τ can only underflow towards -inf, which exp maps to 0).
    """
    z = as_logits(z)
    dim = _check_dim(z, dim, "z")
    _check_values(z, dim, "z")
    tau = _check_temperature(temperature)
    m = z.amax(dim=dim, keepdim=True).detach()  # the shift is a constant: no gradient through it
    shifted = z - m  # masked entries stay -inf
    return (shifted / tau if tau != 1.0 else shifted), dim


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
    """Stable softmax: p_i = exp((z_i - m)/τ) / Σ_j exp((z_j - m)/τ), m = max_j z_j (eq-stable-softmax).

    Equal to exp(z_i/τ) / Σ_j exp(z_j/τ) (eq-softmax): numerator and denominator are both
    multiplied by exp(-m/τ). The shift keeps every exponent <= 0, so nothing overflows.

    Parameters
    ----------
    z : tensor or array-like (..., K)
        Logits; ``-inf`` marks a masked category (probability exactly 0). Integer input is
        converted to the default float dtype.
    temperature : float
        τ > 0 (finite). Small τ sharpens, large τ flattens.
    dim : int
        The category axis.

    Returns
    -------
    torch.Tensor
        Same shape as ``z``; non-negative, sums to 1 along ``dim``.

    Raises
    ------
    ValueError
        NaN or +inf in ``z``, a slice that is all ``-inf``, an empty category axis,
        ``dim`` out of range, or τ <= 0 / non-finite.

    Examples
    --------
    >>> softmax([1.0, 2.0, 3.0]).numpy().round(4)
    array([0.09  , 0.2447, 0.6652], dtype=float32)
    >>> softmax([1000.0, 1001.0, 1002.0]).numpy().round(4)
    array([0.09  , 0.2447, 0.6652], dtype=float32)
    """
    shifted, dim = _shifted(z, temperature, dim)  # (..., K), max entry 0
    e = torch.exp(shifted)  # every entry in [0, 1], the largest exactly 1; masked entries give 0
    return e / e.sum(dim=dim, keepdim=True)  # the sum lies in [1, K]: no overflow, no 0/0


def log_softmax(z, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    """log softmax(z/τ)_i = z_i/τ - LSE(z/τ) (eq-log-softmax), computed from the shifted logits.

    With s = (z - max z)/τ it returns s_i - log Σ_j exp s_j, where the sum lies in [1, K].
    Unlike ``log(softmax(z))`` this never rounds a tiny probability to 0 before taking the log,
    so the result is finite wherever z_i is finite (masked ``-inf`` entries stay ``-inf``; only a τ so
    small that (z_i - max z)/τ itself overflows gives ``-inf``).
    Same arguments and errors as :func:`softmax`.

    Examples
    --------
    >>> log_softmax([1.0, 2.0, 3.0]).numpy().round(4)
    array([-2.4076, -1.4076, -0.4076], dtype=float32)
    """
    shifted, dim = _shifted(z, temperature, dim)  # (..., K), max entry 0
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))  # log of a sum in [1, K]


def naive_softmax(z, dim: int = -1) -> torch.Tensor:
    """The textbook formula exp(z_i) / Σ_j exp(z_j) with no shift (eq-softmax, τ = 1).

    Kept only to show what goes wrong: for z = (1000, 1001, 1002) every exp overflows to inf
    and inf/inf = nan. It deliberately does not check its input or its output (that would hide
    the lesson); use :func:`softmax` for real work.
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
        tol = 10 * torch.finfo(p.dtype).eps ** 0.5  # float32: 3e-3, float64: 1.5e-7
        worst = (p.sum(dim=-1) - 1).abs().max().item() if p.numel() else 0.0
        if worst > tol:
            raise ValueError(f"p must sum to 1 along the last axis (off by {worst:.3g}); pass logits as z instead")
    return torch.diag_embed(p) - p.unsqueeze(-1) * p.unsqueeze(-2)  # (..., K, K)


def entropy(p, dim: int = -1) -> torch.Tensor:
    """Shannon entropy H(p) = -Σ_i p_i log p_i in nats, with 0·log 0 = 0 (the objective of eq-maxent-primal)."""
    p = as_logits(p, "p")
    dim = _check_dim(p, dim, "p")
    if torch.isnan(p).any():
        raise ValueError("p contains NaN")
    if (p < 0).any():
        raise ValueError(f"p must be non-negative, got a minimum entry of {p.min().item():.3g}")
    terms = torch.where(p > 0, -p * torch.log(torch.where(p > 0, p, torch.ones_like(p))), torch.zeros_like(p))
    return terms.sum(dim=dim)
