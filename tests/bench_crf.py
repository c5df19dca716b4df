"""Benchmark: lecture_code.linear_chain_crf.LinearChainCRF against torchcrf.CRF
(pytorch-crf 0.7.2) on CPU.

Run as ``.venv/bin/python tests/bench_crf.py`` (or ``make bench``). Not a
pytest test.

Both implementations run in one process, interleaved (A B B A A B ...), on the
same emissions, tags and parameters
(:func:`lecture_code.crf_experiment.compare_with_torchcrf`, the function
chapter 9 calls with fewer repeats); the script prints the median time of each
and the ratio torchcrf / ours (> 1 means ours is faster), after checking that
the results agree. Targets (issue 7): at (B, T, K) = (32, 128, 9)
forward+backward >= 3x and decode >= 2x; at (16, 512, 50) no slower.

Two more measurements of chapter 9's experiment
(``lecture_code.crf_experiment``), longer than the chapter can afford:

- ``--ablation N``: the chapter's 8-row table over seeds 0..N-1 (the chapter
  shows 5), with the per-seed differences its sentences rest on (decoding under
  constraints, CRF training, hard constraints, Viterbi vs marginal-wise
  decoding).
- ``--tune S``: the learning-rate grid of the chapter over seeds 0..S-1 (the
  chapter shows seed 0).
- ``--write-grid``: compute the chapter's grid (seed 0) and store it in
  ``notebooks/data/ch09_lr_grid.csv``, which the chapter reads (15 trainings
  are too long for it); ``tests/test_crf_experiment.py`` recomputes a column of
  it.
"""

from __future__ import annotations

import argparse
import time
import warnings
from pathlib import Path

import torch

from lecture_code import crf_experiment as ce

GRID_FILE = (
    Path(__file__).resolve().parents[1]
    / "notebooks"
    / "data"
    / "ch09_lr_grid.csv"
)
SHAPES = [(32, 128, 9), (16, 512, 50)]
TARGETS = {
    (32, 128, 9): {"forward+backward": 3.0, "decode": 2.0},
    (16, 512, 50): {"forward+backward": 1.0, "decode": 1.0},
}


def chapter_data():
    from lecture_code.bio import sample_bio_corpus

    return (
        sample_bio_corpus(1000, seed=0),
        sample_bio_corpus(500, seed=2),
        sample_bio_corpus(500, seed=1),
    )


def ablation(n_seeds):
    """The chapter's ablation over ``n_seeds`` seeds: mean ± std (min..max)
    and per-seed differences."""
    import numpy as np

    (X_tr, Y_tr), _, (X_te, Y_te) = chapter_data()
    t0 = time.perf_counter()
    results, _ = ce.run_ablation(range(n_seeds), X_tr, Y_tr, X_te, Y_te)
    print(
        f"chapter 9 ablation, seeds 0..{n_seeds - 1}, lr {ce.LEARNING_RATE}, "
        f"{ce.EPOCHS} epochs "
        f"({time.perf_counter() - t0:.1f} s)"
    )
    print(
        f"{'row':<18s}{'token acc':>30s}{'entity F1':>30s}"
        f"{'BIO violations':>24s}"
    )
    for name, rows in results.items():
        cols = []
        for key, fmt in (
            ("token_acc", ".3f"),
            ("entity_f1", ".3f"),
            ("illegal", ".0f"),
        ):
            st = ce.summarize(rows, key)
            cols.append(
                f"{st['mean']:{fmt}} ± {st['std']:{fmt}} "
                f"({st['min']:{fmt}}..{st['max']:{fmt}})"
            )
        print(f"{name:<18s}{cols[0]:>30s}{cols[1]:>30s}{cols[2]:>24s}")
    f1 = {
        n: np.array([r["entity_f1"] for r in rows])
        for n, rows in results.items()
    }
    for label, a, b in (
        ("constrained Viterbi - softmax", "softmax+viterbi", "softmax"),
        ("CRF - constrained Viterbi", "crf", "softmax+viterbi"),
        ("CRF+rules - CRF", "crf+rules", "crf"),
        ("CRF+rules Viterbi - MPM", "crf+rules", "crf+rules-mpm"),
        ("CRF Viterbi - MPM", "crf", "crf-mpm"),
    ):
        d = f1[a] - f1[b]
        print(
            f"{label:<32s} mean {d.mean():+.4f}  std {d.std(ddof=1):.4f}  "
            f"positive in {(d > 0).sum()}/{len(d)} seeds"
        )


