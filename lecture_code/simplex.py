"""The probability simplex Δ^{K-1} and its 2-D picture (chapter 1, 確率単体).

Book equations: (eq-simplex) for the definition, (eq-interior) for the open
interior, (eq-barycentric) for the map from barycentric coordinates to the
plane, (eq-label-smoothing) for the smoothed targets of label smoothing (a
point on the segment from a vertex to the centre).

All functions accept array-likes and return NumPy arrays: this module is
geometry and plotting support, not learning code.
"""

from __future__ import annotations

import numpy as np

from .validate import (
    as_array,
    flag,
    in_interval,
    labels,
    positive,
    positive_int,
    prob_atol,
    probabilities,
)

#: Corners of the equilateral triangle used to draw Δ² in the plane, one row
#: per vertex e_1, e_2, e_3.
TRIANGLE = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3.0) / 2.0]])

#: Default tolerance for "sums to one" and "non-negative" checks: √ε of
#: float64, the library's one tolerance policy
#: (:func:`lecture_code.validate.prob_atol`).
ATOL = prob_atol(np.float64)


def as_points(p, name: str = "p") -> np.ndarray:
    """Return ``p`` as a float array of shape (..., K) with K >= 1, or raise
    a clear error.

    Parameters
    ----------
    p : array_like, shape (..., K)
        The points.
    name : str
        The argument's name for error messages.

    Returns
    -------
    numpy.ndarray, shape (..., K)
        float64.
    """
    return as_array(p, name)


def vertices(K: int) -> np.ndarray:
    """The K vertices of Δ^{K-1}: the one-hot vectors e_1, ..., e_K (rows of
    the identity).

    Parameters
    ----------
    K : int
        Number of categories, >= 1.

    Returns
    -------
    numpy.ndarray, shape (K, K)
        Row i is e_{i+1}.
    """
    return np.eye(positive_int(K, "K"))


def in_simplex(p, atol: float = ATOL) -> np.ndarray:
    """Whether each row of ``p`` lies in Δ^{K-1} (eq-simplex): p_i >= 0 and
    Σ p_i = 1.

    Parameters
    ----------
    p : array_like, shape (..., K)
        Points, one per row.
    atol : float
        Tolerance of both checks.

    Returns
    -------
    numpy.ndarray, shape (...,) of bool
        True where the row lies in Δ^{K-1} (to ``atol``).
    """
    arr = as_points(p)
    return (arr >= -atol).all(axis=-1) & (
        np.abs(arr.sum(axis=-1) - 1.0) <= atol
    )


def in_interior(p, atol: float = ATOL) -> np.ndarray:
    """Whether each row of ``p`` lies in the open interior int Δ^{K-1}
    (eq-interior): all p_i > 0.

    Parameters
    ----------
    p : array_like, shape (..., K)
        Points, one per row.
    atol : float
        Tolerance of the simplex check.

    Returns
    -------
    numpy.ndarray, shape (...,) of bool
        True where every entry of the row is > ``atol``.
    """
    arr = as_points(p)
    return in_simplex(arr, atol) & (arr > 0).all(axis=-1)


def check_simplex(p, name: str = "p", atol: float = ATOL) -> np.ndarray:
    """Return ``p`` as a float64 array after checking that every row is a
    probability vector.

    Parameters
    ----------
    p : array_like, shape (..., K)
        Probability vectors, one per row.
    name : str
        The argument's name for error messages.
    atol : float
        Tolerance for "sums to one" and "non-negative".

    Returns
    -------
    numpy.ndarray, shape (..., K)
        float64.

    Raises
    ------
    ValueError
        If a row has a negative entry or does not sum to 1.
    """
    return probabilities(as_array(p, name), name, atol=atol)


