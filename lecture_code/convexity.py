"""Log-sum-exp convexity at work: Hessian spectrum, softmax regression, step
sizes (chapter 4).

Book equations:

- (eq-lse-bounds) max z ≤ LSE(z) ≤ max z + log K;
- (eq-lse-hessian) ∇²LSE(z) = diag(p) - p pᵀ with p = softmax(z);
- (eq-lse-eig) its largest eigenvalue is at most 1/2;
- (eq-lse-ce) the cross-entropy -z_y + LSE(z), convex in the logits;
- (eq-lse-softreg) L2-regularized softmax regression
  𝓛(W, b) = mean CE + (ρ/2)‖W‖²_F, convex in (W, b);
- (eq-lse-sklearn-c) its match with scikit-learn's C, ρ = 1/(C N);
- (eq-lse-descent-lemma) and (eq-lse-descent) the descent lemma for
  gradient descent with step 1/L;
- (eq-lse-param-lipschitz) the Lipschitz constant of ∇𝓛 in (W, b), at most
  ½ λ_max(X̃ᵀX̃/N) + ρ, with the Hessian of 𝓛 (the logit Hessian
pulled back through the linear map to the logits). The L2 strength is ρ, as in
chapter 3 (λ is the book's Lagrange multiplier / inverse temperature).

Reference: Boyd & Vandenberghe (2004), *Convex Optimization*, §3.1.5
(log-sum-exp) and §9.3 (gradient descent under a Lipschitz gradient).

Learning code uses torch (float64 where the point is agreement to many digits);
the cross-entropy is ``torch.nn.functional.cross_entropy``; L-BFGS steps come
from ``scipy.optimize.minimize`` with torch autograd gradients
(:func:`lbfgs_minimize` says why not ``torch.optim.LBFGS``). The hand-written
pieces are the ones the chapter is about: the Hessian diag(p) - p pᵀ, the
gradient step on the logits, the gradient-descent run on (W, b), the margins
that certify linear separability and the loss along a straight line in
parameter space.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from .natgrad import softmax_regression_fisher, with_bias
from .softmax import logsumexp, softmax, softmax_covariance
from .validate import (
    as_array,
    as_tensor,
    integer,
    labels,
    positive,
    probabilities,
)


def _tensor(x, name: str, ndim: int | None = None) -> torch.Tensor:
    """Tensors keep their dtype; lists and arrays become float64 (this
    module compares to many digits)."""
    return as_tensor(x, name, ndim=ndim, dtype=torch.float64)


def lse_hessian(p) -> torch.Tensor:
    """∇²LSE = diag(p) - p pᵀ (eq-lse-hessian) for probability vectors ``p``
    (..., K) → (..., K, K).

    This is also the covariance matrix of the one-hot vector e_Y with Y ~ p.

    Parameters
    ----------
    p : array_like, shape (..., K)
        Probability vectors.

    Returns
    -------
    torch.Tensor, shape (..., K, K)
        diag(p) - p pᵀ.
    """
    p = probabilities(_tensor(p, "p"), "p")
    return softmax_covariance(p)  # (..., K, K)


def hessian_max_eigenvalue(p) -> torch.Tensor:
    """Largest eigenvalue of diag(p) - p pᵀ for each row of ``p`` (..., K);
    at most 1/2 (eq-lse-eig).

    Parameters
    ----------
    p : array_like, shape (..., K)
        Probability vectors.

    Returns
    -------
    torch.Tensor, shape (...,)
        The largest eigenvalue, <= 1/2.
    """
    # eigvalsh sorts ascending
    return torch.linalg.eigvalsh(lse_hessian(p))[..., -1]


def cross_entropy_on_logits(z, q) -> torch.Tensor:
    """ℓ(z) = -qᵀz + LSE(z) (eq-lse-ce); with a one-hot q = e_y this is
    -z_y + LSE(z).

    ``q`` may be any probability vector (a soft target); the minimum over z is
    then H(q), reached at z = log q + c·1.

    Parameters
    ----------
    z : array_like, shape (..., K)
        Logits.
    q : array_like, shape (K,)
        The target distribution.

    Returns
    -------
    torch.Tensor, shape (...,)
        ℓ(z).
    """
    z = _tensor(z, "z")
    q = probabilities(as_tensor(q, "q", dtype=z.dtype).to(z.dtype), "q")
    if q.shape != z.shape[-1:]:
        raise ValueError(
            f"q must have shape ({z.shape[-1]},) to match the logits, "
            f"got {tuple(q.shape)}"
        )
    return -(z @ q) + logsumexp(z)


def gradient_descent_on_logits(z0, q, lr: float, steps: int) -> torch.Tensor:
    """Run z ← z - η (softmax(z) - q) and return the loss ℓ(z_t) of (eq-lse-ce)
    for t = 0..steps.

    The gradient of ℓ is softmax(z) - q because ∇LSE = softmax. With the
    Lipschitz constant L = 1/2 of that gradient (eq-lse-eig), a step
    η ≤ 1/L = 2 never increases ℓ (eq-lse-descent).

    Parameters
    ----------
    z0 : array_like, shape (K,)
        Starting logits.
    q : array_like, shape (K,)
        The target distribution.
    lr : float
        Step size η > 0.
    steps : int
        Number of steps, >= 0.

    Returns
    -------
    torch.Tensor, shape (steps + 1,)
        ℓ before each step and after the last one.
    """
    lr = positive(lr, "lr")
    steps = integer(steps, "steps", minimum=0)
    z = _tensor(z0, "z0").clone()
    q = torch.as_tensor(q, dtype=z.dtype)
    losses = [cross_entropy_on_logits(z, q)]
    for _ in range(steps):
        z = z - lr * (softmax(z) - q)
        losses.append(cross_entropy_on_logits(z, q))
    return torch.stack(losses)  # (steps + 1,)


def softmax_regression_objective(W, b, X, y, rho: float) -> torch.Tensor:
    """𝓛(W, b) = (1/N) Σ_n CE(W x_n + b, y_n) + (ρ/2) ‖W‖²_F (eq-lse-softreg);
    b is not penalized.

    Shapes: W (K, D), b (K,), X (N, D), y (N,) int64. ``rho`` = 0 is plain
    cross-entropy.

    Parameters
    ----------
    W : torch.Tensor, shape (K, D)
        Weights.
    b : torch.Tensor, shape (K,)
        Biases.
    X : torch.Tensor, shape (N, D)
        Inputs.
    y : torch.Tensor, shape (N,)
        int64 labels.
    rho : float
        The L2 strength ρ >= 0.

    Returns
    -------
    torch.Tensor
        A scalar.
    """
    logits = X @ W.T + b  # (N, K)
    return F.cross_entropy(logits, y) + 0.5 * rho * (W * W).sum()


def sklearn_C(rho: float, n_samples: int) -> float:
    """The scikit-learn ``C`` with the same optimum as (eq-lse-softreg):
    C = 1/(ρ N) (eq-lse-sklearn-c).

    ``LogisticRegression`` minimizes (1/2)‖W‖² + C Σ_n CE_n; dividing by C N
    gives 𝓛(W, b).

    Parameters
    ----------
    rho : float
        ρ > 0.
    n_samples : int
        N >= 1.

    Returns
    -------
    float
        The ``C`` of ``LogisticRegression``.
    """
    rho = positive(rho, "rho")
    n_samples = integer(n_samples, "n_samples", minimum=1)
    return 1.0 / (rho * n_samples)


def _design(X, name: str = "X") -> torch.Tensor:
    X = _tensor(X, name)
    if X.dim() != 2 or X.shape[0] == 0:
        raise ValueError(
            f"{name} must have shape (N, D) with N >= 1, got {tuple(X.shape)}"
        )
    return as_tensor(X, name, finite=True)


def classification_margins(W, b, X, y) -> torch.Tensor:
    """z_{n,y_n} - max_{k≠y_n} z_{n,k} with z_n = W x_n + b: the margin of each
    example, (N,).

    A linear classifier whose margins are all > 0 classifies every example
    correctly, and its existence proves that the data are linearly separable.
    Then the unregularized loss (ρ = 0 in eq-lse-softreg) has no minimizer:
    scaling (W, b) by s > 1 lowers every example's cross-entropy, which tends
    to 0 as s → ∞ without reaching it.

    Parameters
    ----------
    W : torch.Tensor, shape (K, D)
        Weights.
    b : torch.Tensor, shape (K,)
        Biases.
    X : torch.Tensor, shape (N, D)
        Inputs.
    y : torch.Tensor, shape (N,)
        Integer labels 0..K-1.

    Returns
    -------
    torch.Tensor, shape (N,)
        Positive where example n is classified correctly with room to spare.
    """
    X = _design(X)
    y = labels(y, X.shape[0], W.shape[0], "y")
    logits = X @ W.T + b  # (N, K)
    true = logits.gather(1, y[:, None]).squeeze(1)  # (N,)
    # (N, K), the true class masked out
    others = logits.scatter(1, y[:, None], -math.inf)
    return true - others.amax(dim=1)


def softmax_regression_hessian(W, b, X, rho: float) -> torch.Tensor:
    """Hessian of 𝓛(W, b) (eq-lse-softreg): (1/N) Σ_n (diag p_n - p_n p_nᵀ) ⊗
    x̃_n x̃_nᵀ + ρ I_W.

    x̃_n = (x_n, 1). The logits z_n = W x_n + b are linear in (W, b), so the
    Hessian is the logit Hessian (eq-lse-hessian) pulled back through that
    linear map -- the generalized Gauss–Newton matrix, here equal to the Fisher
    matrix (:func:`lecture_code.natgrad.softmax_regression_fisher`) -- plus ρ
    on the entries of W (b is not penalized). Coordinates are ordered class by
    class, (w_1, b_1, w_2, b_2, ...): row-major for the (K, D + 1) matrix
    [W | b].

    Parameters
    ----------
    W : torch.Tensor, shape (K, D)
        Weights.
    b : torch.Tensor, shape (K,)
        Biases.
    X : torch.Tensor, shape (N, D)
        Inputs.
    rho : float
        The L2 strength ρ >= 0 of (eq-lse-softreg).

    Returns
    -------
    torch.Tensor, shape (K·(D+1), K·(D+1))
        The Hessian of 𝓛 in (W, b), class by class.
    """
    X, rho = _design(X), positive(rho, "rho", allow_zero=True)
    K, D = W.shape
    if X.shape[1] != D or b.shape != (K,):
        raise ValueError(
            f"W (K, D), b (K,) and X (N, D) do not fit: {tuple(W.shape)}, "
            f"{tuple(b.shape)}, {tuple(X.shape)}"
        )
    P = softmax(X @ W.T + b)  # (N, K)
    H = softmax_regression_fisher(with_bias(X), P)  # (K(D+1), K(D+1))
    reg = torch.full((K, D + 1), rho, dtype=H.dtype)
    reg[:, -1] = 0.0  # the intercepts are not penalized
    return H + torch.diag(reg.reshape(-1))  # ρ on the diagonal entries of W


def softmax_regression_lipschitz_bound(X, rho: float) -> float:
    """Upper bound ½ λ_max(X̃ᵀX̃/N) + ρ on the Lipschitz constant of ∇𝓛
    (eq-lse-param-lipschitz).

    For a direction V = [V_W | v_b] (K × (D+1)) the Hessian's quadratic form
    is

        (1/N) Σ_n (V x̃_n)ᵀ (diag p_n - p_n p_nᵀ)(V x̃_n) + ρ‖V_W‖²
        ≤ ½ (1/N) Σ_n ‖V x̃_n‖² + ρ‖V‖²
        ≤ (½ λ_max(X̃ᵀX̃/N) + ρ) ‖V‖²,

    using the logit bound 1/2 (eq-lse-eig). Gradient descent on
    (eq-lse-softreg) with the step 1/L then never increases 𝓛, from any
    start.

    Parameters
    ----------
    X : torch.Tensor, shape (N, D)
        Inputs; a column of ones for the intercepts is appended here.
    rho : float
        The L2 penalty ρ.

    Returns
    -------
    float
        The bound L.

    Examples
    --------
    >>> X = torch.tensor([[1.0, 0.0], [-1.0, 0.0]], dtype=torch.float64)
    >>> softmax_regression_lipschitz_bound(X, 0.1)  # X̃ᵀX̃/N = I, so ½ · 1 + 0.1
    0.6
    """
    X, rho = _design(X), positive(rho, "rho", allow_zero=True)
    ones = torch.ones(X.shape[0], 1, dtype=X.dtype)
    Xt = torch.cat([X, ones], dim=1)  # (N, D + 1)
    return 0.5 * float(torch.linalg.eigvalsh(Xt.T @ Xt / X.shape[0])[-1]) + rho


def gradient_descent_softmax_regression(
    X, y, rho: float, lr: float, steps: int
) -> torch.Tensor:
    """Full-batch gradient descent on (eq-lse-softreg) from W = 0, b = 0;
    returns 𝓛 at steps 0..steps.

    The gradient comes from autograd; the update is the plain step (W, b) ← (W,
    b) - lr ∇𝓛. With lr ≤ 1/L, L from
    :func:`softmax_regression_lipschitz_bound`, the returned losses never
    increase (eq-lse-descent).

    Parameters
    ----------
    X : torch.Tensor, shape (N, D)
        Inputs.
    y : torch.Tensor, shape (N,)
        Integer labels 0..K-1.
    rho : float
        The L2 penalty ρ >= 0.
    lr : float > 0
        The step size η.
    steps : int
        Number of steps (>= 0).

    Returns
    -------
    torch.Tensor, shape (steps + 1,)
        𝓛 before each step and after the last one.
    """
    X = _design(X)
    rho = positive(rho, "rho", allow_zero=True)
    lr = positive(lr, "lr")
    steps = integer(steps, "steps", minimum=0)
    y = labels(y, X.shape[0], None, "y")
    K = int(y.max()) + 1
    W = torch.zeros(K, X.shape[1], dtype=X.dtype, requires_grad=True)
    b = torch.zeros(K, dtype=X.dtype, requires_grad=True)
    losses = []
    for _ in range(steps + 1):
        loss = softmax_regression_objective(W, b, X, y, rho)
        losses.append(loss.detach())
        gW, gb = torch.autograd.grad(loss, (W, b))
        with torch.no_grad():
            W -= lr * gW
            b -= lr * gb
    return torch.stack(losses)  # (steps + 1,)


@dataclass(frozen=True)
class SoftmaxRegressionFit:
    """Result of :func:`fit_softmax_regression`; ``b`` is centred
    (Σ_k b_k = 0).

    Attributes
    ----------
    W : torch.Tensor, shape (K, D)
        Weights.
    b : torch.Tensor, shape (K,)
        Centred intercepts.
    loss : float
        𝓛 at the optimum.
    initial_loss : float
        𝓛 at the random start.
    grad_norm : float
        Euclidean norm of the gradient at the end.
    iterations : int
        L-BFGS iterations.
    """

    W: torch.Tensor  # (K, D)
    b: torch.Tensor  # (K,)
    loss: float
    initial_loss: float
    grad_norm: float
    iterations: int


def lbfgs_minimize(
    params, loss_fn, gtol: float = 1e-9, max_iter: int = 2000
) -> dict:
    """Minimize ``loss_fn()`` over the tensors ``params`` in place with SciPy's
    L-BFGS-B.

    torch computes the loss and its gradient (autograd);
    ``scipy.optimize.minimize`` takes the steps (memory 20, stop when every
    gradient entry is below ``gtol``).

    Why not ``torch.optim.LBFGS(line_search_fn="strong_wolfe")``: measured on
    chapter 4's problems with the same start, memory and ``gtol``, it reaches
    the same softmax-regression optimum (𝓛 equal to 12 digits, W within 7e-8)
    but in 170-280 iterations instead of 102-106 (ρ = 1e-2; 510-770 instead
    of 220-231 at ρ = 1e-4), 2-3 times slower, and the chapter prints the
    iteration counts and gradient norms. On the MLP (150 steps at most, not
    converged) it stops elsewhere: weights differ by up to 0.49 and a test
    accuracy the chapter prints moves from 0.952 to 0.950.

    Parameters
    ----------
    params : list of torch.Tensor
        Leaf tensors with ``requires_grad=True``, changed in place.
    loss_fn : callable
        () -> scalar tensor, the loss at the current ``params``.
    gtol : float
        Stop when the largest absolute gradient entry is below it.
    max_iter : int
        Iterations allowed.

    Returns
    -------
    dict
        ``loss`` (float), ``grad_norm`` (float, Euclidean) and
        ``iterations`` (int).
    """
    from scipy.optimize import minimize
    from threadpoolctl import threadpool_limits

    params = list(params)
    if not params or not all(
        isinstance(p, torch.Tensor) and p.requires_grad for p in params
    ):
        raise TypeError(
            "params must be a non-empty list of tensors with "
            "requires_grad=True"
        )
    dtype = params[0].dtype

    def assign(theta):
        with torch.no_grad():
            torch.nn.utils.vector_to_parameters(
                torch.as_tensor(theta, dtype=dtype), params
            )

    def fun(theta):
        assign(theta)
        for p in params:
            p.grad = None
        loss = loss_fn()
        loss.backward()
        grad = torch.cat([p.grad.reshape(-1) for p in params])  # (P,)
        return float(loss.detach()), grad.double().numpy()

    theta0 = (
        torch.nn.utils.parameters_to_vector(params).detach().double().numpy()
    )
    # L-BFGS-B's own linear algebra is tiny: BLAS threads only add overhead (5x
    # here on 2 cores).
    with threadpool_limits(1):
        res = minimize(
            fun,
            theta0,
            jac=True,
            method="L-BFGS-B",
            options={
                "maxiter": max_iter,
                "gtol": gtol,
                "ftol": 0.0,
                "maxcor": 20,
            },
        )
    assign(res.x)
    loss, grad = fun(res.x)
    return {
        "loss": loss,
        "grad_norm": float((grad**2).sum() ** 0.5),
        "iterations": int(res.nit),
    }


def fit_softmax_regression(
    X,
    y,
    rho: float,
    seed: int,
    init_scale: float = 3.0,
    gtol: float = 1e-9,
    max_iter: int = 2000,
) -> SoftmaxRegressionFit:
    """Minimize (eq-lse-softreg) with L-BFGS in float64 from a random start
    drawn with ``seed``.

    The objective does not change when the same constant is added to every b_k
    (softmax forgets the direction 1), so the returned intercepts are centred
    to make fits comparable.

    Parameters
    ----------
    X : torch.Tensor, shape (N, D)
        Inputs.
    y : torch.Tensor, shape (N,)
        Classes 0..K-1.
    rho : float
        ρ > 0.
    seed : int
        Seed of the random start.
    init_scale : float
        Standard deviation of the start.
    gtol, max_iter
        Passed to :func:`lbfgs_minimize`.

    Returns
    -------
    SoftmaxRegressionFit
        The optimum and how the solver got there.
    """
    # rho > 0: a unique optimum
    rho, X = positive(rho, "rho"), _design(X).to(torch.float64)
    y = labels(y, X.shape[0], None, "y")
    K = int(y.max()) + 1
    gen = torch.Generator().manual_seed(seed)
    W = (
        init_scale
        * torch.randn(K, X.shape[1], generator=gen, dtype=torch.float64)
    ).requires_grad_()
    b = (
        init_scale * torch.randn(K, generator=gen, dtype=torch.float64)
    ).requires_grad_()
    initial = float(
        softmax_regression_objective(W.detach(), b.detach(), X, y, rho)
    )
    info = lbfgs_minimize(
        [W, b],
        lambda: softmax_regression_objective(W, b, X, y, rho),
        gtol=gtol,
        max_iter=max_iter,
    )
    W, b = W.detach(), b.detach()
    return SoftmaxRegressionFit(
        W,
        b - b.mean(),
        info["loss"],
        initial,
        info["grad_norm"],
        info["iterations"],
    )


def loss_along_line(
    model: torch.nn.Module,
    theta_a: torch.Tensor,
    theta_b: torch.Tensor,
    loss_fn,
    ts,
) -> torch.Tensor:
    """ℓ((1-t) θ_a + t θ_b) for each t in ``ts``; θ are flat parameter vectors
    of ``model``.

    ``model`` is used as a scratch container (its parameters are overwritten);
    ``loss_fn(model)`` returns a scalar. A convex loss gives a convex curve; a
    bump above the chord shows non-convexity.

    Parameters
    ----------
    model : torch.nn.Module
        Scratch container for the parameters.
    theta_a, theta_b : torch.Tensor, shape (P,)
        The ends of the line.
    loss_fn : callable
        model -> scalar loss.
    ts : iterable of float
        Positions t on the line.

    Returns
    -------
    torch.Tensor, shape (len(ts),)
        float64.
    """
    theta_a, theta_b = theta_a.detach(), theta_b.detach()
    n = sum(p.numel() for p in model.parameters())
    if theta_a.shape != (n,) or theta_b.shape != (n,):
        raise ValueError(
            f"theta_a and theta_b must be flat vectors of length {n}, got "
            f"{tuple(theta_a.shape)} and {tuple(theta_b.shape)}"
        )
    out = []
    with torch.no_grad():
        for t in ts:
            torch.nn.utils.vector_to_parameters(
                (1 - t) * theta_a + t * theta_b, model.parameters()
            )
            out.append(float(loss_fn(model)))
    return torch.tensor(out, dtype=torch.float64)


def max_above_chord(ts, curve) -> float:
    """max over 0 ≤ t ≤ 1 of curve(t) - chord(t), the chord joining the values
    at t = 0 and t = 1 (eq-lse-chord).

    A convex function never rises above its chords, so a result > 0 proves
    that the loss along the line is not convex; for a convex loss it is ≤ 0 up
    to rounding.

    Parameters
    ----------
    ts : array_like, shape (T,)
        The positions t of the samples; must include 0 and 1 (within 1e-9).
    curve : array_like, shape (T,)
        The loss at each t (e.g. from :func:`loss_along_line`).

    Returns
    -------
    float
        The largest height of the curve above the chord on [0, 1].
    """
    ts = as_array(ts, "ts", ndim=1, finite=True)
    curve = as_array(curve, "curve", finite=True)
    if curve.shape != ts.shape:
        raise ValueError(
            f"curve must have the shape of ts {ts.shape}, got {curve.shape}"
        )
    i0, i1 = int(np.argmin(np.abs(ts))), int(np.argmin(np.abs(ts - 1.0)))
    if abs(ts[i0]) > 1e-9 or abs(ts[i1] - 1.0) > 1e-9:
        raise ValueError("ts must include t = 0 and t = 1")
    chord = (1 - ts) * curve[i0] + ts * curve[i1]
    return float((curve - chord)[(ts >= 0) & (ts <= 1)].max())


def softmax_regression_hvp(W, b, X, y, rho: float, v) -> torch.Tensor:
    """The Hessian-vector product ∇²𝓛(W, b) v of (eq-lse-softreg) by automatic
    differentiation: differentiate ∇𝓛 · v once more.

    No Hessian matrix is formed; the chapter checks the explicit matrix of
    :func:`softmax_regression_hessian` against it. Coordinates as there: the
    rows (w_k, b_k) of [W | b], flattened.

    Parameters
    ----------
    W : torch.Tensor, shape (K, D)
        Weights.
    b : torch.Tensor, shape (K,)
        Biases.
    X : torch.Tensor, shape (N, D)
        Inputs.
    y : torch.Tensor, shape (N,)
        Integer labels 0..K-1.
    rho : float
        The L2 strength ρ >= 0.
    v : torch.Tensor, shape (K·(D+1),)
        The direction.

    Returns
    -------
    torch.Tensor, shape (K·(D+1),)
        ∇²𝓛 v at (W, b).
    """
    X, rho = _design(X), positive(rho, "rho", allow_zero=True)
    K, D = W.shape
    v = as_tensor(v, "v", ndim=1, dtype=X.dtype)
    if v.shape != (K * (D + 1),):
        raise ValueError(
            f"v must have shape ({K * (D + 1)},), got {tuple(v.shape)}"
        )
    flat = torch.cat([W, b[:, None]], dim=1).reshape(-1).requires_grad_()
    Wb = flat.reshape(K, D + 1)  # 𝓛 as a function of the rows (w_k, b_k)
    loss = softmax_regression_objective(Wb[:, :-1], Wb[:, -1], X, y, rho)
    (grad,) = torch.autograd.grad(loss, flat, create_graph=True)
    (hvp,) = torch.autograd.grad(grad @ v, flat)
    return hvp


def fit_mlp(
    X, y, hidden: int, seed: int, gtol: float = 1e-6, max_iter: int = 150
) -> torch.nn.Module:
    """A one-hidden-layer tanh network trained on the mean cross-entropy by
    L-BFGS, in float64, from the start ``seed``.

    The network is :func:`lecture_code.models.make_mlp`; its loss is not
    convex in the weights (the chapter shows a bump above the chord,
    eq-lse-chord), so different seeds reach different minima.

    Parameters
    ----------
    X : torch.Tensor, shape (N, D)
        Inputs.
    y : torch.Tensor, shape (N,)
        Class labels 0..K-1 (K = max label + 1).
    hidden : int
        Width of the hidden layer.
    seed : int
        Seed of the initial weights.
    gtol, max_iter
        Passed to :func:`lbfgs_minimize`.

    Returns
    -------
    torch.nn.Module
        The trained network (float64).
    """
    # models builds on this module: import it when the function runs
    from .models import make_mlp

    X = _design(X)
    y = labels(y, X.shape[0], None, "y")
    hidden = integer(hidden, "hidden", minimum=1)
    net = make_mlp(X.shape[1], hidden, int(y.max()) + 1, seed=seed).double()
    lbfgs_minimize(
        list(net.parameters()),
        lambda: F.cross_entropy(net(X), y),
        gtol=gtol,
        max_iter=max_iter,
    )
    return net
