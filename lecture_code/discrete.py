"""The discrete–continuous interface: Gumbel-max, Gumbel-softmax and straight-through (chapter 10).

Book equations: (eq-gumbel-noise) g = -log(-log u), (eq-gumbel-max) argmax_i (z_i + g_i)
is distributed as softmax(z), (eq-gumbel-softmax) the relaxed sample softmax((z + g)/τ),
(eq-ste) the straight-through estimator "one-hot forward, soft gradient backward",
(eq-exact-grad) ∂/∂z_j Σ_k p_k f(e_k) = p_j (f(e_j) - Σ_k p_k f(e_k)),
(eq-reinforce) the score-function estimator (f(e_y) - b) ∇_z log p_y.

Cites Gumbel (1954) for the distribution, Jang et al. (2017) and Maddison et al. (2017) for
the relaxation, Bengio et al. (2013) for straight-through and Williams (1992) for REINFORCE.
Tests compare with ``torch.nn.functional.gumbel_softmax`` (in distribution) and with autograd.
"""

from __future__ import annotations

import math

import torch

from .softmax import _check_dim, _check_values, as_logits, softmax


def _check_generator(generator) -> None:
    if generator is not None and not isinstance(generator, torch.Generator):
        raise TypeError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")


def _check_tau(tau) -> float:
    if isinstance(tau, torch.Tensor) and tau.numel() == 1:
        tau = tau.item()
    if isinstance(tau, bool) or not isinstance(tau, (int, float)):
        raise TypeError(f"tau must be a number, got {type(tau).__name__}")
    if not math.isfinite(tau) or tau <= 0:
        raise ValueError(f"tau must be a finite number > 0, got {tau!r}")
    return float(tau)


def _logits(logits) -> torch.Tensor:
    z = as_logits(logits, "logits")
    _check_dim(z, -1, "logits")
    _check_values(z, -1, "logits")
    return z


def gumbel_noise(shape, generator=None, dtype=torch.float32) -> torch.Tensor:
    """Standard Gumbel(0, 1) noise g = -log(-log u), u ~ Uniform(0, 1) (eq-gumbel-noise).

    ``u`` is kept inside (0, 1) (``torch.rand`` can return exactly 0), so ``g`` is always finite.

    Examples
    --------
    >>> g = gumbel_noise((100_000,), generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    >>> round(g.mean().item(), 2)   # Euler–Mascheroni constant 0.5772...
    0.58
    """
    _check_generator(generator)
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(f"shape must be an int or a tuple of ints, got {shape!r}") from None
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must not contain negative sizes, got {shape}")
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    u = torch.rand(shape, generator=generator, dtype=dtype)
    tiny = torch.finfo(dtype).tiny
    u = u.clamp(min=tiny, max=1.0 - torch.finfo(dtype).eps)
    return -torch.log(-torch.log(u))


def gumbel_max_sample(logits, generator=None) -> torch.Tensor:
    """Category indices argmax_i (z_i + g_i) with fresh Gumbel noise per row (eq-gumbel-max).

    ``logits`` (..., K) → indices (...,) of dtype int64; each row is a draw from softmax(z).
    Entries equal to ``-inf`` (masked categories) are never chosen.
    """
    z = _logits(logits)
    g = gumbel_noise(z.shape, generator=generator, dtype=z.dtype)  # (..., K)
    return torch.argmax(z + g, dim=-1)


def straight_through(soft) -> torch.Tensor:
    """One-hot of argmax(soft) in the forward pass, the gradient of ``soft`` in the backward pass (eq-ste).

    Written as ``hard - soft.detach() + soft``: the value is ``hard`` (the two ``soft`` terms
    cancel), while autograd sees only ``+ soft``, so ∂out/∂soft = I.
    """
    if not isinstance(soft, torch.Tensor):
        raise TypeError(f"soft must be a torch.Tensor (to carry a gradient), got {type(soft).__name__}")
    _check_dim(soft, -1, "soft")
    if not soft.is_floating_point():
        raise TypeError(f"soft must be a floating tensor, got dtype {soft.dtype}")
    if torch.isnan(soft).any():
        raise ValueError("soft contains NaN")
    index = soft.argmax(dim=-1, keepdim=True)  # (..., 1)
    hard = torch.zeros_like(soft).scatter_(-1, index, 1.0)  # (..., K) one-hot
    return hard - soft.detach() + soft


