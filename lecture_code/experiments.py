"""One protocol for every optimizer comparison in the book (issue 14).

"Method A beats method B" means something only when each method runs at its own
best step size, over several seeds, and with the cost of a step on the table.
:func:`lr_sweep` does exactly that:

1. every method gets its own learning-rate grid on a log scale (a geometric
grid with ratio ``ratio``, e.g. 1/9, 1/3, 1, 3 for ratio 3);
2. every grid point runs with every seed; the best step size is the one with
the lowest mean final loss over the seeds;
3. if the best point sits at (or too close to) the edge of the grid, the grid
is widened on that side and the sweep continues, until the points at
best / ``sensitivity`` and best × ``sensitivity`` are on the grid; if that
needs more than ``max_points`` points it raises;
4. every run is timed, and a run may report further costs per step (backward
passes, matrix–vector products).

The result (:class:`Sweep`) is a tidy list of :class:`Trial` rows (method, lr,
seed, loss, seconds, costs); :meth:`Sweep.summary` gives each method at its
best step size with the spread over seeds and the loss at best / sensitivity
and best × sensitivity (how fast it degrades off the best), and
:func:`markdown_table` renders those summaries as the Japanese table a chapter
shows. :func:`write_csv` / :func:`read_csv` store sweeps that are too slow for
a chapter, so the chapter can read and show them (a test recomputes a sample).

A run that diverges may return ``inf`` or ``nan``; both are recorded as ``inf``
(「発散」).

Example
-------
>>> def run(method, lr, seed):  # a quadratic: the best lr is 1/curvature
...     curvature = {"A": 1.0, "B": 4.0}[method]
...     x = 1.0
...     for _ in range(5):
...         x -= lr * curvature * x
...     return abs(x)
>>> sweep = lr_sweep(run, {"A": [1 / 3, 1.0], "B": [1 / 3]}, seeds=[0])
>>> [round(sweep.summary(m).lr, 3) for m in sweep.methods]
[1.0, 0.333]
>>> # widened on both sides of the best point
>>> [round(lr, 3) for lr in sweep.grid("B")]
[0.111, 0.333, 1.0]
"""

from __future__ import annotations

import csv
import math
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from .validate import function, integer, number

Run = Callable[[str, float, int], "float | tuple[float, Mapping[str, float]]"]

_REL = 1e-6  # tolerance for "this lr lies on the grid's lattice"


@dataclass(frozen=True)
class Trial:
    """One run: ``method`` at learning rate ``lr`` with ``seed``.

    Attributes
    ----------
    method : str
        The method's label.
    lr : float
        The learning rate.
    seed : int
        The seed.
    loss : float
        The final loss the run returned (``inf`` if it diverged).
    seconds : float
        Its wall time.
    cost : mapping str -> float
        The per-step costs it reported (e.g. ``{"逆伝播": 2.0}``).
    """

    method: str
    lr: float
    seed: int
    loss: float
    seconds: float
    cost: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Summary:
    """A method at its best learning rate.

    Attributes
    ----------
    method : str
        The method's label.
    lr : float
        The best learning rate.
    mean, std : float
        Mean and sample standard deviation (0 for one seed) of the final loss
        over the seeds at ``lr``.
    low, high : float
        The smallest and largest loss at ``lr``.
    n_seeds : int
        The number of seeds.
    below, above : float
        The mean losses at lr / sensitivity and lr × sensitivity.
    sensitivity : float
        The factor of ``below`` and ``above``.
    grid : tuple of float
        The smallest and largest lr tried.
    n_points : int
        How many learning rates were tried.
    seconds_per_step : float or None
        The wall time of a step in the method's fastest finite run (on a shared
        machine the one least slowed by other processes); None without
        ``steps``.
    cost : mapping str -> float
        The mean reported per-step costs at ``lr``.
    """

    method: str
    lr: float
    mean: float
    std: float
    low: float
    high: float
    n_seeds: int
    below: float
    above: float
    sensitivity: float
    grid: tuple[float, float]
    n_points: int
    seconds_per_step: float | None
    cost: Mapping[str, float]


