"""Benchmark: how long each chapter takes to run, against its time budget.

Run as ``.venv/bin/python tests/bench_chapters.py [05 07 ...]`` (or ``make
bench``). Not a pytest test: the budgets are about a reader's wait on the
book's 2-core machine, and a timed unit test would fail whenever the machine is
busy.

What is timed is what a reader waits for in JupyterLab after "Restart Kernel
and Run All": starting a fresh ``python3`` kernel plus executing every cell
(nbclient, the same machinery ``make book`` and nbval use). Kernel shutdown is
not counted.

The speed of a shared machine drifts (on the book's machine a fixed loop took
0.4-0.9 s over one day), so every chapter run is paired with a reference run in
the same process just before and just after it (their mean is the reference): a
fixed pure-Python workload (the chapters spend most of their time in the
interpreter). The reference is short, so its ratio is a rough guide only. The
table gives the median wall time over the rounds, its range, and the median
ratio chapter / reference, which stays comparable between a fast and a slow
hour. Rounds are interleaved (all chapters once, then again), so a slow spell
spreads over all chapters instead of hitting one.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"

#: The budget of every chapter (seconds, kernel start + all cells; issue 18):
# median ≤ 12 s.
BUDGET = 12.0


def reference_workload() -> float:
    """Seconds for a fixed pure-Python loop (the same work every time)."""
    start = time.perf_counter()
    sum(i * i for i in range(3_000_000))
    return time.perf_counter() - start


def run_chapter(path: Path) -> float:
    """Seconds from asking for a new kernel until the last cell has
    finished."""
    nb = nbformat.read(path, as_version=4)
    client = NotebookClient(
        nb,
        timeout=600,
        kernel_name="python3",
        resources={"metadata": {"path": str(NOTEBOOKS)}},
    )
    start = time.perf_counter()
    with client.setup_kernel():
        for index, cell in enumerate(nb.cells):
            if cell.cell_type == "code":
                client.execute_cell(cell, index)
        elapsed = time.perf_counter() - start
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "chapters",
        nargs="*",
        help="chapter numbers, e.g. 05 07 (default: all)",
    )
    parser.add_argument(
        "--rounds", type=int, default=3, help="runs per chapter (default 3)"
    )
    args = parser.parse_args()
    paths = sorted(NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))
    if args.chapters:
        paths = [
            p
            for p in paths
            if p.name[:2] in {c.zfill(2) for c in args.chapters}
        ]
        if not paths:
            parser.error(f"no chapter matches {args.chapters}")
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")

    times = {p: [] for p in paths}
    ratios = {p: [] for p in paths}
    references = []
    for _ in range(args.rounds):
        for p in paths:
            before = reference_workload()
            t = run_chapter(p)
            # the machine's speed around this run
            ref = (before + reference_workload()) / 2
            references.append(ref)
            times[p].append(t)
            ratios[p].append(t / ref)

    print(
        f"reference workload: median {statistics.median(references):.3f} s "
        f"(range {min(references):.3f}-{max(references):.3f} s over "
        f"{len(references)} runs)"
    )
    print(
        f"{'chapter':34s} {'median':>7s} {'range':>13s} {'× ref':>7s} "
        f"{'budget':>7s}"
    )
    over = 0
    for p in paths:
        med = statistics.median(times[p])
        flag = "" if med <= BUDGET else "  OVER"
        over += med > BUDGET
        print(
            f"{p.stem:34s} {med:6.2f}s "
            f"{min(times[p]):5.2f}-{max(times[p]):5.2f} s "
            f"{statistics.median(ratios[p]):6.1f}x {BUDGET:6.0f}s{flag}"
        )
    return 0 if over == 0 else 1


if __name__ == "__main__":
    raise SystemExit(main())
