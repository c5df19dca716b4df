"""The dually flat structure of the categorical family
(chapter 6, 双対平坦構造).

The categorical distributions on int Δ^{K-1} form an exponential family. Its
natural coordinates are the logits modulo the gauge 1 (θ, centred by
default: θ = z - mean(z)·1 = clr(p)); its expectation coordinates are the
probabilities p themselves. The two potentials LSE(θ) and
-H(p) = Σ p_i log p_i are Legendre duals.

Book equations:

- (eq-dual-legendre) ∇LSE = softmax and ∇(-H) = clr are inverse maps;
- (eq-dual-bregman) the Bregman divergence of -H is KL(p ‖ q);
- (eq-dual-bregman-lse) the Bregman divergence of LSE is KL with the
  arguments swapped;
- (eq-dual-mgeodesic) the m-geodesic (1-t)p + tq;
- (eq-dual-egeodesic) the e-geodesic p^{1-t} q^t / Σ;
- (eq-dual-pythagoras) the three-point identity;
- (prop-dual-mirror) a natural-gradient step in free natural coordinates is
  a mirror-descent step with potential -H.

References: Amari (2016), *Information Geometry and Its Applications*, ch. 1-2;
Amari & Nagaoka (2000); Raskutti & Mukherjee (2015), "The information geometry
of mirror descent".

Functions accept array-likes (NumPy, lists, torch tensors) and return float64
NumPy arrays, like :mod:`lecture_code.fisher`, whose validators they reuse.
Softmax, log-sum-exp, entropy, KL and the Fisher matrices are not re-derived
here: they come from :mod:`lecture_code.softmax` and
:mod:`lecture_code.fisher`.
"""

from __future__ import annotations

import numpy as np
import torch

from .fisher import categorical_fisher, check_interior, from_free, point_pair
from .simplex import check_simplex
from .softmax import entropy, kl_divergence, logsumexp, softmax
from .validate import (
    as_array,
    as_tensor,
    choice,
    positive,
    same_last_axis,
)

#: Gauge choices for the natural coordinates: centred (K numbers summing
#: to 0) or free (θ_i = z_i - z_K).
GAUGES = ("centred", "free")

#: Coordinate systems in which :func:`natural_gradient_step_free` steps.
STEP_COORDINATES = ("natural", "expectation")


def to_natural(p, gauge: str = "centred") -> np.ndarray:
    """Natural coordinates of interior points: the centred log map clr(p)
    (eq-dual-legendre).

    ``"centred"``: θ = log p - mean(log p)·1, the gradient of -H along the
    simplex; every row sums to 0 and softmax(θ) = p
    (eq-softmax-centred-inverse). ``"free"``: θ_i = log p_i - log p_K for
    i < K, the gradient of -H in the free expectation coordinates
    (p_1, ..., p_{K-1}).

    Parameters
    ----------
    p : array_like, shape (K,) or (N, K)
        Points of the open simplex (the logarithm needs every p_i > 0).
    gauge : {"centred", "free"}
        Which representative of the gauge class to return.

    Returns
    -------
    numpy.ndarray, shape (..., K), or (..., K-1) for ``"free"``
        The natural coordinates θ.

    Examples
    --------
    >>> to_natural([0.25, 0.25, 0.5], "free").round(4)  # log(p_i / p_K)
    array([-0.6931, -0.6931])
    """
    gauge = choice(gauge, "gauge", GAUGES)
    logp = np.log(check_interior(p, "p"))  # (..., K)
    if gauge == "free":
        return logp[..., :-1] - logp[..., -1:]
    return logp - logp.mean(axis=-1, keepdims=True)


def to_expectation(theta, gauge: str = "centred") -> np.ndarray:
    """Expectation coordinates p = ∇LSE(θ) = softmax(θ) (eq-dual-legendre).

    ``"centred"``: θ has K entries; any representative of the gauge class
    gives the same p, so θ need not sum to 0. ``"free"``: θ has K-1 entries
    θ_i = z_i - z_K, and z_K = 0 is appended. Computed by
    :func:`lecture_code.softmax.softmax` (the stable form).

    Parameters
    ----------
    theta : array_like, shape (..., K), or (..., K-1) for ``"free"``
        Finite numbers.
    gauge : {"centred", "free"}
        Which representative θ is.

    Returns
    -------
    numpy.ndarray, shape (..., K)
        p; rows sum to 1. (Logit gaps beyond ~745 underflow to a probability
        of exactly 0 in float64, chapter 2.)
    """
    gauge = choice(gauge, "gauge", GAUGES)
    arr = torch.tensor(as_array(theta, "theta", finite=True))
    if gauge == "free":
        arr = _append_zero(arr)
    return softmax(arr).numpy()  # (..., K)


