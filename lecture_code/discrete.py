"""The discrete–continuous interface: Gumbel-max, Gumbel-softmax and
straight-through (chapter 10).

Book equations: (eq-gumbel-noise) g = -log(-log u), (eq-gumbel-max) argmax_i
(z_i + g_i) is distributed as softmax(z), (eq-gumbel-softmax) the relaxed
sample softmax((z + g)/τ), (eq-ste) the straight-through estimator "one-hot
forward, soft gradient backward", (eq-ste-det) the lecture's deterministic
straight-through (forward argmax z, backward softmax z), (eq-exact-grad) ∂/∂z_j
Σ_k p_k f(e_k) = p_j (f(e_j) - Σ_k p_k f(e_k)), (eq-reinforce) the
score-function estimator (f(e_y) - b) ∇_z log p_y, (eq-bayes-vertex) the
"nearest vertex" under a loss ℓ(i, k) as the Bayes decision argmin_k Σ_i p_i
ℓ(i, k).

Cites Gumbel (1954) for the distribution, Jang et al. (2017) and Maddison et
al. (2017) for the relaxation, Jang et al. (2017, §2.2) for straight-through
Gumbel-softmax, Bengio et al. (2013) for straight-through and Williams (1992)
for REINFORCE. Tests compare with ``torch.nn.functional.gumbel_softmax`` (in
distribution) and with autograd.
"""

from __future__ import annotations

import math

import torch

from .softmax import softmax
from .validate import (
    as_array,
    as_tensor,
    axis,
    flag,
    integer,
    positive,
    positive_int,
    probabilities,
)
from .validate import generator as check_generator
from .validate import logits as check_logits


def _logits(z, name: str = "logits", ndim: int | None = None) -> torch.Tensor:
    return check_logits(z, name, -1, ndim=ndim)[0]


def gumbel_noise(shape, generator=None, dtype=torch.float32) -> torch.Tensor:
    """Standard Gumbel(0, 1) noise g = -log(-log u), u ~ Uniform(0, 1)
    (eq-gumbel-noise).

    ``u`` is kept inside (0, 1) (``torch.rand`` can return exactly 0), so ``g``
    is always finite.

    Parameters
    ----------
    shape : tuple of int
        Shape of the noise.
    generator : torch.Generator, optional
        Source of the uniform draws.
    dtype : torch.dtype
        Floating dtype of the result.

    Returns
    -------
    torch.Tensor, shape ``shape``
        Independent Gumbel(0, 1) draws.

    Examples
    --------
    >>> gen = torch.Generator().manual_seed(0)
    >>> g = gumbel_noise((100_000,), generator=gen, dtype=torch.float64)
    >>> round(g.mean().item(), 2)   # Euler–Mascheroni constant 0.5772...
    0.58
    """
    check_generator(generator)
    if isinstance(shape, int):
        shape = (shape,)
    try:
        shape = tuple(int(s) for s in shape)
    except TypeError:
        raise TypeError(
            f"shape must be an int or a tuple of ints, got {shape!r}"
        ) from None
    if any(s < 0 for s in shape):
        raise ValueError(f"shape must not contain negative sizes, got {shape}")
    if not dtype.is_floating_point:
        raise TypeError(f"dtype must be a floating dtype, got {dtype}")
    u = torch.rand(shape, generator=generator, dtype=dtype)
    tiny = torch.finfo(dtype).tiny
    u = u.clamp(min=tiny, max=1.0 - torch.finfo(dtype).eps)
    return -torch.log(-torch.log(u))


def gumbel_max_sample(logits, generator=None) -> torch.Tensor:
    """Category indices argmax_i (z_i + g_i) with fresh Gumbel noise per row
    (eq-gumbel-max).

    ``logits`` (..., K) → indices (...,) of dtype int64; each row is a draw
    from softmax(z). Entries equal to ``-inf`` (masked categories) are never
    chosen.

    Parameters
    ----------
    logits : torch.Tensor, shape (..., K)
        Logits z, one categorical variable per row.
    generator : torch.Generator, optional
        Source of the Gumbel noise.

    Returns
    -------
    torch.Tensor of int64, shape (...)
        One category index per row.
    """
    z = _logits(logits)
    g = gumbel_noise(z.shape, generator=generator, dtype=z.dtype)  # (..., K)
    return torch.argmax(z + g, dim=-1)


