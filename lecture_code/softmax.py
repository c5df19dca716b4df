"""Softmax, log-softmax and log-sum-exp written out, plus diag(p) - ppᵀ,
entropy and KL (chapter 2).

Book equations: (eq-softmax) softmax with temperature, (eq-stable-softmax) the
max-subtraction form, (eq-lse) log-sum-exp, (eq-log-softmax),
(eq-softmax-jacobian) diag(p) - p pᵀ, the Shannon entropy in nats (the
objective of eq-maxent-primal) and the KL divergence (eq-maxent-kl).

This module is the library's one definition of each of these objects: the
Jacobian of softmax, the Hessian of log-sum-exp (chapter 4), the logit Fisher
matrix (chapter 5) and every Hessian or Fisher block built from them call
:func:`softmax_covariance`; every KL calls :func:`kl_divergence`.

The functions here are the lesson: they write out the max subtraction that
``torch.softmax`` does internally. Tests check that they agree with
``torch.softmax``, ``torch.log_softmax`` and ``torch.logsumexp``. Bad input
(NaN, a row of only ``-inf``, a non-positive temperature, an empty axis) raises
``ValueError``; never a silent NaN.
"""

from __future__ import annotations

import torch

from .validate import as_tensor, axis, logits, positive, probabilities


def as_logits(z, name: str = "z") -> torch.Tensor:
    """Return ``z`` as a floating tensor (array-likes and integer tensors are
    converted).

    Kept for the modules built on softmax; it is
    :func:`lecture_code.validate.as_tensor`.

    Parameters
    ----------
    z : torch.Tensor or array_like
        The logits.
    name : str
        The argument's name for error messages.

    Returns
    -------
    torch.Tensor
        ``z`` as a floating tensor.
    """
    return as_tensor(z, name)


def _shifted(z, temperature, dim):
    """Validate, then return (z - max z)/τ (..., K), the exponent of
    (eq-stable-softmax): every entry <= 0, the largest exactly 0.

    Subtracting before dividing keeps a tiny τ from turning finite logits into
    ±inf (z/τ could overflow; (z - max z)/τ can only underflow towards -inf,
    which exp maps to 0).
    """
    (z, dim), tau = logits(z, "z", dim), positive(temperature, "temperature")
    # the shift is a constant: no gradient through it
    m = z.amax(dim=dim, keepdim=True).detach()
    shifted = z - m  # masked entries stay -inf
    return (shifted / tau if tau != 1.0 else shifted), dim


def logsumexp(z, dim: int = -1) -> torch.Tensor:
    """LSE(z) = log Σ_j exp z_j, computed as m + log Σ_j exp(z_j - m) with
    m = max_j z_j (eq-lse).

    Masked entries (``-inf``) contribute exp(-inf) = 0. The reduced axis is
    removed.

    Parameters
    ----------
    z : torch.Tensor or array_like, shape (..., K)
        Logits; ``-inf`` marks a masked category.
    dim : int
        The axis summed over.

    Returns
    -------
    torch.Tensor
        Shape of ``z`` without ``dim``.
    """
    z, dim = logits(z, "z", dim)
    # the shift is a constant: no gradient through it
    m = z.amax(dim=dim, keepdim=True).detach()
    return (
        m + torch.log(torch.exp(z - m).sum(dim=dim, keepdim=True))
    ).squeeze(dim)


