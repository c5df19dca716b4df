"""Natural gradient and its approximations for small softmax models (chapter 7, 自然勾配とその近似).

Book equations: (eq-natgrad) Δξ = -η (F + δI)⁻¹ ∇L; (eq-natgrad-persample) the per-sample
gradients (pₙ - e_{yₙ}) xₙᵀ of softmax regression; (eq-natgrad-fisher-sr) its exact Fisher
(1/N) Σₙ (diag pₙ - pₙpₙᵀ) ⊗ xₙxₙᵀ; (eq-natgrad-ef) the empirical Fisher (1/N) Σₙ gₙgₙᵀ;
(eq-natgrad-kfac) the K-FAC block G ⊗ A of a linear layer; (eq-natgrad-hutchinson) the Hutchinson estimate
E[u ⊙ Hu] of diag H used by Sophia-H; (eq-natgrad-gnb) Sophia-G's Gauss–Newton–Bartlett estimate
B ĝ ⊙ ĝ of diag F; Adam's update written out for comparison. The second half of the module holds
the chapter's experiments (the pooled-digits problem, full-batch, mini-batch and MLP training loops)
and :data:`SWEEPS`, the comparisons the chapter shows under the protocol of lecture_code.experiments.
Chapter 5 (フィッシャー計量) uses the two functions for any conditional model p(y | x; ξ) =
softmax(z(x; ξ)): :func:`conditional_fisher` (def-fisher-conditional, from the definition) and
:func:`gauss_newton` (eq-fisher-ggn, the generalized Gauss–Newton form Jᵀ F_z J).

References: Amari (1998); Martens (2020) for Fisher = generalized Gauss–Newton; Martens & Grosse
(2015) for K-FAC; Kunstner, Balles & Hennig (2019) on the empirical Fisher; Liu et al. (2023) for Sophia.

Parameters of softmax regression are a matrix W of shape (K, D) acting on inputs x (D,)
(append a constant 1 with :func:`with_bias` to get an intercept). Flattened parameter
vectors use row-major order, so the (k, d) entry sits at index k·D + d and the Fisher of
one sample is the Kronecker product C ⊗ x xᵀ with C a K×K matrix.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from .softmax import softmax


def _tensor(x, name: str, ndim: int | None = None) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        try:
            x = torch.as_tensor(x, dtype=torch.float64)
        except (TypeError, ValueError, RuntimeError) as exc:
            raise TypeError(f"{name} must be a tensor or an array of numbers: {exc}") from None
    if ndim is not None and x.dim() != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {tuple(x.shape)}")
    # the sum is a cheap first test: it is finite unless x holds a NaN or an infinity
    if x.is_floating_point() and not math.isfinite(x.detach().sum().item()) and torch.isnan(x).any():
        raise ValueError(f"{name} contains NaN")
    return x


def with_bias(X) -> torch.Tensor:
    """Append a column of ones to X (N, D) -> (N, D+1), so W[:, -1] is the intercept."""
    X = _tensor(X, "X", 2)
    return torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype)], dim=1)


def _check_xy(X, P, y=None, need_y=False):
    X = _tensor(X, "X", 2)
    P = _tensor(P, "P", 2)
    if P.shape[0] != X.shape[0]:
        raise ValueError(f"X and P need the same number of rows, got {X.shape[0]} and {P.shape[0]}")
    if need_y and y is None:
        raise ValueError(f"y must hold {X.shape[0]} integer class labels, got None")
    if y is not None:
        y = torch.as_tensor(y)
        if y.shape != (X.shape[0],) or y.is_floating_point():
            raise ValueError(f"y must hold {X.shape[0]} integer class labels, got shape {tuple(y.shape)}")
        if y.min() < 0 or y.max() >= P.shape[1]:
            raise ValueError(f"y must lie in 0..{P.shape[1] - 1}")
    return X, P, y


def per_sample_grads(X, P, y) -> torch.Tensor:
    """Gradients of -log p_{yₙ} with respect to W, one per sample: (pₙ - e_{yₙ}) xₙᵀ (eq-natgrad-persample).

    X (N, D), P = softmax(X Wᵀ) (N, K), y (N,) -> (N, K·D), flattened row-major.
    """
    X, P, y = _check_xy(X, P, y, need_y=True)
    R = P - torch.nn.functional.one_hot(y, P.shape[1]).to(P.dtype)  # (N, K) residuals
    return (R[:, :, None] * X[:, None, :]).reshape(X.shape[0], -1)  # (N, K·D)


def softmax_regression_grad(X, P, y) -> torch.Tensor:
    """Gradient of the mean cross-entropy of softmax regression, (1/N) Σₙ (pₙ - e_{yₙ}) xₙᵀ.

    The mean of :func:`per_sample_grads` (eq-natgrad-persample), computed as one (K, N) @ (N, D)
    product without the (N, K·D) matrix. X (N, D), P = softmax(X Wᵀ) (N, K), y (N,) -> (K·D,).
    """
    X, P, y = _check_xy(X, P, y, need_y=True)
    R = P - torch.nn.functional.one_hot(y, P.shape[1]).to(P.dtype)  # (N, K) residuals
    return (R.T @ X / X.shape[0]).reshape(-1)


def softmax_regression_fisher(X, P) -> torch.Tensor:
    """Exact Fisher of softmax regression, (1/N) Σₙ (diag pₙ - pₙpₙᵀ) ⊗ xₙxₙᵀ (eq-natgrad-fisher-sr).

    The labels are drawn from the model, y ~ pₙ, so no data label appears. Because the
    logits are linear in W this is also the Hessian of the mean cross-entropy.
    X (N, D), P (N, K) -> (K·D, K·D).
    """
    X, P, _ = _check_xy(X, P)
    N, D = X.shape
    K = P.shape[1]
    # diag part: block (k, k) = Xᵀ diag(P[:, k]) X; low-rank part: -(X ⊙ p_k)ᵀ (X ⊙ p_l).
    XP = (P[:, :, None] * X[:, None, :]).reshape(N, K * D)  # (N, K·D)
    F = -(XP.T @ XP)  # (K·D, K·D)
    for k in range(K):
        block = slice(k * D, (k + 1) * D)
        F[block, block] += X.T @ (P[:, k : k + 1] * X)  # (D, D)
    return F / N


def empirical_fisher(G) -> torch.Tensor:
    """Empirical Fisher (1/N) Σₙ gₙgₙᵀ from per-sample gradients G (N, P) -> (P, P) (eq-natgrad-ef).

    It uses the observed labels yₙ, not labels drawn from the model; Kunstner et al. (2019)
    show why that makes it a different matrix from the Fisher.
    """
    G = _tensor(G, "G", 2)
    return G.T @ G / G.shape[0]


def softmax_regression_diag_fisher(X, P, y=None) -> torch.Tensor:
    """Diagonal of the Fisher (``y`` omitted) or of the empirical Fisher (``y`` given), (K·D,).

    Entry (k, d): (1/N) Σₙ pₙₖ(1 - pₙₖ) xₙ_d² for the Fisher, (1/N) Σₙ (pₙₖ - δ_{k yₙ})² xₙ_d²
    for the empirical Fisher: the diagonals of (eq-natgrad-fisher-sr) and (eq-natgrad-ef),
    computed as one (K, N) @ (N, D) product instead of building the matrices.
    """
    X, P, y = _check_xy(X, P, y)
    if y is None:
        W2 = P * (1 - P)  # (N, K)
    else:
        W2 = (P - torch.nn.functional.one_hot(y, P.shape[1]).to(P.dtype)) ** 2  # (N, K)
    return (W2.T @ X**2 / X.shape[0]).reshape(-1)  # (K·D,)


def precondition(g, curvature, damping: float) -> torch.Tensor:
    """Solve (C + δI) d = g: the preconditioned direction of (eq-natgrad).

    ``curvature`` is a matrix C (P, P) or, for a diagonal approximation, a vector (P,).
    ``damping`` δ > 0 keeps the solve well posed where C is singular or tiny.
    """
    g = _tensor(g, "g", 1)
    C = _tensor(curvature, "curvature")
    if not isinstance(damping, (int, float)) or isinstance(damping, bool) or not damping > 0:
        raise ValueError(f"damping must be a number > 0, got {damping!r}")
    if C.dim() == 1:
        if C.shape != g.shape:
            raise ValueError(f"a diagonal curvature must have the shape of g {tuple(g.shape)}, got {tuple(C.shape)}")
        return g / (C + damping)
    if C.shape != (g.numel(), g.numel()):
        raise ValueError(f"curvature must be ({g.numel()}, {g.numel()}) or a vector, got {tuple(C.shape)}")
    return torch.linalg.solve(C + damping * torch.eye(g.numel(), dtype=C.dtype), g)


def adam_step(xi, g, state: dict, lr: float, betas=(0.9, 0.999), eps: float = 1e-8) -> torch.Tensor:
    """One Adam update (Kingma & Ba, 2015), written out to show its preconditioner:

    m ← β₁m + (1-β₁)g,  v ← β₂v + (1-β₂)g²,  ξ ← ξ - lr · m̂ / (√v̂ + ε),
    with the bias corrections m̂ = m/(1-β₁ᵗ), v̂ = v/(1-β₂ᵗ). ``state`` (a dict, initially
    empty) keeps t, m, v between calls. The divisor is √v̂ — a square root of an average of
    squared mini-batch gradients, not a Fisher matrix. Agrees with ``torch.optim.Adam``.
    """
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    b1, b2 = betas
    if not (0 <= b1 < 1 and 0 <= b2 < 1):
        raise ValueError(f"betas must lie in [0, 1), got {betas!r}")
    if not state:
        state.update(t=0, m=torch.zeros_like(g), v=torch.zeros_like(g))
    state["t"] += 1
    state["m"] = b1 * state["m"] + (1 - b1) * g
    state["v"] = b2 * state["v"] + (1 - b2) * g * g
    m_hat = state["m"] / (1 - b1 ** state["t"])
    v_hat = state["v"] / (1 - b2 ** state["t"])
    return xi - lr * m_hat / (v_hat.sqrt() + eps)


def hutchinson_diag(hvp, dim: int, n_probes: int, generator: torch.Generator, dtype=torch.float64):
    """Hutchinson's estimate diag(H) ≈ (1/M) Σₘ uₘ ⊙ H uₘ with Rademacher uₘ (eq-natgrad-hutchinson).

    ``hvp(U)`` takes the probes as the rows of U (M, dim) and returns the Hessian–vector
    products H uₘ as rows (M, dim), e.g. ``torch.func.vmap`` over a forward-over-reverse
    product. Sophia (Liu et al., 2023) uses one such probe every few steps, averaged over time.
    """
    if not callable(hvp):
        raise TypeError("hvp must be a function U (M, dim) -> H U (M, dim)")
    if not isinstance(n_probes, int) or isinstance(n_probes, bool) or n_probes < 1:
        raise ValueError(f"n_probes must be a positive integer, got {n_probes!r}")
    U = torch.randint(0, 2, (n_probes, dim), generator=generator).to(dtype) * 2 - 1  # (M, dim), entries ±1
    HU = hvp(U)
    if tuple(HU.shape) != (n_probes, dim):
        raise ValueError(f"hvp must return shape {(n_probes, dim)}, got {tuple(HU.shape)}")
    return (U * HU).mean(dim=0)


# ------------------------------------------- the Fisher of a conditional model (chapter 5)


def _model_logits(logits_fn, xi, X) -> torch.Tensor:
    """Validate a conditional model z(x; ξ) and return its logits (N, K) at ξ."""
    if not callable(logits_fn):
        raise TypeError("logits_fn must be a function (xi, X) -> logits of shape (N, K)")
    xi = _tensor(xi, "xi", 1)
    if not xi.is_floating_point():
        raise TypeError(f"xi must be a floating-point parameter vector, got dtype {xi.dtype}")
    X = _tensor(X, "X", 2)
    Z = logits_fn(xi, X)
    if not isinstance(Z, torch.Tensor) or Z.dim() != 2 or Z.shape[0] != X.shape[0] or Z.shape[1] < 2:
        shape = tuple(Z.shape) if isinstance(Z, torch.Tensor) else type(Z).__name__
        raise ValueError(f"logits_fn must return logits of shape (N={X.shape[0]}, K>=2), got {shape}")
    if not torch.isfinite(Z).all():
        raise ValueError("logits_fn returned a NaN or an infinite logit")
    return Z


def _jacobian_rows(fn, xi) -> torch.Tensor:
    """∂fn(ξ)/∂ξ for fn: (P,) -> (N, K), as (N, K, P); one backward pass per output entry."""
    return torch.autograd.functional.jacobian(fn, xi)


def conditional_fisher(logits_fn, xi, X) -> torch.Tensor:
    """The Fisher matrix of the conditional model p(y | x; ξ) = softmax(z(x; ξ)), from its definition.

    F(ξ) = (1/N) Σₙ E_{y ~ p(·|xₙ; ξ)}[s sᵀ] with the score s = ∇_ξ log p(y | xₙ; ξ)
    (def-fisher-conditional): the inputs are the data's, the labels are drawn from the model
    (the empirical Fisher, eq-natgrad-ef, uses the data's labels instead). The expectation over
    y is exact (a sum over the K labels); the scores come from automatic differentiation.

    Parameters
    ----------
    logits_fn : callable
        ``logits_fn(xi, X)`` returns the logits z(xₙ; ξ) of every input as a tensor (N, K),
        differentiable in ``xi``.
    xi : torch.Tensor, shape (P,)
        The parameters ξ as one flat vector.
    X : torch.Tensor, shape (N, D)
        The inputs xₙ.

    Returns
    -------
    torch.Tensor, shape (P, P): symmetric positive semidefinite.

    Examples
    --------
    >>> import torch
    >>> X = torch.zeros(1, 1, dtype=torch.float64)
    >>> conditional_fisher(lambda xi, X: xi.expand(len(X), 2), torch.zeros(2, dtype=torch.float64), X)
    tensor([[ 0.2500, -0.2500],
            [-0.2500,  0.2500]], dtype=torch.float64)
    """
    Z = _model_logits(logits_fn, xi, X)
    P = softmax(Z.detach())  # (N, K): p(y | xₙ)
    S = _jacobian_rows(lambda t: torch.log_softmax(logits_fn(t, X), dim=-1), xi)  # (N, K, P) scores
    return torch.einsum("nk,nkp,nkq->pq", P, S, S) / X.shape[0]


def gauss_newton(logits_fn, xi, X) -> torch.Tensor:
    """The generalized Gauss–Newton matrix (1/N) Σₙ Jₙᵀ (diag pₙ - pₙpₙᵀ) Jₙ (eq-fisher-ggn).

    Jₙ = ∂z(xₙ; ξ)/∂ξ is the Jacobian of the logits and diag p - p pᵀ the Hessian of the
    cross-entropy in the logits (eq-fisher-logits). For softmax outputs it equals the Fisher
    matrix :func:`conditional_fisher` (Martens, 2020, §9); the Hessian of the mean cross-entropy
    adds (1/N) Σₙ Σ_k (pₙₖ - [yₙ = k]) ∇²zₙₖ, which vanishes when z is linear in ξ.
    Same arguments as :func:`conditional_fisher`; returns (P, P).

    Examples
    --------
    >>> import torch
    >>> X = torch.zeros(1, 1, dtype=torch.float64)
    >>> gauss_newton(lambda xi, X: xi.expand(len(X), 2), torch.zeros(2, dtype=torch.float64), X)
    tensor([[ 0.2500, -0.2500],
            [-0.2500,  0.2500]], dtype=torch.float64)
    """
    Z = _model_logits(logits_fn, xi, X)
    P = softmax(Z.detach())  # (N, K)
    C = torch.diag_embed(P) - P[:, :, None] * P[:, None, :]  # (N, K, K): F_z at every input
    J = _jacobian_rows(lambda t: logits_fn(t, X), xi)  # (N, K, P)
    return torch.einsum("nkp,nkl,nlq->pq", J, C, J) / X.shape[0]


# ---------------------------------------------------------------------------- K-FAC


def linear_layers_io(model: torch.nn.Sequential, X):
    """Run ``model`` on X and return (logits, [(a, s), ...]): for each Linear layer its input
    with a column of ones appended, a (N, in+1), and its output s (N, out), still in the graph.

    ``model`` is a Sequential of Linear layers and element-wise activations (as ``make_mlp``).
    """
    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(f"model must be a torch.nn.Sequential, got {type(model).__name__}")
    h = _tensor(X, "X", 2).to(next(model.parameters()).dtype)
    io = []
    for layer in model:
        if isinstance(layer, torch.nn.Linear):
            a = with_bias(h.detach())  # (N, in+1)
            h = layer(h)
            io.append((a, h))
        else:
            h = layer(h)
    return h, io


def output_grad_cov(model: torch.nn.Sequential, X):
    """Per layer, (a, S): inputs a (N, in+1) and Sₙ = E_{y~pₙ}[gₙgₙᵀ] (N, out, out), where gₙ is
    the gradient of -log p_y with respect to the layer's output. Exact: Sₙ = Jₙᵀ(diag pₙ - pₙpₙᵀ)Jₙ
    with Jₙ = ∂logits/∂sₙ, found with one backward pass per class.
    """
    logits, io = linear_layers_io(model, X)
    P = softmax(logits.detach())  # (N, K)
    C = torch.diag_embed(P) - P[:, :, None] * P[:, None, :]  # (N, K, K)
    K = logits.shape[1]
    jac = [[] for _ in io]
    for k in range(K):
        grads = torch.autograd.grad(logits[:, k].sum(), [s for _, s in io], retain_graph=k < K - 1)
        for j, g in enumerate(grads):
            jac[j].append(g)  # (N, out)
    out = []
    for (a, _), J in zip(io, jac):
        J = torch.stack(J, dim=1)  # (N, K, out)
        out.append((a, J.transpose(1, 2) @ C @ J))  # (N, out, out)
    return out


def exact_layer_fisher(a, S) -> torch.Tensor:
    """The exact Fisher block of one linear layer, (1/N) Σₙ Sₙ ⊗ aₙaₙᵀ: (out·in, out·in)."""
    a = _tensor(a, "a", 2)
    S = _tensor(S, "S", 3)
    N, d_in = a.shape
    d_out = S.shape[1]
    aa = (a[:, :, None] * a[:, None, :]).reshape(N, -1)  # (N, in·in)
    F = (S.reshape(N, -1).T @ aa / N).reshape(d_out, d_out, d_in, d_in)  # (o, o', i, i')
    return F.permute(0, 2, 1, 3).reshape(d_out * d_in, d_out * d_in)


def kfac_factors(a, S):
    """K-FAC's two factors A = (1/N) Σ aₙaₙᵀ and G = (1/N) Σ Sₙ; the block is G ⊗ A (eq-natgrad-kfac).

    ``S`` may be (N, out, out) (exact expectation over y) or per-sample gradients g (N, out)
    (labels sampled from the model), in which case G = (1/N) Σ gₙgₙᵀ.
    """
    a = _tensor(a, "a", 2)
    S = _tensor(S, "S")
    A = a.T @ a / a.shape[0]  # (in, in)
    if S.dim() == 2:
        G = S.T @ S / S.shape[0]  # (out, out)
    elif S.dim() == 3:
        G = S.mean(dim=0)
    else:
        raise ValueError(f"S must be (N, out) gradients or (N, out, out) covariances, got shape {tuple(S.shape)}")
    return A, G


def kfac_direction(grad_W, A, G, damping: float) -> torch.Tensor:
    """(G + √δ I)⁻¹ ∇W (A + √δ I)⁻¹: the K-FAC natural-gradient direction for one layer.

    (G ⊗ A)⁻¹ vec(∇W) = vec(G⁻¹ ∇W A⁻¹) for row-major vec, so only the two small factors
    are inverted. ``grad_W`` has shape (out, in+1) (weights with the bias as last column).
    """
    if not isinstance(damping, (int, float)) or not damping > 0:
        raise ValueError(f"damping must be a number > 0, got {damping!r}")
    sqrt_delta = damping**0.5
    Ga = G + sqrt_delta * torch.eye(G.shape[0], dtype=G.dtype)
    Aa = A + sqrt_delta * torch.eye(A.shape[0], dtype=A.dtype)
    if grad_W.shape != (G.shape[0], A.shape[0]):
        raise ValueError(f"grad_W must have shape {(G.shape[0], A.shape[0])}, got {tuple(grad_W.shape)}")
    return torch.linalg.solve(Ga, torch.linalg.solve(Aa, grad_W.T).T)


# ------------------------------------------------- the chapter's experiments (chapter 7)
#
# The problems and training loops that chapter 7 compares under one protocol
# (lecture_code.experiments.lr_sweep): the chapter, tests/test_natgrad.py and the benchmark
# tests/bench_natgrad.py all call these, so a number in the chapter and in its stored sweep
# come from the same code. First-order baselines (SGD, Adam) use torch.optim; a preconditioned
# method writes its step ΔW = -η (C + δI)⁻¹∇ out, because that formula is what the chapter teaches.


@dataclass(frozen=True)
class SoftmaxRegression:
    """Softmax regression with an L2 penalty (ρ/2)‖W_{:, :-1}‖² on the weights, not on the bias.

    ``X`` (N, D) carries the bias as its last column (:func:`with_bias`), ``y`` (N,) the labels,
    ``num_classes`` K; W has shape (K, D). The objective is (eq-lse-softreg) of chapter 4.
    ``X_test``/``y_test`` are held-out data (optional).
    """

    X: torch.Tensor
    y: torch.Tensor
    num_classes: int
    rho: float
    X_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None

    @property
    def shape(self) -> tuple[int, int]:
        """(K, D): the shape of W."""
        return self.num_classes, self.X.shape[1]

    @property
    def reg(self) -> torch.Tensor:
        """ρ on every weight and 0 on the bias column, (K, D)."""
        r = torch.full(self.shape, self.rho, dtype=self.X.dtype)
        r[:, -1] = 0.0
        return r

    def objective(self, W, rows=None) -> torch.Tensor:
        """Mean cross-entropy (over ``rows`` if given) plus (ρ/2)‖W_{:, :-1}‖²; differentiable."""
        X, y = (self.X, self.y) if rows is None else (self.X[rows], self.y[rows])
        return torch.nn.functional.cross_entropy(X @ W.T, y) + 0.5 * (self.reg * W * W).sum()

    def objective_along(self, Ws) -> torch.Tensor:
        """The full-data objective at every iterate of a path at once: (S, K, D) -> (S,)."""
        S, (K, _), N = len(Ws), self.shape, len(self.y)
        logits = torch.einsum("nd,skd->snk", self.X, Ws).reshape(S * N, K)  # every (iterate, image) pair is a row
        ce = torch.nn.functional.cross_entropy(logits, self.y.repeat(S), reduction="none").reshape(S, N).mean(1)
        return ce + 0.5 * (self.reg * Ws**2).sum((1, 2))

    def gradient(self, W) -> torch.Tensor:
        """The objective's gradient in closed form: the mean of (eq-natgrad-persample) plus ρ ⊙ W, (K, D)."""
        P = softmax(self.X @ W.T)  # (N, K)
        return softmax_regression_grad(self.X, P, self.y).reshape(self.shape) + self.reg * W

    def hessian(self, W) -> torch.Tensor:
        """The objective's Hessian F + diag(ρ) (eq-natgrad-fisher-sr plus the penalty), (K·D, K·D)."""
        return softmax_regression_fisher(self.X, softmax(self.X @ W.T)) + torch.diag(self.reg.reshape(-1))


def pooled_digits_problem(rho: float = 1e-2, split_seed: int = 0) -> SoftmaxRegression:
    """Chapter 7's problem: digits pooled to 4×4 (:func:`lecture_code.data.pool_digits`), re-standardized,
    a bias column appended (D = 17, K = 10, 170 parameters), float64, penalty ``rho``.

    ``split_seed`` picks the random train/test split (:func:`lecture_code.data.load_digits_split`);
    the chapter's data is split 0, and other splits give repeated runs of a deterministic method.
    """
    from .data import load_digits_split, pool_digits

    if not (isinstance(rho, (int, float)) and rho > 0 and math.isfinite(rho)):
        raise ValueError(f"rho must be a finite number > 0, got {rho!r}")
    data = load_digits_split(seed=split_seed, dtype=torch.float64)
    train, test = pool_digits(data.X_train), pool_digits(data.X_test)  # (N, 16)
    mu, sd = train.mean(0), train.std(0)
    return SoftmaxRegression(
        with_bias((train - mu) / sd), data.y_train, data.num_classes, float(rho),
        with_bias((test - mu) / sd), data.y_test,
    )


def newton_optimum(problem: SoftmaxRegression, damping: float = 1e-8, tol: float = 1e-12, max_iter: int = 50):
    """Newton's method with a backtracking line search, from W = 0 until max|∇| < ``tol``.

    Direction d = (F + ρ + δI)⁻¹∇ (the Hessian of the objective, so this is also the natural
    gradient); step W ← W - t d with t = 1, 1/2, 1/4, ... until the objective falls by at least
    10⁻⁴ t ∇·d (Armijo). A unit step alone can cycle on this problem (it does on some splits).
    The bias shift 1cᵀ common to all classes is a flat direction of the objective, so the tiny
    ``damping`` keeps the solve well posed and every iterate is re-centred (Σ_k b_k = 0, the gauge
    of chapter 2): rounding error along the flat direction would otherwise be divided by δ.
    Returns (W*, iterations, max|∇| at W*, number of steps that needed t < 1).
    """
    W, short = torch.zeros(problem.shape, dtype=problem.X.dtype), 0
    for it in range(1, max_iter + 1):
        g = problem.gradient(W).reshape(-1)
        d = precondition(g, problem.hessian(W), damping).reshape(problem.shape)
        f0, slope, t = problem.objective(W).item(), (g @ d.reshape(-1)).item(), 1.0
        while problem.objective(W - t * d).item() > f0 - 1e-4 * t * slope and t > 1e-10:
            t /= 2
        short += t < 1
        W = W - t * d
        W[:, -1] -= W[:, -1].mean()
        grad_max = problem.gradient(W).abs().max().item()
        if grad_max < tol:
            return W, it, grad_max, short
    raise RuntimeError(f"Newton's method did not reach max|grad| < {tol} in {max_iter} steps (last {grad_max:.1e})")


#: Full-batch methods of chapter 7 and the damping δ each adds to its curvature.
FULL_BATCH_DAMPING = {"gd": None, "natural": 1e-4, "empirical": 1e-4, "diag_empirical": 1e-3, "adam": None}


def full_batch_run(problem: SoftmaxRegression, method: str, lr: float, n_iter: int = 40, damping: float | None = None):
    """Full-batch training of ``problem`` from W = 0 (deterministic: repeat it on other splits).

    ``method``: "gd" (torch.optim.SGD), "adam" (torch.optim.Adam), or the preconditioned step
    W ← W - lr (C + δI)⁻¹∇ (eq-natgrad) with C = F + ρ ("natural"), F̃ + ρ ("empirical",
    eq-natgrad-ef) or diag F̃ ("diag_empirical"). ``damping`` δ defaults to
    :data:`FULL_BATCH_DAMPING`. Returns (objective at every iterate (n_iter + 1,), final W).
    """
    if method not in FULL_BATCH_DAMPING:
        raise ValueError(f"method must be one of {sorted(FULL_BATCH_DAMPING)}, got {method!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    delta = FULL_BATCH_DAMPING[method] if damping is None else damping
    W = torch.zeros(problem.shape, dtype=problem.X.dtype, requires_grad=True)
    opt = {"gd": torch.optim.SGD, "adam": torch.optim.Adam}.get(method)
    opt = opt([W], lr=lr) if opt else None
    losses = []
    for _ in range(n_iter):
        W.grad = None
        loss = problem.objective(W)
        loss.backward()
        losses.append(loss.item())
        if opt is not None:
            opt.step()
            continue
        with torch.no_grad():
            P = softmax(problem.X @ W.T)  # (N, K)
            if method == "natural":
                C = problem.hessian(W)  # F + ρ
            elif method == "empirical":
                C = empirical_fisher(per_sample_grads(problem.X, P, problem.y)) + torch.diag(problem.reg.reshape(-1))
            else:
                C = softmax_regression_diag_fisher(problem.X, P, problem.y)  # a vector: diag F̃
            W -= lr * precondition(W.grad.reshape(-1), C, delta).reshape(problem.shape)
    with torch.no_grad():
        losses.append(problem.objective(W).item())
    return torch.tensor(losses, dtype=torch.float64), W.detach()


#: Mini-batch rules of chapter 7: how each turns the mini-batch gradient ḡ into a step.
MINIBATCH_RULES = ("sgd", "adam", "lecture", "diag_empirical", "diag_fisher")


def minibatch_run(problem: SoftmaxRegression, rule: str, lr: float, seed: int = 0, damping: float = 1e-4,
                  n_steps: int = 120, batch: int = 64):
    """Mini-batch training from W = 0 with batches of ``batch`` rows drawn with replacement (``seed``).

    ``rule``: "sgd" / "adam" (torch.optim), or the written-out step ΔW = -lr ḡ / (c + δ) per component with
    c = ḡ² (the lecture's ``natural_gradient_step``: the square of the same mini-batch gradient),
    c = (1/B) Σ_b g_b² (the empirical Fisher's diagonal on the batch, "diag_empirical") or
    c = (1/B) Σ_b E_{y~p_b}[g_b²] (the Fisher's diagonal, "diag_fisher"); ḡ includes ρ ⊙ W.
    Returns (full-data objective at every iterate (n_steps + 1,), |ḡ| (n_steps, K·D), |ΔW| (n_steps, K·D)).
    """
    if rule not in MINIBATCH_RULES:
        raise ValueError(f"rule must be one of {MINIBATCH_RULES}, got {rule!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    gen = torch.Generator().manual_seed(seed)
    N = len(problem.y)
    W = torch.zeros(problem.shape, dtype=problem.X.dtype, requires_grad=True)
    opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}.get(rule)
    opt = opt([W], lr=lr) if opt else None
    path, grads, steps = [W.detach().clone()], [], []
    for _ in range(n_steps):
        rows = torch.randint(0, N, (batch,), generator=gen)
        W.grad = None
        problem.objective(W, rows).backward()
        g = W.grad.reshape(-1)  # ḡ
        if opt is not None:
            opt.step()
        else:
            with torch.no_grad():
                if rule == "lecture":
                    c = g**2
                else:
                    Xb, Pb = problem.X[rows], softmax(problem.X[rows] @ W.T)
                    c = softmax_regression_diag_fisher(Xb, Pb, problem.y[rows] if rule == "diag_empirical" else None)
                W -= lr * precondition(g, c, damping).reshape(problem.shape)
        new = W.detach().clone()
        grads.append(g.abs())
        steps.append((new - path[-1]).abs().reshape(-1))
        path.append(new)
    return problem.objective_along(torch.stack(path)), torch.stack(grads), torch.stack(steps)


def gnb_diag(logits_fn, xi, X, generator: torch.Generator, n_draws: int = 1) -> torch.Tensor:
    """Sophia-G's Gauss–Newton–Bartlett estimate B · ĝ ⊙ ĝ, one row per draw (eq-natgrad-gnb).

    For each draw, labels ŷ_b ~ p(· | x_b; ξ) are sampled from the model for the B inputs X and
    ĝ = ∇_ξ (1/B) Σ_b -log p(ŷ_b | x_b; ξ). Because E_ŷ[∇ log p(ŷ|x)] = 0, the cross terms vanish
    and E[B ĝ ⊙ ĝ] = diag of the generalized Gauss–Newton matrix = diag of the Fisher matrix
    (:func:`gauss_newton`, :func:`conditional_fisher`) on these inputs (Liu et al., 2023).
    Same ``logits_fn``, ``xi``, ``X`` as :func:`conditional_fisher`; returns (n_draws, P).
    """
    if not isinstance(n_draws, int) or isinstance(n_draws, bool) or n_draws < 1:
        raise ValueError(f"n_draws must be a positive integer, got {n_draws!r}")
    Z = _model_logits(logits_fn, xi, X)
    B, K = Z.shape
    P = softmax(Z.detach())  # (B, K)
    labels = torch.multinomial(P, n_draws, replacement=True, generator=generator).T  # (S, B): ŷ ~ p(·|x_b)
    J = _jacobian_rows(lambda t: logits_fn(t, X), xi.detach())  # (B, K, P): ∂z_b/∂ξ, one backward pass per logit
    R = P - torch.nn.functional.one_hot(labels, K).to(P.dtype)  # (S, B, K): ∂(-log p_ŷ)/∂z_b
    g_hat = R.reshape(n_draws, B * K) @ J.reshape(B * K, -1) / B  # (S, P): the mini-batch gradient per draw
    return B * g_hat**2


def train_mlp(X, y, method: str, lr: float, seed: int = 0, n_steps: int = 40, batch: int = 128,
              damping: float = 1e-2, hidden: int = 16, record: bool = True):
    """Train ``make_mlp(D, hidden, K, seed)`` (float64) on (X, y) with mini-batches drawn with ``seed``.

    ``method``: "sgd" / "adam" (torch.optim), or "kfac": each Linear layer (weights with the bias
    as last column) steps by -lr times the K-FAC direction (:func:`kfac_direction`), with G from
    one set of labels sampled from the model per batch (a second backward pass). Returns the full-data training loss at every step
    (n_steps + 1,) if ``record``, else only the final loss (1,).
    """
    from .data import make_mlp

    if method not in ("sgd", "adam", "kfac"):
        raise ValueError(f"method must be 'sgd', 'adam' or 'kfac', got {method!r}")
    if not lr > 0:
        raise ValueError(f"lr must be > 0, got {lr!r}")
    X = _tensor(X, "X", 2)
    default = torch.get_default_dtype()
    torch.set_default_dtype(X.dtype)  # draw the initial weights in X's dtype, whatever the caller's default
    try:
        model = make_mlp(X.shape[1], hidden, int(y.max()) + 1, seed=seed)
    finally:
        torch.set_default_dtype(default)
    layers = [m for m in model if isinstance(m, torch.nn.Linear)]
    opt = {"sgd": torch.optim.SGD, "adam": torch.optim.Adam}.get(method)
    opt = opt(model.parameters(), lr=lr) if opt else None
    gen = torch.Generator().manual_seed(seed)
    ce = torch.nn.functional.cross_entropy
    losses = []
    for _ in range(n_steps):
        if record:
            with torch.no_grad():
                losses.append(ce(model(X), y).item())
        rows = torch.randint(0, len(y), (batch,), generator=gen)
        model.zero_grad(set_to_none=True)
        logits, io = linear_layers_io(model, X[rows])
        ce(logits, y[rows]).backward(retain_graph=method == "kfac")
        if method == "kfac":
            y_model = torch.multinomial(softmax(logits.detach()), 1, generator=gen)[:, 0]  # labels from the model
            g_out = torch.autograd.grad(ce(logits, y_model, reduction="sum"), [s for _, s in io])
            with torch.no_grad():
                for layer, (a, _), g in zip(layers, io, g_out):
                    A, G = kfac_factors(a, g)
                    d = kfac_direction(torch.cat([layer.weight.grad, layer.bias.grad[:, None]], dim=1), A, G, damping)
                    layer.weight -= lr * d[:, :-1]
                    layer.bias -= lr * d[:, -1]
        else:
            opt.step()
    with torch.no_grad():
        losses.append(ce(model(X), y).item())
    return torch.tensor(losses, dtype=torch.float64)


# ------------------------------------------- chapter 7's comparisons under one protocol
#
# Each entry: the loss the table reports, steps per run, the seeds, and per method (the label
# the chapter's table shows) the run's keyword arguments and the starting grid of learning rates
# (lecture_code.experiments.lr_sweep widens it). tests/bench_natgrad.py runs the sweeps and stores
# them in notebooks/data/ch07_sweeps.csv; the chapter reads that file and re-runs a few points.

SWEEPS = {
    "full_batch": {  # softmax regression, full batch from W = 0; seeds = train/test splits
        "loss": "40 反復後の L − L*",
        "steps": 40,
        "seeds": (0, 1, 2, 3, 4),
        "methods": {
            "勾配降下": dict(method="gd", grid=[1.0, 3.0, 9.0]),
            "自然勾配": dict(method="natural", grid=[1 / 3, 1.0]),
            "経験的フィッシャー": dict(method="empirical", grid=[1 / 9, 1 / 3, 1.0]),
            "対角経験的フィッシャー": dict(method="diag_empirical", grid=[1 / 27, 1 / 9, 1 / 3]),
            "Adam": dict(method="adam", grid=[1 / 81, 1 / 27, 1 / 9]),
        },
    },
    "minibatch": {  # softmax regression, batches of 64 from W = 0 on split 0; seeds = batch sequences
        "loss": "最後の 20 ステップの平均 L − L*",
        "steps": 120,
        "seeds": (0, 1, 2, 3, 4),
        "methods": {
            "SGD": dict(rule="sgd", grid=[1 / 3, 1.0, 3.0]),
            "Adam": dict(rule="adam", grid=[1 / 81, 1 / 27, 1 / 9]),
            "資料の規則 δ=1e-4": dict(rule="lecture", damping=1e-4, grid=[0.01 / 27, 0.01 / 9, 0.01 / 3, 0.01]),
            "資料の規則 δ=1e-2": dict(rule="lecture", damping=1e-2, grid=[0.01 / 3, 0.01, 0.03]),
            "対角経験的フィッシャー": dict(rule="diag_empirical", damping=1e-4, grid=[1 / 27, 1 / 9, 1 / 3]),
            "対角フィッシャー": dict(rule="diag_fisher", damping=1e-4, grid=[1 / 27, 1 / 9, 1 / 3]),
        },
    },
    "mlp": {  # make_mlp(64, 16, 10) on the 8×8 digits, batches of 128; seeds = initial weights and batches
        "loss": "40 ステップ後の訓練損失",
        "steps": 40,
        "seeds": (0, 1, 2, 3, 4),
        "methods": {
            "SGD": dict(method="sgd", grid=[1.0, 3.0, 9.0]),
            "K-FAC": dict(method="kfac", grid=[1 / 9, 1 / 3, 1.0]),
            "Adam": dict(method="adam", grid=[1 / 81, 1 / 27, 1 / 9]),
        },
    },
}

#: Backward passes per step: K-FAC adds one with labels drawn from the model (plus two small solves per layer).
BACKWARD_PASSES = {"sgd": 1, "adam": 1, "kfac": 2}


def sweep_run(experiment: str, curve: bool = False):
    """``run(method, lr, seed)`` for one of :data:`SWEEPS`, as :func:`lecture_code.experiments.lr_sweep` wants.

    Returns the final loss (``inf`` if it is not finite) and, for "mlp", the backward passes per
    step; with ``curve=True`` the loss after every step instead (a tensor), from which the final
    loss is the last value ("full_batch", "mlp") or the mean of the last 20 ("minibatch"). Losses
    of softmax regression are L - L* of the split. The data and each split's optimum L* are
    computed once and cached by the closure.
    """
    if experiment not in SWEEPS:
        raise ValueError(f"experiment must be one of {sorted(SWEEPS)}, got {experiment!r}")
    spec = SWEEPS[experiment]
    cache: dict = {}

    def problem(split):
        if split not in cache:
            pb = pooled_digits_problem(split_seed=split)
            cache[split] = pb, pb.objective(newton_optimum(pb)[0]).item()
        return cache[split]

    def kwargs(method):
        if method not in spec["methods"]:
            raise ValueError(f"method must be one of {list(spec['methods'])}, got {method!r}")
        return {k: v for k, v in spec["methods"][method].items() if k != "grid"}

    def finite(x):
        return x if math.isfinite(x) else math.inf

    if experiment == "full_batch":
        def run(method, lr, seed):
            pb, L_star = problem(seed)
            losses = full_batch_run(pb, lr=lr, n_iter=spec["steps"], **kwargs(method))[0] - L_star
            return losses if curve else finite(losses[-1].item())
    elif experiment == "minibatch":
        def run(method, lr, seed):
            pb, L_star = problem(0)
            losses = minibatch_run(pb, lr=lr, seed=seed, n_steps=spec["steps"], **kwargs(method))[0] - L_star
            return losses if curve else finite(losses[-20:].mean().item())
    else:
        def run(method, lr, seed):
            if "data" not in cache:
                from .data import load_digits_split

                cache["data"] = load_digits_split(dtype=torch.float64)
            d, kw = cache["data"], kwargs(method)
            loss = train_mlp(d.X_train, d.y_train, lr=lr, seed=seed, n_steps=spec["steps"], record=curve, **kw)
            return loss if curve else (finite(loss[-1].item()), {"逆伝播/ステップ": BACKWARD_PASSES[kw["method"]]})
    return run