class Sweep:
    """The tidy result of :func:`lr_sweep`: trials plus what is needed to read
    them.

    Parameters
    ----------
    trials : sequence of Trial
        Every run of the sweep.
    ratio : float
        The grid's ratio between neighbouring learning rates.
    sensitivity : float
        The factor off the best lr at which :meth:`summary` reports the loss; a
        power of ``ratio``.
    steps : mapping method -> int, optional
        Steps per run, to turn a run's wall time into seconds per step.
    """

    def __init__(
        self,
        trials: Sequence[Trial],
        ratio: float,
        sensitivity: float,
        steps: Mapping[str, int] | None = None,
    ):
        _check_ratio(ratio, sensitivity)
        self.trials = tuple(trials)
        self.ratio = float(ratio)
        self.sensitivity = float(sensitivity)
        self.steps = dict(steps or {})

    @property
    def methods(self) -> list[str]:
        """The methods in the order they were first run."""
        return list(dict.fromkeys(t.method for t in self.trials))

    def _of(self, method: str) -> list[Trial]:
        rows = [t for t in self.trials if t.method == method]
        if not rows:
            raise ValueError(
                f"method {method!r} is not in this sweep; it has "
                f"{self.methods}"
            )
        return rows

    def grid(self, method: str) -> list[float]:
        """The learning rates tried for ``method``, ascending."""
        return sorted({t.lr for t in self._of(method)})

    def losses(self, method: str, lr: float) -> list[float]:
        """Final losses of ``method`` at ``lr`` (matched to the grid's
        lattice), ordered by seed."""
        rows = [t for t in self._of(method) if _same(t.lr, lr)]
        if not rows:
            raise ValueError(
                f"lr={lr!r} was not tried for {method!r}; the grid is "
                f"{self.grid(method)}"
            )
        return [t.loss for t in sorted(rows, key=lambda t: t.seed)]

    def mean(self, method: str, lr: float) -> float:
        """Mean final loss over the seeds (``inf`` if any seed diverged)."""
        return _mean(self.losses(method, lr))

    def best(self, method: str) -> float:
        """The learning rate with the lowest mean final loss (the smallest
        lr if all diverged)."""
        grid = self.grid(method)
        return grid[_argmin([self.mean(method, lr) for lr in grid])]

    def trial(self, method: str, lr: float, seed: int) -> Trial:
        """The one trial of ``method`` at ``lr`` with ``seed``."""
        for t in self._of(method):
            if t.seed == seed and _same(t.lr, lr):
                return t
        raise ValueError(
            f"no trial of {method!r} at lr={lr!r} with seed {seed}"
        )

    def summary(self, method: str) -> Summary:
        """``method`` at its best lr, with the spread over seeds and the loss
        off the best.

        Raises ValueError if the best lr has no grid point at lr / sensitivity
        or lr × sensitivity (the sweep was not wide enough to say how sensitive
        the method is).
        """
        grid = self.grid(method)
        i = _argmin([self.mean(method, lr) for lr in grid])
        m = _steps_between(self.ratio, self.sensitivity)
        if i - m < 0 or i + m >= len(grid):
            raise ValueError(
                f"{method}: the best lr {grid[i]:g} is at the edge of the "
                f"grid {grid}; "
                f"widen it so that lr/{self.sensitivity:g} and "
                f"lr*{self.sensitivity:g} are tried"
            )
        losses = self.losses(method, grid[i])
        finite = [t for t in self._of(method) if math.isfinite(t.loss)]
        n = self.steps.get(method)
        # the least disturbed run
        per_step = (
            min(t.seconds / n for t in finite) if (n and finite) else None
        )
        at_best = [t for t in self._of(method) if _same(t.lr, grid[i])]
        names = list(dict.fromkeys(k for t in at_best for k in t.cost))
        cost = {
            k: statistics.fmean(t.cost[k] for t in at_best if k in t.cost)
            for k in names
        }
        return Summary(
            method=method,
            lr=grid[i],
            mean=_mean(losses),
            std=statistics.stdev(losses)
            if len(losses) > 1 and all(map(math.isfinite, losses))
            else 0.0,
            low=min(losses),
            high=max(losses),
            n_seeds=len(losses),
            below=self.mean(method, grid[i - m]),
            above=self.mean(method, grid[i + m]),
            sensitivity=self.sensitivity,
            grid=(grid[0], grid[-1]),
            n_points=len(grid),
            seconds_per_step=per_step,
            cost=cost,
        )

    def summaries(self) -> list[Summary]:
        """:meth:`summary` of every method, in order."""
        return [self.summary(m) for m in self.methods]


