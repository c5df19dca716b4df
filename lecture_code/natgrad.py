"""Natural gradient and its approximations for small softmax models (chapter 7, 自然勾配とその近似).

Book equations: (eq-natgrad) Δξ = -η (F + δI)⁻¹ ∇L; (eq-natgrad-persample) the per-sample
gradients (pₙ - e_{yₙ}) xₙᵀ of softmax regression; (eq-natgrad-fisher-sr) its exact Fisher
(1/N) Σₙ (diag pₙ - pₙpₙᵀ) ⊗ xₙxₙᵀ; (eq-natgrad-ef) the empirical Fisher (1/N) Σₙ gₙgₙᵀ;
(eq-natgrad-kfac) the K-FAC block G ⊗ A of a linear layer; (eq-natgrad-hutchinson) the Hutchinson estimate
E[u ⊙ Hu] of diag H used by Sophia; Adam's update written out for comparison.
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
    gamma = damping**0.5
    Ga = G + gamma * torch.eye(G.shape[0], dtype=G.dtype)
    Aa = A + gamma * torch.eye(A.shape[0], dtype=A.dtype)
    if grad_W.shape != (G.shape[0], A.shape[0]):
        raise ValueError(f"grad_W must have shape {(G.shape[0], A.shape[0])}, got {tuple(grad_W.shape)}")
    return torch.linalg.solve(Ga, torch.linalg.solve(Aa, grad_W.T).T)
