"""Tests for lecture_code.experiments: the learning-rate sweep protocol and
its table."""

import math
import random
import statistics

import pytest

from lecture_code.experiments import (
    Curve,
    Sweep,
    Trial,
    fmt_number,
    lr_sweep,
    markdown_table,
    read_csv,
    read_curves,
    write_csv,
    write_curves,
)


def quadratic(curvatures, n_steps=5, noise=0.0):
    """run(method, lr, seed): |x| after gradient descent on curvature/2 ·
    x², from x = 1 (+ seeded noise)."""
    calls = []

    def run(method, lr, seed):
        calls.append((method, lr, seed))
        x = 1.0
        for _ in range(n_steps):
            x -= lr * curvatures[method] * x
        return abs(x) + noise * random.Random(seed).random()

    return run, calls


def test_best_lr_is_found_and_grid_widened_until_it_is_inside():
    run, _ = quadratic({"A": 1.0, "B": 9.0})
    sweep = lr_sweep(run, {"A": [1 / 9], "B": [1.0]}, seeds=[0, 1, 2])
    for method, best in [("A", 1.0), ("B", 1 / 9)]:
        s = sweep.summary(method)
        assert s.lr == pytest.approx(best)
        grid = sweep.grid(method)
        assert grid[0] < s.lr < grid[-1]  # not at the edge
        assert s.below == pytest.approx(
            sweep.mean(method, best / 3)
        ) and s.above == pytest.approx(sweep.mean(method, best * 3))
    # A started at the single point 1/9: widened on both sides, then upwards
    # until 1 was inside
    assert [round(x, 4) for x in sweep.grid("A")] == [
        0.037,
        0.1111,
        0.3333,
        1.0,
        3.0,
    ]


def test_sensitivity_as_a_power_of_the_ratio_needs_two_points_each_side():
    run, _ = quadratic({"A": 1.0})
    sweep = lr_sweep(
        run, {"A": [1.0]}, seeds=[0], ratio=3**0.5, sensitivity=3.0
    )
    grid = sweep.grid("A")
    i = grid.index(sweep.best("A"))
    assert i >= 2 and len(grid) - 1 - i >= 2
    assert sweep.summary("A").below == pytest.approx(sweep.mean("A", 1 / 3))


def test_widen_false_raises_at_the_edge_and_max_points_bounds_the_search():
    run, _ = quadratic({"A": 1.0})
    with pytest.raises(ValueError, match="edge"):
        lr_sweep(run, {"A": [1 / 9, 1 / 3]}, seeds=[0], widen=False)
    # a loss that keeps falling as lr grows never has an interior best
    with pytest.raises(RuntimeError, match="still at the edge"):
        lr_sweep(
            lambda m, lr, s: 1 / lr, {"A": [1.0]}, seeds=[0], max_points=5
        )


def test_every_seed_runs_at_every_grid_point_and_the_spread_is_over_seeds():
    run, calls = quadratic({"A": 1.0}, noise=0.1)
    seeds = [3, 5, 7, 11, 13]
    sweep = lr_sweep(run, {"A": [1 / 3, 1.0, 3.0]}, seeds=seeds)
    for lr in sweep.grid("A"):
        assert sorted(s for m, x, s in calls if math.isclose(x, lr)) == seeds
    s = sweep.summary("A")
    losses = sweep.losses("A", s.lr)
    assert s.n_seeds == 5 and s.mean == pytest.approx(statistics.fmean(losses))
    assert (
        s.std == pytest.approx(statistics.stdev(losses))
        and s.low == min(losses)
        and s.high == max(losses)
    )
    assert sweep.trial("A", s.lr, 7).loss == pytest.approx(
        0.1 * random.Random(7).random(), abs=1e-15
    )


def test_divergence_is_inf_and_an_all_divergent_grid_widens_down():
    def run(method, lr, seed):
        return float("nan") if lr > 0.5 else abs(lr - 0.3)  # nan: diverged

    sweep = lr_sweep(run, {"A": [3.0, 9.0]}, seeds=[0, 1, 2])
    assert (
        sweep.mean("A", 9.0) == math.inf
        and sweep.losses("A", 3.0) == [math.inf] * 3
    )
    assert (
        sweep.best("A") == pytest.approx(1 / 3)
        and sweep.summary("A").above == math.inf
    )
    # widened down from 3 until the best had a neighbour below
    assert sweep.grid("A")[0] == pytest.approx(1 / 9)
    # the 3η column
    assert markdown_table(sweep).splitlines()[2].split(" | ")[5] == "発散"


def test_curves_round_trip(tmp_path):
    curves = [
        Curve("a", "SGD", 1 / 3, 0, (2.5, 1.0, 0.125)),
        Curve(
            "b", "K-FAC", 1.0, 4, tuple(float(i) ** -0.5 for i in range(1, 13))
        ),
    ]
    write_curves(tmp_path / "c.csv", curves)
    back = read_curves(tmp_path / "c.csv")
    # floats written exactly
    assert back == {("a", "SGD"): curves[0], ("b", "K-FAC"): curves[1]}
    with pytest.raises(TypeError, match="Curve"):
        write_curves(tmp_path / "d.csv", [("a", "SGD")])


