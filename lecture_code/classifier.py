"""Classification heads for chapter 2: cosine logits versus an ordinary linear
layer.

Book equations: (eq-softmax-inner-product) z_k = w_kᵀx = ‖w_k‖ ‖x‖ cos ω_k, and
(eq-softmax-cosine-logits) z_k = s cos ω_k when both x and w_k are scaled to
unit length (ω_k is the angle between x and w_k); (eq-softmax-scale-bound) and
(eq-softmax-etf-bound) for the largest probability a cosine head with scale s
can give.

- :class:`NormalizedClassifier` follows the lecture's implementation note (a
  normalized classifier, as in nGPT-style and ArcFace-style heads; Deng et al.,
  2019): inputs and weight rows are L2-normalized, so every logit lies in [-s,
  s] and the scale s acts as an inverse temperature.
- :class:`LinearClassifier` is the usual unnormalized head z = W x + b, for
  contrast.
- :func:`fit` trains either head by full-batch gradient descent on the
  cross-entropy (small data only); :func:`fit_with` does the same with any
  ``torch.optim`` optimizer and records the gauge components Σ_k w_k and
  Σ_k b_k after every step (:func:`gauge_sums`).
- :func:`max_prob_bound`, :func:`etf_max_prob` and :func:`simplex_etf`: the
  scale bound of a cosine head, reached only when all other class vectors equal
  -x, and the value for the symmetric (simplex-ETF) arrangement of the class
  vectors.
- :func:`fit_bias` fits a bias-only softmax model under an L2 penalty with a
  chosen gauge (which bias component, if any, is pinned to 0): the chapter's
  demonstration that the penalized optimum depends on the gauge although the
  model family does not.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from . import validate
from .optim import damped_newton
from .softmax import softmax_covariance
from .validate import integer, positive, positive_int


def _check_features(x, in_features: int, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(
            f"{name} must be a torch tensor of shape (..., {in_features}), "
            f"got {type(x).__name__}"
        )
    if not x.is_floating_point():
        raise TypeError(
            f"{name} must be a floating tensor, got dtype {x.dtype}"
        )
    if x.dim() == 0 or x.shape[-1] != in_features:
        raise ValueError(
            f"{name} must have shape (..., {in_features}), got "
            f"{tuple(x.shape)}"
        )
    # the largest magnitude is finite exactly when every entry is (amax
    # propagates NaN); ~15x cheaper than torch.isfinite(x).all(), which matters
    # inside the training loop
    if x.numel() and not torch.isfinite(x.abs().amax()):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def _init_weight(
    num_classes: int, in_features: int, seed: int | None
) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    w = torch.randn(num_classes, in_features, generator=gen)  # (K, d)
    return w / math.sqrt(in_features)


class NormalizedClassifier(nn.Module):
    """Cosine-logit head: z_k = s · x̂ᵀŵ_k with x̂ = x/‖x‖, ŵ_k = w_k/‖w_k‖
    (eq-softmax-cosine-logits).

    Parameters
    ----------
    in_features : int
        Dimension d of the input.
    num_classes : int
        Number of classes K.
    scale : float
        s > 0, fixed (not learned). Logits lie in [-s, s]; s plays the role of
        1/τ.
    seed : int or None
        Seed of the initial weights (a private generator: the global RNG is
        untouched).

    Examples
    --------
    >>> head = NormalizedClassifier(4, 3, scale=10.0)
    >>> z = head(torch.randn(5, 4, generator=torch.Generator().manual_seed(0)))
    >>> z.shape, bool(z.abs().max() <= 10.0)
    (torch.Size([5, 3]), True)
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        scale: float = 16.0,
        seed: int | None = 0,
    ):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.num_classes = positive_int(num_classes, "num_classes")
        self.scale = positive(scale, "scale")
        w = _init_weight(num_classes, in_features, seed)
        self.weight = nn.Parameter(w)  # (K, d)

    def cosines(self, x: torch.Tensor) -> torch.Tensor:
        """cos ω_k between each input and each class vector, shape (..., K),
        values in [-1, 1].

        A zero input has no direction; ``F.normalize`` maps it to 0, so all its
        cosines are 0.
        """
        return self._cosines(self._prepare(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._logits(self._prepare(x))  # (..., K), in [-s, s]

    # forward(x) = _logits(_prepare(x)); fit() prepares the fixed training
    # inputs only once.
    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        # (..., d), unit rows
        return F.normalize(_check_features(x, self.in_features), dim=-1)

    def _cosines(self, x_hat: torch.Tensor) -> torch.Tensor:
        w_hat = F.normalize(self.weight, dim=-1)  # (K, d), unit rows
        # (..., K); clamp removes 1 + 1e-7 rounding
        return (x_hat @ w_hat.T).clamp(-1.0, 1.0)

    def _logits(self, x_hat: torch.Tensor) -> torch.Tensor:
        return self.scale * self._cosines(x_hat)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, "
            f"num_classes={self.num_classes}, scale={self.scale:g}"
        )


class LinearClassifier(nn.Module):
    """The unnormalized head z = W x + b, whose logits mix ‖w_k‖, ‖x‖ and cos
    ω_k (eq-softmax-inner-product).

    Same interface as :class:`NormalizedClassifier`.

    Parameters
    ----------
    in_features : int
        Dimension d of the input.
    num_classes : int
        Number of classes K.
    bias : bool
        Whether the head has a bias b (K,).
    seed : int or None
        Seed of the initial weights (a private generator).
    """

    def __init__(
        self,
        in_features: int,
        num_classes: int,
        bias: bool = True,
        seed: int | None = 0,
    ):
        super().__init__()
        self.in_features = positive_int(in_features, "in_features")
        self.num_classes = positive_int(num_classes, "num_classes")
        w = _init_weight(num_classes, in_features, seed)
        self.weight = nn.Parameter(w)  # (K, d)
        b = nn.Parameter(torch.zeros(num_classes)) if bias else None
        self.bias = b  # (K,) or None

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._logits(self._prepare(x))

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return _check_features(x, self.in_features)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)  # (..., K)

    def extra_repr(self) -> str:
        return (
            f"in_features={self.in_features}, "
            f"num_classes={self.num_classes}, bias={self.bias is not None}"
        )


