"""The Fisher metric of the categorical family on the simplex
(chapter 5, フィッシャー計量).

Book equations:

- (eq-fisher-def) F = E[∇log p ∇log pᵀ];
- (eq-fisher-probs) the K probabilities as coordinates: diag(1/π) - 11ᵀ;
- (eq-fisher-free) the first K-1 probabilities π̃:
  diag(1/π_i) + (1/π_K) 11ᵀ;
- (eq-fisher-logits) the logits: diag(p) - p pᵀ, the Hessian of
  log-sum-exp (eq-lse-hessian);
- (eq-fisher-coords) the change of coordinates F' = Jᵀ F J;
- (eq-fisher-rao) the Fisher–Rao distance 2 arccos Σ √(p_i q_i) through
  the sphere map p ↦ 2√p, and its geodesics;
- (eq-fisher-klgrad, chapter 7) the gradient of KL(q ‖ p) in each
  coordinate system.

References: Amari (1998), "Natural gradient works efficiently in learning";
Amari (2016), *Information Geometry and Its Applications*.

Functions accept array-likes (NumPy, lists, torch tensors) and return float64
NumPy arrays: this module is geometry, not learning code (see
:mod:`lecture_code.natgrad` for that).
"""

from __future__ import annotations

import numpy as np
import torch

from .simplex import check_simplex
from .softmax import kl_divergence as _kl
from .softmax import log_softmax, softmax, softmax_covariance
from .validate import (
    as_array,
    as_tensor,
    choice,
    positive_int,
    probabilities,
    same_last_axis,
)

#: The coordinate systems :func:`categorical_fisher` knows.
COORDINATES = ("probs", "free", "logits")


def check_interior(p, name: str = "p") -> np.ndarray:
    """Return ``p`` (..., K) as float64 after checking every row lies in the
    open simplex.

    The Fisher metric diag(1/π) blows up as a coordinate reaches 0, so points
    on the boundary (some p_i = 0) are rejected with a ``ValueError`` that says
    so.

    Parameters
    ----------
    p : array_like, shape (..., K)
        Probability vectors.
    name : str
        The argument's name for error messages.

    Returns
    -------
    numpy.ndarray, shape (..., K)
        ``p`` as float64.
    """
    return probabilities(as_array(p, name), name, interior=True)


def point_pair(p, q, names=("p", "q"), interior=(True, True)):
    """Two points of the simplex, each one vector (K,) with the same K: the
    ends of a path or a geodesic.

    Parameters
    ----------
    p, q : array_like, shape (K,)
        The two points.
    names : tuple of str
        Their names for error messages (default ``("p", "q")``).
    interior : tuple of bool
        For each point, whether it must lie in the open simplex (True) or may
        lie on the boundary (False).

    Returns
    -------
    tuple of numpy.ndarray, shape (K,)
        ``p`` and ``q`` as float64.
    """
    p, q = (
        check_interior(x, n) if inside else check_simplex(x, n)
        for x, n, inside in zip((p, q), names, interior)
    )
    if p.ndim != 1 or q.shape != p.shape:
        raise ValueError(
            f"{names[0]} and {names[1]} must be two 1-D points with the same "
            f"K, got shapes {p.shape} and {q.shape}"
        )
    return p, q


def from_free(pi):
    """The full point (π̃, 1 - Σπ̃) from the free expectation coordinates
    π̃ = (p_1, ..., p_{K-1}) (eq-fisher-free).

    A torch tensor stays a tensor (its autograd graph kept); anything else
    becomes a float64 NumPy array. The result is not checked to lie in the
    simplex (a step of an optimizer may leave it).

    Parameters
    ----------
    pi : array_like or torch.Tensor, shape (..., K-1)
        Free expectation coordinates.

    Returns
    -------
    numpy.ndarray or torch.Tensor, shape (..., K)
        The probabilities, p_K = 1 - Σπ̃ appended.

    Examples
    --------
    >>> from_free([0.25, 0.5])
    array([0.25, 0.5 , 0.25])
    """
    if isinstance(pi, torch.Tensor):
        pi = as_tensor(pi, "pi")
        return torch.cat([pi, 1 - pi.sum(-1, keepdim=True)], dim=-1)
    pi = as_array(pi, "pi")
    return np.concatenate([pi, 1.0 - pi.sum(axis=-1, keepdims=True)], axis=-1)


