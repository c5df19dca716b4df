"""lecture_code.gradient_estimators: the chapter-10 comparison table."""

from __future__ import annotations

import math

import pytest
import torch

from lecture_code import discrete
from lecture_code.gradient_estimators import (
    DETERMINISTIC,
    compare_estimators,
    estimator_table,
    make_estimators,
)

DT = torch.float64
Z = torch.tensor([2.0, 1.0, 0.1], dtype=DT)
T = torch.tensor([0.2, 0.5, 0.3], dtype=DT)


def f(y):  # (N, 3) -> (N,)
    return ((y - T) ** 2).sum(-1)


def test_estimators_are_the_discrete_module_calls():
    est = make_estimators(
        Z, f, 32, taus_gs=(0.5, 2.0), taus_st=(1.0,), batch=8
    )
    assert list(est) == [
        "REINFORCE",
        "REINFORCE＋ベースライン（残り全部）",
        "REINFORCE＋ベースライン（8 個のバッチ）",
        "Gumbel-softmax τ=0.5",
        "Gumbel-softmax τ=2",
        "ST-Gumbel τ=1",
    ]

    def g():
        return torch.Generator().manual_seed(7)

    refs = [
        discrete.score_function_grads(Z, f, 32, generator=g()),
        discrete.score_function_grads(Z, f, 32, baseline=True, generator=g()),
        discrete.score_function_grads(
            Z, f, 32, baseline=True, group=8, generator=g()
        ),
        discrete.relaxed_grads(Z, f, 0.5, 32, generator=g()),
        discrete.relaxed_grads(Z, f, 2.0, 32, generator=g()),
        discrete.relaxed_grads(Z, f, 1.0, 32, hard=True, generator=g()),
    ]
    for (name, e), ref in zip(est.items(), refs):
        assert torch.equal(e(g()), ref), name


def test_compare_estimators_reinforce_is_unbiased_relaxation_is_not():
    res = compare_estimators(Z, f, 20_000, taus_gs=(1.0,), seeds=range(2))
    assert list(res)[-1] == DETERMINISTIC and len(res[DETERMINISTIC]) == 1
    exact = discrete.exact_gradient(Z, f)
    norm = float(torch.linalg.norm(exact))
    for r in res["REINFORCE"]:
        assert r["rel_bias"] * norm < 4 * r["se"]
    for r in res["Gumbel-softmax τ=1"]:
        assert r["rel_bias"] * norm > 4 * r["se"]
    # the seeds' summaries are summarize_estimates of the estimator's output
    again = discrete.summarize_estimates(
        discrete.score_function_grads(
            Z, f, 20_000, generator=torch.Generator().manual_seed(1)
        ),
        exact,
        16,
    )
    assert res["REINFORCE"][1] == again
    det = discrete.deterministic_ste_grad(Z, f)
    assert res[DETERMINISTIC][0]["norm_ratio"] == pytest.approx(
        float(torch.linalg.norm(det)) / norm
    )


def test_one_batch_for_the_baseline_groups_and_the_batch_cos():
    res = compare_estimators(Z, f, 40, seeds=[3], batch=8)
    assert "REINFORCE＋ベースライン（8 個のバッチ）" in res
    G = discrete.score_function_grads(
        Z, f, 40, generator=torch.Generator().manual_seed(3)
    )
    exact = discrete.exact_gradient(Z, f)
    assert res["REINFORCE"][0] == discrete.summarize_estimates(G, exact, 8)


def test_estimator_table_formats_mean_and_sd():
    runs = [
        {"rel_bias": 0.05, "cos": 0.9, "norm_ratio": 1.0, "rel_var": 10.0,
         "batch_cos": 0.5},
        {"rel_bias": 0.07, "cos": 0.7, "norm_ratio": 3.0, "rel_var": 30.0,
         "batch_cos": 0.3},
    ]  # fmt: skip
    det = [dict(runs[0], rel_bias=3.74)]
    lines = estimator_table({"A": runs, DETERMINISTIC: det}).split("\n")
    assert len(lines) == 4 and lines[1] == "|---|---|---|---|---|---|"
    assert lines[0].endswith("| 16 個の平均の cos |")
    sd = math.sqrt(((10 - 20) ** 2 + (30 - 20) ** 2) / 2)  # population sd
    assert lines[2] == (
        f"| A | 6.0% ± 1.0% | 0.800 ± 0.100 | 2.00 ± 1.00 | 20 ± {sd:.2g} "
        "| 0.400 ± 0.100 |"
    )
    assert lines[3] == (
        f"| {DETERMINISTIC} | 374% | 0.900 | 1.00 | 0 | 0.500 |"
    )
    header = estimator_table({"A": runs}, batch=8).split("\n")[0]
    assert header.endswith("| 8 個の平均の cos |")


# fmt: off
@pytest.mark.parametrize(("kwargs", "error", "message"), [
    ({"n": 0}, ValueError, "n must be an integer >= 2, got 0"),
    ({"n": 2.5}, TypeError, "n must be an integer, got float"),
    ({"batch": 0}, ValueError,
     r"batch must be an integer in \[2, 32\], got 0"),
    ({"batch": 64}, ValueError,
     r"batch must be an integer in \[2, 32\], got 64"),
    ({"batch": 5}, ValueError, "batch must divide n=32, got 5"),
    ({"taus_gs": (1.0, -1.0)}, ValueError,
     "taus_gs must be a finite number > 0, got -1.0"),
    ({"taus_st": (0.0,)}, ValueError,
     "taus_st must be a finite number > 0, got 0.0"),
    ({"taus_gs": 0.5}, TypeError, "taus_gs must be a sequence of τ > 0"),
    ({"seeds": []}, ValueError, "seeds must hold at least one seed"),
    ({"seeds": [-1]}, ValueError, "seeds must be an integer >= 0, got -1"),
    ({"seeds": 3}, TypeError, "seeds must be a sequence of integers >= 0"),
    ({"f": "f"}, TypeError, "f must be a function"),
    ({"z": [[1.0, 2.0]]}, ValueError, "z must have 1 dimension"),
])
# fmt: on
def test_compare_estimators_validates_up_front(kwargs, error, message):
    args = {"z": Z, "f": f, "n": 32, "seeds": [0]} | kwargs
    z, fn, n = args.pop("z"), args.pop("f"), args.pop("n")
    with pytest.raises(error, match=message):
        compare_estimators(z, fn, n, **args)


def test_make_estimators_fails_before_any_estimator_runs():
    # a negative τ is refused when the estimators are built, not when run
    with pytest.raises(ValueError, match="taus_st must be a finite number"):
        make_estimators(Z, f, 32, taus_st=(-1.0,))