def softmax(z, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    """Stable softmax: p_i = exp((z_i - m)/τ) / Σ_j exp((z_j - m)/τ), m = max_j
    z_j (eq-stable-softmax).

    Equal to exp(z_i/τ) / Σ_j exp(z_j/τ) (eq-softmax): numerator and
    denominator are both multiplied by exp(-m/τ). The shift keeps every
    exponent <= 0, so nothing overflows.

    Parameters
    ----------
    z : torch.Tensor or array_like, shape (..., K)
        Logits; ``-inf`` marks a masked category (probability exactly 0).
        Integer input is converted to the default float dtype.
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
        NaN or +inf in ``z``, a slice that is all ``-inf``, an empty category
        axis, ``dim`` out of range, or τ <= 0 / non-finite.

    Examples
    --------
    >>> softmax([1.0, 2.0, 3.0]).numpy().round(4)
    array([0.09  , 0.2447, 0.6652], dtype=float32)
    >>> softmax([1000.0, 1001.0, 1002.0]).numpy().round(4)
    array([0.09  , 0.2447, 0.6652], dtype=float32)
    """
    shifted, dim = _shifted(z, temperature, dim)  # (..., K), max entry 0
    # every entry in [0, 1], the largest exactly 1; masked entries give 0
    e = torch.exp(shifted)
    # the sum lies in [1, K]: no overflow, no 0/0
    return e / e.sum(dim=dim, keepdim=True)


def log_softmax(z, temperature: float = 1.0, dim: int = -1) -> torch.Tensor:
    """log softmax(z/τ)_i = z_i/τ - LSE(z/τ) (eq-log-softmax), computed from
    the shifted logits.

    With s = (z - max z)/τ it returns s_i - log Σ_j exp s_j, where the sum lies
    in [1, K]. Unlike ``log(softmax(z))`` this never rounds a tiny probability
    to 0 before taking the log, so the result is finite wherever z_i is finite
    (masked ``-inf`` entries stay ``-inf``; only a τ so small that
    (z_i - max z)/τ itself overflows gives ``-inf``). Same arguments and
    errors as :func:`softmax`.

    Parameters
    ----------
    z : torch.Tensor or array_like, shape (..., K)
        Logits.
    temperature : float
        τ > 0.
    dim : int
        The category axis.

    Returns
    -------
    torch.Tensor
        Same shape as ``z``; entries <= 0.

    Examples
    --------
    >>> log_softmax([1.0, 2.0, 3.0]).numpy().round(4)
    array([-2.4076, -1.4076, -0.4076], dtype=float32)
    """
    shifted, dim = _shifted(z, temperature, dim)  # (..., K), max entry 0
    # log of a sum in [1, K]
    return shifted - torch.log(torch.exp(shifted).sum(dim=dim, keepdim=True))


def naive_softmax(z, dim: int = -1) -> torch.Tensor:
    """The textbook formula exp(z_i) / Σ_j exp(z_j) with no shift (eq-softmax,
    τ = 1).

    Kept only to show what goes wrong: for z = (1000, 1001, 1002) every exp
    overflows to inf and inf/inf = nan. It deliberately does not check its
    input or its output (that would hide the lesson); use :func:`softmax` for
    real work.

    Parameters
    ----------
    z : torch.Tensor or array_like, shape (..., K)
        Logits.
    dim : int
        The category axis.

    Returns
    -------
    torch.Tensor
        Same shape as ``z``; may hold inf or nan (the point of the lesson).
    """
    z = as_tensor(z, "z")
    dim = axis(z, dim, "z")
    e = torch.exp(z)
    return e / e.sum(dim=dim, keepdim=True)


def softmax_covariance(p) -> torch.Tensor:
    """diag(p) - p pᵀ for probability vectors ``p`` (..., K) → (..., K, K)
    (eq-softmax-jacobian).

    The book's central matrix, defined once: the Jacobian of softmax
    (:func:`softmax_jacobian`), the Hessian of log-sum-exp (eq-lse-hessian),
    the Fisher matrix of the categorical family in its logits
    (eq-fisher-logits) and the covariance of the one-hot vector e_Y with Y ~ p.
    ``p`` is used as given (callers validate it); leading axes are a batch.

    Parameters
    ----------
    p : torch.Tensor, shape (..., K)
        Probability vectors.

    Returns
    -------
    torch.Tensor, shape (..., K, K)
        diag(p) - p pᵀ.

    Examples
    --------
    >>> softmax_covariance(torch.tensor([0.5, 0.5]))
    tensor([[ 0.2500, -0.2500],
            [-0.2500,  0.2500]])
    """
    outer = p.unsqueeze(-1) * p.unsqueeze(-2)  # (..., K, K)
    return torch.diag_embed(p) - outer


def softmax_jacobian(z=None, *, p=None) -> torch.Tensor:
    """The Jacobian ∂p_i/∂z_j = p_i(δ_ij - p_j) = (diag(p) - p pᵀ)_ij
    (eq-softmax-jacobian).

    Pass logits ``z`` (..., K) or, with the keyword ``p=``, probabilities (...,
    K) (rows summing to 1 within the tolerance of
    :func:`lecture_code.validate.prob_atol`). Returns (..., K, K); leading axes
    are a batch.

    Parameters
    ----------
    z : torch.Tensor or array_like, shape (..., K), optional
        Logits.
    p : torch.Tensor or array_like, shape (..., K), optional
        Probabilities instead of logits (keyword only).

    Returns
    -------
    torch.Tensor, shape (..., K, K)
        ∂p/∂z = diag(p) - p pᵀ.

    Examples
    --------
    >>> softmax_jacobian(torch.zeros(2))
    tensor([[ 0.2500, -0.2500],
            [-0.2500,  0.2500]])
    """
    if (z is None) == (p is None):
        raise TypeError("pass exactly one of z (logits) or p= (probabilities)")
    p = (
        softmax(z, dim=-1)
        if p is None
        else probabilities(as_tensor(p, "p"), "p")
    )
    return softmax_covariance(p)


def entropy(p, dim: int = -1) -> torch.Tensor:
    """Shannon entropy H(p) = -Σ_i p_i log p_i in nats, with 0·log 0 = 0 (the
    objective of eq-maxent-primal).

    Parameters
    ----------
    p : torch.Tensor or array_like, shape (..., K)
        Non-negative weights (probability vectors).
    dim : int
        The category axis.

    Returns
    -------
    torch.Tensor
        Shape of ``p`` without ``dim``.

    Examples
    --------
    >>> round(float(entropy([0.5, 0.5, 0.0])), 4)  # log 2
    0.6931
    """
    p = as_tensor(p, "p", nan=False)
    dim = axis(p, dim, "p")
    if (p < 0).any():
        raise ValueError(
            f"p must be non-negative, got a minimum entry of "
            f"{p.min().item():.3g}"
        )
    terms = torch.where(
        p > 0,
        -p * torch.log(torch.where(p > 0, p, torch.ones_like(p))),
        torch.zeros_like(p),
    )
    return terms.sum(dim=dim)


def kl_divergence(p, q, dim: int = -1, log: bool = False) -> torch.Tensor:
    """KL(p ‖ q) = Σ_i p_i (log p_i - log q_i) in nats (eq-maxent-kl), with
    0·log 0 = 0.

    If some q_i = 0 < p_i the divergence is +inf. With ``log=True``, ``p`` and
    ``q`` are log-probabilities (e.g. from :func:`log_softmax`), which keeps
    tiny probabilities exact. The arguments are used as given (callers validate
    them); they broadcast.

    Parameters
    ----------
    p, q : torch.Tensor, shape (..., K)
        Probability vectors (log-probabilities with ``log=True``).
    dim : int
        The category axis.
    log : bool
        Whether ``p`` and ``q`` are log-probabilities.

    Returns
    -------
    torch.Tensor
        Shape of the broadcast inputs without ``dim``; >= 0, may be +inf.

    Examples
    --------
    >>> p, q = torch.tensor([0.5, 0.5]), torch.tensor([0.25, 0.75])
    >>> round(float(kl_divergence(p, q)), 4)
    0.1438
    """
    if log:
        log_p, log_q = p, q
        p = log_p.exp()
        keep = log_p > -torch.inf
    else:
        keep = p > 0
        log_p, log_q = (
            torch.log(torch.where(keep, p, torch.ones_like(p))),
            torch.log(q),
        )
    return torch.where(keep, p * (log_p - log_q), torch.zeros_like(p)).sum(
        dim=dim
    )


def centre_logits(z, dim: int = -1) -> torch.Tensor:
    """Fix the gauge: z - (1/K) Σ_j z_j · 1, the representative of z + ℝ1 on
    the plane Σ_i z_i = 0.

    softmax does not see the shift (eq-softmax-shift), so every logit vector
    has the same image as its centred one; applied to log p it is the inverse
    of softmax on that plane, the centred log-ratio
    (eq-softmax-centred-inverse).

    Parameters
    ----------
    z : torch.Tensor or array_like, shape (..., K)
        Logits (or log-probabilities), finite.
    dim : int
        The category axis.

    Returns
    -------
    torch.Tensor
        Same shape as ``z``; sums to 0 along ``dim``.

    Examples
    --------
    >>> centre_logits(torch.tensor([1.0, 2.0, 6.0]))
    tensor([-2., -1.,  3.])
    """
    z = as_tensor(z, "z", finite=True)
    dim = axis(z, dim, "z")
    return z - z.mean(dim=dim, keepdim=True)