def support(p, atol: float = ATOL) -> np.ndarray:
    """Boolean mask of the categories with positive probability.

    A point of Δ^{K-1} with ``m`` categories in its support lies in the
    relative interior of an (m-1)-dimensional face: m = K is the interior,
    m = 1 is a vertex.

    Parameters
    ----------
    p : array_like, shape (..., K)
        Probability vectors.
    atol : float
        Entries at or below it count as 0.

    Returns
    -------
    numpy.ndarray, shape (..., K) of bool
        True for the categories with p_i > ``atol``.
    """
    return check_simplex(p, atol=atol) > atol


def barycentric_to_cartesian(p, corners=TRIANGLE) -> np.ndarray:
    """Map barycentric coordinates (..., K) to points of the plane (..., 2)
    (eq-barycentric).

    The point is the mixture Σ_i p_i c_i of the corners c_i; with the default
    equilateral ``TRIANGLE`` this is the usual picture of Δ². Rows need not be
    probabilities (the map is affine), which lets us draw logits or directions
    too.

    Parameters
    ----------
    p : array_like, shape (..., K)
        Barycentric coordinates.
    corners : array_like, shape (K, 2) or (K, 3)
        One corner per coordinate (default: the equilateral ``TRIANGLE``).

    Returns
    -------
    numpy.ndarray, shape (..., 2) (or (..., 3) for corners in space)
        The points in the plane of the corners.
    """
    arr = as_points(p)
    c = np.asarray(corners, dtype=float)
    if c.ndim != 2 or c.shape[0] != arr.shape[-1]:
        raise ValueError(
            "corners must have one row per coordinate: p has "
            f"K={arr.shape[-1]}, corners has shape {c.shape}"
        )
    return arr @ c


def cartesian_to_barycentric(xy, corners=TRIANGLE) -> np.ndarray:
    """Inverse of :func:`barycentric_to_cartesian` (eq-barycentric) for a
    triangle: (..., 2) -> (..., 3).

    Solves [c_1 c_2 c_3; 1 1 1] p = [x; y; 1]. Points outside the triangle get
    a negative coordinate, which is how we test membership.

    Parameters
    ----------
    xy : array_like, shape (..., 2)
        Points of the plane.
    corners : array_like, shape (3, 2)
        The triangle's corners.

    Returns
    -------
    numpy.ndarray, shape (..., 3)
        Coordinates summing to 1.
    """
    arr = np.asarray(xy, dtype=float)
    c = np.asarray(corners, dtype=float)
    if arr.shape[-1:] != (2,):
        raise ValueError(
            f"xy must have a last axis of length 2, got shape {arr.shape}"
        )
    if c.shape != (3, 2):
        raise ValueError(
            f"corners must have shape (3, 2) for the triangle, got {c.shape}"
        )
    system = np.vstack([c.T, np.ones(3)])  # (3, 3)
    ones = np.ones(arr.shape[:-1] + (1,))
    rhs = np.concatenate([arr, ones], axis=-1)  # (..., 3)
    return np.linalg.solve(system, rhs[..., None])[..., 0]


def simplex_grid(n: int, K: int = 3, interior: bool = False) -> np.ndarray:
    """All points of Δ^{K-1} whose coordinates are multiples of 1/n, shape (M,
    K).

    With ``interior=True`` only points with every coordinate positive are kept
    (n >= K). Used for heat maps over Δ² and for exhaustive searches over the
    simplex.

    Parameters
    ----------
    n : int
        Grid resolution, >= 1.
    K : int
        Number of coordinates.
    interior : bool
        Keep only points with every coordinate positive.

    Returns
    -------
    numpy.ndarray, shape (M, K)
        The grid points, one per row.
    """
    n, K = positive_int(n, "n"), positive_int(K, "K")

    def compositions(total: int, parts: int):
        if parts == 1:
            yield (total,)
            return
        for first in range(total + 1):
            for rest in compositions(total - first, parts - 1):
                yield (first, *rest)

    pts = np.array(list(compositions(int(n), int(K))), dtype=float) / n
    if interior:
        pts = pts[(pts > 0).all(axis=1)]
    return pts


