"""Maximum entropy under one mean constraint, solved through its one-scalar dual (chapter 3).

Book equations: (eq-maxent-primal) max H(p) s.t. Σ p_i = 1, Σ p_i f_i = f̄;
(eq-maxent-solution) p_i ∝ exp(λ f_i), i.e. p = softmax(λ f); (eq-maxent-mean) the mean
m(λ) = E_{softmax(λf)}[f], whose derivative is the variance Var_{softmax(λf)}[f] ≥ 0;
(eq-maxent-dual) the dual g(λ) = LSE(λ f) - λ f̄, convex, with max H = min_λ g(λ);
(eq-maxent-kl) H(p) = log K - KL(p ‖ u) for the uniform u.

Reference: Jaynes (1957), "Information theory and statistical mechanics"; Cover & Thomas
(2006), ch. 12. The Lagrange multiplier λ is an inverse temperature: softmax(λ f) = softmax(f / τ)
with τ = 1/λ.

Inputs are array-likes or tensors; distributions come back as float64 torch tensors, built
with :func:`lecture_code.softmax.softmax` (the solver does not re-implement it).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy.optimize import brentq

from .softmax import entropy, logsumexp, softmax

#: Largest |λ| the bracket search tries before declaring f̄ numerically at an endpoint.
LAMBDA_MAX = 1e8


@dataclass(frozen=True)
class MaxEntSolution:
    """The maximizer of (eq-maxent-primal) and its multiplier.

    ``lam`` is +inf / -inf when f̄ = max f / min f: the solution then sits on the face of the
    simplex spanned by the categories that attain the extreme value (a vertex if only one does).
    """

    p: torch.Tensor  # (K,) float64
    lam: float

    @property
    def entropy(self) -> float:
        return float(entropy(self.p))


def as_features(f, name: str = "f") -> torch.Tensor:
    """Return the feature values ``f`` (K,) as a float64 tensor, or raise a clear error."""
    if isinstance(f, (str, bytes)):
        raise TypeError(f"{name} must be a 1-D array of numbers, got {type(f).__name__}")
    try:
        t = torch.as_tensor(np.asarray(f.detach().cpu() if hasattr(f, "detach") else f, dtype=float))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be a 1-D array of numbers: {exc}") from None
    if t.ndim != 1 or t.numel() == 0:
        raise ValueError(f"{name} must be a 1-D array with K >= 1 entries, got shape {tuple(t.shape)}")
    if not torch.isfinite(t).all():
        raise ValueError(f"{name} must be finite (no NaN or inf)")
    return t.to(torch.float64)


def _as_scalar(x, name: str) -> float:
    if isinstance(x, torch.Tensor):
        if x.numel() != 1:
            raise ValueError(f"{name} must be a single number, got shape {tuple(x.shape)}")
        x = x.item()
    if isinstance(x, bool) or not isinstance(x, (int, float, np.integer, np.floating)):
        raise TypeError(f"{name} must be a number, got {type(x).__name__}")
    x = float(x)
    if not math.isfinite(x):
        raise ValueError(f"{name} must be finite, got {x!r}")
    return x


def gibbs(f, lam) -> torch.Tensor:
    """The exponential-family member softmax(λ f) (eq-maxent-solution), shape (K,).

    λ may be ±inf: the limit is uniform on the categories where f is largest (λ = +inf)
    or smallest (λ = -inf).
    """
    f = as_features(f)
    if isinstance(lam, (int, float)) and not isinstance(lam, bool) and math.isinf(lam):
        extreme = f.max() if lam > 0 else f.min()
        face = (f == extreme).to(torch.float64)  # (K,) indicator of the face
        return face / face.sum()
    return softmax(_as_scalar(lam, "lam") * f)


def mean_feature(f, lam) -> float:
    """m(λ) = Σ_i softmax(λ f)_i f_i (eq-maxent-mean), increasing in λ."""
    f = as_features(f)
    return float(gibbs(f, lam) @ f)


def dual_objective(f, fbar, lam) -> float:
    """g(λ) = LSE(λ f) - λ f̄ (eq-maxent-dual); its minimum over λ equals the maximum entropy."""
    f = as_features(f)
    lam = _as_scalar(lam, "lam")
    return float(logsumexp(lam * f)) - lam * _as_scalar(fbar, "fbar")


def solve_maxent(f, fbar, xtol: float = 1e-13) -> MaxEntSolution:
    """Maximize H(p) subject to Σ p_i = 1 and Σ p_i f_i = f̄ (eq-maxent-primal).

    The stationarity condition of the Lagrangian gives p = softmax(λ f) (eq-maxent-solution),
    so the K-dimensional problem reduces to one equation in one unknown, m(λ) = f̄. The mean
    m(λ) is increasing (its derivative is a variance), so the root is bracketed by doubling
    and found by Brent's method.

    Parameters
    ----------
    f : array_like, shape (K,)
        Feature value of each category.
    fbar : float
        Required mean; must lie in [min f, max f].
    xtol : float
        Absolute tolerance on λ passed to ``scipy.optimize.brentq``.

    Returns
    -------
    MaxEntSolution
        ``p`` (K,) float64 and the multiplier ``lam``; at f̄ = max f (min f) ``lam`` is +inf
        (-inf) and ``p`` is uniform on the categories attaining the maximum (minimum).

    Raises
    ------
    ValueError
        If f̄ lies outside [min f, max f]: no probability vector has that mean.

    Examples
    --------
    >>> sol = solve_maxent([1, 2, 3, 4, 5, 6], 3.5)  # a fair die's mean: the uniform distribution
    >>> abs(sol.lam) < 1e-12, sol.p.numpy().round(4)
    (True, array([0.1667, 0.1667, 0.1667, 0.1667, 0.1667, 0.1667]))
    """
    f = as_features(f)
    fbar = _as_scalar(fbar, "fbar")
    lo, hi = float(f.min()), float(f.max())
    scale = max(1.0, abs(lo), abs(hi))
    slack = 1e-12 * scale
    if not lo - slack <= fbar <= hi + slack:
        raise ValueError(
            f"fbar={fbar!r} is infeasible: every mean of f lies in [min f, max f] = [{lo!r}, {hi!r}]"
        )
    if hi - lo <= slack:  # constant feature: every p satisfies the constraint, the uniform wins
        return MaxEntSolution(gibbs(f, 0.0), 0.0)
    if fbar >= hi - slack:
        return MaxEntSolution(gibbs(f, math.inf), math.inf)
    if fbar <= lo + slack:
        return MaxEntSolution(gibbs(f, -math.inf), -math.inf)

    def gap(lam: float) -> float:  # g'(λ) = m(λ) - f̄
        return mean_feature(f, lam) - fbar

    a, b = -1.0, 1.0
    while gap(a) > 0:  # m is increasing: move the left end down until m(a) <= f̄
        a *= 2.0
        if -a > LAMBDA_MAX:
            return MaxEntSolution(gibbs(f, -math.inf), -math.inf)
    while gap(b) < 0:
        b *= 2.0
        if b > LAMBDA_MAX:
            return MaxEntSolution(gibbs(f, math.inf), math.inf)
    lam = brentq(gap, a, b, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=500)
    return MaxEntSolution(gibbs(f, lam), float(lam))


def kl_to_uniform(p) -> torch.Tensor:
    """KL(p ‖ u) = Σ p_i log(K p_i) = log K - H(p) (eq-maxent-kl); 0·log 0 = 0. Shape (...)."""
    p = torch.as_tensor(np.asarray(p.detach().cpu() if hasattr(p, "detach") else p, dtype=float))
    H = entropy(p)  # validates: non-negative, no NaN
    return math.log(p.shape[-1]) - H


def euclidean_to_center(p) -> torch.Tensor:
    """‖p - u‖₂, the straight-line distance from p (..., K) to the centre u = (1/K, …, 1/K)."""
    p = torch.as_tensor(np.asarray(p.detach().cpu() if hasattr(p, "detach") else p, dtype=float))
    if p.ndim == 0 or p.shape[-1] == 0:
        raise ValueError(f"p must have a last axis of length K >= 1, got shape {tuple(p.shape)}")
    return torch.linalg.vector_norm(p - 1.0 / p.shape[-1], dim=-1)


def constraint_segment(f, fbar) -> np.ndarray:
    """The points of Δ² with mean Σ p_i f_i = f̄: a segment (2, 3), a single vertex (1, 3) or none (0, 3).

    Used to draw the constraint of (eq-maxent-primal) for K = 3: it meets each edge
    (1-s) e_i + s e_j where (1-s) f_i + s f_j = f̄ with 0 <= s <= 1.
    """
    f = as_features(f).numpy()
    if f.size != 3:
        raise ValueError(f"f must have K = 3 entries to draw on the triangle, got K={f.size}")
    fbar = _as_scalar(fbar, "fbar")
    eye = np.eye(3)
    pts = []
    for i, j in ((0, 1), (1, 2), (2, 0)):
        if f[i] == f[j]:
            cand = [eye[i], eye[j]] if f[i] == fbar else []
        else:
            s = (fbar - f[i]) / (f[j] - f[i])
            cand = [(1 - s) * eye[i] + s * eye[j]] if -1e-12 <= s <= 1 + 1e-12 else []
        pts.extend(cand)
    out = []
    for p in pts:  # drop duplicates (a vertex is shared by two edges)
        if not any(np.allclose(p, q, atol=1e-12) for q in out):
            out.append(np.clip(p, 0.0, 1.0))
    return np.array(out).reshape(-1, 3)