def categorical_fisher(p, coordinates: str = "logits") -> np.ndarray:
    """The Fisher information matrix of Categorical(p) in the chosen
    coordinates.

    Parameters
    ----------
    p : array_like, shape (..., K)
        Points of the open simplex (every entry > 0, rows sum to 1).
    coordinates : {"probs", "free", "logits"}
        ``"probs"``: all K probabilities π, with the model
        p(k) = π_k / Σ_j π_j extended off the simplex; F = diag(1/π) - 11ᵀ
        (eq-fisher-probs), singular with null vector π. ``"free"``: the first
        K-1 probabilities, π_K = 1 - Σ π_i; F = diag(1/π_i) + (1/π_K) 11ᵀ
        (eq-fisher-free), positive definite, shape (K-1, K-1).
        ``"logits"``: p = softmax(z); F = diag(p) - p pᵀ (eq-fisher-logits),
        which is the Hessian of log-sum-exp and has null vector 1 (the gauge
        direction).

    Returns
    -------
    numpy.ndarray, shape (..., K, K), or (..., K-1, K-1) for ``"free"``
        The Fisher matrix F at every point.

    Examples
    --------
    >>> categorical_fisher([0.5, 0.5], "free")
    array([[4.]])
    """
    coordinates = choice(coordinates, "coordinates", COORDINATES)
    p = check_interior(p)  # (..., K)
    K = p.shape[-1]
    if coordinates == "logits":
        return softmax_covariance(torch.from_numpy(p)).numpy()  # (..., K, K)
    if coordinates == "probs":
        diag = torch.diag_embed(torch.from_numpy(1.0 / p)).numpy()
        return diag - np.ones((K, K))  # (..., K, K)
    head, last = p[..., :-1], p[..., -1]  # (..., K-1), (...)
    diag = torch.diag_embed(torch.from_numpy(1.0 / head)).numpy()
    return diag + (1.0 / last)[..., None, None]  # (..., K-1, K-1)


def sphere_map(p) -> np.ndarray:
    """The map p ↦ √p onto the positive part of the unit sphere
    (eq-fisher-rao).

    Σ (√p_i)² = 1, so the simplex lands on the sphere; with the factor 2
    (p ↦ 2√p) the Euclidean metric of the sphere of radius 2 pulls back to the
    Fisher metric. Boundary points are allowed (they map to the sphere's
    boundary arcs).

    Parameters
    ----------
    p : array_like, shape (..., K)
        Points of the closed simplex.

    Returns
    -------
    numpy.ndarray, shape (..., K)
        √p, unit vectors.
    """
    return np.sqrt(check_simplex(p, "p"))


def fisher_rao_distance(p, q) -> np.ndarray:
    """Fisher–Rao distance d(p, q) = 2 arccos Σ_i √(p_i q_i) (eq-fisher-rao).

    The length of the shortest path between p and q measured with the Fisher
    metric: the great-circle distance between 2√p and 2√q on the sphere of
    radius 2. Defined on the closed simplex (the two vertices e_i, e_j are π
    apart); rows broadcast.

    Parameters
    ----------
    p, q : array_like, shape (..., K)
        Points of the closed simplex (broadcast).

    Returns
    -------
    numpy.ndarray, shape (...,)
        Distances in [0, π].

    Examples
    --------
    >>> float(fisher_rao_distance([1, 0, 0], [0, 1, 0]))  # doctest: +ELLIPSIS
    3.14159...
    """
    sp, sq = sphere_map(p), np.sqrt(check_simplex(q, "q"))
    same_last_axis(sp, sq)
    # The angle between the unit vectors √p and √q is 2 arcsin(|√p - √q| / 2):
    # the same value as arccos Σ √(p_i q_i), but accurate for nearby points,
    # where arccos of a number near 1 loses half the digits (d = 1e-6 would
    # come out with a relative error of about 1e-3).
    chord = np.linalg.norm(sp - sq, axis=-1)  # (...)
    return 4.0 * np.arcsin(np.minimum(chord / 2.0, 1.0))


def kl_divergence(p, q) -> np.ndarray:
    """KL(p ‖ q) = Σ_i p_i log(p_i / q_i) in nats, on the closed simplex; rows
    broadcast.

    Terms with p_i = 0 contribute 0; if some q_i = 0 < p_i the divergence
    is +inf (q cannot produce an outcome that p produces). Not symmetric, and
    not a distance: for nearby points KL ≈ d²/2 with
    d = :func:`fisher_rao_distance` (the Fisher metric is KL's second-order
    term).

    Parameters
    ----------
    p, q : array_like, shape (..., K)
        Points of the closed simplex (broadcast).

    Returns
    -------
    numpy.ndarray, shape (...,)
        >= 0, may be +inf.
    """
    p, q = check_simplex(p, "p"), check_simplex(q, "q")
    same_last_axis(p, q)
    # lecture_code.softmax.kl_divergence
    return _kl(*map(torch.from_numpy, np.broadcast_arrays(p, q))).numpy()


