"""Benchmark: lecture_code.crf.LinearChainCRF against torchcrf.CRF (pytorch-crf 0.7.2) on CPU.

Run as ``.venv/bin/python tests/bench_crf.py`` (or ``make bench``). Not a pytest test.

Both implementations run in one process, interleaved (A B B A A B ...), on the same
emissions, tags and parameters; the script prints the median time of each and the ratio
torchcrf / ours (> 1 means ours is faster), after checking that the results agree.
Targets (issue 7): at (B, T, K) = (32, 128, 9) forward+backward >= 3x and decode >= 2x;
at (16, 512, 50) no slower.
"""

from __future__ import annotations

import argparse
import statistics
import time
import warnings

import torch
from torchcrf import CRF

from lecture_code.crf import LinearChainCRF

SHAPES = [(32, 128, 9), (16, 512, 50)]
TARGETS = {(32, 128, 9): {"forward+backward": 3.0, "decode": 2.0}, (16, 512, 50): {"forward+backward": 1.0, "decode": 1.0}}


def make_case(B, T, K, seed=0, ragged=True):
    """Parameters copied into both modules, emissions, tags and a left-aligned ragged mask."""
    g = torch.Generator().manual_seed(seed)
    ref, ours = CRF(K, batch_first=True), LinearChainCRF(K, batch_first=True)
    ours.load_state_dict(ref.state_dict())
    emissions = torch.randn(B, T, K, generator=g)
    tags = torch.randint(0, K, (B, T), generator=g)
    lengths = torch.randint(T // 2, T + 1, (B,), generator=g) if ragged else torch.full((B,), T)
    lengths[0] = T
    mask = torch.arange(T)[None, :] < lengths[:, None]
    return ref, ours, emissions, tags, mask


def fwd_bwd(crf, emissions, tags, mask):
    e = emissions.clone().requires_grad_(True)
    crf.zero_grad()
    crf(e, tags, mask, reduction="sum").backward()
    return e.grad


def check_agreement(ref, ours, emissions, tags, mask):
    llh_ref = ref(emissions, tags, mask, reduction="none")
    llh_ours = ours(emissions, tags, mask, reduction="none")
    rel = ((llh_ref - llh_ours).abs() / llh_ref.abs()).max().item()
    g_ref, g_ours = fwd_bwd(ref, emissions, tags, mask), fwd_bwd(ours, emissions, tags, mask)
    gdiff = (g_ref - g_ours).abs().max().item()
    same_paths = ref.decode(emissions, mask) == ours.decode(emissions, mask)
    return rel, gdiff, same_paths


def timed(fn, *args):
    t0 = time.perf_counter()
    fn(*args)
    return time.perf_counter() - t0


def bench(shape, repeats, ragged=True):
    B, T, K = shape
    ref, ours, emissions, tags, mask = make_case(B, T, K, ragged=ragged)
    rel, gdiff, same = check_agreement(ref, ours, emissions, tags, mask)
    tasks = {
        "forward+backward": lambda crf: fwd_bwd(crf, emissions, tags, mask),
        "decode": lambda crf: crf.decode(emissions, mask),
    }
    rows = {}
    for name, task in tasks.items():
        times = {"torchcrf": [], "ours": []}
        task(ref), task(ours)  # warm-up
        for r in range(repeats):
            order = [("torchcrf", ref), ("ours", ours)] if r % 2 == 0 else [("ours", ours), ("torchcrf", ref)]
            for label, crf in order:
                times[label].append(timed(task, crf))
        t_ref, t_ours = statistics.median(times["torchcrf"]), statistics.median(times["ours"])
        rows[name] = (t_ref, t_ours, t_ref / t_ours)
    return rows, (rel, gdiff, same)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15, help="timed runs per implementation and task")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads (default: torch's choice)")
    parser.add_argument("--full", action="store_true", help="no padding (every mask entry on)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", message="where received a uint8")
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} thread(s), {args.repeats} interleaved runs, "
          f"{'full-length' if args.full else 'ragged left-aligned'} masks, float32")
    print(f"{'(B, T, K)':<15s}{'task':<18s}{'torchcrf ms':>12s}{'ours ms':>10s}{'ratio':>8s}{'target':>8s}")
    all_met = True
    for shape in SHAPES:
        repeats = args.repeats if shape[1] * shape[2] < 10_000 else max(3, args.repeats // 3)
        rows, (rel, gdiff, same) = bench(shape, repeats, ragged=not args.full)
        for name, (t_ref, t_ours, ratio) in rows.items():
            target = TARGETS[shape][name]
            met = ratio >= target
            all_met &= met
            print(f"{str(shape):<15s}{name:<18s}{1e3 * t_ref:12.2f}{1e3 * t_ours:10.2f}{ratio:8.2f}{target:7.1f}{'' if met else ' !'}")
        print(f"{'':15s}agreement: max relative llh difference {rel:.1e}, max |grad| difference {gdiff:.1e}, "
              f"identical paths: {same}")
    print("all targets met" if all_met else "some targets missed (marked !)")


if __name__ == "__main__":
    main()