def straight_through(soft) -> torch.Tensor:
    """One-hot of argmax(soft) in the forward pass, the gradient of ``soft`` in
    the backward pass (eq-ste).

    Written as ``hard - soft.detach() + soft``: the value is ``hard`` (the two
    ``soft`` terms cancel), while autograd sees only ``+ soft``, so
    ∂out/∂soft = I.

    Parameters
    ----------
    soft : torch.Tensor, shape (..., K)
        Points of the simplex (e.g. a Gumbel-softmax sample).

    Returns
    -------
    torch.Tensor, shape (..., K)
        One-hot of the argmax, with the gradient of ``soft``.
    """
    if not isinstance(soft, torch.Tensor):
        raise TypeError(
            "soft must be a torch.Tensor (to carry a gradient), got "
            f"{type(soft).__name__}"
        )
    soft = as_tensor(soft, "soft", nan=False)
    axis(soft, -1, "soft")
    index = soft.argmax(dim=-1, keepdim=True)  # (..., 1)
    hard = torch.zeros_like(soft).scatter_(-1, index, 1.0)  # (..., K) one-hot
    return hard - soft.detach() + soft


def gumbel_softmax(
    logits, tau, hard: bool = False, generator=None
) -> torch.Tensor:
    """A Gumbel-softmax sample softmax((z + g)/τ) (eq-gumbel-softmax);
    ``hard=True`` adds straight-through.

    Parameters
    ----------
    logits : array_like, shape (..., K)
        Unnormalized log-probabilities; gradients flow back to them.
    tau : float
        Temperature of the relaxation, τ > 0. τ → 0 pushes samples to the
        vertices of Δ^{K-1}.
    hard : bool
        If True, return :func:`straight_through` of the soft sample (one-hot
        values, soft gradients).
    generator : torch.Generator, optional
        Source of the uniform numbers behind the noise, for reproducible
        samples.

    Returns
    -------
    torch.Tensor, shape (..., K)
        Points of Δ^{K-1} (soft) or one-hot vectors (hard).
    """
    hard, tau, z = flag(hard, "hard"), positive(tau, "tau"), _logits(logits)
    g = gumbel_noise(z.shape, generator=generator, dtype=z.dtype)  # (..., K)
    soft = softmax(z + g, temperature=tau, dim=-1)
    return straight_through(soft) if hard else soft


# ----------------------------------------------------------------------------
# Gradient estimators for ∂/∂z E_{y ~ softmax(z)}[f(e_y)] (chapter 10, "beyond
# the lecture"). ``f`` maps a batch of points of Δ^{K-1}, shape (N, K), to
# values (N,); on vertices it is the discrete objective, inside the simplex it
# is what the relaxations evaluate.


def _vertex_values(f, K: int, dtype) -> torch.Tensor:
    values = f(torch.eye(K, dtype=dtype))  # (K,)
    if not isinstance(values, torch.Tensor) or values.shape != (K,):
        raise ValueError(
            "f must map an (N, K) batch of points to an (N,) tensor; got "
            f"{getattr(values, 'shape', values)}"
        )
    return values


def exact_gradient(z, f) -> torch.Tensor:
    """∂/∂z_j E_{y~softmax(z)}[f(e_y)] = p_j (f(e_j) - Σ_k p_k f(e_k)) by
    enumeration (eq-exact-grad).

    Parameters
    ----------
    z : torch.Tensor, shape (K,)
        Logits.
    f : callable
        Maps an (N, K) batch of points of Δ^{K-1} to (N,) values; only the
        vertices are used.

    Returns
    -------
    torch.Tensor, shape (K,)
        The exact gradient.
    """
    z = _logits(z, "z", ndim=1)
    p = softmax(z)
    fv = _vertex_values(f, z.shape[0], z.dtype)  # (K,)
    return p * (fv - (p * fv).sum())


