"""Paths on the simplex: descent toward a target q, the natural-gradient flow,
and how far a path strays from the straight segment (chapters 6 and 7).

The loss is L = KL(q ‖ p) for a fixed target q; its gradient comes in closed
form from :func:`lecture_code.fisher.kl_gradient` (eq-fisher-klgrad) and the
Fisher matrix from :func:`lecture_code.fisher.categorical_fisher`. A
natural-gradient step ξ ← ξ - η F⁺∇L (eq-natgrad) moves p toward q along the
segment in free expectation coordinates and (for small η) in any coordinates:
the flow p(t) = q + e^{-t}(p0 - q) (prop-dual-mirror). Gradient descent in
logits bends away from it. The chapters compare these paths with the
Fisher–Rao and e-geodesics.

Points are float64 NumPy arrays, like :mod:`lecture_code.fisher` and
:mod:`lecture_code.dual`.
"""

from __future__ import annotations

import numpy as np

from .dual import (
    STEP_COORDINATES,
    mirror_descent_step,
    natural_gradient_step_free,
    to_expectation,
    to_natural,
)
from .fisher import (
    categorical_fisher,
    coordinates_of,
    fisher_rao_distance,
    from_free,
    kl_gradient,
    point_pair,
    probs_of,
)
from .simplex import check_simplex, sample_dirichlet
from .validate import as_array, choice, flag, positive, positive_int


def descent_path(p0, q, coordinates: str, natural: bool, lr, n_steps: int):
    """Gradient or natural-gradient descent on KL(q ‖ p) from p0
    (eq-natgrad).

    Each step is ξ ← ξ - η d in the coordinates ξ of
    :func:`lecture_code.fisher.coordinates_of`, with d = ∇_ξ L
    (eq-fisher-klgrad) or, if ``natural``, the minimum-norm solution F⁺∇_ξ L
    of F d = ∇_ξ L (F is singular in logits). The path stops early when p
    leaves the open simplex (the natural gradient overshoots for large η).

    Parameters
    ----------
    p0 : array_like, shape (K,)
        The start, in the open simplex.
    q : array_like, shape (K,)
        The target distribution.
    coordinates : {"probs", "free", "logits"}
        The coordinates ξ in which the steps are taken.
    natural : bool
        Natural gradient (True) or plain gradient (False).
    lr : float
        The step size η > 0.
    n_steps : int
        The number of steps (>= 1).

    Returns
    -------
    numpy.ndarray, shape (S + 1, K)
        p0 and the S <= ``n_steps`` points reached inside the simplex.

    Examples
    --------
    >>> descent_path([0.5, 0.5], [0.5, 0.5], "logits", True, 0.1, 3).shape
    (4, 2)
    """
    p0, q = point_pair(p0, q, ("p0", "q"), (True, False))
    natural = flag(natural, "natural")
    lr, n_steps = positive(lr, "lr"), positive_int(n_steps, "n_steps")
    xi, path = coordinates_of(p0, coordinates), [p0]
    for _ in range(n_steps):
        p = probs_of(xi, coordinates)
        d = kl_gradient(q, p, coordinates)
        if natural:
            F = categorical_fisher(p, coordinates)
            d = np.linalg.lstsq(F, d, rcond=None)[0]
        xi = xi - lr * d
        p_new = probs_of(xi, coordinates)
        if not np.all(p_new > 0):
            break
        path.append(p_new)
    return np.array(path)


def descent_pair(p0, q, lr, n_steps: int, coordinates: str = "logits"):
    """Gradient descent and natural-gradient descent from the same start:
    the two paths chapter 7 draws side by side (eq-natgrad).

    Parameters
    ----------
    p0, q : array_like, shape (K,)
        Start (open simplex) and target.
    lr : float
        The step size η > 0 of both.
    n_steps : int
        Steps of each path.
    coordinates : {"probs", "free", "logits"}
        The coordinates of both.

    Returns
    -------
    tuple of numpy.ndarray
        (gradient path, natural-gradient path), as :func:`descent_path`.
    """
    return tuple(
        descent_path(p0, q, coordinates, natural, lr, n_steps)
        for natural in (False, True)
    )


def descent_sweep_run(q, methods: dict, n_steps: int):
    """``run(method, lr, seed)`` for :func:`lecture_code.experiments.lr_sweep`:
    the Fisher–Rao distance to q after ``n_steps`` of :func:`descent_path`.

    The start is a point drawn uniformly from the simplex with ``seed``
    (:func:`lecture_code.simplex.sample_dirichlet`); a path that leaves the
    simplex counts as diverged (``inf``).

    Parameters
    ----------
    q : array_like, shape (K,)
        The target.
    methods : dict
        Method label -> (coordinates, natural), the arguments of
        :func:`descent_path`.
    n_steps : int
        Steps of every run.

    Returns
    -------
    callable
        ``run(method, lr, seed) -> float``.
    """
    q = check_simplex(q, "q")
    n_steps = positive_int(n_steps, "n_steps")

    def run(method, lr, seed):
        coordinates, natural = methods[choice(method, "method", methods)]
        start = sample_dirichlet(1, np.ones(q.size), seed=seed)[0]
        path = descent_path(start, q, coordinates, natural, lr, n_steps)
        if len(path) < n_steps + 1:
            return np.inf
        return float(fisher_rao_distance(path[-1], q))

    return run