def _check_labels(y, n: int, num_classes: int) -> torch.Tensor:
    # training data: exactly int64 tensors
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64:
        raise TypeError("y must be a 1-D int64 tensor of class labels")
    return validate.labels(y, n, num_classes, "y")


def fit(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    steps: int = 200,
    lr: float = 0.5,
    weight_decay: float = 0.0,
) -> list[float]:
    """Full-batch gradient descent ξ ← ξ - η(∇L + ρξ) on the mean
    cross-entropy (eq-softmax-ce-grad).

    The step is ``torch.optim.SGD`` with ``weight_decay`` ρ (no momentum),
    which is exactly this update and deterministic (tests/test_classifier.py
    checks it against the step written out). Meant for small data such as the
    digits (≈1300 × 64): 200 steps of a linear head take a fraction of a
    second.

    Parameters
    ----------
    model : nn.Module
        A head with ``num_classes``, e.g. :class:`NormalizedClassifier`.
    X : torch.Tensor, shape (N, d)
        The inputs.
    y : torch.Tensor, shape (N,)
        int64 class labels in 0..K-1.
    steps : int
        The number of steps.
    lr : float
        The step size η.
    weight_decay : float
        ρ, an L2 penalty ρ‖ξ‖²/2 on every parameter ξ.

    Returns
    -------
    list of float
        The loss before every step.
    """
    X = validate.as_tensor(X, "X", ndim=2)
    _check_labels(y, X.shape[0], model.num_classes)
    positive_int(steps, "steps")
    params = [q for q in model.parameters() if q.requires_grad]
    # our heads: check (and normalize) the fixed inputs once, not every step
    if hasattr(model, "_prepare"):
        inputs, head = model._prepare(X), model._logits
    else:
        inputs, head = X, model
    opt = torch.optim.SGD(
        params,
        lr=positive(lr, "lr"),
        weight_decay=positive(weight_decay, "weight_decay", allow_zero=True),
    )
    losses = []
    for _ in range(steps):
        opt.zero_grad()
        loss = F.cross_entropy(head(inputs), y)  # uses log_softmax inside
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def gauge_sums(model: nn.Module) -> tuple[torch.Tensor, torch.Tensor | None]:
    """The gauge components of a head: (Σ_k w_k, Σ_k b_k)
    (eq-softmax-ce-grad).

    Adding c·1 to the bias, or 1aᵀ to the weight (W ↦ W + 1aᵀ, the same vector
    a added to every class vector), shifts every logit by the same amount (c,
    resp. aᵀx), so softmax does not see it. These two sums are the only parts
    of (W, b) that such a shift changes.

    Parameters
    ----------
    model : nn.Module
        A head with ``weight`` (K, d) and optionally ``bias`` (K,).

    Returns
    -------
    tuple
        Σ_k w_k (d,) and Σ_k b_k, shape () (None without a bias).
    """
    if (
        not isinstance(getattr(model, "weight", None), torch.Tensor)
        or model.weight.dim() != 2
    ):
        raise TypeError(
            "model must have a 2-D weight of shape (K, d), like "
            "LinearClassifier"
        )
    with torch.no_grad():
        w_sum = model.weight.sum(dim=0).clone()  # (d,)
        bias = getattr(model, "bias", None)
        b_sum = bias.sum().clone() if isinstance(bias, torch.Tensor) else None
    return w_sum, b_sum