def sample_dirichlet(n: int, alpha, seed: int | None = 0) -> np.ndarray:
    """``n`` samples from Dirichlet(alpha), shape (n, K); alpha = ones(K) is
    uniform on Δ^{K-1}.

    Parameters
    ----------
    n : int
        Number of samples.
    alpha : array_like, shape (K,)
        Positive concentrations.
    seed : int or None
        Seed of NumPy's generator.

    Returns
    -------
    numpy.ndarray, shape (n, K)
        The draws, one per row.
    """
    a = as_points(alpha, "alpha")
    if a.ndim != 1 or (a <= 0).any():
        raise ValueError(
            f"alpha must be a 1-D array of positive numbers, got {a!r}"
        )
    return np.random.default_rng(seed).dirichlet(a, size=int(n))


def distance_to_boundary(p) -> np.ndarray:
    """Euclidean distance from p to the boundary of Δ^{K-1}, measured inside
    the plane Σ p_i = 1.

    Moving within the plane towards the facet {p_i = 0} lowers p_i by
    sqrt((K-1)/K) per unit length, so the distance is min_i p_i · sqrt(K/(K-1))
    (eq-boundary-distance); K >= 2. It is 0 exactly on the boundary and
    largest, sqrt(1/(K(K-1))), at the centre.

    Parameters
    ----------
    p : array_like, shape (..., K)
        Points of Δ^{K-1}, K >= 2.

    Returns
    -------
    numpy.ndarray, shape (...,)
        The distances, min_i p_i · sqrt(K/(K-1)).
    """
    arr = check_simplex(p)
    K = arr.shape[-1]
    if K < 2:
        raise ValueError(
            "the boundary distance needs K >= 2 (Δ^0 is a single point)"
        )
    return arr.min(axis=-1) * np.sqrt(K / (K - 1))


def smooth_labels(y, num_classes: int, eps: float) -> np.ndarray:
    """Label-smoothing targets (1 - eps) e_y + eps/K · 1, shape (N, K)
    (eq-label-smoothing).

    Each row lies on the segment from the vertex e_y (eps = 0) to the centre
    1/K (eps = 1). The cross-entropy against these rows is what
    ``torch.nn.functional.cross_entropy(..., label_smoothing=eps)`` computes (a
    test checks it).

    Parameters
    ----------
    y : array_like of int (N,)
        Class labels in 0..K-1.
    num_classes : int
        K.
    eps : float
        Smoothing weight in [0, 1].

    Returns
    -------
    numpy.ndarray, shape (N, K)
        One smoothed target per label.
    """
    E, eps = vertices(num_classes), in_interval(eps, "eps", 0.0, 1.0)
    y = labels(y, None, num_classes, "y").numpy()
    return (1.0 - eps) * E[y] + eps / num_classes  # (N, K)


def feasible_fraction(p, eps: float = 1e-6, n_directions: int = 3600) -> float:
    """Fraction of the directions in the plane of Δ² along which ``p`` can
    move a step ``eps`` and stay in the triangle.

    The directions are ``n_directions`` unit vectors at evenly spaced angles
    (offset by half a step) in the picture of :func:`barycentric_to_cartesian`.
    A point of the open interior (eq-interior) can move every way (1), a point
    inside an edge half of the ways (1/2), a vertex only into its 60° corner
    (1/6).

    Parameters
    ----------
    p : array_like, shape (3,)
        A point of Δ².
    eps : float
        Step length, > 0 (small against the distance to the boundary).
    n_directions : int
        Number of directions tried.

    Returns
    -------
    float
        The fraction of directions that stay in Δ² (to 1e-12).
    """
    p = check_simplex(p)
    eps, n = positive(eps, "eps"), positive_int(n_directions, "n_directions")
    if p.shape != (3,):
        raise ValueError(
            f"p must be one point of Δ², shape (3,), got {p.shape}"
        )
    angles = (np.arange(n) + 0.5) * 2 * np.pi / n
    # (n, 2) unit vectors
    directions = np.stack([np.cos(angles), np.sin(angles)], axis=1)
    xy = barycentric_to_cartesian(p) + eps * directions  # (n, 2)
    inside = in_simplex(cartesian_to_barycentric(xy), atol=1e-12)
    return float(inside.mean())