def gumbel_softmax(logits, tau, hard: bool = False, generator=None) -> torch.Tensor:
    """A Gumbel-softmax sample softmax((z + g)/τ) (eq-gumbel-softmax); ``hard=True`` adds straight-through.

    Parameters
    ----------
    logits : array-like or Tensor (..., K)
        Unnormalized log-probabilities; gradients flow back to them.
    tau : float > 0
        Temperature of the relaxation. τ → 0 pushes samples to the vertices of Δ^{K-1}.
    hard : bool
        If True, return :func:`straight_through` of the soft sample (one-hot values, soft gradients).
    generator : torch.Generator, optional
        Source of the uniform numbers behind the noise, for reproducible samples.

    Returns
    -------
    Tensor (..., K): points of Δ^{K-1} (soft) or one-hot vectors (hard).
    """
    if not isinstance(hard, bool):
        raise TypeError(f"hard must be True or False, got {hard!r}")
    tau = _check_tau(tau)
    z = _logits(logits)
    g = gumbel_noise(z.shape, generator=generator, dtype=z.dtype)  # (..., K)
    soft = softmax(z + g, temperature=tau, dim=-1)
    return straight_through(soft) if hard else soft


# ---------------------------------------------------------------------------------------------
# Gradient estimators for ∂/∂z E_{y ~ softmax(z)}[f(e_y)] (chapter 10, "beyond the lecture").
# ``f`` maps a batch of points of Δ^{K-1}, shape (N, K), to values (N,); on vertices it is the
# discrete objective, inside the simplex it is what the relaxations evaluate.


def _vertex_values(f, K: int, dtype) -> torch.Tensor:
    values = f(torch.eye(K, dtype=dtype))  # (K,)
    if not isinstance(values, torch.Tensor) or values.shape != (K,):
        raise ValueError(f"f must map an (N, K) batch of points to an (N,) tensor; got {getattr(values, 'shape', values)}")
    return values


def exact_gradient(z, f) -> torch.Tensor:
    """∂/∂z_j E_{y~softmax(z)}[f(e_y)] = p_j (f(e_j) - Σ_k p_k f(e_k)) by enumeration (eq-exact-grad)."""
    z = _logits(z)
    if z.dim() != 1:
        raise ValueError(f"z must be one vector of K logits, got shape {tuple(z.shape)}")
    p = softmax(z)
    fv = _vertex_values(f, z.shape[0], z.dtype)  # (K,)
    return p * (fv - (p * fv).sum())


def score_function_grads(z, f, n: int, baseline: bool = False, generator=None) -> torch.Tensor:
    """``n`` REINFORCE estimates (f(e_y) - b) ∇_z log p_y, y ~ softmax(z) (eq-reinforce); shape (n, K).

    With ``baseline=True`` each sample uses the leave-one-out mean b_i = mean_{j≠i} f(e_{y_j}),
    which does not depend on y_i, so the mean stays unbiased. ∇_z log p_y = e_y - p.
    """
    z = _logits(z)
    if z.dim() != 1:
        raise ValueError(f"z must be one vector of K logits, got shape {tuple(z.shape)}")
    if not isinstance(n, int) or n < 2:
        raise ValueError(f"n must be an integer >= 2, got {n!r}")
    p = softmax(z)
    y = gumbel_max_sample(z.expand(n, -1), generator=generator)  # (n,)
    onehot = torch.nn.functional.one_hot(y, z.shape[0]).to(z.dtype)  # (n, K)
    fy = _vertex_values(f, z.shape[0], z.dtype)[y]  # (n,)
    if baseline:
        fy = fy - (fy.sum() - fy) / (n - 1)
    return fy[:, None] * (onehot - p)  # (n, K)


def relaxed_grads(z, f, tau, n: int, hard: bool = False, generator=None) -> torch.Tensor:
    """``n`` per-sample gradients ∇_z f(y), y = gumbel_softmax(z, τ, hard); shape (n, K).

    ``hard=False`` is the Gumbel-softmax estimator (unbiased for the relaxed objective, biased for
    the discrete one); ``hard=True`` is straight-through Gumbel: f sees a vertex, the gradient is soft.
    """
    z = _logits(z)
    if z.dim() != 1:
        raise ValueError(f"z must be one vector of K logits, got shape {tuple(z.shape)}")
    if not isinstance(n, int) or n < 1:
        raise ValueError(f"n must be a positive integer, got {n!r}")
    zs = z.detach().expand(n, -1).clone().requires_grad_(True)  # (n, K): one copy per sample
    y = gumbel_softmax(zs, tau, hard=hard, generator=generator)  # (n, K)
    (grad,) = torch.autograd.grad(f(y).sum(), zs)  # row i depends only on sample i
    return grad