def _free_point(x, name: str) -> torch.Tensor:
    """A 1-D floating tensor of free coordinates, its autograd graph kept."""
    return as_tensor(x, name, ndim=1, finite=True)


def _append_zero(theta: torch.Tensor) -> torch.Tensor:
    """Free natural coordinates (..., K-1) -> logits (..., K) with z_K = 0."""
    return torch.cat([theta, theta.new_zeros(theta.shape[:-1] + (1,))], -1)


def lse_free(theta) -> torch.Tensor:
    """The potential LSE(θ, 0) in free natural coordinates θ_i = z_i - z_K
    (eq-dual-legendre): its gradient is π̃ = (p_1, ..., p_{K-1}).

    Parameters
    ----------
    theta : torch.Tensor, shape (K-1,)
        Free natural coordinates; differentiable.

    Returns
    -------
    torch.Tensor, shape ()
        LSE(θ, 0).

    Examples
    --------
    >>> float(lse_free(torch.zeros(1, dtype=torch.float64)))  # log 2
    0.6931471805599453
    """
    return logsumexp(_append_zero(_free_point(theta, "theta")))


def neg_entropy_free(pi) -> torch.Tensor:
    """The other potential -H(π̃, 1 - Σπ̃) in free expectation coordinates
    (eq-dual-legendre): its gradient is θ_i = log(p_i / p_K).

    Parameters
    ----------
    pi : torch.Tensor, shape (K-1,)
        Free expectation coordinates π̃ (π̃_i > 0, Σπ̃ < 1); differentiable.

    Returns
    -------
    torch.Tensor, shape ()
        -H(p) of the full point p = (π̃, 1 - Σπ̃).
    """
    return -entropy(from_free(_free_point(pi, "pi")))


def kl_free(q, x, coordinates: str = "natural") -> torch.Tensor:
    """L = KL(q ‖ p) as a differentiable function of free natural (θ) or free
    expectation (π̃) coordinates of p; its gradients are (eq-fisher-klgrad).

    ``"natural"``: p = softmax(θ, 0); ``"expectation"``: p = (π̃, 1 - Σπ̃).
    Chapter 6 differentiates it in both systems to show ∇_θ L = F_θ ∇_π̃ L
    (eq-dual-hessians).

    Parameters
    ----------
    q : array_like, shape (K,)
        The target distribution.
    x : torch.Tensor, shape (K-1,)
        The free coordinates of p; differentiable.
    coordinates : {"natural", "expectation"}
        Which free coordinates ``x`` is.

    Returns
    -------
    torch.Tensor, shape ()
        KL(q ‖ p).
    """
    coordinates = choice(coordinates, "coordinates", STEP_COORDINATES)
    x = _free_point(x, "x")
    q = torch.as_tensor(check_simplex(q, "q"), dtype=x.dtype)
    if q.shape != (x.numel() + 1,):
        raise ValueError(
            f"q must have K = {x.numel() + 1} entries (x has K-1), "
            f"got shape {tuple(q.shape)}"
        )
    p = softmax(_append_zero(x)) if coordinates == "natural" else from_free(x)
    return kl_divergence(q, p)


def fenchel_young_gap(theta, p) -> np.ndarray:
    """LSE(θ) + (-H(p)) - ⟨θ, p⟩, the left side of (eq-dual-fenchel-young):
    >= 0, and equal to KL(p ‖ softmax θ).

    Parameters
    ----------
    theta : array_like, shape (..., K)
        Natural coordinates (any representatives).
    p : array_like, shape (..., K)
        Points of the closed simplex. Rows broadcast.

    Returns
    -------
    numpy.ndarray, shape (...)
        The gap, >= 0.

    Examples
    --------
    >>> float(fenchel_young_gap([0.0, 0.0], [0.5, 0.5]))  # p = softmax(θ)
    0.0
    """
    theta = as_array(theta, "theta", finite=True)
    p = check_simplex(p, "p")
    same_last_axis(theta, p, "theta and p")
    lse_theta = logsumexp(torch.tensor(theta)).numpy()
    return (
        lse_theta - entropy(torch.tensor(p)).numpy() - (theta * p).sum(axis=-1)
    )


