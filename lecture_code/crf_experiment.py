"""The experiment of chapter 9 ("CRF：点からパスへ"): BIO taggers on a corpus from a known process.

The chapter and ``tests/bench_crf.py`` share everything here:

- the true process of :func:`lecture_code.crf.sample_bio_corpus` written as a CRF
  (:func:`oracle_crf`, :func:`oracle_emissions`): an HMM's posterior p(y|x) is a linear-chain
  CRF with ψ_t(k) = log p(x_t | k), φ = log A and φ_start = log π, so its Viterbi path is the
  ceiling the trained models are measured against;
- training (:func:`train_tagger`) with ``torch.optim.Adam`` at one learning rate for every
  model and every parameter (:data:`LEARNING_RATE`, chosen with :func:`learning_rate_grid`);
- the decoders (:func:`decode`): per-token argmax, Viterbi, marginal-wise (MPM) decoding and
  the softmax tagger's scores decoded under the BIO constraints (no CRF training);
- the evaluation (:func:`evaluate`, :func:`violation_types`, :func:`type_accuracy` by the
  evidence :func:`type_evidence` finds for each entity token) and the repeated measurement over
  seeds (:func:`run_ablation`, :func:`summarize`).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

import numpy as np
import torch

from .crf import (
    BIO_START_PROBS,
    BIO_TAGS,
    BIO_TRANSITION_PROBS,
    VOCAB,
    VOCAB_SIZE,
    LinearChainCRF,
    WindowEncoder,
    bio_allowed_transitions,
    bio_entities,
    bio_emission_probs,
    entity_f1,
    illegal_transitions,
    pad_batch,
)

__all__ = [
    "KINDS",
    "DECODERS",
    "LEARNING_RATE",
    "EPOCHS",
    "PAD",
    "oracle_crf",
    "oracle_emissions",
    "train_tagger",
    "emission_scores",
    "decode",
    "evaluate",
    "violation_types",
    "type_evidence",
    "type_accuracy",
    "learning_rate_grid",
    "run_ablation",
    "summarize",
]

#: The three trained models: a per-token softmax tagger, a CRF with free transitions, a CRF with BIO constraints.
KINDS = ("softmax", "crf", "crf+rules")
#: (row name, model, decoder) of the ablation table; model "oracle" is the true process.
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
#: Adam's step size for every model and parameter: on the plateau of :func:`learning_rate_grid` (validation F1
#: within 0.01 of each model's best at seed 0; within 0.01 of the best mean over seeds 0-2, ``tests/bench_crf.py --tune 3``).
LEARNING_RATE = 0.05
#: Passes over the training sentences (batches of 100).
EPOCHS = 5
#: Word id used for padding.
PAD = VOCAB_SIZE - 1

_ALLOWED, _ALLOWED_START, _ = bio_allowed_transitions(BIO_TAGS)


def _check_kind(kind):
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")


def _zero_scores(crf: LinearChainCRF) -> LinearChainCRF:
    with torch.no_grad():
        for p in crf.parameters():
            p.zero_()
    return crf


def oracle_crf(p_ambiguous: float = 0.6) -> LinearChainCRF:
    """The corpus's true posterior p(y|x) as a constrained float64 CRF (use with :func:`oracle_emissions`).

    φ(i, j) = log A_ij and φ_start(j) = log π_j, where A = ``BIO_TRANSITION_PROBS`` and
    π = ``BIO_START_PROBS``; their zero entries become hard constraints (−∞). There is no end
    score: sentence lengths do not depend on the tags.
    """
    A = torch.tensor(BIO_TRANSITION_PROBS, dtype=torch.float64)
    pi = torch.tensor(BIO_START_PROBS, dtype=torch.float64)
    crf = LinearChainCRF(len(BIO_TAGS), batch_first=True, allowed_transitions=A > 0, allowed_start=pi > 0).double()
    with torch.no_grad():
        crf.transitions.copy_(torch.where(A > 0, A.log(), 0.0))
        crf.start_transitions.copy_(torch.where(pi > 0, pi.log(), 0.0))
        crf.end_transitions.zero_()
    return crf


def oracle_emissions(X: Sequence[Sequence[int]], p_ambiguous: float = 0.6):
    """ψ_t(k) = log p(x_t | k) of the true process for padded sentences; returns ((B, T, K) float64, mask (B, T)).

    Words a tag cannot emit get −∞; padded steps get 0 (the mask hides them).
    """
    words, mask = pad_batch(X, PAD)
    with np.errstate(divide="ignore"):
        log_e = torch.from_numpy(np.log(bio_emission_probs(p_ambiguous).numpy()))  # (V, K), −inf where 0
    em = log_e[words]  # (B, T, K)
    em[~mask] = 0.0
    return em, mask


def train_tagger(kind: str, X, Y, *, lr: float = LEARNING_RATE, epochs: int = EPOCHS, batch_size: int = 100,
                 seed: int = 0):
    """Train a :class:`WindowEncoder` with a softmax head or a CRF on top; returns ``(encoder, crf or None)``.

    ``kind``: ``"softmax"`` (cross-entropy per token, eq-crf-independent), ``"crf"`` (negative
    log-likelihood, eq-crf-likelihood, free transitions) or ``"crf+rules"`` (the same with the
    BIO constraints as −∞ scores). All use ``torch.optim.Adam(lr)`` on every parameter, the same
    mini-batches (order drawn from ``seed``) and the same initial encoder for the same seed.
    """
    _check_kind(kind)
    if not (isinstance(lr, (int, float)) and math.isfinite(lr) and lr > 0):
        raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
    if len(X) != len(Y) or len(X) == 0:
        raise ValueError(f"X and Y must be non-empty and equally long, got {len(X)} and {len(Y)}")
    torch.manual_seed(seed)
    enc = WindowEncoder(VOCAB_SIZE, len(BIO_TAGS), pad=PAD)
    crf = None
    if kind == "crf":
        crf = LinearChainCRF(len(BIO_TAGS), batch_first=True)
    elif kind == "crf+rules":
        crf = LinearChainCRF(len(BIO_TAGS), batch_first=True, allowed_transitions=_ALLOWED, allowed_start=_ALLOWED_START)
    params = list(enc.parameters()) + ([] if crf is None else list(crf.parameters()))
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
    """The encoder's scores ψ_t for padded sentences: ((B, T, K), mask (B, T)), no gradient."""
    words, mask = pad_batch(X, PAD)
    with torch.no_grad():
        return enc(words), mask