@dataclass
class TrainLog:
    """What :func:`fit_with` records after every step.

    Attributes
    ----------
    loss : list of float
        The mean cross-entropy *before* each step.
    weight_sum : torch.Tensor, shape (steps, d)
        Σ_k w_k *after* each step.
    bias_sum : torch.Tensor, shape (steps,), or None
        Σ_k b_k after each step (None without a bias).
    """

    loss: list[float]
    weight_sum: torch.Tensor
    bias_sum: torch.Tensor | None


def fit_with(
    model: nn.Module,
    X: torch.Tensor,
    y: torch.Tensor,
    optimizer: torch.optim.Optimizer,
    steps: int = 100,
) -> TrainLog:
    """Full-batch training on the mean cross-entropy with any ``torch.optim``
    optimizer.

    The loop is the standard one (zero_grad, backward, step). After every step
    it records the gauge components of :func:`gauge_sums`: (stochastic)
    gradient descent, with or without momentum, leaves them unchanged because
    the cross-entropy gradient has no component along 1 (eq-softmax-ce-grad);
    Adam rescales each coordinate and moves them; weight decay shrinks them.

    Parameters
    ----------
    model : nn.Module
        A head with ``weight`` (K, d) and optionally ``bias`` (K,), e.g.
        :class:`LinearClassifier`.
    X : torch.Tensor, shape (N, d)
        Inputs, same dtype as the model.
    y : torch.Tensor, shape (N,)
        int64 class labels in 0..K-1.
    optimizer : torch.optim.Optimizer
        Built on ``model.parameters()``.
    steps : int
        Number of optimizer steps.

    Returns
    -------
    TrainLog
        The losses and the gauge sums Σ_k w_k, Σ_k b_k of every step.

    Examples
    --------
    >>> gen = torch.Generator().manual_seed(0)
    >>> X = torch.randn(30, 4, generator=gen, dtype=torch.float64)
    >>> y = (X[:, 0] > 0).long()
    >>> head = LinearClassifier(4, 2, seed=0).double()
    >>> sgd = torch.optim.SGD(head.parameters(), lr=0.5)
    >>> log = fit_with(head, X, y, sgd, steps=20)
    >>> # Σ_k b_k stays at its initial value 0
    >>> abs(log.bias_sum).max().item() < 1e-14
    True
    """
    gauge_sums(model)  # validates the model's weight
    X = validate.as_tensor(X, "X", ndim=2, dtype=model.weight.dtype)
    _check_labels(y, X.shape[0], model.weight.shape[0])
    positive_int(steps, "steps")
    if not isinstance(optimizer, torch.optim.Optimizer):
        raise TypeError(
            "optimizer must be a torch.optim.Optimizer, got "
            f"{type(optimizer).__name__}"
        )
    losses, w_sums, b_sums = [], [], []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.cross_entropy(model(X), y)
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
        w_sum, b_sum = gauge_sums(model)
        w_sums.append(w_sum)
        b_sums.append(b_sum)
    bias_sum = torch.stack(b_sums) if b_sums[0] is not None else None
    return TrainLog(losses, torch.stack(w_sums), bias_sum)