def _curve_parameter(t) -> tuple[np.ndarray, bool]:
    """Return t as a column (T, 1) of numbers in [0, 1] and whether it was a
    scalar."""
    if isinstance(t, (str, bytes)):
        raise TypeError(
            "t must be a number or a 1-D array of numbers, got "
            f"{type(t).__name__}"
        )
    try:
        arr = np.asarray(
            t.detach().cpu() if hasattr(t, "detach") else t, dtype=float
        )
    except (TypeError, ValueError) as exc:
        raise TypeError(
            f"t must be a number or a 1-D array of numbers: {exc}"
        ) from None
    if arr.ndim > 1 or arr.size == 0:
        raise ValueError(
            "t must be a number or a non-empty 1-D array, got shape "
            f"{arr.shape}"
        )
    if np.isnan(arr).any():
        raise ValueError("t contains NaN")
    if (arr < 0).any() or (arr > 1).any():
        raise ValueError(
            "t must lie in [0, 1] (from p at t=0 to q at t=1), got values in "
            f"[{arr.min():g}, {arr.max():g}]"
        )
    return np.atleast_1d(arr)[:, None], arr.ndim == 0


def m_geodesic(p, q, t) -> np.ndarray:
    """The m-geodesic (mixture geodesic) (1-t) p + t q: straight in p
    (eq-dual-mgeodesic).

    Parameters
    ----------
    p, q : array_like, shape (K,)
        End points in the open simplex.
    t : float or array_like, shape (T,)
        Curve parameters in [0, 1].

    Returns
    -------
    numpy.ndarray, shape (K,) for a scalar ``t``, else (T, K)
        The points; every row lies in int Δ^{K-1}.
    """
    p, q = point_pair(p, q)
    tt, scalar = _curve_parameter(t)
    gamma = (1 - tt) * p + tt * q  # (T, K)
    return gamma[0] if scalar else gamma


def e_geodesic(p, q, t) -> np.ndarray:
    """The e-geodesic (exponential geodesic) p^{1-t} q^t / Σ_j p_j^{1-t} q_j^t
    (eq-dual-egeodesic).

    Straight in the natural coordinates: softmax((1-t) θ_p + t θ_q) with
    θ = :func:`to_natural`.

    Parameters
    ----------
    p, q : array_like, shape (K,)
        End points in the open simplex.
    t : float or array_like, shape (T,)
        Curve parameters in [0, 1].

    Returns
    -------
    numpy.ndarray, shape (K,) for a scalar ``t``, else (T, K)
        The points.
    """
    p, q = point_pair(p, q)
    tt, scalar = _curve_parameter(t)
    theta = (1 - tt) * to_natural(p) + tt * to_natural(q)  # (T, K)
    gamma = to_expectation(theta)
    return gamma[0] if scalar else gamma


def bregman(p, q) -> np.ndarray:
    """D_{-H}(p, q) = -H(p) + H(q) - ⟨∇(-H)(q), p - q⟩, which equals KL(p ‖ q)
    (eq-dual-bregman).

    Written from the definition of a Bregman divergence: the potential is the
    negative entropy (:func:`lecture_code.softmax.entropy`, 0·log 0 = 0) and
    its gradient along the simplex is the natural coordinate clr(q)
    (:func:`to_natural`; the ambient gradient log q + 1 differs by a multiple
    of 1, which p - q does not see since Σ (p - q) = 0).

    Parameters
    ----------
    p : array_like, shape (..., K)
        Points of the closed simplex (zeros allowed).
    q : array_like, shape (..., K)
        Points of the open simplex (the gradient of -H needs q_i > 0). Rows
        broadcast.

    Returns
    -------
    numpy.ndarray, shape (...)
        D_{-H}(p, q), >= 0.

    Examples
    --------
    >>> # = KL(p ‖ q) = 0.5 log 2 + 0.5 log(2/3)
    >>> round(float(bregman([0.5, 0.5], [0.25, 0.75])), 6)
    0.143841
    """
    p = check_simplex(p, "p")
    q = check_interior(q, "q")
    same_last_axis(p, q)
    neg_h_p = -entropy(torch.tensor(p)).numpy()  # -H(p)
    neg_h_q = -entropy(torch.tensor(q)).numpy()  # -H(q)
    return neg_h_p - neg_h_q - ((p - q) * to_natural(q)).sum(axis=-1)


