"""lecture_code.distillation: the teacher, class-mean soft targets and the
vmap distillation experiment against plain one-student-at-a-time code."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from lecture_code.distillation import (
    class_mean_targets,
    distillation_experiment,
    student_targets,
    train_teacher,
)
from lecture_code.models import make_mlp
from lecture_code.softmax import softmax
from lecture_code.temperature import distillation_loss

DT = torch.float64


def toy(n=90, d=6, k=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randn(n, d, generator=g)
    y = torch.arange(n) % k
    X[torch.arange(n), y] += 2.0  # learnable: class k lifts feature k
    return X, y


def test_train_teacher_is_torch_adam_on_the_full_batch():
    X, y = toy()
    ours = train_teacher(X, y, hidden=8, steps=20, lr=0.05, seed=3)
    ref = make_mlp(6, 8, 4, seed=3)
    opt = torch.optim.Adam(ref.parameters(), lr=0.05)
    for _ in range(20):
        opt.zero_grad()
        F.cross_entropy(ref(X), y).backward()
        opt.step()
    with torch.no_grad():
        assert torch.equal(ours(X), ref(X))
        # it learned something
        assert (ours(X).argmax(-1) == y).double().mean() > 0.8


def test_class_mean_targets_is_the_mean_soft_target_per_class():
    g = torch.Generator().manual_seed(0)
    v = 3 * torch.randn(40, 5, generator=g, dtype=DT)
    y = torch.arange(40) % 5
    M = class_mean_targets(v, y, 2.0)
    assert M.shape == (5, 5)
    torch.testing.assert_close(M.sum(1), torch.ones(5, dtype=DT))
    for c in range(5):
        rows = [i for i in range(40) if int(y[i]) == c]
        ref = sum(F.softmax(v[i] / 2.0, dim=-1) for i in rows) / len(rows)
        torch.testing.assert_close(M[c], ref, rtol=0, atol=1e-15)
    with pytest.raises(ValueError, match="no image of class"):
        class_mean_targets(v[y != 3], y[y != 3], 1.0)
    with pytest.raises(ValueError, match="logits"):
        class_mean_targets(v[0], y, 1.0)


def test_student_targets_kinds():
    g = torch.Generator().manual_seed(1)
    v = 4 * torch.randn(12, 5, generator=g, dtype=DT)
    y = torch.arange(12) % 5
    v[torch.arange(12), y] += 8.0  # a teacher that is mostly right
    assert torch.equal(student_targets("teacher", v, y, 10), v)
    shuffled = student_targets("shuffled", v, y, 10, seed=2)
    # the true-class logit stays, the others are permuted per image
    assert torch.equal(shuffled.gather(1, y[:, None]), v.gather(1, y[:, None]))
    assert torch.equal(shuffled.sort(-1).values, v.sort(-1).values)
    smoothed = student_targets("smoothed", v, y, 3.0)
    mass = softmax(v, 3.0).gather(1, y[:, None]).mean()
    # at τ the smoothed target puts the teacher's mean mass on the label
    torch.testing.assert_close(
        softmax(smoothed, 3.0).gather(1, y[:, None]).squeeze(1),
        mass.expand(12),
    )
    with pytest.raises(ValueError, match="kind"):
        student_targets("noise", v, y, 1.0)


def one_student(X, y, v, s, w, tau, lr, steps, sub, hidden=8):
    """One student trained alone: the reference for the vmap experiment."""
    model = make_mlp(X.shape[1], hidden, v.shape[1], seed=100 + s)
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    for _ in range(steps):
        opt.zero_grad()
        distillation_loss(model(X[sub]), v, y[sub], tau, w).backward()
        opt.step()
    return model


def test_experiment_matches_students_trained_one_at_a_time():
    X, y = toy(n=120)
    teacher = train_teacher(X[:80], y[:80], hidden=8, steps=30, lr=0.05)
    with torch.no_grad():
        v_lab = teacher(X[:60]).double()
    X_lab, y_lab = X[:60], y[:60]
    X_val, y_val, X_test, y_test = X[60:90], y[60:90], X[90:], y[90:]
    lrs, seeds = (0.01, 0.05), (0, 1)
    res = distillation_experiment(
        X_lab, y_lab, v_lab, X_val, y_val, X_test, y_test,
        taus=(2, 5), seeds=seeds, n_labelled=20, w_soft=0.9,
        tau_control=5, lrs=lrs, steps=15, hidden=8,
    )  # fmt: skip
    assert res.settings == [
        ("labels", None),
        ("teacher", 2),
        ("teacher", 5),
        ("shuffled", 5),
        ("smoothed", 5),
    ]
    for setting in res.settings:
        kind, tau = setting
        w, t = (0.0, 1.0) if kind == "labels" else (0.9, tau)
        val, test, ce = [], [], []
        for lr in lrs:
            accs = []
            for s in seeds:
                # the subset drawn independently of the library
                gen = torch.Generator().manual_seed(s)
                sub = torch.randperm(len(y_lab), generator=gen)[:20]
                assert torch.equal(res.subset[s], sub)
                v = student_targets(kind, v_lab[sub], y_lab[sub], tau, s)
                m = one_student(X_lab, y_lab, v.float(), s, w, t, lr, 15, sub)
                with torch.no_grad():
                    accs.append((m(X_val).argmax(-1) == y_val).double().mean())
                    if lr == res.chosen[setting][0]:
                        out = m(X_test).double()
                        test.append((out.argmax(-1) == y_test).double().mean())
                        ce.append(F.cross_entropy(out, y_test))
            val.append(torch.stack(accs).mean())
        torch.testing.assert_close(res.val_by_lr[setting], torch.stack(val))
        assert res.chosen[setting][0] == lrs[int(torch.stack(val).argmax())]
        torch.testing.assert_close(res.test_acc[setting], torch.stack(test))
        torch.testing.assert_close(
            res.test_ce[setting], torch.stack(ce), rtol=0, atol=1e-5
        )


def test_experiment_validates():
    X, y = toy()
    v = torch.zeros(90, 4, dtype=DT)
    with pytest.raises(ValueError, match="steps"):
        distillation_experiment(X, y, v, X, y, X, y, steps=0)
    with pytest.raises(ValueError, match="lrs"):
        distillation_experiment(X, y, v, X, y, X, y, lrs=(0.1, -1.0))
    with pytest.raises(ValueError, match="X_lab"):
        distillation_experiment(X[0], y, v, X, y, X, y)


X_T, Y_T = toy()
V_T = torch.zeros(90, 4, dtype=DT)


def experiment(**changes):
    """distillation_experiment on the toy data with some arguments changed."""
    args = dict(
        X_lab=X_T, y_lab=Y_T, v_lab=V_T, X_val=X_T, y_val=Y_T,
        X_test=X_T, y_test=Y_T,
    )  # fmt: skip
    args.update(changes)
    return distillation_experiment(**args)


# fmt: off
@pytest.mark.parametrize(
    "call, exc, match",
    [
        (lambda: experiment(taus=(2, -1)), ValueError, "taus must be"),
        (lambda: experiment(tau_control=0), ValueError, "tau_control must"),
        (lambda: experiment(seeds=(0, 1.5)), TypeError, "seeds must be"),
        (lambda: experiment(seeds=(-1,)), ValueError, "seeds must be"),
        (lambda: experiment(X_val=X_T[:, :3]), ValueError, "X_val must have"),
        (lambda: experiment(X_test=X_T[0]), ValueError, "X_test must have"),
        (lambda: experiment(y_test=Y_T[:5]), ValueError, "y_test must have"),
        (lambda: experiment(y_lab=Y_T + 1), ValueError, "y_lab must lie"),
        (lambda: experiment(y_lab=Y_T.double()), TypeError, "y_lab must"),
        (lambda: experiment(v_lab=V_T[:10]), ValueError, "v_lab must have"),
        (lambda: experiment(n_labelled=91), ValueError, "n_labelled must"),
        (lambda: experiment(w_soft=1.5), ValueError, "w_soft must"),
        (lambda: experiment(hidden=0), ValueError, "hidden must"),
        (lambda: class_mean_targets(V_T, Y_T, -1.0), ValueError, "tau must"),
        (lambda: class_mean_targets(V_T, Y_T[:5], 1.0),
         ValueError, "labels must have"),
        (lambda: student_targets("smoothed", V_T, Y_T, None),
         TypeError, "tau must"),
        (lambda: student_targets("shuffled", V_T, Y_T, -2.0),
         ValueError, "tau must"),
        (lambda: student_targets("teacher", V_T, Y_T.tolist()[:3], 1.0),
         ValueError, "y must have"),
        (lambda: train_teacher(X_T, Y_T.double()), TypeError, "y must hold"),
        (lambda: train_teacher(X_T, Y_T[:5]), ValueError, "y must have"),
        (lambda: train_teacher(X_T, Y_T - 1), ValueError, "y must be class"),
    ],
)
# fmt: on
def test_bad_input_raises(call, exc, match):
    with pytest.raises(exc, match=match):
        call()


def test_train_teacher_takes_a_list_of_labels():
    ref = train_teacher(X_T, Y_T, hidden=4, steps=3)
    ours = train_teacher(X_T, Y_T.tolist(), hidden=4, steps=3)
    with torch.no_grad():
        assert torch.equal(ours(X_T), ref(X_T))
