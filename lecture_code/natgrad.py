"""Natural gradient and its approximations for small softmax models
(chapter 7, 自然勾配とその近似).

Book equations:

- (eq-natgrad) Δξ = -η (F + δI)⁻¹ ∇L;
- (eq-natgrad-persample) the per-sample gradients (pₙ - e_{yₙ}) xₙᵀ of
  softmax regression;
- (eq-natgrad-fisher-sr) its exact Fisher
  (1/N) Σₙ (diag pₙ - pₙpₙᵀ) ⊗ xₙxₙᵀ;
- (eq-natgrad-ef) the empirical Fisher (1/N) Σₙ gₙgₙᵀ;
- (eq-natgrad-kfac) the K-FAC block G ⊗ A of a linear layer;
- (eq-natgrad-hutchinson) the Hutchinson estimate E[u ⊙ Hu] of diag H used
  by Sophia-H;
- (eq-natgrad-gnb) Sophia-G's Gauss–Newton–Bartlett estimate B ĝ ⊙ ĝ of
  diag F;
- Adam's update written out for comparison.

The second half of the module holds the chapter's experiments (the
pooled-digits problem, full-batch, mini-batch and MLP training loops) and
:data:`SWEEPS`, the comparisons the chapter shows under the protocol of
lecture_code.experiments. Chapter 5 (フィッシャー計量) uses the two functions
for any conditional model p(y | x; ξ) = softmax(z(x; ξ)):
:func:`conditional_fisher` (def-fisher-conditional, from the definition) and
:func:`gauss_newton` (eq-fisher-ggn, the generalized Gauss–Newton form
Jᵀ F_z J).

References: Amari (1998); Martens (2020) for Fisher = generalized Gauss–Newton;
Martens & Grosse (2015) for K-FAC; Kunstner, Balles & Hennig (2019) on the
empirical Fisher; Liu et al. (2023) for Sophia.

Parameters of softmax regression are a matrix W of shape (K, D) acting on
inputs x (D,) (append a constant 1 with :func:`with_bias` to get an intercept).
Flattened parameter vectors use row-major order, so the (k, d) entry sits at
index k·D + d and the Fisher of one sample is the Kronecker product C ⊗ x xᵀ
with C a K×K matrix.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import torch

from .softmax import softmax, softmax_covariance
from .validate import (
    as_tensor,
    choice,
    function,
    labels,
    positive,
    positive_int,
)


def _tensor(x, name: str, ndim: int | None = None) -> torch.Tensor:
    return as_tensor(x, name, ndim=ndim, dtype=torch.float64, nan=False)


def with_bias(X) -> torch.Tensor:
    """Append a column of ones to X, so W[:, -1] is the intercept.

    Parameters
    ----------
    X : torch.Tensor, shape (N, D)
        The inputs.

    Returns
    -------
    torch.Tensor, shape (N, D+1)
        [X | 1].
    """
    X = _tensor(X, "X", 2)
    return torch.cat([X, torch.ones(X.shape[0], 1, dtype=X.dtype)], dim=1)


def _check_xy(X, P, y=None, need_y=False):
    X = _tensor(X, "X", 2)
    P = _tensor(P, "P", 2)
    if P.shape[0] != X.shape[0]:
        raise ValueError(
            f"X and P need the same number of rows, got {X.shape[0]} and "
            f"{P.shape[0]}"
        )
    if need_y and y is None:
        raise TypeError(
            f"y must hold {X.shape[0]} integer class labels, got None"
        )
    return X, P, (labels(y, X.shape[0], P.shape[1]) if y is not None else None)


def per_sample_grads(X, P, y) -> torch.Tensor:
    """Gradients of -log p_{yₙ} with respect to W, one per sample:
    (pₙ - e_{yₙ}) xₙᵀ (eq-natgrad-persample).

    Parameters
    ----------
    X : torch.Tensor, shape (N, D)
        The inputs.
    P : torch.Tensor, shape (N, K)
        The model's probabilities softmax(X Wᵀ).
    y : torch.Tensor, shape (N,)
        The integer labels.

    Returns
    -------
    torch.Tensor, shape (N, K·D)
        One gradient per row, flattened row-major.
    """
    X, P, y = _check_xy(X, P, y, need_y=True)
    # (N, K) residuals
    R = P - torch.nn.functional.one_hot(y, P.shape[1]).to(P.dtype)
    return (R[:, :, None] * X[:, None, :]).reshape(X.shape[0], -1)  # (N, K·D)


def softmax_regression_grad(X, P, y) -> torch.Tensor:
    """Gradient of the mean cross-entropy of softmax regression,
    (1/N) Σₙ (pₙ - e_{yₙ}) xₙᵀ.

    The mean of :func:`per_sample_grads` (eq-natgrad-persample), computed as
    one (K, N) @ (N, D) product without the (N, K·D) matrix.

    Parameters
    ----------
    X : torch.Tensor, shape (N, D)
        The inputs.
    P : torch.Tensor, shape (N, K)
        The model's probabilities softmax(X Wᵀ).
    y : torch.Tensor, shape (N,)
        The integer labels.

    Returns
    -------
    torch.Tensor, shape (K·D,)
        The gradient, flattened row by row.
    """
    X, P, y = _check_xy(X, P, y, need_y=True)
    # (N, K) residuals
    R = P - torch.nn.functional.one_hot(y, P.shape[1]).to(P.dtype)
    return (R.T @ X / X.shape[0]).reshape(-1)


def softmax_regression_fisher(X, P) -> torch.Tensor:
    """Exact Fisher of softmax regression, (1/N) Σₙ (diag pₙ - pₙpₙᵀ) ⊗ xₙxₙᵀ
    (eq-natgrad-fisher-sr).

    The labels are drawn from the model, y ~ pₙ, so no data label appears.
    Because the logits are linear in W this is also the Hessian of the mean
    cross-entropy.

    Parameters
    ----------
    X : torch.Tensor, shape (N, D)
        The inputs.
    P : torch.Tensor, shape (N, K)
        The model's probabilities softmax(X Wᵀ).

    Returns
    -------
    torch.Tensor, shape (K·D, K·D)
        The Fisher matrix F.
    """
    X, P, _ = _check_xy(X, P)
    (N, D), K = X.shape, P.shape[1]
    # block (k, l) = (1/N) Σₙ C_n[k, l] xₙxₙᵀ with C_n = diag pₙ - pₙpₙᵀ;
    # einsum contracts over n, (K, D, K, D)
    F = torch.einsum("nkl,nd,ne->kdle", softmax_covariance(P), X, X)
    return F.reshape(K * D, K * D) / N


def empirical_fisher(G) -> torch.Tensor:
    """Empirical Fisher (1/N) Σₙ gₙgₙᵀ from per-sample gradients
    (eq-natgrad-ef).

    It uses the observed labels yₙ, not labels drawn from the model; Kunstner
    et al. (2019) show why that makes it a different matrix from the Fisher.

    Parameters
    ----------
    G : torch.Tensor, shape (N, P)
        One per-sample gradient gₙ per row.

    Returns
    -------
    torch.Tensor, shape (P, P)
        F̃ = (1/N) Gᵀ G.
    """
    G = _tensor(G, "G", 2)
    return G.T @ G / G.shape[0]


def softmax_regression_diag_fisher(X, P, y=None) -> torch.Tensor:
    """Diagonal of the Fisher (``y`` omitted) or of the empirical Fisher (``y``
    given).

    Entry (k, d): (1/N) Σₙ pₙₖ(1 - pₙₖ) xₙ_d² for the Fisher,
    (1/N) Σₙ (pₙₖ - δ_{k yₙ})² xₙ_d² for the empirical Fisher: the diagonals
    of (eq-natgrad-fisher-sr) and (eq-natgrad-ef), computed as one
    (K, N) @ (N, D) product instead of building the matrices.

    Parameters
    ----------
    X : torch.Tensor, shape (N, D)
        The inputs.
    P : torch.Tensor, shape (N, K)
        The model's probabilities softmax(X Wᵀ).
    y : torch.Tensor, shape (N,), optional
        The data labels, for the empirical Fisher.

    Returns
    -------
    torch.Tensor, shape (K·D,)
        The diagonal, flattened row by row.
    """
    X, P, y = _check_xy(X, P, y)
    if y is None:
        W2 = P * (1 - P)  # (N, K)
    else:
        Y = torch.nn.functional.one_hot(y, P.shape[1]).to(P.dtype)  # (N, K)
        W2 = (P - Y) ** 2
    return (W2.T @ X**2 / X.shape[0]).reshape(-1)  # (K·D,)


def precondition(g, curvature, damping: float) -> torch.Tensor:
    """Solve (C + δI) d = g: the preconditioned direction of (eq-natgrad).

    Parameters
    ----------
    g : torch.Tensor, shape (P,)
        The gradient.
    curvature : torch.Tensor, shape (P, P) or (P,)
        A matrix C or, for a diagonal approximation, its diagonal.
    damping : float
        δ > 0; keeps the solve well posed where C is singular or tiny.

    Returns
    -------
    torch.Tensor, shape (P,)
        The direction d.
    """
    g = _tensor(g, "g", 1)
    C = _tensor(curvature, "curvature")
    damping = positive(damping, "damping")
    if C.dim() == 1:
        if C.shape != g.shape:
            raise ValueError(
                "a diagonal curvature must have the shape of g "
                f"{tuple(g.shape)}, got {tuple(C.shape)}"
            )
        return g / (C + damping)
    if C.shape != (g.numel(), g.numel()):
        raise ValueError(
            f"curvature must be ({g.numel()}, {g.numel()}) or a vector, got "
            f"{tuple(C.shape)}"
        )
    return torch.linalg.solve(
        C + damping * torch.eye(g.numel(), dtype=C.dtype), g
    )


def hutchinson_diag(
    hvp,
    dim: int,
    n_probes: int,
    generator: torch.Generator,
    dtype=torch.float64,
):
    """Hutchinson's estimate diag(H) ≈ (1/M) Σₘ uₘ ⊙ H uₘ with Rademacher uₘ
    (eq-natgrad-hutchinson).

    Sophia (Liu et al., 2023) uses one such probe every few steps, averaged
    over time.

    Parameters
    ----------
    hvp : callable
        ``hvp(U)`` takes the probes as the rows of U (M, dim) and returns the
        products H uₘ as rows (M, dim), e.g. :func:`hessian_vector_products`.
    dim : int
        The dimension of H.
    n_probes : int
        M, the number of probes.
    generator : torch.Generator
        Draws the probes.
    dtype : torch.dtype
        The probes' dtype.

    Returns
    -------
    torch.Tensor, shape (dim,)
        The estimate of diag(H).
    """
    function(hvp, "hvp", "U (M, dim) -> H U (M, dim)")
    n_probes = positive_int(n_probes, "n_probes")
    dim = positive_int(dim, "dim")
    # (M, dim), entries ±1
    U = (
        torch.randint(0, 2, (n_probes, dim), generator=generator).to(dtype) * 2
        - 1
    )
    HU = hvp(U)
    if tuple(HU.shape) != (n_probes, dim):
        raise ValueError(
            f"hvp must return shape {(n_probes, dim)}, got {tuple(HU.shape)}"
        )
    return (U * HU).mean(dim=0)


def hessian_vector_products(fn, x, U) -> torch.Tensor:
    """H u for every probe u (the rows of U), H = ∇²fn(x), by differentiating
    the gradient once more, never forming H (eq-natgrad-hutchinson).

    Parameters
    ----------
    fn : callable
        A scalar function of x, differentiable twice.
    x : torch.Tensor, shape (P,)
        The point.
    U : torch.Tensor, shape (M, P)
        The probes, one per row.

    Returns
    -------
    torch.Tensor, shape (M, P)
        Row m is H uₘ.

    Examples
    --------
    >>> x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    >>> U = torch.eye(2, dtype=torch.float64)
    >>> hessian_vector_products(lambda w: (w**3).sum(), x, U)
    tensor([[ 6.,  0.],
            [ 0., 12.]], dtype=torch.float64)
    """
    function(fn, "fn", "x (P,) -> a scalar")
    x = _tensor(x, "x", 1).detach().requires_grad_(True)
    U = _tensor(U, "U", 2)
    if U.shape[1] != x.numel():
        raise ValueError(
            f"U must have {x.numel()} columns (one probe per row), got "
            f"shape {tuple(U.shape)}"
        )
    grad = torch.autograd.grad(fn(x), x, create_graph=True)[0]
    return torch.stack(
        [torch.autograd.grad(grad @ u, x, retain_graph=True)[0] for u in U]
    )


def relative_error(a, b) -> float:
    """‖a - b‖ / ‖b‖ (Frobenius norms): how far an estimate ``a`` is from the
    reference ``b``.

    Parameters
    ----------
    a : torch.Tensor or array_like
        The estimate.
    b : torch.Tensor or array_like, same shape as ``a``
        The reference (not all zero).

    Returns
    -------
    float
        The relative error, >= 0.

    Examples
    --------
    >>> relative_error([0.0, 3.0], [4.0, 0.0])  # ‖(-4, 3)‖ / 4
    1.25
    """
    a, b = _tensor(a, "a"), _tensor(b, "b")
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same shape, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )
    return ((a - b).norm() / b.norm()).item()


def cosine(a, b) -> float:
    """aᵀb / (‖a‖ ‖b‖), the cosine of the angle between two directions.

    Parameters
    ----------
    a, b : torch.Tensor or array_like, shape (P,)
        Two non-zero vectors.

    Returns
    -------
    float
        The cosine, in [-1, 1].

    Examples
    --------
    >>> cosine([1.0, 0.0], [1.0, 1.0])  # 1/√2
    0.7071067811865475
    """
    a, b = _tensor(a, "a", 1), _tensor(b, "b", 1)
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same length, got {a.numel()} and "
            f"{b.numel()}"
        )
    return (a @ b / (a.norm() * b.norm())).item()


class FisherComparison(NamedTuple):
    """What :func:`compare_fisher` returns (eq-natgrad-ef against
    eq-natgrad-fisher-sr).

    Attributes
    ----------
    rel_diff : float
        ‖F̃ - F‖ / ‖F‖.
    trace_ratio : float
        tr F̃ / tr F.
    cosine : float
        Cosine of the two preconditioned directions.
    step_ratio : float
        ‖(F̃ + ρ)⁻¹ g‖ / ‖(F + ρ)⁻¹ g‖ (δ added to both).
    """

    rel_diff: float
    trace_ratio: float
    cosine: float
    step_ratio: float


def compare_fisher(problem, W, damping: float = 1e-4) -> FisherComparison:
    """The empirical Fisher F̃ (eq-natgrad-ef) against the Fisher F
    (eq-natgrad-fisher-sr) of softmax regression at W.

    Both are preconditioners of the objective's gradient g (eq-natgrad):
    d = (C + ρ + δI)⁻¹ g with C = F or F̃, ρ the penalty of ``problem``.

    Parameters
    ----------
    problem : lecture_code.models.SoftmaxRegression
        Data X (N, D), labels y, penalty ``reg`` and ``gradient``.
    W : torch.Tensor, shape (K, D)
        The parameters.
    damping : float
        δ > 0 added to both.

    Returns
    -------
    FisherComparison
        Relative difference, trace ratio, cosine and step-length ratio.
    """
    X, y = problem.X, problem.y
    P = softmax(X @ W.T)  # (N, K)
    F = softmax_regression_fisher(X, P)
    Ft = empirical_fisher(per_sample_grads(X, P, y))
    g = problem.gradient(W).reshape(-1)
    rho = torch.diag(problem.reg.reshape(-1))
    d_F = precondition(g, F + rho, damping)
    d_Ft = precondition(g, Ft + rho, damping)
    return FisherComparison(
        relative_error(Ft, F),
        (Ft.trace() / F.trace()).item(),
        cosine(d_F, d_Ft),
        (d_Ft.norm() / d_F.norm()).item(),
    )


# ---------------------------- the Fisher of a conditional model (chapter 5)


def _model_logits(logits_fn, xi, X) -> torch.Tensor:
    """Validate a conditional model z(x; ξ) and return its logits (N, K) at
    ξ."""
    function(logits_fn, "logits_fn", "(xi, X) -> logits of shape (N, K)")
    # a parameter must carry a gradient
    if isinstance(xi, torch.Tensor) and not xi.is_floating_point():
        raise TypeError(
            "xi must be a floating-point parameter vector, got dtype "
            f"{xi.dtype}"
        )
    xi, X = _tensor(xi, "xi", 1), _tensor(X, "X", 2)
    Z = logits_fn(xi, X)
    if (
        not isinstance(Z, torch.Tensor)
        or Z.dim() != 2
        or Z.shape[0] != X.shape[0]
        or Z.shape[1] < 2
    ):
        shape = (
            tuple(Z.shape) if isinstance(Z, torch.Tensor) else type(Z).__name__
        )
        raise ValueError(
            f"logits_fn must return logits of shape (N={X.shape[0]}, K>=2), "
            f"got {shape}"
        )
    if not torch.isfinite(Z).all():
        raise ValueError("logits_fn returned a NaN or an infinite logit")
    return Z


def _jacobian_rows(fn, xi) -> torch.Tensor:
    """∂fn(ξ)/∂ξ for fn: (P,) -> (N, K), as (N, K, P); one backward pass per
    output entry."""
    return torch.autograd.functional.jacobian(fn, xi)


def conditional_fisher(logits_fn, xi, X) -> torch.Tensor:
    """The Fisher matrix of the conditional model
    p(y | x; ξ) = softmax(z(x; ξ)), from its definition.

    F(ξ) = (1/N) Σₙ E_{y ~ p(·|xₙ; ξ)}[s sᵀ] with the score
    s = ∇_ξ log p(y | xₙ; ξ) (def-fisher-conditional): the inputs are the
    data's, the labels are drawn from the model (the empirical Fisher,
    eq-natgrad-ef, uses the data's labels instead). The expectation over y is
    exact (a sum over the K labels); the scores come from automatic
    differentiation.

    Parameters
    ----------
    logits_fn : callable
        ``logits_fn(xi, X)`` returns the logits z(xₙ; ξ) of every input as a
        tensor (N, K), differentiable in ``xi``.
    xi : torch.Tensor, shape (P,)
        The parameters ξ as one flat vector.
    X : torch.Tensor, shape (N, D)
        The inputs xₙ.

    Returns
    -------
    torch.Tensor, shape (P, P)
        Symmetric positive semidefinite.

    Examples
    --------
    >>> import torch
    >>> X = torch.zeros(1, 1, dtype=torch.float64)
    >>> xi = torch.zeros(2, dtype=torch.float64)
    >>> conditional_fisher(lambda xi, X: xi.expand(len(X), 2), xi, X)
    tensor([[ 0.2500, -0.2500],
            [-0.2500,  0.2500]], dtype=torch.float64)
    """
    Z = _model_logits(logits_fn, xi, X)
    P = softmax(Z.detach())  # (N, K): p(y | xₙ)
    # (N, K, P) scores
    S = _jacobian_rows(
        lambda t: torch.log_softmax(logits_fn(t, X), dim=-1), xi
    )
    return torch.einsum("nk,nkp,nkq->pq", P, S, S) / X.shape[0]


def gauss_newton(logits_fn, xi, X) -> torch.Tensor:
    """The generalized Gauss–Newton matrix (1/N) Σₙ Jₙᵀ (diag pₙ - pₙpₙᵀ) Jₙ
    (eq-fisher-ggn).

    Jₙ = ∂z(xₙ; ξ)/∂ξ is the Jacobian of the logits and diag p - p pᵀ the
    Hessian of the cross-entropy in the logits (eq-fisher-logits). For softmax
    outputs it equals the Fisher matrix :func:`conditional_fisher` (Martens,
    2020, §9); the Hessian of the mean cross-entropy adds
    (1/N) Σₙ Σ_k (pₙₖ - [yₙ = k]) ∇²zₙₖ, which vanishes when z is linear in
    ξ.

    Parameters
    ----------
    logits_fn : callable
        ``logits_fn(xi, X)`` returns the logits (N, K), differentiable in xi.
    xi : torch.Tensor, shape (P,)
        The parameters as one flat vector.
    X : torch.Tensor, shape (N, D)
        The inputs.

    Returns
    -------
    torch.Tensor, shape (P, P)
        The generalized Gauss–Newton matrix.

    Examples
    --------
    >>> import torch
    >>> X = torch.zeros(1, 1, dtype=torch.float64)
    >>> xi = torch.zeros(2, dtype=torch.float64)
    >>> def logits_fn(xi, X):  # linear in ξ: Gauss–Newton = Fisher
    ...     return xi.expand(len(X), 2)
    >>> G = gauss_newton(logits_fn, xi, X)
    >>> torch.allclose(G, conditional_fisher(logits_fn, xi, X))
    True
    """
    Z = _model_logits(logits_fn, xi, X)
    P = softmax(Z.detach())  # (N, K)
    C = softmax_covariance(P)  # (N, K, K): F_z at every input
    J = _jacobian_rows(lambda t: logits_fn(t, X), xi)  # (N, K, P)
    return torch.einsum("nkp,nkl,nlq->pq", J, C, J) / X.shape[0]


# ---------------------------------------------------------------------- K-FAC


def linear_layers_io(model: torch.nn.Sequential, X):
    """Run ``model`` on X and record each Linear layer's input and output.

    Parameters
    ----------
    model : torch.nn.Sequential
        Linear layers and element-wise activations (as ``make_mlp``).
    X : torch.Tensor, shape (N, D)
        The inputs.

    Returns
    -------
    tuple
        (logits, [(a, s), ...]): per Linear layer its input with a column of
        ones appended, a (N, in+1), and its output s (N, out), still in the
        graph.
    """
    if not isinstance(model, torch.nn.Sequential):
        raise TypeError(
            f"model must be a torch.nn.Sequential, got {type(model).__name__}"
        )
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
    """Per layer, the inputs a and Sₙ = E_{y~pₙ}[gₙgₙᵀ], where gₙ is the
    gradient of -log p_y with respect to the layer's output (eq-natgrad-kfac).

    Exact: Sₙ = Jₙᵀ(diag pₙ - pₙpₙᵀ)Jₙ with Jₙ = ∂logits/∂sₙ, found with one
    backward pass per class.

    Parameters
    ----------
    model : torch.nn.Sequential
        As for :func:`linear_layers_io`.
    X : torch.Tensor, shape (N, D)
        The inputs.

    Returns
    -------
    list of tuple
        Per Linear layer (a, S): a (N, in+1), S (N, out, out).
    """
    logits, io = linear_layers_io(model, X)
    P = softmax(logits.detach())  # (N, K)
    C = softmax_covariance(P)  # (N, K, K)
    K = logits.shape[1]
    jac = [[] for _ in io]
    for k in range(K):
        grads = torch.autograd.grad(
            logits[:, k].sum(), [s for _, s in io], retain_graph=k < K - 1
        )
        for j, g in enumerate(grads):
            jac[j].append(g)  # (N, out)
    out = []
    for (a, _), J in zip(io, jac):
        J = torch.stack(J, dim=1)  # (N, K, out)
        out.append((a, J.transpose(1, 2) @ C @ J))  # (N, out, out)
    return out


def exact_layer_fisher(a, S) -> torch.Tensor:
    """The exact Fisher block of one linear layer, (1/N) Σₙ Sₙ ⊗ aₙaₙᵀ
    (eq-natgrad-kfac, before the factorization).

    Parameters
    ----------
    a : torch.Tensor, shape (N, in)
        The layer's inputs (bias column included).
    S : torch.Tensor, shape (N, out, out)
        The output-gradient covariances of :func:`output_grad_cov`.

    Returns
    -------
    torch.Tensor, shape (out·in, out·in)
        The layer's exact Fisher block.
    """
    a = _tensor(a, "a", 2)
    S = _tensor(S, "S", 3)
    N, d_in = a.shape
    d_out = S.shape[1]
    aa = (a[:, :, None] * a[:, None, :]).reshape(N, -1)  # (N, in·in)
    F = (S.reshape(N, -1).T @ aa / N).reshape(d_out, d_out, d_in, d_in)
    # F[o, o', i, i'] -> rows (o, i), columns (o', i')
    return F.permute(0, 2, 1, 3).reshape(d_out * d_in, d_out * d_in)


def kfac_factors(a, S):
    """K-FAC's two factors A = (1/N) Σ aₙaₙᵀ and G = (1/N) Σ Sₙ; the block is G
    ⊗ A (eq-natgrad-kfac).

    Parameters
    ----------
    a : torch.Tensor, shape (N, in)
        The layer's inputs (bias column included).
    S : torch.Tensor, shape (N, out, out) or (N, out)
        Exact covariances (expectation over y), or per-sample gradients g
        (labels sampled from the model), in which case G = (1/N) Σ gₙgₙᵀ.

    Returns
    -------
    tuple of torch.Tensor
        A (in, in) and G (out, out).
    """
    a = _tensor(a, "a", 2)
    S = _tensor(S, "S")
    A = a.T @ a / a.shape[0]  # (in, in)
    if S.dim() == 2:
        G = S.T @ S / S.shape[0]  # (out, out)
    elif S.dim() == 3:
        G = S.mean(dim=0)
    else:
        raise ValueError(
            "S must be (N, out) gradients or (N, out, out) covariances, got "
            f"shape {tuple(S.shape)}"
        )
    return A, G


def kfac_direction(grad_W, A, G, damping: float) -> torch.Tensor:
    """(G + √δ I)⁻¹ ∇W (A + √δ I)⁻¹: the K-FAC natural-gradient direction for
    one layer (eq-natgrad-kfac).

    (G ⊗ A)⁻¹ vec(∇W) = vec(G⁻¹ ∇W A⁻¹) for row-major vec, so only the two
    small factors are inverted.

    Parameters
    ----------
    grad_W : torch.Tensor, shape (out, in)
        The gradient of the weights, the bias as last column.
    A : torch.Tensor, shape (in, in)
        The input factor.
    G : torch.Tensor, shape (out, out)
        The output-gradient factor.
    damping : float
        δ > 0; √δ is added to each factor.

    Returns
    -------
    torch.Tensor, shape (out, in)
        The preconditioned direction.
    """
    sqrt_delta = positive(damping, "damping") ** 0.5
    Ga = G + sqrt_delta * torch.eye(G.shape[0], dtype=G.dtype)
    Aa = A + sqrt_delta * torch.eye(A.shape[0], dtype=A.dtype)
    if grad_W.shape != (G.shape[0], A.shape[0]):
        raise ValueError(
            f"grad_W must have shape {(G.shape[0], A.shape[0])}, got "
            f"{tuple(grad_W.shape)}"
        )
    return torch.linalg.solve(Ga, torch.linalg.solve(Aa, grad_W.T).T)


# ----------------------------------- Sophia-G's diagonal estimate (chapter 7)


def gnb_diag(
    logits_fn, xi, X, generator: torch.Generator, n_draws: int = 1
) -> torch.Tensor:
    """Sophia-G's Gauss–Newton–Bartlett estimate B · ĝ ⊙ ĝ, one row per draw
    (eq-natgrad-gnb).

    For each draw, labels ŷ_b ~ p(· | x_b; ξ) are sampled from the model for
    the B inputs X and ĝ = ∇_ξ (1/B) Σ_b -log p(ŷ_b | x_b; ξ). Because
    E_ŷ[∇ log p(ŷ|x)] = 0, the cross terms vanish and E[B ĝ ⊙ ĝ] = diag of the
    generalized Gauss–Newton matrix = diag of the Fisher matrix
    (:func:`gauss_newton`, :func:`conditional_fisher`) on these inputs (Liu et
    al., 2023).

    Parameters
    ----------
    logits_fn : callable
        ``logits_fn(xi, X)`` returns the logits (B, K), differentiable in xi.
    xi : torch.Tensor, shape (P,)
        The parameters as one flat vector.
    X : torch.Tensor, shape (B, D)
        The mini-batch inputs.
    generator : torch.Generator
        Draws the labels.
    n_draws : int
        The number of independent draws S.

    Returns
    -------
    torch.Tensor, shape (S, P)
        One estimate B ĝ ⊙ ĝ per draw.
    """
    n_draws = positive_int(n_draws, "n_draws")
    Z = _model_logits(logits_fn, xi, X)
    B, K = Z.shape
    P = softmax(Z.detach())  # (B, K)
    # (S, B): ŷ ~ p(·|x_b)
    labels = torch.multinomial(
        P, n_draws, replacement=True, generator=generator
    ).T
    # (B, K, P): ∂z_b/∂ξ, one backward pass per logit
    J = _jacobian_rows(lambda t: logits_fn(t, X), xi.detach())
    # (S, B, K): ∂(-log p_ŷ)/∂z_b
    R = P - torch.nn.functional.one_hot(labels, K).to(P.dtype)
    # (S, P): the mini-batch gradient per draw
    g_hat = R.reshape(n_draws, B * K) @ J.reshape(B * K, -1) / B
    return B * g_hat**2


# ---------------------------------- chapter 7's comparisons under one protocol
#
# Each entry: the loss the table reports, steps per run, the seeds, and per
# method (the label the chapter's table shows) the run's keyword arguments and
# the starting grid of learning rates (lecture_code.experiments.lr_sweep widens
# it). tests/bench_natgrad.py runs the sweeps and stores them in
# notebooks/data/ch07_sweeps.csv; the chapter reads that file and re-runs a
# few points.

SWEEPS = {
    # softmax regression, full batch from W = 0; seeds = train/test splits
    "full_batch": {
        "loss": "40 反復後の L − L*",
        "steps": 40,
        "seeds": (0, 1, 2, 3, 4),
        "methods": {
            "勾配降下": dict(method="gd", grid=[1.0, 3.0, 9.0]),
            "自然勾配": dict(method="natural", grid=[1 / 3, 1.0]),
            "経験的フィッシャー": dict(
                method="empirical", grid=[1 / 9, 1 / 3, 1.0]
            ),
            "対角経験的フィッシャー": dict(
                method="diag_empirical", grid=[1 / 27, 1 / 9, 1 / 3]
            ),
            "Adam": dict(method="adam", grid=[1 / 81, 1 / 27, 1 / 9]),
        },
    },
    # softmax regression, batches of 64 from W = 0 on split 0;
    # seeds = batch sequences
    "minibatch": {
        "loss": "最後の 20 ステップの平均 L − L*",
        "steps": 120,
        "seeds": (0, 1, 2, 3, 4),
        "methods": {
            "SGD": dict(rule="sgd", grid=[1 / 3, 1.0, 3.0]),
            "Adam": dict(rule="adam", grid=[1 / 81, 1 / 27, 1 / 9]),
            "資料の規則 δ=1e-4": dict(
                rule="lecture",
                damping=1e-4,
                grid=[0.01 / 27, 0.01 / 9, 0.01 / 3, 0.01],
            ),
            "資料の規則 δ=1e-2": dict(
                rule="lecture", damping=1e-2, grid=[0.01 / 3, 0.01, 0.03]
            ),
            "対角経験的フィッシャー": dict(
                rule="diag_empirical",
                damping=1e-4,
                grid=[1 / 27, 1 / 9, 1 / 3],
            ),
            "対角フィッシャー": dict(
                rule="diag_fisher", damping=1e-4, grid=[1 / 27, 1 / 9, 1 / 3]
            ),
        },
    },
    # make_mlp(64, 16, 10) on the 8×8 digits, batches of 128; seeds = initial
    # weights and batches
    "mlp": {
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

#: Backward passes per step: K-FAC adds one with labels drawn from the model
#: (plus two small solves per layer).
BACKWARD_PASSES = {"sgd": 1, "adam": 1, "kfac": 2}


def sweep_run(experiment: str, curve: bool = False):
    """``run(method, lr, seed)`` for one of :data:`SWEEPS`, as
    :func:`lecture_code.experiments.lr_sweep` wants.

    The run returns the final loss (``inf`` if it is not finite) and, for
    "mlp", the backward passes per step; with ``curve=True`` the loss after
    every step instead (a tensor), from which the final loss is the last value
    ("full_batch", "mlp") or the mean of the last 20 ("minibatch"). Losses of
    softmax regression are L - L* of the split (eq-natgrad). The data and each
    split's optimum L* are computed once and cached by the closure.

    Parameters
    ----------
    experiment : {"full_batch", "minibatch", "mlp"}
        The comparison.
    curve : bool
        Return the whole loss curve instead of the final loss.

    Returns
    -------
    callable
        ``run(method, lr, seed)``.
    """
    from .data import load_digits_split
    from .models import pooled_digits_problem
    from .optim import full_batch_run, minibatch_run, newton_optimum, train_mlp

    spec = SWEEPS[choice(experiment, "experiment", sorted(SWEEPS))]
    cache: dict = {}

    def problem(split):
        if split not in cache:
            pb = pooled_digits_problem(split_seed=split)
            cache[split] = pb, pb.objective(newton_optimum(pb)[0]).item()
        return cache[split]

    def kwargs(method):
        return {
            k: v
            for k, v in spec["methods"][
                choice(method, "method", list(spec["methods"]))
            ].items()
            if k != "grid"
        }

    def finite(x):
        return x if math.isfinite(x) else math.inf

    if experiment == "full_batch":

        def run(method, lr, seed):
            pb, L_star = problem(seed)
            losses = (
                full_batch_run(
                    pb, lr=lr, n_iter=spec["steps"], **kwargs(method)
                )[0]
                - L_star
            )
            return losses if curve else finite(losses[-1].item())
    elif experiment == "minibatch":

        def run(method, lr, seed):
            pb, L_star = problem(0)
            losses = (
                minibatch_run(
                    pb,
                    lr=lr,
                    seed=seed,
                    n_steps=spec["steps"],
                    **kwargs(method),
                )[0]
                - L_star
            )
            return losses if curve else finite(losses[-20:].mean().item())
    else:

        def run(method, lr, seed):
            if "data" not in cache:
                cache["data"] = load_digits_split(dtype=torch.float64)
            d, kw = cache["data"], kwargs(method)
            loss = train_mlp(
                d.X_train,
                d.y_train,
                lr=lr,
                seed=seed,
                n_steps=spec["steps"],
                record=curve,
                **kw,
            )
            return (
                loss
                if curve
                else (
                    finite(loss[-1].item()),
                    {"逆伝播/ステップ": BACKWARD_PASSES[kw["method"]]},
                )
            )

    return run
