"""The experiments of chapter 9 ("CRF：点からパスへ"): BIO taggers on a corpus
from a known process, and timings.

The chapter and ``tests/bench_crf.py`` share everything here:

- the encoder of every tagger (:class:`WindowEncoder`, the words at t-1, t, t+1
  → ψ_t);
- the true process of :func:`lecture_code.bio.sample_bio_corpus` written as a
  CRF (:func:`lecture_code.bio.oracle_crf`), whose Viterbi path is the ceiling
  the trained models are measured against;
- training (:func:`train_tagger`) with ``torch.optim.Adam`` at one learning
  rate for every model and every parameter (:data:`LEARNING_RATE`, chosen with
  :func:`learning_rate_grid`);
- the decoders (:func:`decode`): per-token argmax, Viterbi, marginal-wise (MPM)
  decoding and the softmax tagger's scores decoded under the BIO constraints
  (no CRF training);
- the evaluation (:func:`evaluate`, :func:`violation_types`,
  :func:`type_accuracy` by the evidence :func:`type_evidence` finds for each
  entity token) and the repeated measurement over seeds (:func:`run_ablation`,
  :func:`summarize`, :func:`format_spread`);
- the timings: enumeration against the forward algorithm
  (:func:`log_partition_cost`) and
  :class:`~lecture_code.linear_chain_crf.LinearChainCRF` against
  ``torchcrf.CRF`` (:func:`compare_with_torchcrf`, also
  ``tests/bench_crf.py``), and :func:`html_table`, which shows a result table
  the same in JupyterLab and in the book.
"""

from __future__ import annotations

import csv
import statistics
import time
from collections import Counter
from collections.abc import Callable

import numpy as np
import torch
import torch.nn as nn

from .bio import (
    BIO_TAGS,
    PAD,
    VOCAB,
    VOCAB_SIZE,
    bio_allowed_transitions,
    bio_entities,
    entity_f1,
    illegal_transitions,
    oracle_crf,
    oracle_emissions,
    pad_batch,
)
from .crf import brute_force_log_partition, forward_log_partition, viterbi
from .linear_chain_crf import LinearChainCRF
from .validate import integer, positive, positive_int

__all__ = [
    "WindowEncoder",
    "KINDS",
    "DECODERS",
    "LEARNING_RATE",
    "LEARNING_RATES",
    "EPOCHS",
    "PAD",
    "train_tagger",
    "emission_scores",
    "decode",
    "evaluate",
    "violation_types",
    "type_evidence",
    "type_accuracy",
    "learning_rate_grid",
    "write_learning_rate_grid",
    "read_learning_rate_grid",
    "run_ablation",
    "summarize",
    "format_spread",
    "viterbi_with_strength",
    "best_time",
    "log_partition_cost",
    "compare_with_torchcrf",
    "html_table",
]

#: The three trained models: a per-token softmax tagger, a CRF with free
#: transitions, a CRF with BIO constraints.
KINDS = ("softmax", "crf", "crf+rules")
#: (row name, model, decoder) of the ablation table; model "oracle" is the
#: true process.
DECODERS = (
    ("oracle", "oracle", "viterbi"),
    ("oracle-mpm", "oracle", "mpm"),
    ("softmax", "softmax", "argmax"),
    ("softmax+viterbi", "softmax", "constrained-viterbi"),
    ("crf", "crf", "viterbi"),
    ("crf-mpm", "crf", "mpm"),
    ("crf+rules", "crf+rules", "viterbi"),
    ("crf+rules-mpm", "crf+rules", "mpm"),
)
#: Adam's step size for every model and parameter: on the plateau of
#: :func:`learning_rate_grid` (validation F1 within 0.01 of each model's best
#: at seed 0; within 0.01 of the best mean over seeds 0-2, see
#: ``tests/bench_crf.py --tune 3``).
LEARNING_RATE = 0.05
#: The grid of :func:`learning_rate_grid` in the chapter and
#: ``tests/bench_crf.py``.
LEARNING_RATES = (0.01, 0.02, 0.05, 0.1, 0.2)
#: Passes over the training sentences (batches of 100).
EPOCHS = 5

