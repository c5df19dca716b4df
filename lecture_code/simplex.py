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
    in_interval,
    labels,
    positive_int,
    prob_atol,
    probabilities,
)

# : Corners of the equilateral triangle used to draw Δ² in the plane, one row
# per vertex e_1, e_2, e_3.
TRIANGLE = np.array([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3.0) / 2.0]])

# : Default tolerance for "sums to one" and "non-negative" checks: √ε of
# float64, the library's : one tolerance policy
# (:func:`lecture_code.validate.prob_atol`).
ATOL = prob_atol(np.float64)


def as_points(p, name: str = "p") -> np.ndarray:
    """Return ``p`` as a float array of shape (..., K) with K >= 1, or raise
    a clear error."""
    return as_array(p, name)


def vertices(K: int) -> np.ndarray:
    """The K vertices of Δ^{K-1}: the one-hot vectors e_1, ..., e_K (rows of
    the identity)."""
    return np.eye(positive_int(K, "K"))


def in_simplex(p, atol: float = ATOL) -> np.ndarray:
    """Whether each row of ``p`` lies in Δ^{K-1} (eq-simplex): p_i >= 0 and
    Σ p_i = 1."""
    arr = as_points(p)
    return (arr >= -atol).all(axis=-1) & (
        np.abs(arr.sum(axis=-1) - 1.0) <= atol
    )


def in_interior(p, atol: float = ATOL) -> np.ndarray:
    """Whether each row of ``p`` lies in the open interior int Δ^{K-1}
    (eq-interior): all p_i > 0."""
    arr = as_points(p)
    return in_simplex(arr, atol) & (arr > 0).all(axis=-1)


def check_simplex(p, name: str = "p", atol: float = ATOL) -> np.ndarray:
    """Return ``p`` as a float64 array after checking that every row is a
    probability vector."""
    return probabilities(as_array(p, name), name, atol=atol)


def support(p, atol: float = ATOL) -> np.ndarray:
    """Boolean mask of the categories with positive probability.

    A point of Δ^{K-1} with ``m`` categories in its support lies in the
    relative interior of an (m-1)-dimensional face: m = K is the interior, m =
    1 is a vertex.
    """
    return check_simplex(p, atol=atol) > atol


def barycentric_to_cartesian(p, corners=TRIANGLE) -> np.ndarray:
    """Map barycentric coordinates (..., K) to points of the plane (..., 2)
    (eq-barycentric).

    The point is the mixture Σ_i p_i c_i of the corners c_i; with the default
    equilateral ``TRIANGLE`` this is the usual picture of Δ². Rows need not be
    probabilities (the map is affine), which lets us draw logits or directions
    too.
    """
    arr = as_points(p)
    c = np.asarray(corners, dtype=float)
    if c.ndim != 2 or c.shape[0] != arr.shape[-1]:
        raise ValueError(
            f"corners must have one row per coordinate: p has K={arr.shape[-1]}, "
            f"corners has shape {c.shape}"
        )
    return arr @ c


def cartesian_to_barycentric(xy, corners=TRIANGLE) -> np.ndarray:
    """Inverse of :func:`barycentric_to_cartesian` for a triangle: (..., 2) ->
    (..., 3).

    Solves [c_1 c_2 c_3; 1 1 1] p = [x; y; 1]. Points outside the triangle get
    a negative coordinate, which is how we test membership.
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
    # (..., 3)
    rhs = np.concatenate([arr, np.ones(arr.shape[:-1] + (1,))], axis=-1)
    return np.linalg.solve(system, rhs[..., None])[..., 0]


def simplex_grid(n: int, K: int = 3, interior: bool = False) -> np.ndarray:
    """All points of Δ^{K-1} whose coordinates are multiples of 1/n, shape (M,
    K).

    With ``interior=True`` only points with every coordinate positive are kept
    (n >= K). Used for heat maps over Δ² and for exhaustive searches over the
    simplex.
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
    uniform on Δ^{K-1}."""
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
    y : array-like of int (N,)
        Class labels in 0..K-1.
    num_classes : int
        K.
    eps : float
        Smoothing weight in [0, 1].
    """
    E, eps = vertices(num_classes), in_interval(eps, "eps", 0.0, 1.0)
    y = labels(y, None, num_classes, "y").numpy()
    return (1.0 - eps) * E[y] + eps / num_classes  # (N, K)
