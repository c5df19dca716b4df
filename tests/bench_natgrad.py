"""Benchmark: chapter 7's optimizer comparisons, each method at its own tuned
learning rate.

Run as ``.venv/bin/python tests/bench_natgrad.py`` (or ``make bench``); not a
pytest test. It runs every sweep of ``lecture_code.natgrad.SWEEPS`` under the
protocol of ``lecture_code.experiments`` (a log grid per method, widened until
the best is inside; five seeds; seconds per step), prints the tables and
compares the losses with the stored ``notebooks/data/ch07_sweeps.csv``, which
the chapter reads: the sweeps take about half a minute, more than the chapter's
10-second budget. ``--write`` stores the new result there instead, together
with the loss curve of every method at its best learning rate and first seed
(``notebooks/data/ch07_curves.csv``, the chapter's figures).
``tests/test_natgrad.py`` recomputes a sample of both files.
"""

from __future__ import annotations

import argparse
import math
import time
from pathlib import Path

import torch

from lecture_code.experiments import (
    Curve,
    lr_sweep,
    markdown_table,
    read_csv,
    write_csv,
    write_curves,
)
from lecture_code.natgrad import SWEEPS, sweep_run

DATA = Path(__file__).resolve().parents[1] / "notebooks" / "data"
SWEEP_FILE, CURVE_FILE = DATA / "ch07_sweeps.csv", DATA / "ch07_curves.csv"


def run_all(names):
    sweeps = {}
    for name in names:
        spec = SWEEPS[name]
        start = time.perf_counter()
        sweeps[name] = lr_sweep(
            sweep_run(name),
            {m: kw["grid"] for m, kw in spec["methods"].items()},
            seeds=spec["seeds"],
            steps=spec["steps"],
        )
        print(f"\n## {name}（{time.perf_counter() - start:.1f} s）\n")
        print(markdown_table(sweeps[name], loss=spec["loss"]))
    return sweeps


def best_curves(sweeps):
    """The loss curve of every method at its best lr and first seed; checked
    against the sweep's number."""
    curves = []
    for name, sweep in sweeps.items():
        run, seed = sweep_run(name, curve=True), SWEEPS[name]["seeds"][0]
        for m in sweep.methods:
            lr = sweep.best(m)
            values = run(m, lr, seed)
            final = (
                values[-20:].mean().item()
                if name == "minibatch"
                else values[-1].item()
            )
            assert math.isclose(
                final,
                sweep.trial(m, lr, seed).loss,
                rel_tol=1e-12,
                abs_tol=1e-15,
            ), (name, m)
            curves.append(Curve(name, m, lr, seed, tuple(values.tolist())))
    return curves


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--write",
        action="store_true",
        help=f"store the result in {SWEEP_FILE} and {CURVE_FILE}",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)  # as in the chapter
    torch.set_default_dtype(torch.float64)
    sweeps = run_all(list(SWEEPS))
    if args.write:
        write_csv(SWEEP_FILE, sweeps)
        write_curves(CURVE_FILE, best_curves(sweeps))
        print(f"\nwritten: {SWEEP_FILE}, {CURVE_FILE}")
    elif SWEEP_FILE.is_file():
        stored = read_csv(SWEEP_FILE)
        for name, sweep in sweeps.items():
            worst = 0.0
            for t in sweep.trials:
                s = stored[name].trial(t.method, t.lr, t.seed).loss
                if math.isfinite(s) or math.isfinite(t.loss):
                    # losses that reached rounding level (|loss| < 1e-12,
                    # e.g. natural gradient at eta = 1) compare absolutely
                    worst = max(worst, abs(s - t.loss) / max(abs(s), 1e-12))
            print(
                f"{name}: largest relative difference from the stored sweep "
                f"{worst:.1e}"
            )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