_ALLOWED, _ALLOWED_START, _ = bio_allowed_transitions(BIO_TAGS)


class WindowEncoder(nn.Module):
    """Emission scores ψ_t from the words at t-1, t, t+1: embeddings → MLP
    → K scores (B, T, K).

    Parameters
    ----------
    vocab_size : int
        Number of word ids.
    num_tags : int
        Number of tags K.
    dim : int
        Embedding width.
    hidden : int
        Width of the MLP's hidden layer.
    pad : int or None
        Padding id (its embedding stays 0).
    """

    def __init__(
        self,
        vocab_size: int,
        num_tags: int,
        dim: int = 16,
        hidden: int = 32,
        pad: int | None = None,
    ):
        super().__init__()
        self.pad = vocab_size - 1 if pad is None else pad
        self.embed = nn.Embedding(vocab_size, dim, padding_idx=self.pad)
        self.mlp = nn.Sequential(
            nn.Linear(3 * dim, hidden), nn.Tanh(), nn.Linear(hidden, num_tags)
        )

    def forward(self, words: torch.Tensor) -> torch.Tensor:
        padded = nn.functional.pad(words, (1, 1), value=self.pad)  # (B, T + 2)
        e = self.embed(padded)  # (B, T + 2, dim)
        # the words at t-1, t, t+1 side by side: (B, T, 3 dim)
        window = torch.cat([e[:, :-2], e[:, 1:-1], e[:, 2:]], dim=-1)
        return self.mlp(window)  # (B, T, K)


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _zero_scores(crf: LinearChainCRF) -> LinearChainCRF:
    with torch.no_grad():
        for p in crf.parameters():
            p.zero_()
    return crf


def train_tagger(
    kind: str,
    X,
    Y,
    *,
    lr: float = LEARNING_RATE,
    epochs: int = EPOCHS,
    batch_size: int = 100,
    seed: int = 0,
):
    """Train a :class:`WindowEncoder` with a softmax head or a CRF on top;
    returns ``(encoder, crf or None)``.

    ``kind``: ``"softmax"`` (cross-entropy per token, eq-crf-independent),
    ``"crf"`` (negative log-likelihood, eq-crf-likelihood, free transitions) or
    ``"crf+rules"`` (the same with the BIO constraints as −∞ scores). All use
    ``torch.optim.Adam(lr)`` on every parameter, the same mini-batches (order
    drawn from ``seed``) and the same initial encoder for the same seed.

    Parameters
    ----------
    kind : str
        ``"softmax"``, ``"crf"`` or ``"crf+rules"``.
    X : list of list of int
        Word ids of the sentences.
    Y : list of list of int
        Their tag ids.
    lr : float
        Adam's step size.
    epochs : int
        Passes over the data.
    batch_size : int
        Sentences per mini-batch.
    seed : int
        Seed of the initial encoder and the batch order.

    Returns
    -------
    tuple
        The trained encoder and the CRF (None for ``"softmax"``).
    """
    _check_kind(kind)
    lr, epochs = positive(lr, "lr"), positive_int(epochs, "epochs")
    batch_size = positive_int(batch_size, "batch_size")
    seed = integer(seed, "seed", minimum=0)
    if len(X) != len(Y) or len(X) == 0:
        raise ValueError(
            f"X and Y must be non-empty and equally long, got {len(X)} and "
            f"{len(Y)}"
        )
    torch.manual_seed(seed)
    enc = WindowEncoder(VOCAB_SIZE, len(BIO_TAGS), pad=PAD)
    crf = None
    if kind == "crf":
        crf = LinearChainCRF(len(BIO_TAGS), batch_first=True)
    elif kind == "crf+rules":
        crf = LinearChainCRF(
            len(BIO_TAGS),
            batch_first=True,
            allowed_transitions=_ALLOWED,
            allowed_start=_ALLOWED_START,
        )
    params = list(enc.parameters()) + (
        [] if crf is None else list(crf.parameters())
    )
    opt = torch.optim.Adam(params, lr=lr)
    words, mask = pad_batch(X, PAD)  # (N, T_max)
    tags, _ = pad_batch(Y, 0)  # padding tags are hidden by the mask
    rng = np.random.default_rng(seed)
    for _ in range(epochs):
        order = torch.from_numpy(rng.permutation(len(X)))
        for i in range(0, len(X), batch_size):
            idx = order[i : i + batch_size]
            w, y, m = words[idx], tags[idx], mask[idx]
            em = enc(w)  # (B, T, K)
            if crf is None:
                loss = torch.nn.functional.cross_entropy(em[m], y[m])
            else:
                loss = -crf(em, y, m, reduction="token_mean")
            opt.zero_grad()
            loss.backward()
            opt.step()
    return enc, crf