def distance_to_segment(points, a, b, segment: bool = True) -> np.ndarray:
    """Euclidean distance from each point to the segment [a, b] or, with
    ``segment=False``, to the whole line through a and b.

    The nearest point is a + s u, u = (b - a)/‖b - a‖, with s the projection
    (p - a)·u, clipped to [0, ‖b - a‖] for the segment. Chapters 5 and 6 use
    it to measure how far a curve in Δ^{K-1} (a Fisher–Rao geodesic,
    eq-fisher-rao, or a descent path) strays from the straight segment
    (1-s) a + s b, the m-geodesic (eq-dual-mgeodesic).

    Parameters
    ----------
    points : array_like, shape (T, K)
        Points of ℝ^K, one per row.
    a, b : array_like, shape (K,)
        The segment's end points, a ≠ b.
    segment : bool
        Distance to the segment (default) or to the line.

    Returns
    -------
    numpy.ndarray, shape (T,)
        Distances, >= 0.

    Examples
    --------
    >>> distance_to_segment([[2.0, 1.0]], [0.0, 0.0], [1.0, 0.0])
    array([1.41421356])
    >>> distance_to_segment([[2.0, 1.0]], [0.0, 0.0], [1.0, 0.0], False)
    array([1.])
    """
    points = as_array(points, "points", finite=True)
    a, b = as_array(a, "a", finite=True), as_array(b, "b", finite=True)
    segment = flag(segment, "segment")
    if points.ndim != 2 or a.shape != points.shape[1:] or b.shape != a.shape:
        raise ValueError(
            "points must have shape (T, K) and a, b shape (K,), got "
            f"{points.shape}, {a.shape}, {b.shape}"
        )
    length = np.linalg.norm(b - a)
    if not length > 0:
        raise ValueError("a and b must differ (the segment is a point)")
    u, D = (b - a) / length, points - a  # (K,), (T, K)
    s = D @ u if not segment else np.clip(D @ u, 0.0, length)  # (T,)
    return np.linalg.norm(D - np.outer(s, u), axis=1)


def project_to_simplex(z) -> np.ndarray:
    """argmin_{p ∈ Δ^{K-1}} ‖p - z‖², found by SciPy's SLSQP without any
    formula: the reference for sparsemax.

    The Euclidean projection onto the simplex (eq-simplex) is what sparsemax
    computes in closed form; this solver knows only the objective, Σ p_i = 1
    and p_i >= 0, so the chapter and the tests can check the closed form
    against it.

    Parameters
    ----------
    z : array_like, shape (K,)
        The point to project (logits).

    Returns
    -------
    numpy.ndarray, shape (K,)
        The projection, to about 1e-8.

    Raises
    ------
    RuntimeError
        If SLSQP does not converge.
    """
    from scipy.optimize import minimize

    z = as_array(z, "z", finite=True)
    if z.ndim != 1:
        raise ValueError(f"z must be one vector, shape (K,), got {z.shape}")
    K = len(z)
    res = minimize(
        lambda p: 0.5 * np.sum((p - z) ** 2),
        np.full(K, 1 / K),
        jac=lambda p: p - z,
        method="SLSQP",
        constraints=[
            {
                "type": "eq",
                "fun": lambda p: p.sum() - 1.0,
                "jac": lambda p: np.ones((1, K)),
            }
        ],
        bounds=[(0.0, None)] * K,
        options={"ftol": 1e-15, "maxiter": 500},
    )
    if not res.success:
        raise RuntimeError(f"SLSQP did not converge: {res.message}")
    return res.x
