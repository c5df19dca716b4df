"""The distillation experiment of chapter 8: a teacher, its soft targets and
small students trained on them.

Book equations (chapter 8, 温度パラメータ):

- (eq-temp-distill) the students' loss
  w τ² KL(softmax(v/τ) ‖ softmax(z/τ)) + (1 − w) CE(z, y)
  (:func:`lecture_code.temperature.distillation_loss`);
- the teacher's soft targets softmax(v/τ), averaged per true class
  (:func:`class_mean_targets`), show which digits resemble each other.

:func:`distillation_experiment` trains every student of the chapter's table
(labels only, the teacher at five temperatures and the two controls at
τ = 10, each with five seeds and four Adam step sizes) at once: the students'
parameters are stacked and run through ``torch.func.vmap``, and one
``torch.optim.Adam`` holds one parameter group per step size. The step size of
each setting is chosen on held-out images. Tests check the function against
students trained one at a time.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch.func import functional_call, stack_module_state, vmap

from .models import make_mlp
from .softmax import softmax
from .temperature import (
    distillation_loss,
    label_smoothing_logits,
    shuffle_non_target,
)
from .validate import (
    as_tensor,
    choice,
    in_interval,
    integer,
    positive,
    positive_int,
)
from .validate import labels as check_labels

#: The settings of the chapter's table: (kind, τ); "labels" has no τ.
KINDS = ("labels", "teacher", "shuffled", "smoothed")


def train_teacher(
    X, y, hidden: int = 64, steps: int = 150, lr: float = 3e-2, seed: int = 0
) -> torch.nn.Module:
    """Train ``make_mlp(D, hidden, K, seed)`` on (X, y) with full-batch
    ``torch.optim.Adam`` and the ordinary cross-entropy (τ = 1).

    Parameters
    ----------
    X : torch.Tensor, shape (N, D)
        Inputs.
    y : torch.Tensor, shape (N,)
        Labels 0..K-1 (K = y.max() + 1).
    hidden : int
        Width of the hidden layer.
    steps : int
        Number of Adam steps on the whole batch.
    lr : float
        Adam's step size.
    seed : int
        Seed of the initial weights.

    Returns
    -------
    torch.nn.Sequential
        The trained network (logits of shape (N, K) for inputs (N, D)).
    """
    X = as_tensor(X, "X", ndim=2)
    y = check_labels(y, len(X), None, "y")  # K is read from y
    steps, lr = positive_int(steps, "steps"), positive(lr, "lr")
    model = make_mlp(X.shape[1], hidden, int(y.max()) + 1, seed=seed)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        optimizer.zero_grad()
        F.cross_entropy(model(X), y).backward()
        optimizer.step()
    return model


def class_mean_targets(
    logits, labels, tau: float, n_classes: int | None = None
) -> torch.Tensor:
    """The soft targets softmax(v/τ) averaged over the images of each true
    class (eq-temp-distill).

    Parameters
    ----------
    logits : torch.Tensor, shape (N, K)
        Teacher logits v.
    labels : torch.Tensor, shape (N,)
        True classes; every class 0..n_classes-1 must occur.
    tau : float
        Temperature τ > 0.
    n_classes : int, optional
        Number of classes (default K).

    Returns
    -------
    torch.Tensor, shape (n_classes, K)
        Row c is the mean soft target of the images of class c.
    """
    logits = as_tensor(logits, "logits", ndim=2)
    tau = positive(tau, "tau")
    n = logits.shape[1] if n_classes is None else n_classes
    n = positive_int(n, "n_classes")
    labels = check_labels(labels, len(logits), n, "labels")
    missing = [c for c in range(n) if not bool((labels == c).any())]
    if missing:
        raise ValueError(f"labels has no image of class(es) {missing}")
    P = softmax(logits, tau)  # (N, K)
    return torch.stack([P[labels == c].mean(0) for c in range(n)])


def student_targets(kind: str, v, y, tau, seed: int = 0) -> torch.Tensor:
    """The "teacher" logits given to one student; every kind uses the same
    loss (eq-temp-distill).

    Parameters
    ----------
    kind : str
        "labels" or "teacher" (v itself), "shuffled" (the non-target logits
        permuted per image by
        :func:`~lecture_code.temperature.shuffle_non_target` with the
        generator seeded 1000 + seed) or "smoothed" (label smoothing
        with the teacher's mean true-class mass at τ).
    v : torch.Tensor, shape (N, K)
        Teacher logits of the student's images.
    y : torch.Tensor, shape (N,)
        Their labels.
    tau : float or None
        Temperature of the smoothed control.
    seed : int
        The student's seed.

    Returns
    -------
    torch.Tensor, shape (N, K)
        The logits the student is trained towards.
    """
    kind = choice(kind, "kind", KINDS)
    v = as_tensor(v, "v", ndim=2)
    y = check_labels(y, len(v), v.shape[1], "y")
    if kind in ("shuffled", "smoothed"):
        tau = positive(tau, "tau")
    if kind == "shuffled":
        gen = torch.Generator().manual_seed(1000 + seed)
        return shuffle_non_target(v, y, gen)
    if kind == "smoothed":
        mass = softmax(v, tau).gather(1, y[:, None]).mean().item()
        return label_smoothing_logits(y, v.shape[1], mass, tau)
    return v


def _held_out(X, y, D: int, K: int, which: str):
    """Held-out images (N, D) and their labels 0..K-1, checked."""
    X = as_tensor(X, f"X_{which}", ndim=2)
    if X.shape[1] != D:
        raise ValueError(
            f"X_{which} must have D = {D} columns like X_lab, got {X.shape[1]}"
        )
    return X, check_labels(y, len(X), K, f"y_{which}")


@dataclass
class DistillationResult:
    """What :func:`distillation_experiment` measured (eq-temp-distill).

    Attributes
    ----------
    settings : list of tuple
        The (kind, τ) in table order.
    subset : dict
        Seed -> indices of the student's labelled images.
    val_by_lr : dict
        Setting -> held-out accuracy per step size (mean over seeds).
    chosen : dict
        Setting -> (step size, row indices of its seeds).
    test_acc : dict
        Setting -> test accuracy per seed at the chosen step size.
    test_ce : dict
        Setting -> test cross-entropy per seed at the chosen step size.
    """

    settings: list
    subset: dict
    val_by_lr: dict
    chosen: dict
    test_acc: dict
    test_ce: dict


def distillation_experiment(
    X_lab,
    y_lab,
    v_lab,
    X_val,
    y_val,
    X_test,
    y_test,
    taus=(1, 2, 5, 10, 20),
    seeds=range(5),
    n_labelled: int = 50,
    w_soft: float = 0.9,
    tau_control: float = 10,
    lrs=(0.01, 0.02, 0.05, 0.1),
    steps: int = 100,
    hidden: int = 16,
) -> DistillationResult:
    """Train every student of chapter 8's table with (eq-temp-distill) and
    pick each setting's Adam step size on held-out images.

    Student s sees ``n_labelled`` images drawn with seed s and starts from
    ``make_mlp(D, hidden, K, seed=100 + s)`` in every setting; "labels" is
    trained with w = 0 (plain cross-entropy), all others with ``w_soft``.

    Parameters
    ----------
    X_lab, y_lab : torch.Tensor, shapes (N, D) and (N,)
        The teacher's labelled images, from which the students draw theirs.
    v_lab : torch.Tensor, shape (N, K)
        Teacher logits of those images.
    X_val, y_val : torch.Tensor
        Held-out images that choose the step size.
    X_test, y_test : torch.Tensor
        Test images.
    taus : sequence of float
        Distillation temperatures of the "teacher" settings.
    seeds : sequence of int
        Student seeds.
    n_labelled : int
        Images per student.
    w_soft : float
        Weight w of the soft term.
    tau_control : float
        Temperature of the "shuffled" and "smoothed" controls.
    lrs : sequence of float
        Adam step sizes tried for every setting.
    steps : int
        Full-batch Adam steps.
    hidden : int
        Width of the students' hidden layer.

    Returns
    -------
    DistillationResult
        Every setting's accuracies and chosen step size.
    """
    X_lab = as_tensor(X_lab, "X_lab", ndim=2)
    v_lab = as_tensor(v_lab, "v_lab", ndim=2)
    D, K = X_lab.shape[1], v_lab.shape[1]
    y_lab = check_labels(y_lab, len(X_lab), K, "y_lab")
    if len(v_lab) != len(X_lab):
        raise ValueError(
            f"v_lab must have one row per image of X_lab ({len(X_lab)}), "
            f"got {len(v_lab)}"
        )
    X_val, y_val = _held_out(X_val, y_val, D, K, "val")
    X_test, y_test = _held_out(X_test, y_test, D, K, "test")
    # the temperatures are checked but kept as given: they name the settings
    taus = [t for t in taus if positive(t, "taus")]
    positive(tau_control, "tau_control")
    seeds = [integer(s, "seeds", minimum=0) for s in seeds]
    lrs = [positive(lr, "lrs") for lr in lrs]
    steps = positive_int(steps, "steps")
    n_labelled = integer(n_labelled, "n_labelled", 1, len(X_lab))
    w_soft = in_interval(w_soft, "w_soft", 0.0, 1.0)
    hidden = positive_int(hidden, "hidden")
    subset = {
        s: torch.randperm(
            len(y_lab), generator=torch.Generator().manual_seed(s)
        )[:n_labelled]
        for s in seeds
    }
    settings = (
        [("labels", None)]
        + [("teacher", t) for t in taus]
        + [("shuffled", tau_control), ("smoothed", tau_control)]
    )
    runs = [(setting, s) for setting in settings for s in seeds]
    G = len(lrs)
    # (G·R, n, D), (G·R, n), (G·R, n, K): R runs, repeated per step size
    Xs = torch.stack([X_lab[subset[s]] for _, s in runs]).repeat(G, 1, 1)
    ys = torch.stack([y_lab[subset[s]] for _, s in runs]).repeat(G, 1)
    vs = (
        torch.stack(
            [
                student_targets(
                    kind, v_lab[subset[s]], y_lab[subset[s]], tau, s
                )
                for (kind, tau), s in runs
            ]
        )
        .float()
        .repeat(G, 1, 1)
    )
    # setting -> its rows; (w, τ) -> the rows trained with that loss
    rows_of, loss_groups = {}, {}
    for g in range(G):
        for i, ((kind, tau), _) in enumerate(runs):
            rows_of.setdefault((kind, tau), []).append(g * len(runs) + i)
            key = (0.0, 1.0) if kind == "labels" else (w_soft, tau)
            loss_groups.setdefault(key, []).append(g * len(runs) + i)
    # one stack of students per step size, the same starts in each
    stacks = [
        stack_module_state(
            [make_mlp(D, hidden, K, seed=100 + s) for _, s in runs]
        )[0]
        for _ in lrs
    ]
    skeleton = make_mlp(D, hidden, K).to("meta")
    forward = vmap(lambda p, x: functional_call(skeleton, p, (x,)))
    optimizer = torch.optim.Adam(
        [
            {"params": list(stack.values()), "lr": lr}
            for stack, lr in zip(stacks, lrs)
        ]
    )

    def all_students():  # every student's parameters along dim 0
        return {
            name: torch.cat([stack[name] for stack in stacks])
            for name in stacks[0]
        }

    for _ in range(steps):
        out = forward(all_students(), Xs)  # (G·R, n, K)
        loss = 0.0
        for (w, tau), ix in loss_groups.items():
            o, y, v = (
                out[ix].reshape(-1, K),
                ys[ix].reshape(-1),
                vs[ix].reshape(-1, K),
            )
            # Σ of each student's mean loss
            loss = loss + len(ix) * distillation_loss(o, v, y, tau, w)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    n = G * len(runs)
    with torch.no_grad():
        val_logits = forward(all_students(), X_val.expand(n, -1, -1))
        test_logits = forward(
            all_students(), X_test.expand(n, -1, -1)
        ).double()
    val_acc = (val_logits.argmax(-1) == y_val).double().mean(-1)  # (n,)
    test_acc = (test_logits.argmax(-1) == y_test).double().mean(-1)  # (n,)
    test_ce = F.cross_entropy(
        test_logits.transpose(1, 2), y_test.expand(n, -1), reduction="none"
    ).mean(-1)  # (n,)
    chosen, val_by_lr = {}, {}
    for setting in settings:
        # rows of this setting, indexed (step size, seed)
        ix = torch.tensor(rows_of[setting]).reshape(G, len(seeds))
        val_by_lr[setting] = val_acc[ix].mean(1)  # (G,)
        best = int(val_by_lr[setting].argmax())
        chosen[setting] = (lrs[best], ix[best])
    return DistillationResult(
        settings=settings,
        subset=subset,
        val_by_lr=val_by_lr,
        chosen=chosen,
        test_acc={st: test_acc[ix] for st, (_, ix) in chosen.items()},
        test_ce={st: test_ce[ix] for st, (_, ix) in chosen.items()},
    )
