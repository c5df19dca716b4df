"""Temperature at work: entropy along the τ path, distillation and calibration
(chapter 8).

Book equations (chapter 8, 温度パラメータ):

- (eq-temp-entropy-derivative) dH/dτ = Var_p(z) / τ³ with p = softmax(z/τ):
  entropy grows with τ;
- (eq-temp-fisher-lambda) the Fisher information of the family softmax(λz) in
  λ = 1/τ is Var_p(z);
- (eq-temp-path-length) the Fisher–Rao length ∫₀^∞ √I(λ) dλ of the temperature
  path, an e-geodesic (a ray in natural coordinates) from the uniform point;
- (eq-temp-distill) the distillation loss of Hinton et al. (2015) with its τ²
  factor, and two controls for it: the teacher's non-target logits shuffled per
  image, and label smoothing with the teacher's true-class mass;
- (eq-temp-ece) the expected calibration error of Guo et al. (2017) over
  equal-width bins;
- (eq-temp-scaling) temperature scaling: the τ that minimises held-out NLL,
  found by damped Newton's method on λ = 1/τ, where the NLL is convex (its
  second derivative is the mean Fisher information in λ, a variance).

Sampling at a temperature is not repeated here: the chapter uses
:func:`lecture_code.sampling.sample_next_token` (nanochat's sampler, chapter
11).

Softmax, log-softmax and entropy come from :mod:`lecture_code.softmax`; this
module only adds what the chapter needs on top. Tests compare each function
with ``torch.nn.functional``, ``torch.autograd``, ``scipy`` or ``sklearn``. Bad
input raises ``ValueError``/``TypeError``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from scipy.integrate import quad

from . import validate
from .optim import damped_newton
from .softmax import kl_divergence, log_softmax, softmax
from .validate import (
    as_tensor,
    axis,
    in_interval,
    integer,
    positive,
    positive_int,
    probabilities,
)


def _batch_logits(z, name: str) -> torch.Tensor:
    z = as_tensor(z, name, finite=True)
    if z.dim() != 2 or z.shape[0] == 0 or z.shape[1] < 2:
        raise ValueError(
            f"{name} must have shape (N, K) with N >= 1 and K >= 2, got "
            f"{tuple(z.shape)}"
        )
    return z


def fisher_information_lambda(z, lam, dim: int = -1) -> torch.Tensor:
    """I(λ) = Var_p(z) with p = softmax(λz): the Fisher information in λ = 1/τ
    (eq-temp-fisher-lambda).

    The family p_λ(i) = exp(λ z_i - LSE(λz)) has one parameter, the inverse
    temperature λ. Its score is ∂_λ log p_λ(i) = z_i - E_p[z], so the
    definition (eq-fisher-def) gives I(λ) = E_p[(z - E_p[z])²] = Var_p(z). The
    same variance is d²LSE(λz)/dλ², the pull-back zᵀ(diag p - ppᵀ)z of the
    logit Fisher matrix (eq-fisher-logits), and it appears in dH/dλ = -λ I(λ)
    (eq-temp-entropy-derivative) and in the second derivative of the
    temperature-scaling objective (eq-temp-scaling).

    Parameters
    ----------
    z : array_like, shape (..., K)
        Finite logits.
    lam : float
        Inverse temperature λ >= 0; λ = 0 is the uniform distribution (τ = ∞).
    dim : int
        The class axis.

    Returns
    -------
    torch.Tensor, shape (...)
        One variance per distribution.

    Examples
    --------
    >>> round(float(fisher_information_lambda([2.0, 1.0, 0.1], 1.0)), 4)
    0.4136
    """
    lam, z = (
        positive(lam, "lam", allow_zero=True),
        as_tensor(z, "z", finite=True),
    )
    dim = axis(z, dim, "z")
    # (..., K); shifted: no overflow
    p = softmax(lam * (z - z.amax(dim=dim, keepdim=True)), dim=dim)
    mean = (p * z).sum(dim=dim, keepdim=True)  # (..., 1) E_p[z]
    return (p * (z - mean) ** 2).sum(dim=dim)  # (...)


def entropy_tau_derivative(z, tau: float, dim: int = -1) -> torch.Tensor:
    """dH/dτ of p = softmax(z/τ): Var_p(z) / τ³ >= 0
    (eq-temp-entropy-derivative).

    With λ = 1/τ, H = LSE(λz) - λ E_p[z] and dH/dλ = -λ Var_p(z) = -λ I(λ),
    where I is :func:`fisher_information_lambda`; the chain rule dλ/dτ = -1/τ²
    gives the formula. It is zero only when all z_i are equal.

    Parameters
    ----------
    z : array_like, shape (..., K)
        Finite logits.
    tau : float
        Temperature τ > 0.
    dim : int
        The axis of the K classes.

    Returns
    -------
    torch.Tensor, shape (...)
        Var_p(z) / τ³, one value per distribution.

    Examples
    --------
    >>> round(float(entropy_tau_derivative([2.0, 1.0, 0.1], 1.0)), 4)
    0.4136
    """
    tau = positive(tau, "tau")
    return fisher_information_lambda(z, 1.0 / tau, dim=dim) / tau**3


def path_fisher_rao_length(z) -> float:
    """Fisher–Rao length of the temperature path {softmax(z/τ) : τ > 0}
    (eq-temp-path-length).

    Along λ = 1/τ the Fisher metric is I(λ) = Var_{p_λ}(z)
    (:func:`fisher_information_lambda`), so the length is L = ∫₀^∞ √I(λ) dλ,
    from the uniform point (λ = 0, τ = ∞) to the face of the largest logits (λ
    → ∞, τ → 0; the vertex e_argmax when the maximum is unique). Both ends are
    harmless: at λ = 0 the integrand is √Var_u(z) (finite), and for large λ it
    decays like e^{-λΔ/2}, Δ the gap between the largest and the next smaller
    logit, so the end point is at a finite distance although no finite τ
    reaches it. The integral is ``scipy.integrate.quad`` on [0, ∞). The length
    does not change when z is shifted or multiplied by a positive number.

    Parameters
    ----------
    z : array_like, shape (K,)
        Finite logits, K >= 2.

    Returns
    -------
    float
        The length (0 when all logits are equal: the path is a single point).

    Examples
    --------
    >>> round(path_fisher_rao_length([2.0, 1.0, 0.1]), 4)
    2.0224
    """
    z = as_tensor(z, "z", dtype=torch.float64, finite=True)
    if z.dim() != 1 or z.shape[0] < 2:
        raise ValueError(
            "z must be one vector of K >= 2 logits, got shape "
            f"{tuple(z.shape)}"
        )
    # (K,), max 0: the same path, no overflow
    zc = z.detach().double() - z.max()
    if bool((zc == 0.0).all()):
        return 0.0

    length, _ = quad(
        lambda lam: path_speed(zc, lam),
        0.0,
        math.inf,
        epsabs=1e-13,
        epsrel=1e-11,
        limit=200,
    )
    return float(length)


def path_speed(z, lam: float) -> float:
    """√I(λ), the Fisher–Rao speed of the temperature path at λ = 1/τ: the
    integrand of (eq-temp-path-length).

    Parameters
    ----------
    z : array_like, shape (K,)
        Finite logits.
    lam : float
        Inverse temperature λ >= 0.

    Returns
    -------
    float
        √Var_{p_λ}(z) with p_λ = softmax(λz)
        (:func:`fisher_information_lambda`).

    Examples
    --------
    >>> round(path_speed([1.0, 0.0], 0.0), 4)  # √Var of (1, 0) under (½, ½)
    0.5
    """
    return math.sqrt(max(float(fisher_information_lambda(z, lam)), 0.0))


def soft_target_loss(
    student_logits, teacher_logits, tau: float
) -> torch.Tensor:
    """τ² · KL(softmax(t/τ) ‖ softmax(s/τ)), averaged over the batch (soft part
    of eq-temp-distill).

    The teacher is detached: only the student learns. Without the τ² factor the
    gradient with respect to the student logits shrinks like 1/τ² for large τ
    (Hinton et al., 2015), so the soft term would fade as τ grows; with it the
    size stays about the same.

    Parameters
    ----------
    student_logits, teacher_logits : torch.Tensor, shape (N, K)
        Logits of the student and of the teacher (detached).
    tau : float
        The temperature τ > 0 of both softmaxes.

    Returns
    -------
    torch.Tensor, shape ()
        The mean over the batch.
    """
    tau = positive(tau, "tau")
    s = _batch_logits(student_logits, "student_logits")
    t = _batch_logits(teacher_logits, "teacher_logits").detach()
    if s.shape != t.shape:
        raise ValueError(
            "student_logits and teacher_logits must have the same shape, "
            f"got {tuple(s.shape)} and {tuple(t.shape)}"
        )
    log_q = log_softmax(t, temperature=tau)  # (N, K) teacher, soft targets
    # (N, K) student at the same temperature
    log_p = log_softmax(s, temperature=tau)
    # KL per row (N,), averaged
    return tau**2 * kl_divergence(log_q, log_p, log=True).mean()


def distillation_loss(
    student_logits,
    teacher_logits,
    labels,
    tau: float,
    soft_weight: float = 0.5,
) -> torch.Tensor:
    """w · τ² KL(q_τ ‖ p_τ) + (1 - w) · CE(p_1, y) (eq-temp-distill), with
    w = ``soft_weight``.

    The hard term uses the true labels at τ = 1; the soft term is
    :func:`soft_target_loss`. ``soft_weight`` must lie in [0, 1]; 0 is ordinary
    training on the labels.

    Parameters
    ----------
    student_logits : torch.Tensor, shape (N, K)
        Student logits z.
    teacher_logits : torch.Tensor, shape (N, K)
        Teacher logits v.
    labels : torch.Tensor of int, shape (N,)
        True classes y.
    tau : float
        Temperature τ > 0 of the soft term.
    soft_weight : float
        Weight w in [0, 1] of the soft term.

    Returns
    -------
    torch.Tensor, shape ()
        The mean loss over the N examples.
    """
    soft_weight, s = (
        in_interval(soft_weight, "soft_weight", 0.0, 1.0),
        _batch_logits(student_logits, "student_logits"),
    )
    y = validate.labels(labels, s.shape[0], s.shape[1], "labels")
    hard = F.cross_entropy(s, y)
    if soft_weight == 0.0:
        return hard
    return (
        soft_weight * soft_target_loss(s, teacher_logits, tau)
        + (1.0 - soft_weight) * hard
    )


def shuffle_non_target(
    logits, labels, generator: torch.Generator
) -> torch.Tensor:
    """Permute the K - 1 non-target logits of each row at random; the true
    class's logit stays.

    A control for knowledge distillation (eq-temp-distill): at any temperature
    the shuffled soft target keeps the true class's probability and the entropy
    of the teacher's target (the multiset of the probabilities is the same),
    and loses only *which* wrong classes the teacher finds similar. Each row
    gets its own permutation, drawn from ``generator``.

    Parameters
    ----------
    logits : torch.Tensor, shape (N, K)
        Teacher logits.
    labels : torch.Tensor of int, shape (N,)
        True classes.
    generator : torch.Generator
        Source of the permutations (pass a seeded one for reproducible
        results).

    Returns
    -------
    torch.Tensor, shape (N, K)
        Same dtype: row n is a permutation of ``logits[n]`` that fixes
        position ``labels[n]``.

    Examples
    --------
    >>> v = torch.tensor([[3.0, 1.0, 0.0, -1.0]])
    >>> gen = torch.Generator().manual_seed(0)
    >>> w = shuffle_non_target(v, torch.tensor([0]), gen)
    >>> w[0, 0].item(), sorted(w[0].tolist()) == sorted(v[0].tolist())
    (3.0, True)
    """
    z = _batch_logits(logits, "logits")
    y, gen = (
        validate.labels(labels, z.shape[0], z.shape[1], "labels"),
        validate.generator(generator, "generator", optional=False),
    )
    N, K = z.shape
    # (N, K - 1): the columns of the other classes, in order, for each row
    cols = torch.arange(K).expand(N, K)
    others = cols[cols != y[:, None]].reshape(N, K - 1)
    # a random order of the others in each row
    keys = torch.rand(N, K - 1, generator=gen)
    shuffled = others.gather(1, keys.argsort(dim=1))  # (N, K - 1)
    out = z.clone()
    # logit of others[j] ← logit of shuffled[j]
    out.scatter_(1, others, z.gather(1, shuffled))
    return out


def label_smoothing_logits(
    labels, num_classes: int, true_mass: float, tau: float, dtype=torch.float64
) -> torch.Tensor:
    """Logits τ·log q whose softmax at temperature τ is the smoothed label q (a
    distillation control).

    q puts ``true_mass`` on the true class and (1 - true_mass)/(K - 1) on every
    other class: ordinary label smoothing with
    ε_LS = (1 - true_mass)·K/(K - 1), i.e. q = (1 - ε_LS) e_y + ε_LS/K
    (``torch.nn.functional.cross_entropy(..., label_smoothing=ε_LS)``). Passing
    these logits as the "teacher" to :func:`soft_target_loss` or
    :func:`distillation_loss` with the same τ trains the student towards q with
    exactly the loss used for real soft targets (eq-temp-distill): the target
    has the teacher's true-class mass but carries no similarity between
    classes.

    Parameters
    ----------
    labels : torch.Tensor of int, shape (N,)
        True classes.
    num_classes : int
        K >= 2.
    true_mass : float
        Probability of the true class, in [1/K, 1) (1/K is the uniform target;
        1 would need an infinite logit).
    tau : float
        The temperature τ > 0 the logits are meant for.
    dtype : torch.dtype
        Floating dtype of the result.

    Returns
    -------
    torch.Tensor, shape (N, K)
        The logits τ·log q.

    Examples
    --------
    >>> v = label_smoothing_logits(torch.tensor([1]), 3, 0.5, tau=2.0)
    >>> softmax(v, 2.0).tolist()
    [[0.25, 0.5, 0.25]]
    """
    num_classes = integer(num_classes, "num_classes", minimum=2)
    true_mass = in_interval(
        true_mass, "true_mass", 1.0 / num_classes, 1.0, closed="left"
    )
    tau, y = (
        positive(tau, "tau"),
        validate.labels(labels, None, num_classes, "labels"),
    )
    q = torch.full(
        (y.shape[0], num_classes),
        (1.0 - true_mass) / (num_classes - 1),
        dtype=dtype,
    )
    q[torch.arange(y.shape[0]), y] = true_mass  # (N, K) smoothed labels
    return tau * q.log()


@dataclass(frozen=True)
class ReliabilityBins:
    """Equal-width confidence bins ((m-1)/M, m/M] of a classifier's top-label
    confidence.

    ``confidence`` and ``accuracy`` are the means within each bin (0 where
    ``count`` is 0).

    Attributes
    ----------
    edges : torch.Tensor, shape (M + 1,)
        Bin edges 0, 1/M, ..., 1.
    count : torch.Tensor, shape (M,)
        Number of examples per bin.
    confidence : torch.Tensor, shape (M,)
        Mean top-label confidence per bin.
    accuracy : torch.Tensor, shape (M,)
        Fraction correct per bin.
    """

    edges: torch.Tensor  # (M + 1,)
    count: torch.Tensor  # (M,)
    confidence: torch.Tensor  # (M,)
    accuracy: torch.Tensor  # (M,)

    @property
    def ece(self) -> float:
        """Σ_m (n_m / N) |acc_m - conf_m| (eq-temp-ece)."""
        n = self.count.sum()
        return float(
            ((self.count / n) * (self.accuracy - self.confidence).abs()).sum()
        )


def reliability_bins(probs, labels, n_bins: int = 10) -> ReliabilityBins:
    """Bin the top-label confidence max_k p_k into ``n_bins`` equal bins and
    compare with accuracy: the bins of the ECE (eq-temp-ece).

    Parameters
    ----------
    probs : torch.Tensor, shape (N, K)
        Probabilities, rows in Δ^{K-1}.
    labels : torch.Tensor of int, shape (N,)
        True classes.
    n_bins : int
        Number of bins M; bin m holds confidences in ((m-1)/M, m/M] (Guo et
        al., 2017).

    Returns
    -------
    ReliabilityBins
        Edges, count, mean confidence and accuracy per bin (eq-temp-ece).
    """
    n_bins, p = (
        positive_int(n_bins, "n_bins"),
        probabilities(_batch_logits(probs, "probs"), "probs").double(),
    )
    y = validate.labels(labels, p.shape[0], p.shape[1], "labels")
    conf, pred = p.max(dim=-1)  # (N,), (N,)
    correct = (pred == y).double()  # (N,)
    edges = torch.linspace(0.0, 1.0, n_bins + 1, dtype=torch.float64)
    # bin m: edges[m] < conf <= edges[m+1]
    idx = torch.bucketize(conf, edges[1:-1], right=False)
    count = torch.bincount(idx, minlength=n_bins).double()
    conf_sum = torch.bincount(idx, weights=conf, minlength=n_bins)
    acc_sum = torch.bincount(idx, weights=correct, minlength=n_bins)
    safe = count.clamp(min=1.0)
    return ReliabilityBins(edges, count, conf_sum / safe, acc_sum / safe)


def expected_calibration_error(probs, labels, n_bins: int = 10) -> float:
    """ECE = Σ_m (n_m / N) |acc_m - conf_m| over equal-width bins
    (eq-temp-ece).

    Parameters
    ----------
    probs : torch.Tensor, shape (N, K)
        Probabilities, rows in Δ^{K-1}.
    labels : torch.Tensor of int, shape (N,)
        True classes.
    n_bins : int
        Number of equal-width bins M.

    Returns
    -------
    float
        The ECE, in [0, 1].
    """
    return reliability_bins(probs, labels, n_bins).ece


def fit_temperature(
    logits, labels, max_iter: int = 100, tol: float = 1e-12
) -> float:
    """The τ minimising the NLL of softmax(z/τ) on held-out data
    (eq-temp-scaling), Guo et al. (2017).

    Damped Newton's method on the inverse temperature λ = 1/τ. With
    L(λ) = mean_n [LSE(λ z_n) - λ z_{n,y_n}],
    L'(λ) = mean_n (E_p[z_n] - z_{n,y_n}) and L''(λ) = mean_n Var_p(z_n) >= 0,
    the average over examples of the Fisher information in λ
    (:func:`fisher_information_lambda`). So L is convex in λ and a root of L'
    is the minimum. Convexity alone does not make plain Newton converge: a step
    is halved until λ stays positive and L decreases enough (Armijo
    backtracking).

    L' increases from L'(0) = mean_n (z̄_n - z_{n,y_n}) (z̄_n the plain mean of
    the logits) to L'(∞) = mean_n (max_k z_{n,k} - z_{n,y_n}) >= 0, so a finite
    minimiser exists exactly when both
    (i) at least one held-out example is misclassified (z_y < max_k z_k), so
    that L'(∞) > 0 -- otherwise the NLL keeps falling as τ → 0; and (ii)
    L'(0) < 0: on average the true class's logit is above the mean logit --
    otherwise the NLL keeps falling as τ → ∞ (towards the uniform
    distribution). ``ValueError`` is raised when either fails.

    Parameters
    ----------
    logits : torch.Tensor, shape (N, K)
        Held-out logits z_n.
    labels : torch.Tensor of int, shape (N,)
        Their true classes y_n.
    max_iter : int
        Maximum number of Newton steps.
    tol : float
        Stop when |L'(λ)| <= tol.

    Returns
    -------
    float
        The fitted temperature τ* = 1/λ*.

    Examples
    --------
    >>> # confident, and wrong once
    >>> z = torch.tensor([[4.0, 0.0], [0.0, 4.0], [4.0, 0.0]])
    >>> round(fit_temperature(z, torch.tensor([0, 1, 1])), 3)
    5.771
    """
    z = _batch_logits(logits, "logits").detach().double()  # (N, K)
    y = validate.labels(labels, z.shape[0], z.shape[1], "labels")
    z_true = z.gather(1, y[:, None]).squeeze(1)  # (N,)
    if not (z_true < z.max(dim=1).values).any():
        raise ValueError(
            "every held-out example is classified correctly, so the NLL "
            "keeps falling as τ → 0 and "
            "no finite temperature minimises it: use more (or harder) "
            "held-out data"
        )
    slope_at_zero = float((z.mean(dim=1) - z_true).mean())  # L'(0)
    if slope_at_zero >= 0:
        raise ValueError(
            "the true class's logit is not above the mean logit on average "
            f"(L'(0) = {slope_at_zero:.3g} >= 0), "
            "so the NLL keeps falling as τ → ∞ and no finite temperature "
            "minimises it"
        )

    def nll(lam):  # L(λ)
        return float((torch.logsumexp(lam * z, dim=-1) - lam * z_true).mean())

    def slope(lam):  # L'(λ) = mean_n (E_p[z_n] - z_{n,y_n})
        return ((torch.softmax(lam * z, dim=-1) * z).sum(-1) - z_true).mean()

    # Newton step g / L''(λ) (or double/halve λ where L'' = 0)
    def direction(lam, g):
        # L''(λ), a mean variance
        h = float(fisher_information_lambda(z, float(lam)).mean())
        return g / h if h > 0 else torch.copysign(lam, g)

    r = damped_newton(
        nll,
        slope,
        direction,
        torch.tensor(1.0, dtype=torch.float64),
        tol=0.0,
        xtol=tol,
        # keep λ = 1/τ positive
        max_iter=max_iter,
        feasible=lambda lam: lam > 0.0,
    )
    if not r.converged:
        raise ValueError(
            f"Newton's method did not converge in max_iter={max_iter} steps "
            f"(last λ = {float(r.x):.4g})"
        )
    return 1.0 / float(r.x)