def lr_sweep(
    run: Run,
    grids: Mapping[str, Sequence[float]],
    seeds: Sequence[int] = (0, 1, 2),
    *,
    ratio: float = 3.0,
    sensitivity: float = 3.0,
    steps: int | Mapping[str, int] | None = None,
    widen: bool = True,
    max_points: int = 15,
) -> Sweep:
    """Sweep the learning rate of every method on its own log grid, widening it
    until the best is inside.

    Parameters
    ----------
    run : callable
        ``run(method, lr, seed)`` trains once and returns the final loss, or
        ``(loss, cost)`` with ``cost`` a mapping of per-step costs (e.g.
        backward passes per step). ``inf``/``nan`` = diverged.
    grids : mapping method -> sequence of float
        The starting learning rates of each method: a geometric grid with ratio
        ``ratio`` (one value is enough; the sweep widens it).
    seeds : sequence of int
        Every grid point runs once per seed (at least 3 for a comparison in the
        book).
    ratio : float
        Ratio between neighbouring grid points, > 1.
    sensitivity : float
        Report the loss at best / sensitivity and best × sensitivity; must be
        ratio**m (m ≥ 1), and the grid is widened until both points are on it.
    steps : int or mapping method -> int, optional
        Steps per run, for the seconds per step in :meth:`Sweep.summary`.
    widen : bool
        If False, raise instead of widening a grid whose best point is too
        close to its edge.
    max_points : int
        Largest grid per method; raise RuntimeError if the best is still at the
        edge then.

    Returns
    -------
    Sweep
        Every run of the sweep.
    """
    function(run, "run", "run(method, lr, seed) -> final loss")
    if not isinstance(grids, Mapping) or not grids:
        raise TypeError(
            "grids must be a non-empty mapping method -> list of learning "
            "rates"
        )
    seeds = [integer(s, "seeds") for s in seeds]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be distinct integers, got {seeds!r}")
    _check_ratio(ratio, sensitivity)
    max_points = integer(max_points, "max_points", minimum=3)
    m = _steps_between(ratio, sensitivity)
    if isinstance(steps, int) and not isinstance(steps, bool):
        steps = dict.fromkeys(grids, steps)
    trials: list[Trial] = []
    for method, start in grids.items():
        grid = _check_grid(method, start, ratio)
        done: dict[float, float] = {}  # lr -> mean loss

        def evaluate(lr: float) -> None:
            losses = []
            for seed in seeds:
                trial = _timed(run, method, lr, seed)
                trials.append(trial)
                losses.append(trial.loss)
            done[lr] = _mean(losses)

        for lr in grid:
            evaluate(lr)
        while True:
            grid = sorted(done)
            i = _argmin([done[lr] for lr in grid])
            need_low, need_high = i < m, len(grid) - 1 - i < m
            if not (need_low or need_high):
                break
            if not widen:
                raise ValueError(
                    f"{method}: the best lr {grid[i]:g} is at the edge of the "
                    f"grid {grid} (widen=False)"
                )
            if len(grid) + need_low + need_high > max_points:
                raise RuntimeError(
                    f"{method}: the best lr {grid[i]:g} is still at the edge "
                    f"of the grid {grid} after "
                    f"widening to {len(grid)} points (max_points={max_points})"
                )
            if need_low:
                evaluate(grid[0] / ratio)
            if need_high:
                evaluate(grid[-1] * ratio)
    return Sweep(
        trials,
        ratio,
        sensitivity,
        steps if isinstance(steps, Mapping) else None,
    )


# ------------------------------------------------------------------- the table


def fmt_number(x: float, digits: int = 3) -> str:
    """A loss for a table: ``digits`` significant digits, 「発散」 for inf,
    e.g. 4.53e-6, 0.0611.

    Parameters
    ----------
    x : float
        The loss.
    digits : int
        Significant digits.

    Returns
    -------
    str
        The formatted loss.
    """
    if not math.isfinite(x):
        return "発散"
    if x == 0:
        return "0"
    if 1e-3 <= abs(x) < 1e4:
        return f"{x:.{digits}g}"
    mantissa, exponent = f"{x:.{digits - 1}e}".split("e")
    return f"{mantissa}e{int(exponent)}"


def fmt_seconds(s: float | None) -> str:
    """Seconds per step as ms or µs.

    Parameters
    ----------
    s : float or None
        Seconds (None: unknown, shown as "–").

    Returns
    -------
    str
        The duration with its unit.
    """
    if s is None:
        return "–"
    return f"{s * 1e3:.3g} ms" if s >= 1e-3 else f"{s * 1e6:.3g} µs"