def fisher_rao_geodesic(p, q, t) -> np.ndarray:
    """Points γ(t) of the Fisher–Rao geodesic from p (t=0) to q (t=1)
    (eq-fisher-rao).

    The great circle between √p and √q on the unit sphere, squared back to the
    simplex: √γ(t) = [sin((1-t)ω) √p + sin(tω) √q] / sin ω with
    cos ω = Σ √(p_i q_i) (ω is half the distance).

    Parameters
    ----------
    p, q : array_like, shape (K,)
        End points on the closed simplex.
    t : float or array_like, shape (T,)
        Curve parameters; values in [0, 1] stay between p and q.

    Returns
    -------
    numpy.ndarray, shape (K,) for a scalar ``t``, else (T, K)
        The points; every row sums to 1.
    """
    p, q = point_pair(p, q, interior=(False, False))
    sp, sq = np.sqrt(p), np.sqrt(q)  # sphere_map
    t_arr = np.asarray(t, dtype=float)
    if t_arr.ndim > 1 or np.isnan(t_arr).any():
        raise ValueError(
            "t must be a number or a 1-D array of numbers, got shape "
            f"{t_arr.shape}"
        )
    omega = float(np.arccos(np.clip(sp @ sq, -1.0, 1.0)))
    tt = np.atleast_1d(t_arr)[:, None]  # (T, 1)
    if omega < 1e-12:
        root = np.broadcast_to(sp, (tt.shape[0], sp.size)).copy()
    else:
        a, b = np.sin((1 - tt) * omega), np.sin(tt * omega)  # (T, 1)
        root = (a * sp + b * sq) / np.sin(omega)  # (T, K)
    gamma = root**2
    # exact on the sphere; removes rounding only
    gamma /= gamma.sum(axis=-1, keepdims=True)
    return gamma[0] if t_arr.ndim == 0 else gamma


def curve_length(curve, n_nodes: int = 64, h: float = 1e-6) -> float:
    """Length ∫₀¹ √(γ̇ᵀ F γ̇) dt of a curve t ↦ γ(t) in the open simplex, in
    the Fisher metric.

    γ̇ is a central difference with step ``h``; F is the metric in the free
    coordinates π̃ (eq-fisher-free); the integral is Gauss–Legendre with
    ``n_nodes`` nodes (the curve is never evaluated at the end points). Along a
    Fisher–Rao geodesic the result is the distance (eq-fisher-rao); any other
    curve between the same points is longer.

    Parameters
    ----------
    curve : callable
        ``curve(t)`` returns a point of int Δ^{K-1}, shape (K,), for t in (0,
        1).
    n_nodes : int
        Quadrature nodes.
    h : float
        Step of the central difference.

    Returns
    -------
    float
        The Fisher length of the curve.
    """
    if not callable(curve):
        raise TypeError(
            f"curve must be a function of t, got {type(curve).__name__}"
        )
    n_nodes = positive_int(n_nodes, "n_nodes")

    def speed(t):
        v = (curve(t + h) - curve(t - h)) / (2 * h)  # (K,)
        return np.sqrt(v[:-1] @ categorical_fisher(curve(t), "free") @ v[:-1])

    nodes, weights = np.polynomial.legendre.leggauss(n_nodes)  # on [-1, 1]
    return float(
        sum(w / 2 * speed((x + 1) / 2) for x, w in zip(nodes, weights))
    )


# ------------------------------- the definition (eq-fisher-def), by sampling


def coordinates_of(p, coordinates: str) -> np.ndarray:
    """The coordinates ξ of the interior point p: π itself, its first K-1
    entries π̃, or log p.

    Logits are defined up to adding c·1 (the gauge); we return the
    representative log p.

    Parameters
    ----------
    p : array_like, shape (..., K)
        Points of the open simplex.
    coordinates : str
        "probs", "free" or "logits".

    Returns
    -------
    numpy.ndarray, shape (..., K) or (..., K-1) for "free"
        The coordinates ξ.
    """
    coordinates = choice(coordinates, "coordinates", COORDINATES)
    p = check_interior(p)
    return {"probs": p, "free": p[..., :-1], "logits": np.log(p)}[coordinates]


def probs_of(xi, coordinates: str) -> np.ndarray:
    """The distribution with coordinates ξ: the inverse of
    :func:`coordinates_of`, rows (..., dim) -> (..., K).

    ``"logits"``: softmax(ξ); ``"free"``: (ξ, 1 - Σξ); ``"probs"``: ξ / Σξ (the
    scale-invariant model). The result is not checked to lie inside the
    simplex: a step of an optimizer may leave it, and the caller decides what
    to do then (e.g. stop).

    Parameters
    ----------
    xi : array_like, shape (..., dim)
        Coordinates.
    coordinates : str
        "probs", "free" or "logits".

    Returns
    -------
    numpy.ndarray, shape (..., K)
        The probabilities (not checked).
    """
    coordinates = choice(coordinates, "coordinates", COORDINATES)
    xi = as_array(xi, "xi")
    if coordinates == "logits":
        # the stable form (eq-stable-softmax)
        return softmax(torch.from_numpy(xi)).numpy()
    if coordinates == "free":
        return from_free(xi)
    return xi / xi.sum(axis=-1, keepdims=True)