def score_function_grads(
    z, f, n: int, baseline: bool = False, group=None, generator=None
) -> torch.Tensor:
    """``n`` REINFORCE estimates (f(e_y) - b) ∇_z log p_y, y ~ softmax(z)
    (eq-reinforce); shape (n, K).

    Parameters
    ----------
    z : array_like, shape (K,)
        Logits of one categorical variable.
    f : callable
        Maps an (N, K) batch of points of Δ^{K-1} to (N,) values; only vertices
        are used here.
    n : int
        Number of samples, n >= 2 (one estimate per sample).
    baseline : bool
        If True, sample i uses the leave-one-out mean b_i = mean_{j≠i}
        f(e_{y_j}) over the other samples of its group. b_i does not depend on
        y_i, so the mean stays unbiased.
    group : int or None
        Size of the groups the baseline is formed in (consecutive samples;
        ``n`` must be a multiple). None means one group of all ``n`` samples
        (the other n - 1 samples: almost the exact mean of f, an ideal
        baseline); a minibatch size such as 16 is the realistic case.
    generator : torch.Generator, optional
        Source of the samples.

    Returns
    -------
    torch.Tensor, shape (n, K)
        The estimates; ∇_z log p_y = e_y - p, so every row sums to 0.
    """
    z = _logits(z, "z", ndim=1)
    n, baseline = integer(n, "n", minimum=2), flag(baseline, "baseline")
    if group is not None:
        if not baseline:
            raise ValueError("group only applies with baseline=True")
        if integer(group, "group", minimum=2) and n % group:
            raise ValueError(
                f"group must be an integer >= 2 that divides n={n}, got "
                f"{group!r}"
            )
    p = softmax(z)
    y = gumbel_max_sample(z.expand(n, -1), generator=generator)  # (n,)
    onehot = torch.nn.functional.one_hot(y, z.shape[0]).to(z.dtype)  # (n, K)
    fy = _vertex_values(f, z.shape[0], z.dtype)[y]  # (n,)
    if baseline:
        m = n if group is None else group
        fg = fy.view(-1, m)  # (n / m, m)
        # minus leave-one-out mean
        fy = (fg - (fg.sum(dim=1, keepdim=True) - fg) / (m - 1)).reshape(-1)
    return fy[:, None] * (onehot - p)  # (n, K)


def relaxed_grads(
    z, f, tau, n: int, hard: bool = False, generator=None
) -> torch.Tensor:
    """``n`` per-sample gradients ∇_z f(y), y = gumbel_softmax(z, τ, hard);
    shape (n, K).

    ``hard=False`` is the Gumbel-softmax estimator (unbiased for the relaxed
    objective, biased for the discrete one); ``hard=True`` is straight-through
    Gumbel: f sees a vertex, the gradient is soft.

    Parameters
    ----------
    z : torch.Tensor, shape (K,)
        Logits.
    f : callable
        Maps an (N, K) batch of points of Δ^{K-1} to (N,) values.
    tau : float
        Temperature τ > 0 of the relaxation.
    n : int
        Number of samples.
    hard : bool
        Straight-through (a vertex forward, the soft gradient backward).
    generator : torch.Generator, optional
        Source of the Gumbel noise.

    Returns
    -------
    torch.Tensor, shape (n, K)
        One gradient per sample.
    """
    z = _logits(z, "z", ndim=1)
    n = positive_int(n, "n")
    # (n, K): one copy per sample
    zs = z.detach().expand(n, -1).clone().requires_grad_(True)
    y = gumbel_softmax(zs, tau, hard=hard, generator=generator)  # (n, K)
    # row i depends only on sample i
    (grad,) = torch.autograd.grad(f(y).sum(), zs)
    return grad


def deterministic_ste_grad(z, f) -> torch.Tensor:
    """The lecture's straight-through gradient without noise (eq-ste-det);
    shape (K,).

    Forward: f at the vertex e_{argmax z}; backward: through softmax(z), i.e.
    J_softmax(z)ᵀ ∇f(e_{argmax z}). The discrete objective f(e_{argmax z}) is
    piecewise constant in z (true gradient 0 almost everywhere), so this is a
    surrogate, not an estimate of anything exact.

    Parameters
    ----------
    z : torch.Tensor, shape (K,)
        Logits.
    f : callable
        Maps an (N, K) batch of points of Δ^{K-1} to (N,) values.

    Returns
    -------
    torch.Tensor, shape (K,)
        The surrogate gradient.
    """
    z = _logits(z, "z", ndim=1)
    zr = z.detach().clone().requires_grad_(True)
    # (1, K): value e_{argmax z}, gradient of softmax(z)
    y = straight_through(softmax(zr))[None]
    (grad,) = torch.autograd.grad(f(y).sum(), zr)
    return grad