def markdown_table(
    sweep: Sweep,
    *,
    loss: str = "最終損失",
    methods: Sequence[str] | None = None,
    digits: int = 3,
) -> str:
    """The Japanese Markdown table of a sweep: each method at its own best
    learning rate.

    Columns: method, best η, the loss over seeds (mean ± standard deviation,
    with the smallest and largest), the mean loss at η/s and s·η
    (s = ``sweep.sensitivity``), the grid searched, time per step, and any
    per-step costs the runs reported.

    Parameters
    ----------
    sweep : Sweep
        The result of :func:`lr_sweep`.
    loss : str
        Names the loss column.
    methods : sequence of str, optional
        The rows, in order (default: every method of the sweep).
    digits : int
        Significant digits of the losses.

    Returns
    -------
    str
        The table in Markdown.
    """
    rows = [sweep.summary(m) for m in (methods or sweep.methods)]
    s = f"{sweep.sensitivity:g}"
    cost_names = list(dict.fromkeys(k for r in rows for k in r.cost))
    head = [
        "手法",
        "最良の η",
        f"{loss}（平均 ± 標準偏差）",
        "最小〜最大",
        f"η/{s} では",
        f"{s}η では",
        "探した η",
        "1 ステップの時間",
        *cost_names,
    ]
    lines = [
        "| " + " | ".join(head) + " |",
        "|" + "|".join([" --- "] * len(head)) + "|",
    ]
    for r in rows:
        cells = [
            r.method,
            f"{r.lr:.3g}",
            f"{fmt_number(r.mean, digits)} ± "
            f"{fmt_number(r.std, 2)}（{r.n_seeds} シード）",
            f"{fmt_number(r.low, digits)}〜{fmt_number(r.high, digits)}",
            fmt_number(r.below, digits),
            fmt_number(r.above, digits),
            f"{r.grid[0]:.3g}〜{r.grid[1]:.3g}（{r.n_points} 点）",
            fmt_seconds(r.seconds_per_step),
            *[f"{r.cost[k]:.3g}" if k in r.cost else "–" for k in cost_names],
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


# --------------------------------------------------------------------- storage

_FIELDS = [
    "experiment",
    "method",
    "lr",
    "seed",
    "loss",
    "seconds",
    "steps",
    "ratio",
    "sensitivity",
]


def write_csv(path, sweeps: Mapping[str, Sweep]) -> None:
    """Store named sweeps in one CSV file, one trial per row (floats written
    exactly, ``repr``).

    Parameters
    ----------
    path : str or pathlib.Path
        The file to write.
    sweeps : mapping str -> Sweep
        The sweeps by name.
    """
    if not isinstance(sweeps, Mapping) or not all(
        isinstance(s, Sweep) for s in sweeps.values()
    ):
        raise TypeError("sweeps must be a mapping name -> Sweep")
    cost_names = list(
        dict.fromkeys(
            k for s in sweeps.values() for t in s.trials for k in t.cost
        )
    )
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(_FIELDS + [f"cost:{k}" for k in cost_names])
        for name, s in sweeps.items():
            for t in s.trials:
                w.writerow(
                    [
                        name,
                        t.method,
                        repr(t.lr),
                        t.seed,
                        repr(t.loss),
                        f"{t.seconds:.6g}",
                        s.steps.get(t.method, ""),
                        repr(s.ratio),
                        repr(s.sensitivity),
                    ]
                    + [
                        repr(t.cost[k]) if k in t.cost else ""
                        for k in cost_names
                    ]
                )


def read_csv(path) -> dict[str, Sweep]:
    """Read the sweeps :func:`write_csv` stored.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    dict
        Name -> Sweep.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no sweep data at {path}")
    rows: dict[str, list[Trial]] = {}
    meta: dict[str, tuple[float, float, dict]] = {}
    with open(path, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        missing = set(_FIELDS) - set(reader.fieldnames or [])
        if missing:
            raise ValueError(
                f"{path} is not a sweep file: columns {sorted(missing)} are "
                "missing"
            )
        for r in reader:
            cost = {
                k[5:]: float(v)
                for k, v in r.items()
                if k.startswith("cost:") and v != ""
            }
            rows.setdefault(r["experiment"], []).append(
                Trial(
                    r["method"],
                    float(r["lr"]),
                    int(r["seed"]),
                    float(r["loss"]),
                    float(r["seconds"]),
                    cost,
                )
            )
            ratio, sens, steps = meta.setdefault(
                r["experiment"],
                (float(r["ratio"]), float(r["sensitivity"]), {}),
            )
            if r["steps"]:
                steps[r["method"]] = int(r["steps"])
    return {name: Sweep(trials, *meta[name]) for name, trials in rows.items()}


@dataclass(frozen=True)
class Curve:
    """The loss after every step of one run.

    Attributes
    ----------
    experiment : str
        The comparison it belongs to.
    method : str
        The method's label.
    lr : float
        The learning rate.
    seed : int
        The seed.
    values : tuple of float
        The loss after every step.
    """

    experiment: str
    method: str
    lr: float
    seed: int
    values: tuple[float, ...]


def write_curves(path, curves: Sequence[Curve]) -> None:
    """Store loss curves in one CSV file, one (run, step) per row.

    Parameters
    ----------
    path : str or pathlib.Path
        The file to write.
    curves : sequence of Curve
        The curves.
    """
    if not all(isinstance(c, Curve) for c in curves):
        raise TypeError("curves must be a sequence of Curve")
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["experiment", "method", "lr", "seed", "step", "value"])
        for c in curves:
            for step, v in enumerate(c.values):
                w.writerow(
                    [
                        c.experiment,
                        c.method,
                        repr(c.lr),
                        c.seed,
                        step,
                        repr(float(v)),
                    ]
                )


def read_curves(path) -> dict[tuple[str, str], Curve]:
    """Read the curves :func:`write_curves` stored.

    Parameters
    ----------
    path : str or pathlib.Path
        The file.

    Returns
    -------
    dict
        (experiment, method) -> Curve.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no curve data at {path}")
    rows: dict[tuple[str, str], list] = {}
    with open(path, newline="", encoding="utf-8") as f:
        for r in csv.DictReader(f):
            key = (r["experiment"], r["method"])
            rows.setdefault(key, [float(r["lr"]), int(r["seed"]), []])[
                2
            ].append((int(r["step"]), float(r["value"])))
    return {
        k: Curve(*k, lr, seed, tuple(v for _, v in sorted(steps)))
        for k, (lr, seed, steps) in rows.items()
    }


# --------------------------------------------------------------------- helpers


def _timed(run: Run, method: str, lr: float, seed: int) -> Trial:
    start = time.perf_counter()
    out = run(method, lr, seed)
    seconds = time.perf_counter() - start
    cost: Mapping[str, float] = {}
    if isinstance(out, tuple):
        if len(out) != 2 or not isinstance(out[1], Mapping):
            raise TypeError(
                f"run must return a loss or (loss, cost mapping), got {out!r}"
            )
        out, cost = out
    try:
        loss = float(out)
    except (TypeError, ValueError):
        raise TypeError(
            f"run({method!r}, {lr!r}, {seed!r}) must return a number, got "
            f"{out!r}"
        ) from None
    if math.isnan(loss):
        loss = math.inf  # a diverged run
    return Trial(
        method, lr, seed, loss, seconds, {k: float(v) for k, v in cost.items()}
    )


def _mean(losses: Sequence[float]) -> float:
    return (
        math.inf
        if not all(map(math.isfinite, losses))
        else statistics.fmean(losses)
    )


def _argmin(values: Sequence[float]) -> int:
    """Index of the smallest value (the first one on ties; 0 if every value
    is inf)."""
    return min(range(len(values)), key=lambda i: (values[i], i))


def _same(a: float, b: float) -> bool:
    return abs(a - b) <= _REL * max(abs(a), abs(b))


def _check_ratio(ratio, sensitivity) -> None:
    for name, x in (("ratio", ratio), ("sensitivity", sensitivity)):
        if not number(x, name) > 1:
            raise ValueError(f"{name} must be a number > 1, got {x!r}")
    _steps_between(ratio, sensitivity)


def _steps_between(ratio: float, sensitivity: float) -> int:
    m = math.log(sensitivity) / math.log(ratio)
    if abs(m - round(m)) > 1e-6 or round(m) < 1:
        raise ValueError(
            "sensitivity must be a power ratio**m (m >= 1) of "
            f"ratio={ratio!r}, got {sensitivity!r}"
        )
    return round(m)


def _check_grid(method: str, start, ratio: float) -> list[float]:
    try:
        grid = sorted(float(x) for x in start)
    except TypeError:
        raise TypeError(
            f"grids[{method!r}] must be a list of learning rates, got "
            f"{start!r}"
        ) from None
    if not grid or not all(math.isfinite(x) and x > 0 for x in grid):
        raise ValueError(
            f"grids[{method!r}] must hold positive learning rates, got "
            f"{start!r}"
        )
    for a, b in zip(grid, grid[1:]):
        k = math.log(b / a) / math.log(ratio)
        if abs(k - round(k)) > 1e-6 or round(k) < 1:
            raise ValueError(
                f"grids[{method!r}] = {grid} is not on a log grid with ratio "
                f"{ratio:g}"
            )
    # the given points, with any gap filled so that the grid is contiguous
    # on its lattice
    full = []
    for a, b in zip(grid, grid[1:]):
        full += [
            a * ratio**j
            for j in range(round(math.log(b / a) / math.log(ratio)))
        ]
    return full + [grid[-1]]