def emission_scores(enc: WindowEncoder, X):
    """The encoder's scores ψ_t for padded sentences: ((B, T, K), mask (B,
    T)), no gradient.

    Parameters
    ----------
    enc : WindowEncoder
        The trained encoder.
    X : list of list of int
        Word ids of the sentences.

    Returns
    -------
    tuple of torch.Tensor
        Scores (B, T, K) and the mask (B, T).
    """
    words, mask = pad_batch(X, PAD)
    with torch.no_grad():
        return enc(words), mask


def decode(
    em: torch.Tensor,
    mask: torch.Tensor,
    how: str,
    crf: LinearChainCRF | None = None,
) -> list[list[int]]:
    """Tag paths from emission scores (B, T, K).

    ``how``: ``"argmax"`` (each position on its own), ``"viterbi"`` (``crf``'s
    best path), ``"mpm"`` (each position's most probable tag under ``crf``'s
    marginals: a point decision per position, which can break the constraints
    even of a constrained CRF), or ``"constrained-viterbi"`` (log-softmax of
    ``em`` as ψ, φ = 0 on legal BIO moves and −∞ on the others: the best legal
    path of a model trained without a CRF).

    Parameters
    ----------
    em : torch.Tensor, shape (B, T, K)
        Emission scores.
    mask : torch.Tensor of bool, shape (B, T)
        True at real (not padded) positions.
    how : str
        ``"argmax"``, ``"viterbi"``, ``"mpm"`` or ``"constrained-viterbi"``.
    crf : LinearChainCRF, optional
        Needed for ``"viterbi"`` and ``"mpm"``.

    Returns
    -------
    list of list of int
        One tag path per sentence (its real length).
    """
    lengths = mask.sum(1).tolist()
    if how == "argmax":
        best = em.argmax(dim=-1)
        return [best[b, :n].tolist() for b, n in enumerate(lengths)]
    if how == "constrained-viterbi":
        rules = _zero_scores(
            LinearChainCRF(
                em.shape[-1],
                batch_first=True,
                allowed_transitions=_ALLOWED,
                allowed_start=_ALLOWED_START,
            )
        ).to(em.dtype)
        return rules.decode(torch.log_softmax(em, dim=-1), mask)
    if crf is None:
        raise ValueError(f"decoding with how={how!r} needs a crf")
    if how == "viterbi":
        return crf.decode(em, mask)
    if how == "mpm":
        best = crf.marginals(em, mask).argmax(dim=-1)
        return [best[b, :n].tolist() for b, n in enumerate(lengths)]
    raise ValueError(
        "how must be 'argmax', 'viterbi', 'mpm' or 'constrained-viterbi', "
        f"got {how!r}"
    )


def evaluate(pred, Y) -> dict[str, float]:
    """Token accuracy (all tokens, O tokens, entity tokens), entity F1 and
    the number of BIO violations.

    Parameters
    ----------
    pred : list of list of int
        Predicted tag paths.
    Y : list of list of int
        The true tag paths.

    Returns
    -------
    dict
        Name -> value: accuracies, entity F1 and the violation count.
    """
    if len(pred) != len(Y):
        raise ValueError(
            f"pred and Y differ in length: {len(pred)} vs {len(Y)}"
        )
    p = np.concatenate([np.asarray(s) for s in pred])
    y = np.concatenate([np.asarray(s) for s in Y])
    if p.shape != y.shape:
        raise ValueError(
            "every predicted path must have the length of its sentence"
        )
    hit = p == y
    return {
        "token_acc": float(hit.mean()),
        "acc_o": float(hit[y == 0].mean()),
        "acc_entity": float(hit[y != 0].mean()),
        "entity_f1": entity_f1(Y, pred, BIO_TAGS)["f1"],
        "illegal": illegal_transitions(pred, _ALLOWED, _ALLOWED_START),
    }