def log_prob(xi, coordinates: str):
    """log p(k; ξ) for k = 1..K as a torch tensor (differentiable in ξ), for ξ
    (..., dim).

    ``"probs"``: log(π_k / Σπ); ``"free"``: log of (ξ, 1 - Σξ); ``"logits"``:
    log softmax(ξ).

    Parameters
    ----------
    xi : torch.Tensor, shape (..., dim)
        Coordinates.
    coordinates : str
        "probs", "free" or "logits".

    Returns
    -------
    torch.Tensor, shape (..., K)
        log p(k; ξ) for every k.
    """
    if coordinates == "logits":
        return log_softmax(xi)
    if coordinates == "probs":
        return torch.log(xi) - torch.log(xi.sum(dim=-1, keepdim=True))
    if coordinates == "free":
        return torch.log(from_free(xi))
    raise ValueError(
        f"coordinates must be one of {COORDINATES}, got {coordinates!r}"
    )


def kl_gradient(q, p, coordinates: str) -> np.ndarray:
    """The gradient ∇_ξ KL(q ‖ p(ξ)) at the interior point p, in closed form
    (eq-fisher-klgrad).

    It is -Σ_k q_k ∇_ξ log p(k; ξ), the score (:func:`score_matrix`) averaged
    under q: ``"logits"``: p - q; ``"free"``: -q_i/π_i + q_K/π_K for i < K;
    ``"probs"``: 1 - q/π (the model π_k / Σπ at Σπ = 1). The target q may have
    zeros; p may not.

    Parameters
    ----------
    q : array_like, shape (..., K)
        The target distribution (may have zeros).
    p : array_like, shape (..., K)
        The model's point, in the open simplex.
    coordinates : str
        "probs", "free" or "logits".

    Returns
    -------
    numpy.ndarray, shape (..., dim)
        ∇_ξ KL(q ‖ p(ξ)); dim = K, or K-1 for "free".

    Examples
    --------
    >>> kl_gradient([0.5, 0.5], [0.25, 0.75], "logits")
    array([-0.25,  0.25])
    """
    coordinates = choice(coordinates, "coordinates", COORDINATES)
    p, q = check_interior(p), check_simplex(q, "q")
    if q.shape != p.shape:
        raise ValueError(
            f"q must have the shape of p {p.shape}, got {q.shape}"
        )
    if coordinates == "logits":
        return p - q
    if coordinates == "probs":
        return 1.0 - q / p
    return -q[..., :-1] / p[..., :-1] + (q[..., -1] / p[..., -1])[..., None]


def score_matrix(p, coordinates: str) -> np.ndarray:
    """Row k is the score ∇_ξ log p(k; ξ) at p, computed by automatic
    differentiation: (K, dim).

    Parameters
    ----------
    p : array_like, shape (K,)
        A point of the open simplex.
    coordinates : str
        "probs", "free" or "logits".

    Returns
    -------
    numpy.ndarray, shape (K, dim)
        The scores ∇_ξ log p(k; ξ), one row per k.
    """
    xi = torch.tensor(coordinates_of(p, coordinates), dtype=torch.float64)
    if xi.dim() != 1:
        raise ValueError(
            f"p must be a single point (K,), got shape {tuple(xi.shape)}"
        )
    jac = torch.autograd.functional.jacobian(
        lambda t: log_prob(t, coordinates), xi
    )
    return jac.numpy()  # (K, dim)


def monte_carlo_fisher(
    p, coordinates: str, n_samples: int, seed: int = 0
) -> np.ndarray:
    """(1/n) Σ_m s(k_m) s(k_m)ᵀ with k_m ~ p: the definition (eq-fisher-def)
    estimated by sampling.

    The score s(k) comes from :func:`score_matrix` (autograd), not from the
    closed forms, so the comparison with :func:`categorical_fisher` checks one
    against the other.

    Parameters
    ----------
    p : array_like, shape (K,)
        A point of the open simplex.
    coordinates : str
        "probs", "free" or "logits".
    n_samples : int
        Number of draws k_m ~ p.
    seed : int
        Seed of the draws.

    Returns
    -------
    numpy.ndarray, shape (dim, dim)
        The sampled estimate of F.
    """
    n_samples, p = positive_int(n_samples, "n_samples"), check_interior(p)
    S = score_matrix(p, coordinates)  # (K, dim)
    # how often each k was drawn
    counts = np.random.default_rng(seed).multinomial(int(n_samples), p)
    return S.T @ (counts[:, None] / n_samples * S)
