"""The models the chapters train: softmax regression with an L2 penalty, and a
small MLP.

Book equations: (eq-lse-softreg) of chapter 4, the L2-regularized softmax
regression objective, with its gradient (eq-natgrad-persample) and Hessian
F + ρ (eq-natgrad-fisher-sr) as chapter 7 uses them;
:func:`pooled_digits_problem` is chapter 7's data set. :func:`make_mlp` is
the one-hidden-layer tanh network of chapters 4, 7 and 8. Training loops live
in :mod:`lecture_code.optim`.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .convexity import softmax_regression_objective
from .data import load_digits_split, pool_digits
from .natgrad import (
    softmax_regression_fisher,
    softmax_regression_grad,
    with_bias,
)
from .softmax import softmax
from .validate import positive


@dataclass(frozen=True)
class SoftmaxRegression:
    """Softmax regression with an L2 penalty (ρ/2)‖W_{:, :-1}‖² on the weights,
    not on the bias: (eq-lse-softreg) of chapter 4. W has shape (K, D).

    Attributes
    ----------
    X : torch.Tensor, shape (N, D)
        The inputs, the bias as the last column (:func:`with_bias`).
    y : torch.Tensor, shape (N,)
        The labels.
    num_classes : int
        K.
    rho : float
        ρ.
    X_test, y_test : torch.Tensor, optional
        Held-out data.
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
        """Mean cross-entropy (over ``rows`` if given) plus
        (ρ/2)‖W_{:, :-1}‖²; differentiable."""
        X, y = (
            (self.X, self.y) if rows is None else (self.X[rows], self.y[rows])
        )
        return (
            torch.nn.functional.cross_entropy(X @ W.T, y)
            + 0.5 * (self.reg * W * W).sum()
        )

    def objective_wb(self, W) -> torch.Tensor:
        """The same objective written as chapter 4's (eq-lse-softreg), with
        the weights W_{:, :-1} and the bias W_{:, -1} apart; differentiable.

        An independent form of :meth:`objective` (it calls
        :func:`lecture_code.convexity.softmax_regression_objective`), against
        which chapter 7 checks it and its gradient.
        """
        return softmax_regression_objective(
            W[:, :-1], W[:, -1], self.X[:, :-1], self.y, self.rho
        )

    def autograd_gradient(self, W) -> torch.Tensor:
        """The gradient of :meth:`objective_wb` by automatic differentiation:
        independent of the closed form :meth:`gradient`, (K, D)."""
        W = W.detach().requires_grad_(True)
        return torch.autograd.grad(self.objective_wb(W), W)[0]

    def objective_along(self, Ws) -> torch.Tensor:
        """The full-data objective at every iterate of a path at once: (S,
        K, D) -> (S,)."""
        S, (K, _), N = len(Ws), self.shape, len(self.y)
        # every (iterate, image) pair is a row
        logits = torch.einsum("nd,skd->snk", self.X, Ws).reshape(S * N, K)
        ce = (
            torch.nn.functional.cross_entropy(
                logits, self.y.repeat(S), reduction="none"
            )
            .reshape(S, N)
            .mean(1)
        )
        return ce + 0.5 * (self.reg * Ws**2).sum((1, 2))

    def gradient(self, W) -> torch.Tensor:
        """The objective's gradient in closed form: the mean of
        (eq-natgrad-persample) plus ρ ⊙ W, (K, D)."""
        P = softmax(self.X @ W.T)  # (N, K)
        return (
            softmax_regression_grad(self.X, P, self.y).reshape(self.shape)
            + self.reg * W
        )

    def hessian(self, W) -> torch.Tensor:
        """The objective's Hessian F + diag(ρ) (eq-natgrad-fisher-sr plus
        the penalty), (K·D, K·D)."""
        return softmax_regression_fisher(
            self.X, softmax(self.X @ W.T)
        ) + torch.diag(self.reg.reshape(-1))


def pooled_digits_problem(
    rho: float = 1e-2, split_seed: int = 0
) -> SoftmaxRegression:
    """Chapter 7's problem: digits pooled to 4×4
    (:func:`lecture_code.data.pool_digits`), re-standardized, a bias column
    appended (D = 17, K = 10, 170 parameters), float64 (eq-lse-softreg).

    Parameters
    ----------
    rho : float
        The penalty ρ > 0.
    split_seed : int
        The random train/test split
        (:func:`lecture_code.data.load_digits_split`); the chapter's data is
        split 0, and other splits give repeated runs of a deterministic
        method.

    Returns
    -------
    SoftmaxRegression
        The standardized pooled-digits problem.
    """
    rho = positive(rho, "rho")
    data = load_digits_split(seed=split_seed, dtype=torch.float64)
    train = pool_digits(data.X_train)  # (N, 16)
    test = pool_digits(data.X_test)
    mu, sd = train.mean(0), train.std(0)
    return SoftmaxRegression(
        with_bias((train - mu) / sd),
        data.y_train,
        data.num_classes,
        rho,
        with_bias((test - mu) / sd),
        data.y_test,
    )


def make_mlp(
    in_features: int, hidden: int, out_features: int, seed: int = 0
) -> torch.nn.Sequential:
    """A one-hidden-layer tanh network whose initial weights depend only on
    ``seed`` (the MLP of chapters 4, 7 and 8; eq-natgrad-kfac).

    The global random state is restored afterwards.

    Parameters
    ----------
    in_features : int
        Input dimension.
    hidden : int
        Width of the hidden layer.
    out_features : int
        Number of outputs (classes).
    seed : int
        Seed of the initial weights.

    Returns
    -------
    torch.nn.Sequential
        Linear, Tanh, Linear.

    Examples
    --------
    >>> make_mlp(4, 3, 2)
    Sequential(
      (0): Linear(in_features=4, out_features=3, bias=True)
      (1): Tanh()
      (2): Linear(in_features=3, out_features=2, bias=True)
    )
    """
    with torch.random.fork_rng():  # the global generator is left as it was
        torch.manual_seed(seed)
        return torch.nn.Sequential(
            torch.nn.Linear(in_features, hidden),
            torch.nn.Tanh(),
            torch.nn.Linear(hidden, out_features),
        )