def violation_types(pred) -> Counter:
    """Counts of the forbidden moves in tag paths, keyed by ``(previous tag,
    next tag)`` names (``"文頭"`` = sentence start).

    Parameters
    ----------
    pred : list of list of int
        Predicted tag paths.

    Returns
    -------
    collections.Counter
        (previous tag name, next tag name) -> count.
    """
    out = Counter()
    for path in pred:
        if len(path) and not _ALLOWED_START[path[0]]:
            out["文頭", BIO_TAGS[path[0]]] += 1
        for a, b in zip(path[:-1], path[1:]):
            if not _ALLOWED[a, b]:
                out[BIO_TAGS[a], BIO_TAGS[b]] += 1
    return out


def _predict(model, X, how):
    enc, crf = model
    em, mask = emission_scores(enc, X)
    return decode(em, mask, how, crf)


def learning_rate_grid(
    lrs, X_train, Y_train, X_val, Y_val, seed: int = 0, **train_kw
) -> dict[str, dict[float, float]]:
    """Validation entity F1 of every model kind (decoded as in the chapter)
    for each learning rate in ``lrs``.

    Parameters
    ----------
    lrs : sequence of float
        Learning rates to try.
    X_train, Y_train : list of list of int
        Training sentences and tags.
    X_val, Y_val : list of list of int
        Validation sentences and tags.
    seed : int
        Seed of every training run.
    **train_kw
        Passed to :func:`train_tagger`.

    Returns
    -------
    dict
        Kind -> {learning rate: validation entity F1}.
    """
    how = {"softmax": "argmax", "crf": "viterbi", "crf+rules": "viterbi"}
    out = {kind: {} for kind in KINDS}
    for lr in lrs:
        for kind in KINDS:
            model = train_tagger(
                kind, X_train, Y_train, lr=lr, seed=seed, **train_kw
            )
            out[kind][lr] = evaluate(_predict(model, X_val, how[kind]), Y_val)[
                "entity_f1"
            ]
    return out


def write_learning_rate_grid(
    path, grid: dict[str, dict[float, float]]
) -> None:
    """Store a :func:`learning_rate_grid` result as CSV (columns ``kind, lr,
    entity_f1``, exact floats).

    Parameters
    ----------
    path : str or Path
        The CSV file to write.
    grid : dict
        A :func:`learning_rate_grid` result.
    """
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["kind", "lr", "entity_f1"])
        w.writerows(
            (kind, repr(lr), repr(f1))
            for kind, row in grid.items()
            for lr, f1 in row.items()
        )