def summarize_estimates(G, exact, batch: int = 16) -> dict:
    """Bias, direction and spread of per-sample gradient estimates ``G`` (n, K)
    against ``exact`` (K,) (eq-exact-grad).

    The result is a dict of floats: ``rel_bias`` ‖mean − exact‖ / ‖exact‖;
    ``cos`` the cosine between mean and exact (the direction of the expected
    estimate); ``norm_ratio`` ‖mean‖ / ‖exact‖; ``se`` ‖sd‖/√n, the
    Monte-Carlo error of the mean (sd the vector of per-coordinate standard
    deviations); ``var`` tr Cov of one estimate; ``rel_var`` var / ‖exact‖²;
    ``batch_cos`` the average cosine between the mean of ``batch`` consecutive
    estimates and exact (what one minibatch step sees; a zero mean counts as
    cosine 0).

    Parameters
    ----------
    G : torch.Tensor, shape (n, K)
        Per-sample gradient estimates.
    exact : torch.Tensor, shape (K,)
        The exact gradient (non-zero).
    batch : int
        Mini-batch size for ``batch_cos``, 1 <= batch <= n.

    Returns
    -------
    dict
        Name -> float, the summaries above.
    """
    G = torch.as_tensor(G)
    exact = torch.as_tensor(exact, dtype=G.dtype)
    if G.dim() != 2 or exact.shape != G.shape[1:]:
        raise ValueError(
            f"G must be (n, K) and exact (K,), got {tuple(G.shape)} and "
            f"{tuple(exact.shape)}"
        )
    n = G.shape[0]
    batch = integer(batch, "batch", minimum=1, maximum=n)
    norm = torch.linalg.norm(exact)
    if not norm > 0:
        raise ValueError("exact must be a non-zero gradient")
    mean = G.mean(0)  # (K,)
    # one (deterministic) estimate: no spread
    var = float(G.var(0).sum()) if n > 1 else 0.0
    n_b = n // batch
    means = G[: n_b * batch].view(n_b, batch, -1).mean(1)  # (n_b, K)
    lengths = torch.linalg.norm(means, dim=1)
    cos_b = torch.where(
        lengths > 0,
        means @ exact / (lengths.clamp_min(1e-300) * norm),
        torch.zeros_like(lengths),
    )
    return {
        "rel_bias": float(torch.linalg.norm(mean - exact) / norm),
        "cos": float(mean @ exact / (torch.linalg.norm(mean) * norm)),
        "norm_ratio": float(torch.linalg.norm(mean) / norm),
        "se": float(torch.linalg.norm(G.std(0)) / math.sqrt(n))
        if n > 1
        else 0.0,
        "var": var,
        "rel_var": var / float(norm) ** 2,
        "batch_cos": float(cos_b.mean()),
    }


def bayes_vertex(P, loss) -> tuple:
    """Expected losses R(k | p) = Σ_i p_i ℓ(i, k) and the Bayes decision
    argmin_k (eq-bayes-vertex).

    Parameters
    ----------
    P : array_like, shape (..., K)
        Points of Δ^{K-1} (the belief about the true label i).
    loss : array_like, shape (K, K)
        ℓ(i, k) = cost of answering k when the truth is i; 0-1 loss gives
        1 - p_k and argmax.

    Returns
    -------
    R : numpy.ndarray, shape (..., K)
        The expected losses R(k | p). For a metric "distance to a vertex" that
        is linear in p (L1, the 1-Wasserstein distance to a point mass),
        R(k | p) *is* that distance, so the nearest vertex is the Bayes
        decision.
    decision : numpy.ndarray of int, shape (...)
        The index of the smallest entry of R.
    """
    P, L = probabilities(P, "P"), as_array(loss, "loss", ndim=2, finite=True)
    K = P.shape[-1]
    if L.shape != (K, K):
        raise ValueError(
            f"loss must be a ({K}, {K}) matrix for points with K={K}, got "
            f"shape {L.shape}"
        )
    R = P @ L  # (..., K): Σ_i p_i ℓ(i, k)
    return R, R.argmin(-1)
