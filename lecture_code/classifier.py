"""Classification heads for chapter 2: cosine logits versus an ordinary linear layer.

Book equations: (eq-softmax-inner-product) z_k = w_kᵀx = ‖w_k‖ ‖x‖ cos θ_k, and
(eq-softmax-cosine-logits) z_k = s cos θ_k when both x and w_k are scaled to unit length.

- :class:`NormalizedClassifier` follows the lecture's implementation note (a normalized
  classifier, as in nGPT-style and ArcFace-style heads; Deng et al., 2019): inputs and weight rows
  are L2-normalized, so every logit lies in [-s, s] and the scale s acts as an inverse
  temperature.
- :class:`LinearClassifier` is the usual unnormalized head z = W x + b, for contrast.
- :func:`fit` trains either head by full-batch gradient descent on the cross-entropy (small data only).
- :func:`fit_bias` fits a bias-only softmax model under an L2 penalty with a chosen gauge
  (which bias component, if any, is pinned to 0): the chapter's demonstration that the
  penalized optimum depends on the gauge although the model family does not.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn


def _positive_int(value, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return value


def _check_features(x, in_features: int, name: str = "x") -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch tensor of shape (..., {in_features}), got {type(x).__name__}")
    if not x.is_floating_point():
        raise TypeError(f"{name} must be a floating tensor, got dtype {x.dtype}")
    if x.dim() == 0 or x.shape[-1] != in_features:
        raise ValueError(f"{name} must have shape (..., {in_features}), got {tuple(x.shape)}")
    # the largest magnitude is finite exactly when every entry is (amax propagates NaN);
    # ~15x cheaper than torch.isfinite(x).all(), which matters inside the training loop
    if x.numel() and not torch.isfinite(x.abs().amax()):
        raise ValueError(f"{name} contains NaN or inf")
    return x


def _init_weight(num_classes: int, in_features: int, seed: int | None) -> torch.Tensor:
    gen = torch.Generator().manual_seed(seed) if seed is not None else None
    return torch.randn(num_classes, in_features, generator=gen) / math.sqrt(in_features)  # (K, d)


class NormalizedClassifier(nn.Module):
    """Cosine-logit head: z_k = s · x̂ᵀŵ_k with x̂ = x/‖x‖, ŵ_k = w_k/‖w_k‖ (eq-softmax-cosine-logits).

    Parameters
    ----------
    in_features : int
        Dimension d of the input.
    num_classes : int
        Number of classes K.
    scale : float
        s > 0, fixed (not learned). Logits lie in [-s, s]; s plays the role of 1/τ.
    seed : int or None
        Seed of the initial weights (a private generator: the global RNG is untouched).

    Examples
    --------
    >>> head = NormalizedClassifier(4, 3, scale=10.0)
    >>> z = head(torch.randn(5, 4, generator=torch.Generator().manual_seed(0)))
    >>> z.shape, bool(z.abs().max() <= 10.0)
    (torch.Size([5, 3]), True)
    """

    def __init__(self, in_features: int, num_classes: int, scale: float = 16.0, seed: int | None = 0):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features")
        self.num_classes = _positive_int(num_classes, "num_classes")
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            raise ValueError(f"scale must be a finite number > 0, got {scale!r}")
        self.scale = float(scale)
        self.weight = nn.Parameter(_init_weight(num_classes, in_features, seed))  # (K, d)

    def cosines(self, x: torch.Tensor) -> torch.Tensor:
        """cos θ_k between each input and each class vector, shape (..., K), values in [-1, 1].

        A zero input has no direction; ``F.normalize`` maps it to 0, so all its cosines are 0.
        """
        return self._cosines(self._prepare(x))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._logits(self._prepare(x))  # (..., K), in [-s, s]

    # forward(x) = _logits(_prepare(x)); fit() prepares the fixed training inputs only once.
    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(_check_features(x, self.in_features), dim=-1)  # (..., d), unit rows

    def _cosines(self, x_hat: torch.Tensor) -> torch.Tensor:
        w_hat = F.normalize(self.weight, dim=-1)  # (K, d), unit rows
        return (x_hat @ w_hat.T).clamp(-1.0, 1.0)  # (..., K); clamp removes 1 + 1e-7 rounding

    def _logits(self, x_hat: torch.Tensor) -> torch.Tensor:
        return self.scale * self._cosines(x_hat)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}, scale={self.scale:g}"


class LinearClassifier(nn.Module):
    """The unnormalized head z = W x + b, whose logits mix ‖w_k‖, ‖x‖ and cos θ_k (eq-softmax-inner-product).

    Same interface as :class:`NormalizedClassifier` (``bias=False`` drops b).
    """

    def __init__(self, in_features: int, num_classes: int, bias: bool = True, seed: int | None = 0):
        super().__init__()
        self.in_features = _positive_int(in_features, "in_features")
        self.num_classes = _positive_int(num_classes, "num_classes")
        self.weight = nn.Parameter(_init_weight(num_classes, in_features, seed))  # (K, d)
        self.bias = nn.Parameter(torch.zeros(num_classes)) if bias else None  # (K,)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self._logits(self._prepare(x))

    def _prepare(self, x: torch.Tensor) -> torch.Tensor:
        return _check_features(x, self.in_features)

    def _logits(self, x: torch.Tensor) -> torch.Tensor:
        return F.linear(x, self.weight, self.bias)  # (..., K)

    def extra_repr(self) -> str:
        return f"in_features={self.in_features}, num_classes={self.num_classes}, bias={self.bias is not None}"


def _check_labels(y, n: int, num_classes: int) -> torch.Tensor:
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or y.dim() != 1:
        raise TypeError("y must be a 1-D int64 tensor of class labels")
    if y.shape[0] != n:
        raise ValueError(f"y has {y.shape[0]} labels but X has {n} rows")
    if y.numel() and (y.min() < 0 or y.max() >= num_classes):
        raise ValueError(f"labels in y must lie in 0..{num_classes - 1}, got {int(y.min())}..{int(y.max())}")
    return y


def fit(model: nn.Module, X: torch.Tensor, y: torch.Tensor, steps: int = 200, lr: float = 0.5,
        weight_decay: float = 0.0) -> list[float]:
    """Full-batch gradient descent θ ← θ - η(∇L + λθ) on the mean cross-entropy; return the loss per step.

    Plain gradient descent (no optimizer state, no ``torch.optim``) keeps every step visible
    and deterministic. Meant for small data such as the digits (≈1300 × 64): 200 steps of a
    linear head take a fraction of a second.
    """
    if X.dim() != 2:
        raise ValueError(f"X must have shape (N, d), got {tuple(X.shape)}")
    _check_labels(y, X.shape[0], model.num_classes)
    _positive_int(steps, "steps")
    params = [q for q in model.parameters() if q.requires_grad]
    if hasattr(model, "_prepare"):  # our heads: check (and normalize) the fixed inputs once, not every step
        inputs, head = model._prepare(X), model._logits
    else:
        inputs, head = X, model
    losses = []
    for _ in range(steps):
        loss = F.cross_entropy(head(inputs), y)  # uses log_softmax inside
        grads = torch.autograd.grad(loss, params)
        with torch.no_grad():
            for q, g in zip(params, grads):
                q -= lr * (g + weight_decay * q)
        losses.append(loss.item())
    return losses


def fit_bias(y: torch.Tensor, num_classes: int, l2: float = 0.0, fixed: int | None = None,
             steps: int = 100) -> torch.Tensor:
    """Bias-only softmax model p = softmax(b): minimize mean CE(b; y) + l2 ‖b‖² in float64.

    ``fixed=k`` pins b_k = 0 (one gauge choice); ``fixed=None`` keeps all K components free.
    Without the penalty every gauge gives the same distribution (the class frequencies);
    with it the optimum depends on the gauge, because ‖b‖² is not invariant under b ↦ b + c1.
    Returns the full bias vector (K,), float64, found by damped Newton steps (a smooth convex problem).
    """
    K = _positive_int(num_classes, "num_classes")
    if not isinstance(y, torch.Tensor) or y.dim() != 1:
        raise TypeError("y must be a 1-D int64 tensor of class labels")
    y = _check_labels(y, y.shape[0], K)
    if y.numel() == 0:
        raise ValueError("y must contain at least one label")
    if isinstance(l2, bool) or not isinstance(l2, (int, float)) or not math.isfinite(l2) or l2 < 0:
        raise ValueError(f"l2 must be a finite number >= 0, got {l2!r}")
    if fixed is not None and (isinstance(fixed, bool) or not isinstance(fixed, int) or not 0 <= fixed < K):
        raise ValueError(f"fixed must be None or a class index in 0..{K - 1}, got {fixed!r}")
    free = torch.tensor([k for k in range(K) if k != fixed])  # the coordinates we optimize
    counts = torch.bincount(y, minlength=K).to(torch.float64)  # (K,)
    freq = counts / counts.sum()

    def objective(b):
        return -(freq * torch.log_softmax(b, dim=0)).sum() + l2 * (b**2).sum()  # mean CE + penalty

    # Damped Newton on the free coordinates. The Hessian of the mean CE is diag(p) - p pᵀ, which is
    # singular along 1: with all K coordinates free and l2 = 0 the pseudo-inverse gives the
    # minimum-norm step, which never moves along the gauge direction.
    b = torch.zeros(K, dtype=torch.float64)
    for _ in range(steps):
        p = torch.softmax(b, dim=0)
        grad = (p - freq + 2 * l2 * b)[free]  # gradient on the free coordinates
        if grad.abs().max() < 1e-12:
            break
        hess = (torch.diag(p) - torch.outer(p, p) + 2 * l2 * torch.eye(K, dtype=torch.float64))[free][:, free]
        step = torch.zeros(K, dtype=torch.float64)
        step[free] = torch.linalg.pinv(hess) @ grad
        t, f0 = 1.0, objective(b)
        while objective(b - t * step) > f0 - 0.25 * t * (grad @ step[free]) and t > 1e-8:
            t /= 2  # backtracking: Newton steps from far away can overshoot
        b = b - t * step
    return b