def read_learning_rate_grid(path) -> dict[str, dict[float, float]]:
    """The grid :func:`write_learning_rate_grid` stored, in the layout of
    :func:`learning_rate_grid`.

    Parameters
    ----------
    path : str or Path
        A CSV file written by :func:`write_learning_rate_grid`.

    Returns
    -------
    dict
        Kind -> {learning rate: validation entity F1}.
    """
    grid: dict[str, dict[float, float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            grid.setdefault(row["kind"], {})[float(row["lr"])] = float(
                row["entity_f1"]
            )
    return grid


def run_ablation(
    seeds,
    X_train,
    Y_train,
    X_test,
    Y_test,
    keep_models: bool = False,
    **train_kw,
):
    """Every row of :data:`DECODERS` for every seed; returns ``(results,
    models)``.

    ``results[row]`` is a list of :func:`evaluate` dicts, one per seed (one for
    the oracle, which has no seed). ``models[seed][kind]`` holds the trained
    models when ``keep_models``.

    Parameters
    ----------
    seeds : sequence of int
        One training run per seed.
    X_train, Y_train : list of list of int
        Training sentences and tags.
    X_test, Y_test : list of list of int
        Test sentences and tags.
    keep_models : bool
        Also return the trained models.
    **train_kw
        Passed to :func:`train_tagger`.

    Returns
    -------
    tuple
        ``results`` (row -> list of :func:`evaluate` dicts) and ``models``.
    """
    results = {name: [] for name, _, _ in DECODERS}
    em_o, mask_o = oracle_emissions(X_test)
    truth = oracle_crf()
    for name, model, how in DECODERS:
        if model == "oracle":
            results[name].append(
                evaluate(decode(em_o, mask_o, how, truth), Y_test)
            )
    models = {}
    for seed in seeds:
        trained = {
            kind: train_tagger(kind, X_train, Y_train, seed=seed, **train_kw)
            for kind in KINDS
        }
        scores = {
            kind: emission_scores(m[0], X_test) for kind, m in trained.items()
        }
        for name, model, how in DECODERS:
            if model != "oracle":
                em, mask = scores[model]
                results[name].append(
                    evaluate(decode(em, mask, how, trained[model][1]), Y_test)
                )
        if keep_models:
            models[seed] = trained
    return results, models


def summarize(rows: list[dict[str, float]], key: str) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one row), min and max of
    ``key`` over runs.

    Parameters
    ----------
    rows : list of dict
        One :func:`evaluate` dict per run.
    key : str
        The measure to summarize.

    Returns
    -------
    dict
        ``mean``, ``std``, ``min``, ``max`` and ``n``.
    """
    v = np.array([r[key] for r in rows], dtype=float)
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
        "min": float(v.min()),
        "max": float(v.max()),
        "n": len(v),
    }


def type_evidence(X, Y) -> list[tuple[int, int, str]]:
    """Where the type of each entity token is revealed: ``(sentence, position,
    kind)`` for every entity token.

    In :func:`lecture_code.bio.sample_bio_corpus` the O words and the
    neighbouring entities are drawn independently of an entity's type, so only
    the entity's own non-ambiguous words carry it. ``kind`` is ``"none"``
    (every word of the entity is ambiguous: the type is a coin toss even for
    the true model), ``"window"`` (a revealing word of the same entity within
    ±1, the encoder's window) or ``"far"`` (revealing words only farther away).

    Parameters
    ----------
    X : list of list of int
        Word ids of the sentences.
    Y : list of list of int
        Their tag ids.

    Returns
    -------
    list of tuple
        ``(sentence, position, kind)`` per entity token.
    """
    ambiguous = set(VOCAB["AMB"])
    out = []
    for s, (x, y) in enumerate(zip(X, Y)):
        for begin, stop, _ in bio_entities(y, BIO_TAGS):
            reveal = [t for t in range(begin, stop) if x[t] not in ambiguous]
            for t in range(begin, stop):
                kind = (
                    "none"
                    if not reveal
                    else (
                        "window"
                        if any(abs(r - t) <= 1 for r in reveal)
                        else "far"
                    )
                )
                out.append((s, t, kind))
    return out


def type_accuracy(pred, Y, evidence) -> dict[str, float]:
    """Fraction of entity tokens predicted as an entity tag of the right
    type, per evidence kind of :func:`type_evidence`.

    Parameters
    ----------
    pred : list of list of int
        Predicted tag paths.
    Y : list of list of int
        The true tag paths.
    evidence : list of tuple
        The output of :func:`type_evidence`.

    Returns
    -------
    dict
        Evidence kind -> fraction of right types.
    """
    kind_of = [
        None if k == 0 else BIO_TAGS[k][2:] for k in range(len(BIO_TAGS))
    ]
    hits: dict[str, list[bool]] = {}
    for s, t, kind in evidence:
        hits.setdefault(kind, []).append(
            kind_of[pred[s][t]] == kind_of[Y[s][t]]
        )
    return {kind: float(np.mean(h)) for kind, h in hits.items()}


def format_spread(stats: dict[str, float], digits: int = 3) -> str:
    """A :func:`summarize` result as ``"mean ± std（min〜max）"``, or just the
    mean for a single run.

    Parameters
    ----------
    stats : dict
        The output of :func:`summarize` (keys ``mean``, ``std``, ``min``,
        ``max``, ``n``).
    digits : int
        Decimal places.

    Returns
    -------
    str
        The formatted mean and spread.

    Examples
    --------
    >>> format_spread(summarize([{"f1": 0.5}, {"f1": 0.7}], "f1"), 2)
    '0.60 ± 0.14（0.50〜0.70）'
    """
    if stats["n"] == 1:
        return f"{stats['mean']:.{digits}f}"
    return (
        f"{stats['mean']:.{digits}f} ± {stats['std']:.{digits}f}"
        f"（{stats['min']:.{digits}f}〜{stats['max']:.{digits}f}）"
    )


def viterbi_with_strength(
    emissions, crf: LinearChainCRF, lam: float
) -> list[int]:
    """The Viterbi path (eq-crf-viterbi) of one sentence with ``crf``'s
    transition scores multiplied by ``lam``.

    λ = 0 is the per-token argmax of ``emissions``, λ = 1 the trained CRF
    itself; large λ lets the transitions alone decide.

    Parameters
    ----------
    emissions : torch.Tensor, shape (T, K)
        ψ_t(k) of one sentence.
    crf : LinearChainCRF
        Supplies φ_start, φ and φ_end (without constraints).
    lam : float
        The factor λ >= 0.

    Returns
    -------
    list of int
        The best path under λ·(φ_start, φ, φ_end).
    """
    lam = positive(lam, "lam", allow_zero=True)
    start, trans, end = (
        x.detach().double()
        for x in (crf.start_transitions, crf.transitions, crf.end_transitions)
    )
    return viterbi(
        torch.as_tensor(emissions).double(),
        lam * trans,
        lam * start,
        lam * end,
    )[0]


def best_time(fn: Callable[[], object], repeats: int = 3) -> float:
    """The shortest of ``repeats`` wall-clock times of ``fn()``, in seconds.

    Parameters
    ----------
    fn : callable
        Called without arguments.
    repeats : int
        Number of timed calls.

    Returns
    -------
    float
        The shortest time in seconds.
    """
    repeats = positive_int(repeats, "repeats")
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def log_partition_cost(
    brute_T,
    forward_T,
    transitions,
    start=None,
    end=None,
    *,
    generator=None,
    repeats: int = 3,
):
    """Seconds for log Z by enumeration (eq-crf-partition) and by the forward
    algorithm (eq-crf-forward).

    For each length in ``brute_T`` and then in ``forward_T``, standard normal
    emissions (T, K) are drawn from ``generator`` (K from ``transitions``) and
    the best of ``repeats`` runs of
    :func:`lecture_code.crf.brute_force_log_partition`, respectively
    :func:`lecture_code.crf.forward_log_partition`, is kept.

    Parameters
    ----------
    brute_T : sequence of int
        Lengths timed by enumeration.
    forward_T : sequence of int
        Lengths timed by the forward algorithm.
    transitions : torch.Tensor, shape (K, K)
        φ(i, j).
    start, end : torch.Tensor, shape (K,), optional
        Scores of the first and the last tag.
    generator : torch.Generator, optional
        Source of the emissions.
    repeats : int
        Timed runs per length.

    Returns
    -------
    t_brute, t_forward : list of float
        Seconds, one per length.
    """
    K = torch.as_tensor(transitions).shape[0]
    out = []
    for lengths, fn in (
        (brute_T, brute_force_log_partition),
        (forward_T, forward_log_partition),
    ):
        times = []
        for T in lengths:
            e = torch.randn(T, K, generator=generator, dtype=torch.float64)
            times.append(
                best_time(
                    lambda fn=fn, e=e: fn(e, transitions, start, end), repeats
                )
            )
        out.append(times)
    return out[0], out[1]


def compare_with_torchcrf(
    shape=(32, 128, 9), repeats: int = 3, seed: int = 0, ragged: bool = True
) -> dict:
    """Time :class:`LinearChainCRF` against ``torchcrf.CRF`` on the same case,
    after checking that they agree.

    Both modules get the same parameters (torchcrf's initialisation under
    ``seed``), emissions, tags and a left-aligned mask with lengths in [T/2, T]
    (the first sequence full; all full unless ``ragged``). Each task
    ("forward+backward" of the summed log-likelihood, eq-crf-likelihood, and
    ``decode``, eq-crf-viterbi) runs once per implementation as a warm-up, then
    ``repeats`` times interleaved (torchcrf first in even rounds, ours first in
    odd rounds).

    Parameters
    ----------
    shape : tuple of int
        (batch B, length T, tags K).
    repeats : int
        Timed rounds per task.
    seed : int
        Seed of the parameters, emissions and tags.
    ragged : bool
        Sequences of different lengths (else all full).

    Returns
    -------
    dict
        ``times[task][who]``: list of seconds (``who`` = ``"torchcrf"`` or
        ``"ours"``); ``median[task][who]``;
        ``ratio[task]`` = median torchcrf / median ours (> 1: ours is faster);
        ``rel_llh`` (max relative log-likelihood difference), ``grad_diff``
        (max |difference| of the gradients with respect to the emissions),
        ``same_paths`` (identical decoded paths).
    """
    from torchcrf import CRF

    repeats = positive_int(repeats, "repeats")
    B, T, K = shape
    g = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():  # the global generator is left as it was
        torch.manual_seed(seed)
        ref, ours = (
            CRF(K, batch_first=True),
            LinearChainCRF(K, batch_first=True),
        )
    ours.load_state_dict(ref.state_dict())
    em = torch.randn(B, T, K, generator=g)
    tags = torch.randint(0, K, (B, T), generator=g)
    lengths = (
        torch.randint(T // 2, T + 1, (B,), generator=g)
        if ragged
        else torch.full((B,), T)
    )
    lengths[0] = T
    mask = torch.arange(T)[None, :] < lengths[:, None]

    def fwd_bwd(crf):
        e = em.clone().requires_grad_(True)
        crf.zero_grad()
        crf(e, tags, mask, reduction="sum").backward()
        return e.grad

    llh_ref, llh_ours = (
        ref(em, tags, mask, reduction="none"),
        ours(em, tags, mask, reduction="none"),
    )
    out = {
        "rel_llh": float(
            ((llh_ref - llh_ours).abs() / llh_ref.abs()).max().detach()
        ),
        "grad_diff": float((fwd_bwd(ref) - fwd_bwd(ours)).abs().max()),
        "same_paths": ref.decode(em, mask) == ours.decode(em, mask),
    }
    tasks = {
        "forward+backward": fwd_bwd,
        "decode": lambda crf: crf.decode(em, mask),
    }
    times = {task: {"torchcrf": [], "ours": []} for task in tasks}
    for task, fn in tasks.items():
        fn(ref), fn(ours)  # warm-up
        for r in range(repeats):
            for who, crf in (
                (("torchcrf", ref), ("ours", ours))
                if r % 2 == 0
                else (("ours", ours), ("torchcrf", ref))
            ):
                times[task][who].append(
                    best_time(lambda fn=fn, crf=crf: fn(crf), 1)
                )
    out["times"] = times
    out["median"] = {
        task: {who: statistics.median(v) for who, v in t.items()}
        for task, t in times.items()
    }
    out["ratio"] = {
        task: m["torchcrf"] / m["ours"] for task, m in out["median"].items()
    }
    return out


def html_table(header, rows):
    """A small HTML table (``IPython.display.HTML``) for results computed in a
    chapter cell.

    It shows the same in JupyterLab and in the book. Cells are inserted as
    given (HTML allowed).

    Parameters
    ----------
    header : sequence
        Column titles.
    rows : iterable of sequences
        One sequence of cell values per row.

    Returns
    -------
    IPython.display.HTML
        The table, displayed when it ends a cell.

    Examples
    --------
    >>> head = "<table><thead><tr><th>a</th><th>b</th></tr></thead>"
    >>> body = "<tbody><tr><td>1</td><td>2</td></tr></tbody></table>"
    >>> html_table(["a", "b"], [(1, 2)]).data == head + body
    True
    """
    from IPython.display import HTML

    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>"
        for row in rows
    )
    return HTML(
        f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"
    )