def bregman_lse(theta1, theta2) -> np.ndarray:
    """D_LSE(θ₁, θ₂) = LSE(θ₁) - LSE(θ₂) - ⟨softmax(θ₂), θ₁ - θ₂⟩ = KL(p₂ ‖ p₁)
    (eq-dual-bregman-lse).

    The Bregman divergence of the other potential, log-sum-exp, with
    p_i = softmax(θ_i): the order of the arguments is swapped relative to
    :func:`bregman`. Any representatives of the gauge classes may be passed
    (adding c·1 to θ₁ or θ₂ does not change the value).

    Parameters
    ----------
    theta1, theta2 : array_like, shape (..., K)
        Finite natural coordinates (logits). Rows broadcast.

    Returns
    -------
    numpy.ndarray, shape (...)
        D_LSE(θ₁, θ₂), >= 0.
    """
    t1 = as_array(theta1, "theta1", finite=True)
    t2 = as_array(theta2, "theta2", finite=True)
    same_last_axis(t1, t2, "theta1 and theta2")
    lse1 = logsumexp(torch.tensor(t1)).numpy()
    lse2 = logsumexp(torch.tensor(t2)).numpy()
    return lse1 - lse2 - (to_expectation(t2) * (t1 - t2)).sum(axis=-1)


def natural_gradient_step_free(
    x, grad, lr, coordinates: str = "natural"
) -> np.ndarray:
    """One natural-gradient step x - lr F(x)⁻¹ grad in free coordinates,
    K-1 numbers (eq-natgrad).

    ``"natural"``: x = θ with θ_i = z_i - z_K, p = softmax(θ, 0);
    F_θ = diag(π̃) - π̃ π̃ᵀ with π̃ = (p_1, ..., p_{K-1}), the Hessian of LSE
    (eq-fisher-logits without the last row and column). ``"expectation"``:
    x = π̃; F_π̃ = diag(1/π̃) + 11ᵀ/p_K (eq-fisher-free), the Hessian of -H.
    The two matrices are inverse to each other. With coordinates="natural"
    the step equals :func:`mirror_descent_step` exactly (prop-dual-mirror).

    Parameters
    ----------
    x : array_like, shape (K-1,)
        The current point in the chosen free coordinates (for ``"expectation"``
        it must be the head of an interior point: x_i > 0, Σ x_i < 1).
    grad : array_like, shape (K-1,)
        The ordinary gradient ∇_x L in the same coordinates.
    lr : float
        The step size η > 0.
    coordinates : {"natural", "expectation"}
        Which free coordinates ``x`` and ``grad`` are in.

    Returns
    -------
    numpy.ndarray, shape (K-1,)
        The new point in the same coordinates. It is not checked (a step in
        "expectation" coordinates may leave the simplex; the caller decides).
    """
    coordinates = choice(coordinates, "coordinates", STEP_COORDINATES)
    x = as_array(x, "x", finite=True)
    g = as_array(grad, "grad", finite=True)
    if x.ndim != 1 or g.shape != x.shape:
        raise ValueError(
            "x and grad must be two 1-D arrays of the same length K-1, got "
            f"{x.shape} and {g.shape}"
        )
    lr = positive(lr, "lr")
    if coordinates == "natural":
        p = to_expectation(x, "free")  # (K,)
        # F_θ = ∇²LSE in free coordinates
        F = categorical_fisher(p, "logits")[:-1, :-1]
    else:
        p = check_interior(from_free(x), "x (with p_K = 1 - Σ x)")
        F = categorical_fisher(p, "free")  # F_π̃ = ∇²(-H)
    return x - lr * np.linalg.solve(F, g)


def mirror_descent_step(p, grad_p, lr) -> np.ndarray:
    """One mirror-descent step with the potential -H:
    ∇(-H)(p_new) = ∇(-H)(p) - lr ∇_π̃ L (eq-dual-mirror, prop-dual-mirror).

    The mirror map ∇(-H) sends the free expectation coordinates
    π̃ = (p_1, ..., p_{K-1}) to the free natural coordinates
    θ_i = log p_i - log p_K (:func:`to_natural` with gauge="free"); its
    inverse is softmax(θ, 0) (:func:`to_expectation`). So the step is: go to
    θ, subtract lr times the gradient taken in π̃, come back. In full
    coordinates this is the exponentiated gradient
    p_new ∝ p · exp(-lr (∇_π̃ L, 0)).

    Parameters
    ----------
    p : array_like, shape (K,)
        The current point, in the open simplex.
    grad_p : array_like, shape (K-1,)
        ∇_π̃ L, the gradient of the loss in the free expectation coordinates.
    lr : float
        The step size η > 0.

    Returns
    -------
    numpy.ndarray, shape (K,)
        The new point (in the open simplex unless exp underflows).
    """
    p = check_interior(p, "p")
    g = as_array(grad_p, "grad_p", finite=True)
    if p.ndim != 1 or g.shape != (p.size - 1,):
        raise ValueError(
            "p must be a point (K,) and grad_p a vector (K-1,), got "
            f"{p.shape} and {g.shape}"
        )
    lr = positive(lr, "lr")
    return to_expectation(to_natural(p, "free") - lr * g, "free")