def test_costs_and_seconds_per_step():
    sweep = lr_sweep(
        lambda m, lr, s: (abs(1 - lr), {"逆伝播": 2.0}),
        {"A": [1 / 3, 1.0, 3.0]},
        seeds=[0, 1, 2],
        steps=10,
    )
    s = sweep.summary("A")
    assert s.cost == {"逆伝播": 2.0}
    assert s.seconds_per_step is not None and 0 <= s.seconds_per_step < 1e-3
    # the fastest run
    assert s.seconds_per_step == min(t.seconds for t in sweep.trials) / 10
    # no steps given
    assert Sweep(sweep.trials, 3.0, 3.0).summary("A").seconds_per_step is None


def test_markdown_table_has_one_row_per_method_in_japanese():
    run, _ = quadratic({"SGD": 1.0, "Adam": 9.0}, noise=1e-3)
    sweep = lr_sweep(
        run, {"SGD": [1.0], "Adam": [1 / 9]}, seeds=[0, 1, 2], steps=5
    )
    table = markdown_table(sweep, loss="5 ステップ後の距離")
    lines = table.splitlines()
    assert len(lines) == 4 and lines[1].startswith("| --- |")
    assert (
        "最良の η" in lines[0]
        and "5 ステップ後の距離（平均 ± 標準偏差）" in lines[0]
        and "η/3 では" in lines[0]
    )
    assert lines[2].startswith("| SGD | 1 |") and "（3 シード）" in lines[2]
    assert lines[3].startswith("| Adam | 0.111 |")
    assert all(line.count("|") == lines[0].count("|") for line in lines)


def test_fmt_number():
    assert [
        fmt_number(x)
        for x in (0.0611, 4.53e-6, 1.0, 0.0, float("inf"), 123456.0)
    ] == ["0.0611", "4.53e-6", "1", "0", "発散", "1.23e5"]


def test_csv_round_trip(tmp_path):
    run, _ = quadratic({"A": 1.0, "B": 4.0}, noise=0.01)
    sweeps = {
        "one": lr_sweep(
            run,
            {"A": [1.0], "B": [1 / 3]},
            seeds=[0, 1, 2],
            steps={"A": 5, "B": 5},
        ),
        "two": lr_sweep(
            lambda m, lr, s: (abs(1 - lr), {"積": 3.0}),
            {"C": [1.0]},
            seeds=[0, 1, 2],
        ),
    }
    path = tmp_path / "sweep.csv"
    write_csv(path, sweeps)
    back = read_csv(path)
    assert list(back) == ["one", "two"]
    for name in sweeps:
        a, b = sweeps[name], back[name]
        assert [
            (t.method, t.lr, t.seed, t.loss, t.cost) for t in a.trials
        ] == [(t.method, t.lr, t.seed, t.loss, t.cost) for t in b.trials]
        assert a.ratio == b.ratio and a.steps == b.steps
        assert (
            markdown_table(a).split("1 ステップの時間")[0]
            == markdown_table(b).split("1 ステップの時間")[0]
        )


# fmt: off
@pytest.mark.parametrize(
    "kwargs, exc, match",
    [
        (dict(grids={"A": [1.0, 2.0]}), ValueError, "not on a log grid"),
        (dict(grids={"A": [0.0]}), ValueError, "positive"),
        (dict(grids={"A": 1.0}), TypeError, "list of learning rates"),
        (dict(grids={}), TypeError, "non-empty mapping"),
        (dict(grids={"A": [1.0]}, ratio=1.0), ValueError, "ratio must be"),
        (dict(grids={"A": [1.0]}, sensitivity=2.0), ValueError, "power"),
        (dict(grids={"A": [1.0]}, seeds=[0, 0]), ValueError, "distinct"),
        (dict(grids={"A": [1.0]}, run=lambda m, lr, s: "x"), TypeError,
         "must return a number"),
        (dict(grids={"A": [1.0]}, run="f"), TypeError, "run must be"),
    ],
)
# fmt: on
def test_bad_input_raises(kwargs, exc, match):
    kwargs = {"run": lambda m, lr, s: abs(1 - lr), **kwargs}
    with pytest.raises(exc, match=match):
        lr_sweep(kwargs.pop("run"), kwargs.pop("grids"), **kwargs)


def test_summary_and_lookups_raise_clearly():
    sweep = Sweep(
        [Trial("A", 1.0, 0, 0.5, 0.0), Trial("A", 3.0, 0, 0.1, 0.0)], 3.0, 3.0
    )
    with pytest.raises(ValueError, match="edge of the grid"):
        sweep.summary("A")
    with pytest.raises(ValueError, match="not in this sweep"):
        sweep.grid("B")
    with pytest.raises(ValueError, match="was not tried"):
        sweep.losses("A", 9.0)
    with pytest.raises(FileNotFoundError):
        read_csv("/nonexistent/sweep.csv")