def kl_descent_iterates(p0, q, lr, n_steps: int, coordinates: str):
    """Natural-gradient steps on KL(q ‖ p) in free natural or free expectation
    coordinates (eq-dual-mirror, prop-dual-mirror).

    ``"natural"``: the step in θ, which is the mirror-descent step
    :func:`lecture_code.dual.mirror_descent_step`; ``"expectation"``: the step
    in π̃ (:func:`lecture_code.dual.natural_gradient_step_free`), which lands
    on the segment: p_k = q + (1 - η)^k (p0 - q).

    Parameters
    ----------
    p0 : array_like, shape (K,)
        The start, in the open simplex.
    q : array_like, shape (K,)
        The target.
    lr : float
        The step size η > 0.
    n_steps : int
        The number of steps.
    coordinates : {"natural", "expectation"}
        Where the step is taken.

    Returns
    -------
    numpy.ndarray, shape (n_steps + 1, K)
        p0 and every iterate.
    """
    p0, q = point_pair(p0, q, ("p0", "q"), (True, False))
    coordinates = choice(coordinates, "coordinates", STEP_COORDINATES)
    lr, n_steps = positive(lr, "lr"), positive_int(n_steps, "n_steps")
    path = [p0]
    for _ in range(n_steps):
        p = path[-1]
        g = kl_gradient(q, p, "free")  # ∇_π̃ L, (K-1,)
        if coordinates == "natural":
            path.append(mirror_descent_step(p, g, lr))
        else:
            pi = natural_gradient_step_free(p[:-1], g, lr, "expectation")
            path.append(from_free(pi))
    return np.array(path)


def natural_gradient_flow(p0, q, t_eval, rtol=1e-11, atol=1e-12):
    """The natural-gradient flow dθ/dt = -F_θ⁻¹ ∇_θ L of L = KL(q ‖ p) in
    free natural coordinates, with ∇_θ L = π̃ - q̃ (eq-natgrad,
    prop-dual-mirror).

    Solved numerically (``scipy.integrate.solve_ivp``) so that the chapter
    can compare it with the closed form p(t) = q + e^{-t}(p0 - q).

    Parameters
    ----------
    p0 : array_like, shape (K,)
        The start, in the open simplex.
    q : array_like, shape (K,)
        The target.
    t_eval : array_like, shape (T,)
        Increasing times from 0 at which p(t) is returned.
    rtol, atol : float
        Tolerances of the solver.

    Returns
    -------
    numpy.ndarray, shape (T, K)
        p(t) at every time of ``t_eval``.
    """
    # imported here: scipy.integrate takes 0.35 s to import and only
    # chapter 6 needs it
    from scipy.integrate import solve_ivp

    p0, q = point_pair(p0, q, ("p0", "q"), (True, False))
    t_eval = as_array(t_eval, "t_eval", finite=True)
    if t_eval.ndim != 1 or t_eval.size == 0 or (t_eval < 0).any():
        raise ValueError(
            "t_eval must be a non-empty 1-D array of times >= 0, got "
            f"shape {t_eval.shape}"
        )

    def velocity(t, theta):  # (K-1,)
        p_t = to_expectation(theta, "free")
        F = categorical_fisher(p_t, "logits")[:-1, :-1]  # F_θ
        return -np.linalg.solve(F, (p_t - q)[:-1])

    flow = solve_ivp(
        velocity,
        (0, t_eval[-1]),
        to_natural(p0, "free"),
        t_eval=t_eval,
        rtol=positive(rtol, "rtol"),
        atol=positive(atol, "atol"),
    )
    return to_expectation(flow.y.T, "free")


def offsets_along_segment(curve, a, b, s_grid) -> np.ndarray:
    """Signed distance of a curve from the segment [a, b] in Δ², as a
    function of the position s along the segment (eq-dual-egeodesic).

    The offset is measured in the plane Σp = 0, orthogonal to b - a; s is the
    projection on b - a (0 at a, 1 at b). The curve must move steadily from a
    to b (its s increasing), as the m-, e- and Fisher–Rao geodesics do.

    Parameters
    ----------
    curve : array_like, shape (T, 3)
        Points of the curve, from a to b.
    a, b : array_like, shape (3,)
        The ends of the segment.
    s_grid : array_like, shape (S,)
        Positions in [0, 1] at which the offset is interpolated.

    Returns
    -------
    numpy.ndarray, shape (S,)
        The signed offset at each position of ``s_grid``.
    """
    curve = as_array(curve, "curve", finite=True)
    a, b = as_array(a, "a", finite=True), as_array(b, "b", finite=True)
    if curve.ndim != 2 or curve.shape[1] != 3 or a.shape != (3,):
        raise ValueError(
            "curve must be (T, 3) and a, b points of Δ² (3,), got "
            f"{curve.shape}, {a.shape}"
        )
    u = (b - a) / np.linalg.norm(b - a)
    # in the plane Σ p = 0 and orthogonal to b - a
    normal = np.cross(np.ones(3), b - a)
    normal /= np.linalg.norm(normal)
    s = (curve - a) @ u / np.linalg.norm(b - a)
    if not (np.diff(s) > 0).all():
        raise ValueError(
            "curve must move steadily from a to b (its position along the "
            "segment increasing)"
        )
    return np.interp(as_array(s_grid, "s_grid"), s, (curve - a) @ normal)