def decode(em: torch.Tensor, mask: torch.Tensor, how: str, crf: LinearChainCRF | None = None) -> list[list[int]]:
    """Tag paths from emission scores (B, T, K).

    ``how``: ``"argmax"`` (each position on its own), ``"viterbi"`` (``crf``'s best path),
    ``"mpm"`` (each position's most probable tag under ``crf``'s marginals: a point decision
    per position, which can break the constraints even of a constrained CRF), or
    ``"constrained-viterbi"`` (log-softmax of ``em`` as ψ, φ = 0 on legal BIO moves and −∞ on
    the others: the best legal path of a model trained without a CRF).
    """
    lengths = mask.sum(1).tolist()
    if how == "argmax":
        best = em.argmax(dim=-1)
        return [best[b, :n].tolist() for b, n in enumerate(lengths)]
    if how == "constrained-viterbi":
        rules = _zero_scores(LinearChainCRF(em.shape[-1], batch_first=True, allowed_transitions=_ALLOWED,
                                            allowed_start=_ALLOWED_START)).to(em.dtype)
        return rules.decode(torch.log_softmax(em, dim=-1), mask)
    if crf is None:
        raise ValueError(f"decoding with how={how!r} needs a crf")
    if how == "viterbi":
        return crf.decode(em, mask)
    if how == "mpm":
        best = crf.marginals(em, mask).argmax(dim=-1)
        return [best[b, :n].tolist() for b, n in enumerate(lengths)]
    raise ValueError(f"how must be 'argmax', 'viterbi', 'mpm' or 'constrained-viterbi', got {how!r}")


def evaluate(pred, Y) -> dict[str, float]:
    """Token accuracy (all tokens, O tokens, entity tokens), entity F1 and the number of BIO violations."""
    if len(pred) != len(Y):
        raise ValueError(f"pred and Y differ in length: {len(pred)} vs {len(Y)}")
    p = np.concatenate([np.asarray(s) for s in pred])
    y = np.concatenate([np.asarray(s) for s in Y])
    if p.shape != y.shape:
        raise ValueError("every predicted path must have the length of its sentence")
    hit = p == y
    return {
        "token_acc": float(hit.mean()),
        "acc_o": float(hit[y == 0].mean()),
        "acc_entity": float(hit[y != 0].mean()),
        "entity_f1": entity_f1(Y, pred, BIO_TAGS)["f1"],
        "illegal": illegal_transitions(pred, _ALLOWED, _ALLOWED_START),
    }


