"""The Hessian of the cross-entropy next to the Fisher matrix of a
conditional model (chapter 5, eq-fisher-hessian).

The Hessian of the mean cross-entropy 𝓛(ξ) is the generalized Gauss–Newton
matrix (eq-fisher-ggn, :func:`lecture_code.natgrad.gauss_newton`, which is the
Fisher matrix) plus a residual term (1/N) Σ_n Σ_k (p_nk - [y_n = k]) ∇²z_k;
the residual vanishes when the logits are linear in ξ. The two small models of
the chapter take all their weights as one flat vector ξ, so autograd can
differentiate twice in ξ.

Reference: Martens (2020), "New insights and perspectives on the natural
gradient method", §9.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .natgrad import with_bias
from .softmax import softmax
from .validate import as_tensor, function, labels, positive_int


def _flat(xi, X) -> tuple[torch.Tensor, torch.Tensor]:
    return as_tensor(xi, "xi", ndim=1), as_tensor(X, "X", ndim=2)


def tanh_mlp_logits(xi, X, hidden: int = 4) -> torch.Tensor:
    """z(x; ξ) = W₂ tanh(W₁ x + b₁) + b₂ with every weight in the flat vector
    ξ = (W₁, b₁, W₂, b₂) (row-major).

    Parameters
    ----------
    xi : torch.Tensor, shape (hidden·(D+1) + K·(hidden+1),)
        The weights; K is what their number leaves.
    X : torch.Tensor, shape (N, D)
        Inputs.
    hidden : int
        Number of tanh units.

    Returns
    -------
    torch.Tensor, shape (N, K)
        The logits.
    """
    xi, X = _flat(xi, X)
    h = positive_int(hidden, "hidden")
    D = X.shape[1]
    n1 = h * (D + 1)  # the first layer's weights
    K, rest = divmod(xi.shape[0] - n1, h + 1)
    if K < 1 or rest:
        raise ValueError(
            f"xi must have hidden·(D+1) + K·(hidden+1) entries for D={D}, "
            f"hidden={h}, got {xi.shape[0]}"
        )
    W1, b1 = xi[: h * D].reshape(h, D), xi[h * D : n1]
    W2, b2 = xi[n1 : n1 + K * h].reshape(K, h), xi[n1 + K * h :]
    return torch.tanh(X @ W1.T + b1) @ W2.T + b2  # (N, K)


def linear_logits(xi, X) -> torch.Tensor:
    """Softmax regression z = W x̃ with x̃ = (x, 1): linear in ξ, the K(D+1)
    entries of W row by row.

    Parameters
    ----------
    xi : torch.Tensor, shape (K·(D+1),)
        The rows (w_k, b_k) of W = [W | b], flattened.
    X : torch.Tensor, shape (N, D)
        Inputs.

    Returns
    -------
    torch.Tensor, shape (N, K)
        The logits.
    """
    xi, X = _flat(xi, X)
    if xi.shape[0] % (X.shape[1] + 1):
        raise ValueError(
            f"xi must have K·(D+1) entries for D={X.shape[1]}, "
            f"got {xi.shape[0]}"
        )
    return with_bias(X) @ xi.reshape(-1, X.shape[1] + 1).T  # (N, K)


def cross_entropy_hessian(logits_fn, xi, X, y) -> torch.Tensor:
    """∇²_ξ 𝓛 of the mean cross-entropy 𝓛(ξ) = -(1/N) Σ_n log p(y_n | x_n; ξ)
    by autograd: the left side of (eq-fisher-hessian).

    Parameters
    ----------
    logits_fn : callable
        (xi, X) -> logits (N, K), e.g. :func:`tanh_mlp_logits`.
    xi : torch.Tensor, shape (P,)
        The parameters.
    X : torch.Tensor, shape (N, D)
        Inputs.
    y : torch.Tensor, shape (N,)
        The data's integer labels 0..K-1.

    Returns
    -------
    torch.Tensor, shape (P, P)
        The Hessian ∇²_ξ 𝓛.
    """
    function(logits_fn, "logits_fn", "(xi, X) -> logits of shape (N, K)")
    xi, X = _flat(xi, X)

    def loss(t):
        Z = logits_fn(t, X)  # (N, K); y is checked against this K
        return F.cross_entropy(Z, labels(y, X.shape[0], Z.shape[-1], "y"))

    return torch.autograd.functional.hessian(loss, xi)


def hessian_residual(logits_fn, xi, X, y) -> torch.Tensor:
    """The second term of (eq-fisher-hessian): (1/N) Σ_n Σ_k r_nk ∇²_ξ z_nk
    with the residual r = p - e_y.

    It is the Hessian of (1/N) Σ r_nk z_nk(ξ) with r held fixed; it is 0 when
    z is linear in ξ, and then the Hessian equals the Fisher matrix.

    Parameters
    ----------
    logits_fn : callable
        (xi, X) -> logits (N, K).
    xi : torch.Tensor, shape (P,)
        The parameters.
    X : torch.Tensor, shape (N, D)
        Inputs.
    y : torch.Tensor, shape (N,)
        The data's integer labels 0..K-1.

    Returns
    -------
    torch.Tensor, shape (P, P)
        The residual term; 0 for logits linear in ξ.
    """
    function(logits_fn, "logits_fn", "(xi, X) -> logits of shape (N, K)")
    xi, X = _flat(xi, X)
    Z = logits_fn(xi, X)  # (N, K)
    y = labels(y, X.shape[0], Z.shape[-1], "y")
    R = (softmax(Z) - F.one_hot(y, Z.shape[-1])).detach()  # (N, K)
    return torch.autograd.functional.hessian(
        lambda t: (R * logits_fn(t, X)).sum() / X.shape[0], xi
    )
