"""Optimizer steps and training loops, in one place (chapters 2, 7 and 8).

- :func:`adam_step` writes Adam's update out, because its preconditioner √v̂ is
  what chapter 7 compares with the Fisher matrix (a test checks it equals
  ``torch.optim.Adam``);
- :func:`damped_newton` is the library's one Newton method with a backtracking
  line search; :func:`newton_optimum` uses it for chapter 7's reference optimum
  W*;
- :func:`full_batch_run`, :func:`minibatch_run` and :func:`train_mlp` are the
  training loops chapter 7 compares under one protocol
  (lecture_code.experiments.lr_sweep): the chapter, tests/test_optim.py and
  tests/bench_natgrad.py all call these, so a number in the chapter and in its
  stored sweep come from the same code. First-order baselines (SGD, Adam) use
  ``torch.optim``; a preconditioned method writes its step ΔW = -η (C + δI)⁻¹∇
  out (eq-natgrad), because that formula is what the chapter teaches; K-FAC
  uses eq-natgrad-kfac.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from .models import SoftmaxRegression, make_mlp
from .natgrad import (
    empirical_fisher,
    kfac_direction,
    kfac_factors,
    linear_layers_io,
    per_sample_grads,
    precondition,
    softmax_regression_diag_fisher,
)
from .softmax import softmax
from .validate import as_tensor, choice, in_interval, positive


def adam_step(
    xi, g, state: dict, lr: float, betas=(0.9, 0.999), eps: float = 1e-8
) -> torch.Tensor:
    """One Adam update (Kingma & Ba, 2015), written out to show its
    preconditioner.

    m ← β₁m + (1-β₁)g, v ← β₂v + (1-β₂)g², ξ ← ξ - lr · m̂ / (√v̂ + ε), with
    the bias corrections m̂ = m/(1-β₁ᵗ), v̂ = v/(1-β₂ᵗ). The divisor is √v̂ — a
    square root of an average of squared mini-batch gradients, not a Fisher
    matrix (eq-natgrad compares the two). Agrees with ``torch.optim.Adam``
    (tests/test_optim.py).

    Parameters
    ----------
    xi : torch.Tensor
        The parameters.
    g : torch.Tensor
        The gradient, shaped like ``xi``.
    state : dict
        Initially empty; keeps t, m, v between calls (updated in place).
    lr : float
        The learning rate > 0.
    betas : tuple of float
        (β₁, β₂) in [0, 1).
    eps : float
        ε added to √v̂.

    Returns
    -------
    torch.Tensor
        The new parameters.

    Examples
    --------
    >>> state = {}
    >>> # the first step is ±lr
    >>> adam_step(torch.zeros(2), torch.tensor([1.0, -4.0]), state, lr=0.1)
    tensor([-0.1000,  0.1000])
    """
    lr, b1, b2 = (
        positive(lr, "lr"),
        *(in_interval(b, "betas", 0.0, 1.0, closed="left") for b in betas),
    )
    if not state:
        state.update(t=0, m=torch.zeros_like(g), v=torch.zeros_like(g))
    state["t"] += 1
    state["m"] = b1 * state["m"] + (1 - b1) * g
    state["v"] = b2 * state["v"] + (1 - b2) * g * g
    m_hat = state["m"] / (1 - b1 ** state["t"])
    v_hat = state["v"] / (1 - b2 ** state["t"])
    return xi - lr * m_hat / (v_hat.sqrt() + eps)


@dataclass(frozen=True)
class NewtonResult:
    """What :func:`damped_newton` returns.

    Attributes
    ----------
    x : torch.Tensor
        The last point.
    steps : int
        The steps taken.
    grad_max : float
        max|∇| at ``x``.
    short_steps : int
        The steps that needed t < 1.
    converged : bool
        Whether a stopping rule was met.
    """

    x: torch.Tensor
    steps: int
    grad_max: float
    short_steps: int
    converged: bool


def damped_newton(
    objective,
    gradient,
    direction,
    x0,
    tol: float = 1e-12,
    xtol: float = 0.0,
    max_iter: int = 50,
    armijo: float = 1e-4,
    min_t: float = 1e-10,
    feasible=None,
    after_step=None,
) -> NewtonResult:
    """Damped Newton's method: x ← x - t d with d = ``direction(x, g)`` and
    t = 1, 1/2, 1/4, ... (Armijo backtracking).

    t is halved until x - t d is ``feasible`` and the objective falls by at
    least ``armijo`` · t gᵀd (no further than ``min_t``). Stops when
    max|∇| < ``tol`` or when the step max|t d| <= ``xtol`` · max(1, max|x|).
    A unit step alone can overshoot or cycle even on a convex problem; the
    line search prevents it. Works on tensors of any shape (a 0-d tensor for
    one unknown). The one damped Newton of the library: chapter 7's optimum W*
    (:func:`newton_optimum`, eq-natgrad with C = F + ρ), temperature scaling
    and the bias-only model of chapter 2.

    Parameters
    ----------
    objective : callable
        x -> a scalar.
    gradient : callable
        x -> ∇ (shaped like x).
    direction : callable
        (x, g) -> a Newton direction for the gradient g.
    x0 : torch.Tensor
        The start.
    tol : float
        Stop when max|∇| < tol.
    xtol : float
        Stop when the step is this small relative to max(1, max|x|).
    max_iter : int
        The most steps.
    armijo : float
        The sufficient-decrease constant.
    min_t : float
        The smallest step fraction tried.
    feasible : callable, optional
        x -> bool; steps are shortened until it holds.
    after_step : callable, optional
        Maps each new iterate (e.g. re-centre a gauge).

    Returns
    -------
    NewtonResult
        The last point and how the iteration went.

    Examples
    --------
    >>> f = lambda x: (x**4).sum() + (x**2).sum()  # convex, minimum at 0
    >>> grad = lambda x: 4 * x**3 + 2 * x
    >>> newton = lambda x, g: g / (12 * x**2 + 2)
    >>> x0 = torch.tensor([3.0], dtype=torch.float64)
    >>> r = damped_newton(f, grad, newton, x0)
    >>> r.converged, abs(r.x.item()) < 1e-12
    (True, True)
    """
    x, short = x0, 0
    for it in range(max_iter + 1):
        g = gradient(x)
        grad_max = g.abs().max().item()
        if grad_max < tol or it == max_iter:
            return NewtonResult(x, it, grad_max, short, grad_max < tol)
        d = direction(x, g)
        f0, slope, t = float(objective(x)), float((g * d).sum()), 1.0
        while (
            (feasible is not None and not feasible(x - t * d))
            or float(objective(x - t * d)) > f0 - armijo * t * slope
        ) and t > min_t:
            t /= 2
        short += t < 1
        x_new = x - t * d
        x_new = after_step(x_new) if after_step is not None else x_new
        if (t * d).abs().max().item() <= xtol * max(1.0, x.abs().max().item()):
            return NewtonResult(
                x_new, it + 1, gradient(x_new).abs().max().item(), short, True
            )
        x = x_new
    raise AssertionError("unreachable")


def newton_optimum(
    problem: SoftmaxRegression,
    damping: float = 1e-8,
    tol: float = 1e-12,
    max_iter: int = 50,
):
    """Newton's method with a backtracking line search, from W = 0 until
    max|∇| < ``tol``: chapter 7's reference optimum W*.

    Direction d = (F + ρ + δI)⁻¹∇ (the Hessian of the objective, so this is
    also the natural gradient, eq-natgrad); step W ← W - t d with t = 1, 1/2,
    1/4, ... until the objective falls by at least 10⁻⁴ t ∇·d (Armijo). A unit
    step alone can cycle on this problem (it does on some splits). The bias
    shift 1cᵀ common to all classes is a flat direction of the objective, so
    the tiny ``damping`` keeps the solve well posed and every iterate is
    re-centred (Σ_k b_k = 0, the gauge of chapter 2): rounding error along the
    flat direction would otherwise be divided by δ.

    Parameters
    ----------
    problem : lecture_code.models.SoftmaxRegression
        The objective, its gradient and Hessian.
    damping : float
        δ added to the Hessian.
    tol : float
        Stop when max|∇| < tol.
    max_iter : int
        The most steps; RuntimeError if ``tol`` is not reached.

    Returns
    -------
    tuple
        (W*, iterations, max|∇| at W*, number of steps that needed t < 1).
    """

    def direction(W, g):  # (F + ρ + δI)⁻¹∇, (K, D)
        return precondition(
            g.reshape(-1), problem.hessian(W), damping
        ).reshape(problem.shape)

    def recentre(W):  # Σ_k b_k = 0
        W[:, -1] -= W[:, -1].mean()
        return W

    r = damped_newton(
        problem.objective,
        problem.gradient,
        direction,
        torch.zeros(problem.shape, dtype=problem.X.dtype),
        tol=tol,
        max_iter=max_iter,
        after_step=recentre,
    )
    if not r.converged:
        raise RuntimeError(
            f"Newton's method did not reach max|grad| < {tol} in {max_iter} "
            f"steps (last {r.grad_max:.1e})"
        )
    return r.x, r.steps, r.grad_max, r.short_steps


#: Full-batch methods of chapter 7 and the damping δ each adds to its
#: curvature.
FULL_BATCH_DAMPING = {
    "gd": None,
    "natural": 1e-4,
    "empirical": 1e-4,
    "diag_empirical": 1e-3,
    "adam": None,
}


def full_batch_run(
    problem: SoftmaxRegression,
    method: str,
    lr: float,
    n_iter: int = 40,
    damping: float | None = None,
):
    """Full-batch training of ``problem`` from W = 0 (deterministic: repeat it
    on other splits).

    ``method``: "gd" (torch.optim.SGD), "adam" (torch.optim.Adam), or the
    preconditioned step W ← W - lr (C + δI)⁻¹∇ (eq-natgrad) with C = F + ρ
    ("natural"), F̃ + ρ ("empirical", eq-natgrad-ef) or diag F̃
    ("diag_empirical").

    Parameters
    ----------
    problem : lecture_code.models.SoftmaxRegression
        The objective.
    method : {"gd", "adam", "natural", "empirical", "diag_empirical"}
        The update.
    lr : float
        The learning rate > 0.
    n_iter : int
        The number of steps.
    damping : float, optional
        δ; defaults to :data:`FULL_BATCH_DAMPING`.

    Returns
    -------
    tuple
        (objective at every iterate (n_iter + 1,), final W (K, D)).
    """
    method = choice(method, "method", sorted(FULL_BATCH_DAMPING))
    lr = positive(lr, "lr")
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
                C = empirical_fisher(
                    per_sample_grads(problem.X, P, problem.y)
                ) + torch.diag(problem.reg.reshape(-1))
            else:
                # a vector: diag F̃
                C = softmax_regression_diag_fisher(problem.X, P, problem.y)
            W -= lr * precondition(W.grad.reshape(-1), C, delta).reshape(
                problem.shape
            )
    with torch.no_grad():
        losses.append(problem.objective(W).item())
    return torch.tensor(losses, dtype=torch.float64), W.detach()


#: Mini-batch rules of chapter 7: how each turns the mini-batch gradient
#: ḡ into a step.
MINIBATCH_RULES = ("sgd", "adam", "lecture", "diag_empirical", "diag_fisher")


def minibatch_run(
    problem: SoftmaxRegression,
    rule: str,
    lr: float,
    seed: int = 0,
    damping: float = 1e-4,
    n_steps: int = 120,
    batch: int = 64,
):
    """Mini-batch training from W = 0 with batches of ``batch`` rows drawn with
    replacement (``seed``).

    ``rule``: "sgd" / "adam" (torch.optim), or the written-out step ΔW = -lr ḡ
    / (c + δ) per component (eq-natgrad with a diagonal C) with c = ḡ² (the
    lecture's ``natural_gradient_step``: the square of the same mini-batch
    gradient), c = (1/B) Σ_b g_b² (the empirical Fisher's diagonal on the
    batch, "diag_empirical") or c = (1/B) Σ_b E_{y~p_b}[g_b²] (the Fisher's
    diagonal, "diag_fisher"); ḡ includes ρ ⊙ W.

    Parameters
    ----------
    problem : lecture_code.models.SoftmaxRegression
        The objective.
    rule : {"sgd", "adam", "lecture", "diag_empirical", "diag_fisher"}
        The update.
    lr : float
        The learning rate > 0.
    seed : int
        Draws the batches.
    damping : float
        δ of the written-out rules.
    n_steps : int
        The number of steps.
    batch : int
        Rows per batch.

    Returns
    -------
    tuple of torch.Tensor
        (full-data objective at every iterate (n_steps + 1,), |ḡ| (n_steps,
        K·D), |ΔW| (n_steps, K·D)).
    """
    rule, lr = choice(rule, "rule", MINIBATCH_RULES), positive(lr, "lr")
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
                    c = softmax_regression_diag_fisher(
                        Xb,
                        Pb,
                        problem.y[rows] if rule == "diag_empirical" else None,
                    )
                W -= lr * precondition(g, c, damping).reshape(problem.shape)
        new = W.detach().clone()
        grads.append(g.abs())
        steps.append((new - path[-1]).abs().reshape(-1))
        path.append(new)
    return (
        problem.objective_along(torch.stack(path)),
        torch.stack(grads),
        torch.stack(steps),
    )


def train_mlp(
    X,
    y,
    method: str,
    lr: float,
    seed: int = 0,
    n_steps: int = 40,
    batch: int = 128,
    damping: float = 1e-2,
    hidden: int = 16,
    record: bool = True,
):
    """Train ``make_mlp(D, hidden, K, seed)`` (in X's dtype) on (X, y) with
    mini-batches drawn with ``seed``.

    ``method``: "sgd" / "adam" (torch.optim), or "kfac": each Linear layer
    (weights with the bias as last column) steps by -lr times the K-FAC
    direction (:func:`lecture_code.natgrad.kfac_direction`, eq-natgrad-kfac),
    with G from one set of labels sampled from the model per batch (a second
    backward pass).

    Parameters
    ----------
    X : torch.Tensor, shape (N, D)
        The inputs.
    y : torch.Tensor, shape (N,)
        The labels 0..K-1.
    method : {"sgd", "adam", "kfac"}
        The update.
    lr : float
        The learning rate > 0.
    seed : int
        The initial weights and the batches.
    n_steps : int
        The number of steps.
    batch : int
        Rows per batch.
    damping : float
        δ of K-FAC.
    hidden : int
        Width of the hidden layer.
    record : bool
        Record the loss after every step.

    Returns
    -------
    torch.Tensor
        The full-data training loss at every step (n_steps + 1,) if
        ``record``, else only the final loss (1,).
    """
    method = choice(method, "method", ("sgd", "adam", "kfac"))
    lr = positive(lr, "lr")
    X = as_tensor(X, "X", ndim=2)
    default = torch.get_default_dtype()
    # draw the initial weights in X's dtype, whatever the caller's default
    torch.set_default_dtype(X.dtype)
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
            # labels from the model
            y_model = torch.multinomial(
                softmax(logits.detach()), 1, generator=gen
            )[:, 0]
            g_out = torch.autograd.grad(
                ce(logits, y_model, reduction="sum"), [s for _, s in io]
            )
            with torch.no_grad():
                for layer, (a, _), g in zip(layers, io, g_out):
                    A, G = kfac_factors(a, g)
                    d = kfac_direction(
                        torch.cat(
                            [layer.weight.grad, layer.bias.grad[:, None]],
                            dim=1,
                        ),
                        A,
                        G,
                        damping,
                    )
                    layer.weight -= lr * d[:, :-1]
                    layer.bias -= lr * d[:, -1]
        else:
            opt.step()
    with torch.no_grad():
        losses.append(ce(model(X), y).item())
    return torch.tensor(losses, dtype=torch.float64)