def violation_types(pred) -> Counter:
    """Counts of the forbidden moves in tag paths, keyed by ``(previous tag, next tag)`` names (``"文頭"`` = sentence start)."""
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


def learning_rate_grid(lrs, X_train, Y_train, X_val, Y_val, seed: int = 0, **train_kw) -> dict[str, dict[float, float]]:
    """Validation entity F1 of every model kind (decoded as in the chapter) for each learning rate in ``lrs``."""
    how = {"softmax": "argmax", "crf": "viterbi", "crf+rules": "viterbi"}
    out = {kind: {} for kind in KINDS}
    for lr in lrs:
        for kind in KINDS:
            model = train_tagger(kind, X_train, Y_train, lr=lr, seed=seed, **train_kw)
            out[kind][lr] = evaluate(_predict(model, X_val, how[kind]), Y_val)["entity_f1"]
    return out


def run_ablation(seeds, X_train, Y_train, X_test, Y_test, keep_models: bool = False, **train_kw):
    """Every row of :data:`DECODERS` for every seed; returns ``(results, models)``.

    ``results[row]`` is a list of :func:`evaluate` dicts, one per seed (one for the oracle,
    which has no seed). ``models[seed][kind]`` holds the trained models when ``keep_models``.
    """
    results = {name: [] for name, _, _ in DECODERS}
    em_o, mask_o = oracle_emissions(X_test)
    truth = oracle_crf()
    for name, model, how in DECODERS:
        if model == "oracle":
            results[name].append(evaluate(decode(em_o, mask_o, how, truth), Y_test))
    models = {}
    for seed in seeds:
        trained = {kind: train_tagger(kind, X_train, Y_train, seed=seed, **train_kw) for kind in KINDS}
        scores = {kind: emission_scores(m[0], X_test) for kind, m in trained.items()}
        for name, model, how in DECODERS:
            if model != "oracle":
                em, mask = scores[model]
                results[name].append(evaluate(decode(em, mask, how, trained[model][1]), Y_test))
        if keep_models:
            models[seed] = trained
    return results, models


def summarize(rows: list[dict[str, float]], key: str) -> dict[str, float]:
    """Mean, sample standard deviation (0 for one row), min and max of ``key`` over runs."""
    v = np.array([r[key] for r in rows], dtype=float)
    return {"mean": float(v.mean()), "std": float(v.std(ddof=1)) if len(v) > 1 else 0.0,
            "min": float(v.min()), "max": float(v.max()), "n": len(v)}


def type_evidence(X, Y) -> list[tuple[int, int, str]]:
    """Where the type of each entity token is revealed: ``(sentence, position, kind)`` for every entity token.

    In :func:`lecture_code.crf.sample_bio_corpus` the O words and the neighbouring entities are
    drawn independently of an entity's type, so only the entity's own non-ambiguous words carry
    it. ``kind`` is ``"none"`` (every word of the entity is ambiguous: the type is a coin toss
    even for the true model), ``"window"`` (a revealing word of the same entity within ±1, the
    encoder's window) or ``"far"`` (revealing words only farther away).
    """
    ambiguous = set(VOCAB["AMB"])
    out = []
    for s, (x, y) in enumerate(zip(X, Y)):
        for begin, stop, _ in bio_entities(y, BIO_TAGS):
            reveal = [t for t in range(begin, stop) if x[t] not in ambiguous]
            for t in range(begin, stop):
                kind = "none" if not reveal else ("window" if any(abs(r - t) <= 1 for r in reveal) else "far")
                out.append((s, t, kind))
    return out


def type_accuracy(pred, Y, evidence) -> dict[str, float]:
    """Fraction of entity tokens predicted as an entity tag of the right type, per evidence kind of :func:`type_evidence`."""
    kind_of = [None if k == 0 else BIO_TAGS[k][2:] for k in range(len(BIO_TAGS))]
    hits: dict[str, list[bool]] = {}
    for s, t, kind in evidence:
        hits.setdefault(kind, []).append(kind_of[pred[s][t]] == kind_of[Y[s][t]])
    return {kind: float(np.mean(h)) for kind, h in hits.items()}