def fit_bias(
    y: torch.Tensor,
    num_classes: int,
    l2: float = 0.0,
    fixed: int | None = None,
    steps: int = 100,
) -> torch.Tensor:
    """Bias-only softmax model p = softmax(b): minimize mean CE(b; y) + l2 ‖b‖²
    in float64 (eq-softmax-ce-grad).

    Without the penalty every gauge gives the same distribution (the class
    frequencies); with it the optimum depends on the gauge, because ‖b‖² is
    not invariant under b ↦ b + c1. Found by damped Newton steps (a smooth
    convex problem).

    Parameters
    ----------
    y : torch.Tensor, shape (N,)
        int64 class labels.
    num_classes : int
        K.
    l2 : float
        The penalty >= 0.
    fixed : int or None
        ``k`` pins b_k = 0 (one gauge choice); None keeps all K components
        free.
    steps : int
        The most Newton steps.

    Returns
    -------
    torch.Tensor, shape (K,)
        The full bias vector, float64.
    """
    K, l2 = (
        positive_int(num_classes, "num_classes"),
        positive(l2, "l2", allow_zero=True),
    )
    y = _check_labels(y, None, K)
    if y.numel() == 0:
        raise ValueError("y must contain at least one label")
    fixed = (
        None
        if fixed is None
        else integer(fixed, "fixed", minimum=0, maximum=K - 1)
    )
    # the coordinates we optimize
    free = torch.tensor([k for k in range(K) if k != fixed])
    counts = torch.bincount(y, minlength=K).to(torch.float64)  # (K,)
    freq = counts / counts.sum()

    def objective(b):
        # mean CE + penalty
        return -(freq * torch.log_softmax(b, dim=0)).sum() + l2 * (b**2).sum()

    def gradient(b):  # on the free coordinates only; 0 on the pinned one
        return torch.zeros(K, dtype=torch.float64).index_copy(
            0, free, (torch.softmax(b, dim=0) - freq + 2 * l2 * b)[free]
        )

    # The Hessian of the mean CE is diag(p) - p pᵀ, which is singular along 1:
    # with all K coordinates free and l2 = 0 the pseudo-inverse gives the
    # minimum-norm step, which never moves along the gauge direction.
    def direction(b, g):
        hess = softmax_covariance(
            torch.softmax(b, dim=0)
        ) + 2 * l2 * torch.eye(K, dtype=torch.float64)
        step = torch.zeros(K, dtype=torch.float64)
        step[free] = torch.linalg.pinv(hess[free][:, free]) @ g[free]
        return step

    return damped_newton(
        objective,
        gradient,
        direction,
        torch.zeros(K, dtype=torch.float64),
        tol=1e-12,
        max_iter=steps,
    ).x


def _check_scale_and_classes(scale, num_classes) -> tuple[float, int]:
    return positive(scale, "scale", allow_zero=True), integer(
        num_classes, "num_classes", minimum=2
    )


def max_prob_bound(scale: float, num_classes: int) -> float:
    """The largest probability any class can get from a cosine head,
    e^s / (e^s + (K-1)e^{-s}) (eq-softmax-scale-bound).

    The logits lie in [-s, s]; the bound needs the correct logit at s and all
    K-1 others at -s, i.e. every other class vector equal to -x: K-1 classes on
    one point, which no working classifier comes close to. See
    :func:`etf_max_prob` for the symmetric arrangement.

    Parameters
    ----------
    scale : float
        s >= 0.
    num_classes : int
        K >= 2.

    Returns
    -------
    float
        The largest probability, e^s / (e^s + (K-1)e^{-s}).
    """
    s, K = _check_scale_and_classes(scale, num_classes)
    return 1.0 / (1.0 + (K - 1) * math.exp(-2.0 * s))


def etf_max_prob(scale: float, num_classes: int) -> float:
    """p_max = e^s / (e^s + (K-1)e^{-s/(K-1)}) for class vectors in the
    simplex-ETF arrangement (eq-softmax-etf-bound).

    With the K unit class vectors of :func:`simplex_etf` (pairwise cosine
    -1/(K-1)), an input along one class vector has logits s for its class and
    -s/(K-1) for every other one.

    Parameters
    ----------
    scale : float
        s >= 0.
    num_classes : int
        K >= 2.

    Returns
    -------
    float
        The probability of the true class.
    """
    s, K = _check_scale_and_classes(scale, num_classes)
    return 1.0 / (1.0 + (K - 1) * math.exp(-s * K / (K - 1)))


def simplex_etf(
    num_classes: int, dim: int, dtype=torch.float64
) -> torch.Tensor:
    """K unit vectors in R^d with every pairwise cosine equal to -1/(K-1) (a
    simplex equiangular tight frame, eq-softmax-etf-bound).

    They are the centred one-hot vectors e_k - 1/K, written in an orthonormal
    basis of the plane Σ_i v_i = 0 (dimension K-1), normalized, and padded with
    zeros to ``dim`` >= K-1 coordinates.

    Parameters
    ----------
    num_classes : int
        K >= 2.
    dim : int
        d >= K-1.
    dtype : torch.dtype
        The result's dtype.

    Returns
    -------
    torch.Tensor, shape (K, dim)
        Unit rows that sum to the zero vector.
    """
    K = integer(num_classes, "num_classes", minimum=2)
    dim = integer(dim, "dim", minimum=K - 1)  # >= num_classes - 1
    # (K, K), rows e_k - 1/K
    centred = torch.eye(K, dtype=torch.float64) - 1.0 / K
    # (K, K-1), orthonormal basis of {v : Σ v_i = 0}
    basis = torch.linalg.qr(centred[:, : K - 1]).Q
    coords = F.normalize(centred @ basis, dim=1)  # (K, K-1), unit rows
    out = torch.zeros(K, dim, dtype=torch.float64)
    out[:, : K - 1] = coords
    return out.to(dtype)