def tune(n_seeds):
    """The chapter's learning-rate grid (validation entity F1) for seeds
    0..n_seeds-1."""
    import numpy as np

    (X_tr, Y_tr), (X_va, Y_va), _ = chapter_data()
    lrs = ce.LEARNING_RATES
    grids = [
        ce.learning_rate_grid(lrs, X_tr, Y_tr, X_va, Y_va, seed=s)
        for s in range(n_seeds)
    ]
    print(f"validation entity F1, mean over seeds 0..{n_seeds - 1}")
    print(f"{'model':<12s}" + "".join(f"{lr:>8g}" for lr in lrs))
    for kind in ce.KINDS:
        print(
            f"{kind:<12s}"
            + "".join(
                f"{np.mean([g[kind][lr] for g in grids]):8.3f}" for lr in lrs
            )
        )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--repeats",
        type=int,
        default=15,
        help="timed runs per implementation and task",
    )
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch.set_num_threads (default: torch's choice)",
    )
    parser.add_argument(
        "--full", action="store_true", help="no padding (every mask entry on)"
    )
    parser.add_argument(
        "--ablation",
        type=int,
        default=0,
        metavar="N",
        help="run chapter 9's ablation over N seeds instead",
    )
    parser.add_argument(
        "--write-grid",
        action="store_true",
        help=f"store chapter 9's learning-rate grid in {GRID_FILE}",
    )
    parser.add_argument(
        "--tune",
        type=int,
        default=0,
        metavar="S",
        help="run chapter 9's learning-rate grid over S seeds instead",
    )
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="where received a uint8")
    if args.threads:
        torch.set_num_threads(args.threads)
    if args.write_grid:
        torch.set_num_threads(1)
        (X_tr, Y_tr), (X_va, Y_va), _ = chapter_data()
        ce.write_learning_rate_grid(
            GRID_FILE,
            ce.learning_rate_grid(
                ce.LEARNING_RATES, X_tr, Y_tr, X_va, Y_va, seed=0
            ),
        )
        print(f"wrote {GRID_FILE}")
        return
    if args.ablation or args.tune:
        torch.set_num_threads(args.threads or 1)
        if args.ablation:
            ablation(args.ablation)
        if args.tune:
            tune(args.tune)
        return
    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), "
        f"{args.repeats} interleaved runs, "
        f"{'full-length' if args.full else 'ragged left-aligned'} masks, "
        "float32"
    )
    print(
        f"{'(B, T, K)':<15s}{'task':<18s}{'torchcrf ms':>12s}{'ours ms':>10s}"
        f"{'ratio':>8s}{'target':>8s}"
    )
    all_met = True
    for shape in SHAPES:
        repeats = (
            args.repeats
            if shape[1] * shape[2] < 10_000
            else max(3, args.repeats // 3)
        )
        res = ce.compare_with_torchcrf(shape, repeats, ragged=not args.full)
        for name, ratio in res["ratio"].items():
            t_ref, t_ours = (
                res["median"][name]["torchcrf"],
                res["median"][name]["ours"],
            )
            target = TARGETS[shape][name]
            met = ratio >= target
            all_met &= met
            print(
                f"{str(shape):<15s}{name:<18s}{1e3 * t_ref:12.2f}"
                f"{1e3 * t_ours:10.2f}{ratio:8.2f}{target:7.1f}"
                f"{'' if met else ' !'}"
            )
        print(
            f"{'':15s}agreement: max relative llh difference "
            f"{res['rel_llh']:.1e}, "
            f"max |grad| difference {res['grad_diff']:.1e}, identical paths: "
            f"{res['same_paths']}"
        )
    print("all targets met" if all_met else "some targets missed (marked !)")


if __name__ == "__main__":
    main()
