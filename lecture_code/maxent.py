"""Maximum entropy under one mean constraint, solved through its one-scalar
dual (chapter 3).

Book equations: (eq-maxent-primal) max H(p) s.t. Σ p_i = 1, Σ p_i f_i = f̄;
(eq-maxent-solution) p_i ∝ exp(λ f_i), i.e. p = softmax(λ f); (eq-maxent-mean)
the mean m(λ) = E_{softmax(λf)}[f], whose derivative is the variance
Var_{softmax(λf)}[f] ≥ 0; (eq-maxent-dual) the dual g(λ) = LSE(λ f) - λ f̄,
convex, with max H = min_λ g(λ); (eq-maxent-kl) H(p) = log K - KL(p ‖ u) for
the uniform u.

Reference: Jaynes (1957), "Information theory and statistical mechanics"; Cover
& Thomas (2006), ch. 12. The Lagrange multiplier λ is an inverse temperature:
softmax(λ f) = softmax(f / τ) with τ = 1/λ.

Several features and the conditional problem (same chapter):
(eq-maxent-vector-solution) p = softmax(F λ) for features f_i ∈ R^M stacked in
F (K, M); (eq-maxent-vector-dual) g(λ) = LSE(F λ) - λᵀ f̄;
(eq-maxent-class-features) φ(x, k) = e_k ⊗ x̃ with x̃ = (x, 1);
(eq-maxent-cond-dual) g(λ) = (1/N) Σ_n LSE(Φ_n λ) - λᵀ φ̄ (+ (ρ/2)‖λ‖²), which
for the class features is the mean cross-entropy of multinomial logistic
regression (Berger, Della Pietra & Della Pietra 1996); (eq-maxent-moment) at
its minimum the model's feature expectations equal the empirical ones (minus ρλ
with the L2 term).

Inputs are array-likes or tensors; distributions come back as float64 torch
tensors, built with :func:`lecture_code.softmax.softmax` (the solver does not
re-implement it). The dual of the feature problems is minimized by
``scipy.optimize.minimize`` (trust-region Newton); whether the constraints can
be met by strictly positive probabilities (the condition for finite
multipliers) is decided first by a linear program (``scipy.optimize.linprog``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from scipy import sparse
from scipy.optimize import brentq, linprog, minimize

from . import validate
from .softmax import (
    entropy,
    kl_divergence,
    logsumexp,
    softmax,
    softmax_covariance,
)
from .validate import as_array, integer, number, positive, probabilities

#: Largest |λ| the bracket search tries before declaring f̄ numerically
#: at an endpoint.
LAMBDA_MAX = 1e8


@dataclass(frozen=True)
class MaxEntSolution:
    """The maximizer of (eq-maxent-primal) and its multiplier.

    ``lam`` is +inf / -inf when f̄ = max f / min f: the solution then sits on
    the face of the simplex spanned by the categories that attain the extreme
    value (a vertex if only one does).

    Attributes
    ----------
    p : torch.Tensor, shape (K,)
        The maximizer, float64.
    lam : float
        The multiplier λ (±inf on the boundary).
    """

    p: torch.Tensor  # (K,) float64
    lam: float

    @property
    def entropy(self) -> float:
        return float(entropy(self.p))


def as_features(f, name: str = "f") -> torch.Tensor:
    """Return the feature values ``f`` (K,) as a finite float64 tensor, or
    raise a clear error.

    Parameters
    ----------
    f : array_like, shape (K,)
        One feature value per category.
    name : str
        The argument's name for error messages.

    Returns
    -------
    torch.Tensor, shape (K,)
        float64.
    """
    return _as_feature_tensor(f, name, 1)


def gibbs(f, lam) -> torch.Tensor:
    """The exponential-family member softmax(λ f) (eq-maxent-solution), shape
    (K,).

    λ may be ±inf: the limit is uniform on the categories where f is largest
    (λ = +inf) or smallest (λ = -inf).

    Parameters
    ----------
    f : array_like, shape (K,)
        Feature values.
    lam : float
        The multiplier λ (may be ±inf).

    Returns
    -------
    torch.Tensor, shape (K,)
        softmax(λ f).
    """
    f = as_features(f)
    if (
        isinstance(lam, (int, float))
        and not isinstance(lam, bool)
        and math.isinf(lam)
    ):
        extreme = f.max() if lam > 0 else f.min()
        face = (f == extreme).to(torch.float64)  # (K,) indicator of the face
        return face / face.sum()
    return softmax(number(lam, "lam") * f)


def mean_feature(f, lam) -> float:
    """m(λ) = Σ_i softmax(λ f)_i f_i (eq-maxent-mean), increasing in λ.

    Parameters
    ----------
    f : array_like, shape (K,)
        Feature values.
    lam : float
        The multiplier λ.

    Returns
    -------
    float
        E_p[f] = Σ p_i f_i.
    """
    f = as_features(f)
    return float(gibbs(f, lam) @ f)


def dual_objective(f, fbar, lam) -> float:
    """g(λ) = LSE(λ f) - λ f̄ (eq-maxent-dual); its minimum over λ equals
    the maximum entropy.

    Parameters
    ----------
    f : array_like, shape (K,)
        Feature values.
    fbar : float
        The target mean f̄.
    lam : float
        The multiplier λ.

    Returns
    -------
    float
        The value of the dual at λ.
    """
    f = as_features(f)
    lam = number(lam, "lam")
    return float(logsumexp(lam * f)) - lam * number(fbar, "fbar")


def solve_maxent(f, fbar, xtol: float = 1e-13) -> MaxEntSolution:
    """Maximize H(p) subject to Σ p_i = 1 and Σ p_i f_i = f̄
    (eq-maxent-primal).

    The stationarity condition of the Lagrangian gives p = softmax(λ f)
    (eq-maxent-solution), so the K-dimensional problem reduces to one equation
    in one unknown, m(λ) = f̄. The mean m(λ) is increasing (its derivative is a
    variance), so the root is bracketed by doubling and found by Brent's
    method.

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
        ``p`` (K,) float64 and the multiplier ``lam``; at f̄ = max f (min f)
        ``lam`` is +inf (-inf) and ``p`` is uniform on the categories attaining
        the maximum (minimum).

    Raises
    ------
    ValueError
        If f̄ lies outside [min f, max f]: no probability vector has that mean.

    Examples
    --------
    >>> # a fair die's mean: the uniform distribution
    >>> sol = solve_maxent([1, 2, 3, 4, 5, 6], 3.5)
    >>> abs(sol.lam) < 1e-12, sol.p.numpy().round(4)
    (True, array([0.1667, 0.1667, 0.1667, 0.1667, 0.1667, 0.1667]))
    """
    f = as_features(f)
    fbar = number(fbar, "fbar")
    lo, hi = float(f.min()), float(f.max())
    scale = max(1.0, abs(lo), abs(hi))
    slack = 1e-12 * scale
    if not lo - slack <= fbar <= hi + slack:
        raise ValueError(
            f"fbar={fbar!r} is infeasible: every mean of f lies in "
            f"[min f, max f] = [{lo!r}, {hi!r}]"
        )
    # constant feature: every p satisfies the constraint, the uniform wins
    if hi - lo <= slack:
        return MaxEntSolution(gibbs(f, 0.0), 0.0)
    if fbar >= hi - slack:
        return MaxEntSolution(gibbs(f, math.inf), math.inf)
    if fbar <= lo + slack:
        return MaxEntSolution(gibbs(f, -math.inf), -math.inf)

    def gap(lam: float) -> float:  # g'(λ) = m(λ) - f̄
        return mean_feature(f, lam) - fbar

    a, b = -1.0, 1.0
    # m is increasing: move the left end down until m(a) <= f̄
    while gap(a) > 0:
        a *= 2.0
        if -a > LAMBDA_MAX:
            return MaxEntSolution(gibbs(f, -math.inf), -math.inf)
    while gap(b) < 0:
        b *= 2.0
        if b > LAMBDA_MAX:
            return MaxEntSolution(gibbs(f, math.inf), math.inf)
    lam = brentq(
        gap, a, b, xtol=xtol, rtol=4 * np.finfo(float).eps, maxiter=500
    )
    return MaxEntSolution(gibbs(f, lam), float(lam))


def kl_to_uniform(p) -> torch.Tensor:
    """KL(p ‖ u) = Σ p_i log(K p_i) = log K - H(p) (eq-maxent-kl), with
    0·log 0 = 0. Shape (...).

    Parameters
    ----------
    p : array_like, shape (..., K)
        Probability vectors.

    Returns
    -------
    torch.Tensor, shape (...,)
        KL(p ‖ u) in nats.
    """
    p = torch.from_numpy(probabilities(as_array(p, "p"), "p"))
    # = log K - H(p)
    return kl_divergence(p, torch.full_like(p, 1.0 / p.shape[-1]))


def euclidean_to_center(p) -> torch.Tensor:
    """‖p - u‖₂, the straight-line distance from p (..., K) to the centre
    u = (1/K, …, 1/K).

    Parameters
    ----------
    p : array_like, shape (..., K)
        Probability vectors.

    Returns
    -------
    torch.Tensor, shape (...,)
        ‖p - u‖₂.
    """
    p = torch.from_numpy(as_array(p, "p"))
    return torch.linalg.vector_norm(p - 1.0 / p.shape[-1], dim=-1)


def constraint_segment(f, fbar) -> np.ndarray:
    """The points of Δ² with mean Σ p_i f_i = f̄: a segment (2, 3), a single
    vertex (1, 3) or none (0, 3).

    Used to draw the constraint of (eq-maxent-primal) for K = 3: it meets each
    edge (1-s) e_i + s e_j where (1-s) f_i + s f_j = f̄ with 0 <= s <= 1.

    Parameters
    ----------
    f : array_like, shape (3,)
        Feature values of the three categories.
    fbar : float
        The target mean.

    Returns
    -------
    numpy.ndarray, shape (M, 3)
        The end points, M = 2, 1 or 0.
    """
    f = as_features(f).numpy()
    if f.size != 3:
        raise ValueError(
            "f must have K = 3 entries to draw on the triangle, "
            f"got K={f.size}"
        )
    fbar = number(fbar, "fbar")
    eye = np.eye(3)
    pts = []
    for i, j in ((0, 1), (1, 2), (2, 0)):
        if f[i] == f[j]:
            cand = [eye[i], eye[j]] if f[i] == fbar else []
        else:
            s = (fbar - f[i]) / (f[j] - f[i])
            cand = (
                [(1 - s) * eye[i] + s * eye[j]]
                if -1e-12 <= s <= 1 + 1e-12
                else []
            )
        pts.extend(cand)
    out = []
    for p in pts:  # drop duplicates (a vertex is shared by two edges)
        if not any(np.allclose(p, q, atol=1e-12) for q in out):
            out.append(np.clip(p, 0.0, 1.0))
    return np.array(out).reshape(-1, 3)


# ---------------------------------------------------------------------------
# Several features and the conditional problem: p = softmax(F λ),
# p(k | x) = softmax(W x̃)_k
# ---------------------------------------------------------------------------

#: Smallest "min_{n,k} p(k | x_n)" a linear program must reach for the
#: constraints to count as met by strictly positive probabilities (finite
#: multipliers); below it the maximizer has zeros. It is the feasibility
#: tolerance of the LP solver (HiGHS: 1e-7).
POSITIVITY_TOL = 1e-7


@dataclass(frozen=True)
class FeatureMaxEntSolution:
    """The maximizer of the feature-constrained problem and its multipliers.

    ``p`` is (K,) for :func:`solve_maxent_features` and (N, K)
    (row n = p(· | x_n)) for :func:`solve_conditional_maxent`. ``lam`` (M,)
    has no component along the directions of λ that change no probability
    (for class features: Σ_k w_k = 0), so it is unique. ``dual`` is the
    minimum of the dual; with ``l2 = 0`` it equals the maximum (mean)
    entropy.

    Attributes
    ----------
    p : torch.Tensor, shape (K,) or (N, K)
        The maximizer.
    lam : torch.Tensor, shape (M,)
        The multipliers.
    dual : float
        The dual's minimum.
    grad_norm : float
        Norm of the dual gradient at ``lam``.
    iterations : int
        Newton steps taken.
    """

    p: torch.Tensor
    lam: torch.Tensor
    dual: float
    grad_norm: float
    iterations: int

    @property
    def entropy(self) -> float:
        """H(p), or for the conditional problem the mean
        (1/N) Σ_n H(p(· | x_n))."""
        return float(entropy(self.p).mean())


_SHAPES = {
    "f": "(K,)",
    "X": "(N, D)",
    "F": "(K, M)",
    "P": "(N, K)",
    "Phi": "(N, K, M)",
}


def _as_feature_tensor(Phi, name: str, ndim: int) -> torch.Tensor:
    """``Phi`` as a finite float64 tensor with ``ndim`` axes, none empty, or
    a clear error naming ``name``."""
    t = as_array(Phi, name, nonempty=False, finite=True)
    if t.ndim != ndim or 0 in t.shape:
        shape = _SHAPES.get(name, "(M,)" if ndim == 1 else f"{ndim} axes")
        raise ValueError(
            f"{name} must be a non-empty array of shape {shape}, "
            f"got shape {tuple(t.shape)}"
        )
    return torch.from_numpy(t)


def class_features(X, num_classes: int, bias: bool = True) -> torch.Tensor:
    """φ(x, k) = e_k ⊗ x̃ for every row x of X and every class k
    (eq-maxent-class-features).

    With x̃ = (x, 1) (``bias=True``) the multiplier λ = vec(W) (row-major,
    ``lam.reshape(K, D + 1)``) gives λᵀ φ(x, k) = w_kᵀ x + b_k: the logits of a
    linear layer.

    Parameters
    ----------
    X : array_like, shape (N, D)
        Inputs.
    num_classes : int
        K >= 2.
    bias : bool
        Append the constant 1 to every input.

    Returns
    -------
    torch.Tensor, shape (N, K, K * (D + bias)), float64
        ``Phi[n, k]`` is φ(x_n, k): x̃_n in block k, zeros elsewhere.
    """
    X, K = (
        _as_feature_tensor(X, "X", 2),
        integer(num_classes, "num_classes", minimum=2),
    )
    if bias:
        ones = torch.ones(len(X), 1, dtype=X.dtype)
        X = torch.cat([X, ones], dim=1)  # (N, D + 1)
    N, D = X.shape
    eye = torch.eye(K, dtype=X.dtype)  # (K, K)
    Phi = eye[None, :, :, None] * X[:, None, None, :]  # (N, K, K, D)
    return Phi.reshape(N, K, K * D)


def empirical_moments(Phi, y) -> torch.Tensor:
    """φ̄ = (1/N) Σ_n φ(x_n, y_n), the left side of (eq-maxent-moment).
    Shape (M,).

    Parameters
    ----------
    Phi : torch.Tensor, shape (N, K, M)
        ``Phi[n, k]`` = φ(x_n, k).
    y : torch.Tensor, shape (N,)
        int64 classes.

    Returns
    -------
    torch.Tensor, shape (M,)
        φ̄, the data's mean feature vector.
    """
    Phi = _as_feature_tensor(Phi, "Phi", 3)
    y = validate.labels(y, Phi.shape[0], Phi.shape[1], "y")
    return Phi[torch.arange(len(y)), y].mean(0)  # (M,)


def model_moments(Phi, P) -> torch.Tensor:
    """(1/N) Σ_n Σ_k p(k | x_n) φ(x_n, k), the right side of
    (eq-maxent-moment). Shape (M,).

    ``P`` (N, K) holds the model's conditional distributions,
    row n = p(· | x_n).

    Parameters
    ----------
    Phi : array_like, shape (N, K, M)
        ``Phi[n, k]`` = φ(x_n, k).
    P : array_like, shape (N, K)
        The model's conditional distributions.

    Returns
    -------
    torch.Tensor, shape (M,)
        The model's mean feature vector.
    """
    Phi = _as_feature_tensor(Phi, "Phi", 3)
    P = _as_feature_tensor(P, "P", 2)
    if P.shape != Phi.shape[:2]:
        raise ValueError(
            f"P must have shape (N, K) = {tuple(Phi.shape[:2])}, "
            f"got {tuple(P.shape)}"
        )
    return torch.einsum("nk,nkm->m", P, Phi) / len(P)  # (M,)


def feature_dual(Phi, target, lam, l2: float = 0.0) -> float:
    """g(λ) = (1/N) Σ_n LSE(Φ_n λ) - λᵀ φ̄ + (ρ/2)‖λ‖² (eq-maxent-cond-dual),
    ρ = ``l2``.

    ``Phi`` (N, K, M), ``target`` = φ̄ (M,), ``lam`` (M,). With N = 1 this is
    the dual (eq-maxent-vector-dual) of one distribution with features
    F = Phi[0].

    Parameters
    ----------
    Phi : array_like, shape (N, K, M)
        ``Phi[n, k]`` = φ(x_n, k).
    target : array_like, shape (M,)
        φ̄.
    lam : array_like, shape (M,)
        The multipliers λ.
    l2 : float
        ρ >= 0.

    Returns
    -------
    float
        g(λ).
    """
    Phi = _as_feature_tensor(Phi, "Phi", 3)
    target = _as_feature_tensor(target, "target", 1)
    lam = _as_feature_tensor(lam, "lam", 1)
    if target.shape != Phi.shape[2:] or lam.shape != Phi.shape[2:]:
        raise ValueError(
            f"target and lam must have shape (M,) = ({Phi.shape[2]},), "
            f"got {tuple(target.shape)} and {tuple(lam.shape)}"
        )
    l2 = positive(l2, "l2", allow_zero=True)
    return float(
        logsumexp(Phi @ lam).mean() - lam @ target + 0.5 * l2 * (lam @ lam)
    )


def positivity_margin(Phi, target) -> float | None:
    """How far inside the simplex the constraints of (eq-maxent-moment) can be
    met; None if they cannot.

    The largest t such that some conditional distributions p(· | x_n) with
    every p(k | x_n) >= t satisfy Σ_k p(k | x_n) = 1 and
    (1/N) Σ_n Φ_nᵀ p(· | x_n) = φ̄ — a linear program in the N·K
    probabilities and t (``scipy.optimize.linprog``, HiGHS). A positive
    margin means the constraints hold for some strictly positive p: then the
    maximizer is interior and the dual has a minimizer (finite λ). A margin of
    0 means every feasible p has zeros: the maximizer lies on the boundary of
    the simplex (λ = ∞ in some direction), like f̄ = max f for one feature.

    Parameters
    ----------
    Phi : array_like, shape (N, K, M)
        Features φ(x_n, k); for a single distribution with features F (K, M)
        pass ``F[None]``.
    target : array_like, shape (M,)
        Required expectation φ̄.

    Returns
    -------
    float or None
        The margin t* in [0, 1/K], or None when no probabilities meet the
        constraints at all.
    """
    Phi = _as_feature_tensor(Phi, "Phi", 3)
    target = _as_feature_tensor(target, "target", 1)
    if target.shape != Phi.shape[2:]:
        raise ValueError(
            f"target must have shape (M,) = ({Phi.shape[2]},), "
            f"got {tuple(target.shape)}"
        )
    N, K, M = Phi.shape
    rows = sparse.kron(sparse.eye(N), np.ones((1, K)))  # (N, N*K): Σ_k p_nk
    moments = Phi.reshape(N * K, M).numpy().T / N  # (M, N*K)
    moments = sparse.csr_matrix(moments)
    A_eq = sparse.hstack(
        [sparse.vstack([rows, moments]), sparse.csr_matrix((N + M, 1))]
    )
    b_eq = np.concatenate([np.ones(N), target.numpy()])
    # t - p_nk <= 0
    A_ub = sparse.hstack([-sparse.eye(N * K), np.ones((N * K, 1))])
    c = np.zeros(N * K + 1)
    c[-1] = -1.0
    res = linprog(
        c,
        A_ub=A_ub,
        b_ub=np.zeros(N * K),
        A_eq=A_eq,
        b_eq=b_eq,
        bounds=[(0, None)] * (N * K) + [(None, 1.0 / K)],
        method="highs",
    )
    if res.status == 2:
        return None
    if res.status != 0:
        raise RuntimeError(
            f"the feasibility linear program failed: {res.message}"
        )
    margin = float(-res.fun)
    return margin if margin > 0 else 0.0  # (no -0.0)


def _minimize_dual(
    Phi: torch.Tensor,
    target: torch.Tensor,
    l2: float,
    gtol: float,
    maxiter: int,
):
    """Minimize (eq-maxent-cond-dual) over the λ that change some
    probability (Newton, trust region)."""
    N, K, M = Phi.shape
    # Directions v with Φ_n v ∈ span(1) for every n change no p (the
    # gauge): drop them. (N*K, M)
    centred = (Phi - Phi.mean(dim=1, keepdim=True)).reshape(N * K, M)
    _, S, Vh = torch.linalg.svd(centred, full_matrices=False)
    keep = S > S.max() * max(centred.shape) * torch.finfo(S.dtype).eps
    B = Vh[keep].T  # (M, r), orthonormal columns
    PhiB = Phi @ B  # (N, K, r)
    tB = target @ B  # (r,)

    def parts(mu):
        mu = torch.as_tensor(mu, dtype=torch.float64)
        Z = PhiB @ mu  # (N, K) logits
        P = softmax(Z)  # (N, K)
        value = logsumexp(Z).mean() - mu @ tB + 0.5 * l2 * (mu @ mu)
        grad = torch.einsum("nk,nkr->r", P, PhiB) / N - tB + l2 * mu  # (r,)
        return value, grad, P

    def fun(mu):
        value, grad, _ = parts(mu)
        return float(value), grad.numpy()

    def hess(mu):
        _, _, P = parts(mu)
        J = softmax_covariance(P)  # (N, K, K) = diag(p_n) - p_n p_nᵀ
        # (r, r) = mean of Φ_nᵀ J_n Φ_n
        H = (PhiB.transpose(1, 2) @ J @ PhiB).sum(0) / N
        return (H + l2 * torch.eye(len(H), dtype=H.dtype)).numpy()

    res = minimize(
        fun,
        np.zeros(B.shape[1]),
        jac=True,
        hess=hess,
        method="trust-exact",
        options={"gtol": gtol, "maxiter": maxiter},
    )
    mu, steps = torch.as_tensor(res.x, dtype=torch.float64), int(res.nit)
    value, grad, P = parts(mu)
    # Near the optimum g changes by less than its rounding error, which stops
    # the trust region early; a few plain Newton steps on ∇g = 0 (the moment
    # equations) finish the job.
    for _ in range(5):
        if grad.abs().max() <= gtol:
            break
        trial = mu - torch.linalg.solve(torch.as_tensor(hess(mu)), grad)
        t_value, t_grad, t_P = parts(trial)
        if not t_grad.abs().max() < grad.abs().max():
            break
        mu, value, grad, P, steps = trial, t_value, t_grad, t_P, steps + 1
    return FeatureMaxEntSolution(
        P, B @ mu, float(value), float(grad.abs().max()), steps
    )


def _solve(Phi, target, l2, gtol, maxiter, what, hint=""):
    if l2 == 0.0:
        slack = positivity_margin(Phi, target)
        if slack is None:
            raise ValueError(
                f"{what} is infeasible: no probabilities have these "
                "feature expectations"
            )
        if slack <= POSITIVITY_TOL:
            raise ValueError(
                f"{what} can only be met with some probabilities exactly 0 "
                f"(best min p = {slack:.1e}): "
                "the maximizer lies on the boundary of the simplex and no "
                f"finite λ exists{hint}"
            )
    sol = _minimize_dual(Phi, target, l2, gtol, maxiter)
    if not sol.grad_norm <= 1e3 * gtol * max(1.0, float(target.abs().max())):
        raise RuntimeError(
            f"the dual did not converge: |∇g| = {sol.grad_norm:.1e} "
            f"after {sol.iterations} steps"
        )
    return sol


def maxent_slsqp(F, fbar) -> np.ndarray:
    """The maximum-entropy distribution found the slow, general way: SLSQP over
    all K probabilities.

    Maximizes H(p) (the objective of eq-maxent-primal) subject to Σ p_i = 1 and
    Fᵀ p = f̄, knowing nothing of the softmax form of the answer — the
    independent reference the chapter and the tests compare
    :func:`solve_maxent` and :func:`solve_maxent_features` with.

    Parameters
    ----------
    F : array_like, shape (K,) or (K, M)
        One feature per category, or M features per category.
    fbar : float or array_like, shape (M,)
        The target means.

    Returns
    -------
    numpy.ndarray, shape (K,)
        The maximizer (entries ≥ 1e-12).

    Raises
    ------
    RuntimeError
        If SLSQP does not converge.
    """
    F = as_array(F, "F", finite=True)
    F = F.reshape(len(F), -1)  # (K, M); one feature becomes (K, 1)
    fbar = as_array(fbar, "fbar", nonempty=False, finite=True)
    fbar = np.atleast_1d(fbar)  # (M,)
    K = len(F)

    def neg_entropy(p):
        q = np.clip(p, 1e-300, None)
        return float(np.sum(q * np.log(q)))

    constraints = [
        {
            "type": "eq",
            "fun": lambda p: p.sum() - 1.0,
            "jac": lambda p: np.ones((1, K)),
        },
        {"type": "eq", "fun": lambda p: p @ F - fbar, "jac": lambda p: F.T},
    ]
    res = minimize(
        neg_entropy,
        np.full(K, 1 / K),
        jac=lambda p: np.log(np.clip(p, 1e-300, None)) + 1.0,
        method="SLSQP",
        constraints=constraints,
        bounds=[(1e-12, 1.0)] * K,
        options={"ftol": 1e-14, "maxiter": 1000},
    )
    if not res.success:
        raise RuntimeError(f"SLSQP did not converge: {res.message}")
    return res.x


def solve_maxent_features(
    F, fbar, gtol: float = 1e-12, maxiter: int = 200
) -> FeatureMaxEntSolution:
    """Maximize H(p) subject to Σ p_i = 1 and Σ p_i f_i = f̄ ∈ R^M
    (eq-maxent-vector-solution).

    The maximizer is p = softmax(F λ) with λ minimizing the convex dual
    g(λ) = LSE(F λ) - λᵀ f̄ (eq-maxent-vector-dual); its gradient Fᵀ p - f̄
    vanishes exactly when the constraints hold.

    Parameters
    ----------
    F : array_like, shape (K, M)
        Row i is the feature vector f_i of category i.
    fbar : array_like, shape (M,)
        Required expectation; must be reachable with strictly positive
        probabilities.
    gtol : float
        Stopping tolerance on the dual gradient (the constraint residual).
    maxiter : int
        Newton steps allowed.

    Returns
    -------
    FeatureMaxEntSolution
        ``p`` (K,), ``lam`` (M,) (minimal norm), ``dual`` = max H.

    Raises
    ------
    ValueError
        If no distribution has mean f̄, or only distributions with some p_i = 0
        do (then the maximizer lies on a face of the simplex and no finite λ
        exists).

    Examples
    --------
    >>> # a die: fix the mean and the mean square
    >>> F = [[i, i * i] for i in range(1, 7)]
    >>> sol = solve_maxent_features(F, [3.5, 13.5])
    >>> sol.p.numpy().round(4)  # a discrete bell
    array([0.0334, 0.1497, 0.3169, 0.3169, 0.1497, 0.0334])
    >>> sol.lam.numpy().round(4)  # λ₂ < 0
    array([ 2.6239, -0.3748])
    """
    F = _as_feature_tensor(F, "F", 2)
    fbar = _as_feature_tensor(fbar, "fbar", 1)
    if fbar.shape != F.shape[1:]:
        raise ValueError(
            f"fbar must have shape (M,) = ({F.shape[1]},), "
            f"got {tuple(fbar.shape)}"
        )
    sol = _solve(F[None], fbar, 0.0, gtol, maxiter, f"fbar={fbar.tolist()}")
    return FeatureMaxEntSolution(
        sol.p[0], sol.lam, sol.dual, sol.grad_norm, sol.iterations
    )


def solve_conditional_maxent(
    Phi, y, l2: float = 0.0, gtol: float = 1e-12, maxiter: int = 200
) -> FeatureMaxEntSolution:
    """Conditional maximum entropy with the empirical feature expectations
    (eq-maxent-cond-dual).

    Maximize the mean entropy (1/N) Σ_n H(p(· | x_n)) subject to
    (1/N) Σ_n Σ_k p(k | x_n) φ(x_n, k) = (1/N) Σ_n φ(x_n, y_n)
    (eq-maxent-moment). The
    solution is p(· | x_n) = softmax(Φ_n λ); λ minimizes the dual, which for
    :func:`class_features` is the mean cross-entropy of multinomial logistic
    regression (Berger et al. 1996). With ``l2`` = ρ > 0 the dual gets
    (ρ/2)‖λ‖² and the condition becomes empirical - model = ρ λ.

    Parameters
    ----------
    Phi : array_like, shape (N, K, M)
        ``Phi[n, k]`` = φ(x_n, k).
    y : array_like of int, shape (N,)
        Observed classes.
    l2 : float
        ρ >= 0. With ρ = 0 the empirical moments must be reachable with
        strictly positive probabilities (checked by a linear program),
        otherwise no finite λ exists.
    gtol : float
        Stopping tolerance on the dual gradient.
    maxiter : int
        Newton steps allowed.

    Returns
    -------
    FeatureMaxEntSolution
        ``p`` (N, K), ``lam`` (M,) (no gauge component), ``dual`` = g(λ*).

    Raises
    ------
    ValueError
        If ρ = 0 and the constraints force some p(k | x_n) = 0 (e.g. linearly
        separable classes).
    """
    Phi = _as_feature_tensor(Phi, "Phi", 3)
    y = validate.labels(y, Phi.shape[0], Phi.shape[1], "y")
    l2 = positive(l2, "l2", allow_zero=True)
    return _solve(
        Phi,
        empirical_moments(Phi, y),
        l2,
        gtol,
        maxiter,
        "the empirical feature expectation",
        hint=(
            " (the classes are separable by the features); pass l2 > 0 "
            "for the regularized problem"
        ),
    )
