"""BIO tagging utilities and the simulated corpus of chapter 9
("CRF：点からパスへ").

- BIO tags: which moves are legal (:func:`bio_allowed_transitions`, the hard
  constraints of :class:`lecture_code.linear_chain_crf.LinearChainCRF`), how
  many forbidden moves a set of paths makes (:func:`illegal_transitions`), the
  entities of a path read as the CoNLL scorer reads them (:func:`bio_entities`)
  and entity-level F1 (:func:`entity_f1`);
- the chapter's corpus from a known hidden Markov process
  (:func:`sample_bio_corpus`, :data:`BIO_START_PROBS`,
  :data:`BIO_TRANSITION_PROBS`, :func:`bio_emission_probs`) and
  :func:`pad_batch`, which turns its ragged sentences into a padded tensor and
  a mask;
- the process's posterior p(y|x) written as a CRF (:func:`oracle_crf`,
  :func:`oracle_emissions`), the ceiling against which chapter 9 measures its
  trained taggers.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from .linear_chain_crf import LinearChainCRF

__all__ = [
    "bio_allowed_transitions",
    "illegal_transitions",
    "bio_entities",
    "entity_f1",
    "BIO_TAGS",
    "VOCAB",
    "VOCAB_SIZE",
    "PAD",
    "BIO_START_PROBS",
    "BIO_TRANSITION_PROBS",
    "bio_emission_probs",
    "sample_bio_corpus",
    "pad_batch",
    "oracle_crf",
    "oracle_emissions",
]


def _parse_bio(tag_names: Sequence[str]) -> list[tuple[str, str | None]]:
    if isinstance(tag_names, str) or len(tag_names) == 0:
        raise ValueError(
            "tag_names must be a non-empty list of tag names such as ['O', "
            "'B-PER', 'I-PER']"
        )
    parsed = []
    for name in tag_names:
        if not isinstance(name, str):
            raise TypeError(
                f"tag names must be strings, got {type(name).__name__}"
            )
        if name == "O":
            parsed.append(("O", None))
        elif len(name) > 2 and name[:2] in ("B-", "I-"):
            parsed.append((name[0], name[2:]))
        else:
            raise ValueError(
                f"tag name {name!r} is not BIO: expected 'O', 'B-<type>' or "
                "'I-<type>'"
            )
    if len(set(tag_names)) != len(tag_names):
        raise ValueError(f"tag_names contains duplicates: {list(tag_names)}")
    return parsed


def bio_allowed_transitions(
    tag_names: Sequence[str],
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Legal BIO moves: ``I-X`` may only follow ``B-X`` or ``I-X`` and may not
    start a sentence.

    Returns ``(allowed, allowed_start, allowed_end)``: bool tensors of shape
    (K, K), (K,), (K,) with ``allowed[i, j]`` true when tag j may follow tag i.
    Pass them to :class:`LinearChainCRF` (``allowed_transitions=...``), which
    turns the forbidden entries into −∞ scores.

    Parameters
    ----------
    tag_names : sequence of str
        Tag names such as ``"O"``, ``"B-PER"``, ``"I-PER"``.

    Returns
    -------
    tuple of torch.Tensor
        ``allowed`` (K, K), ``allowed_start`` (K,), ``allowed_end`` (K,), bool.
    """
    parsed = _parse_bio(tag_names)
    K = len(parsed)
    allowed = torch.ones(K, K, dtype=torch.bool)
    for j, (kind_j, type_j) in enumerate(parsed):
        if kind_j == "I":
            for i, (kind_i, type_i) in enumerate(parsed):
                allowed[i, j] = kind_i in ("B", "I") and type_i == type_j
    allowed_start = torch.tensor([kind != "I" for kind, _ in parsed])
    allowed_end = torch.ones(K, dtype=torch.bool)
    return allowed, allowed_start, allowed_end


def illegal_transitions(paths, allowed, allowed_start=None) -> int:
    """Count forbidden moves in tag paths (a list of lists or one list of tag
    ids).

    A move i → j counts when ``allowed[i, j]`` is false; a path starting with a
    tag whose ``allowed_start`` is false counts once more.

    Parameters
    ----------
    paths : list of list of int, or list of int
        Tag paths, or one path.
    allowed : torch.Tensor of bool, shape (K, K)
        Allowed moves i → j.
    allowed_start : torch.Tensor of bool, shape (K,), optional
        Tags that may start a path.

    Returns
    -------
    int
        The number of forbidden moves.
    """
    allowed = torch.as_tensor(allowed, dtype=torch.bool)
    if len(paths) and isinstance(paths[0], (int, np.integer)):
        paths = [paths]
    count = 0
    for path in paths:
        p = torch.as_tensor(list(path), dtype=torch.long)
        if p.numel() == 0:
            continue
        count += int((~allowed[p[:-1], p[1:]]).sum())
        if allowed_start is not None:
            count += int(not bool(torch.as_tensor(allowed_start)[p[0]]))
    return count


def bio_entities(
    path: Sequence[int], tag_names: Sequence[str]
) -> set[tuple[int, int, str]]:
    """Entities ``(first, last + 1, type)`` in one BIO path, read as the CoNLL
    scorer does.

    An entity starts at ``B-X``, or at an ``I-X`` that does not continue an
    entity of type X (an illegal path still yields entities); it continues over
    the following ``I-X``.

    Parameters
    ----------
    path : sequence of int
        One tag path.
    tag_names : sequence of str
        Tag names such as ``"O"``, ``"B-PER"``, ``"I-PER"``.

    Returns
    -------
    set of tuple
        ``(first, last + 1, type)`` per entity.
    """
    parsed = _parse_bio(tag_names)
    entities, begin, current = set(), None, None
    for t, tag in enumerate(list(path) + [None]):
        kind, etype = ("O", None) if tag is None else parsed[int(tag)]
        continues = kind == "I" and etype == current
        if current is not None and not continues:
            entities.add((begin, t, current))
            current = None
        if kind == "B" or (kind == "I" and not continues):
            begin, current = t, etype
    return entities


def entity_f1(
    true_paths, pred_paths, tag_names: Sequence[str]
) -> dict[str, float]:
    """Entity-level precision, recall and F1 (an entity counts only if span
    and type match).

    Parameters
    ----------
    true_paths : list of list of int
        The true tag paths.
    pred_paths : list of list of int
        The predicted tag paths.
    tag_names : sequence of str
        Tag names such as ``"O"``, ``"B-PER"``, ``"I-PER"``.

    Returns
    -------
    dict
        ``precision``, ``recall`` and ``f1``.
    """
    if len(true_paths) != len(pred_paths):
        raise ValueError(
            f"true_paths and pred_paths differ in length: {len(true_paths)} "
            f"vs {len(pred_paths)}"
        )
    tp = n_true = n_pred = 0
    for y, p in zip(true_paths, pred_paths):
        if len(y) != len(p):
            raise ValueError(
                f"a true path has length {len(y)} but its prediction has "
                f"length {len(p)}"
            )
        ey, ep = bio_entities(y, tag_names), bio_entities(p, tag_names)
        tp, n_true, n_pred = (
            tp + len(ey & ep),
            n_true + len(ey),
            n_pred + len(ep),
        )
    precision = tp / n_pred if n_pred else 0.0
    recall = tp / n_true if n_true else 0.0
    f1 = (
        2 * precision * recall / (precision + recall)
        if precision + recall
        else 0.0
    )
    return {"precision": precision, "recall": recall, "f1": f1}


# ----------------------------------------------------------------------------
# A BIO corpus from a known process
# ----------------------------------------------------------------------------

#: Tag names of the simulated corpus.
BIO_TAGS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]

#: Word-id ranges of the simulated vocabulary: ordinary words, person names,
#: place names, and ambiguous words that can be either a person or a place.
VOCAB = {
    "O": range(0, 60),
    "PER": range(60, 80),
    "LOC": range(80, 100),
    "AMB": range(100, 120),
}
VOCAB_SIZE = 121  # id 120 is padding
#: Word id used for padding.
PAD = VOCAB_SIZE - 1


#: The corpus's true process, row by row: p(first tag) and
#: p(next tag | previous tag), in the order of :data:`BIO_TAGS`. Only legal BIO
#: moves have positive probability.
BIO_START_PROBS = (0.6, 0.2, 0.0, 0.2, 0.0)
BIO_TRANSITION_PROBS = (
    (0.7, 0.15, 0.0, 0.15, 0.0),  # after O
    (0.3, 0.05, 0.6, 0.05, 0.0),  # after B-PER
    (0.3, 0.05, 0.6, 0.05, 0.0),  # after I-PER
    (0.3, 0.05, 0.0, 0.05, 0.6),  # after B-LOC
    (0.3, 0.05, 0.0, 0.05, 0.6),  # after I-LOC
)
_KIND = (None, "PER", "PER", "LOC", "LOC")  # entity type of each tag


def _check_corpus_args(p_ambiguous):
    if not 0 <= p_ambiguous <= 1:
        raise ValueError(
            f"p_ambiguous must lie in [0, 1], got {p_ambiguous!r}"
        )


def bio_emission_probs(p_ambiguous: float = 0.6) -> torch.Tensor:
    """p(word | tag) of :func:`sample_bio_corpus`, shape (VOCAB_SIZE, 5),
    float64.

    An O token is uniform over the 60 ordinary words; a token of an entity of
    type X is an ambiguous word (uniform over 20) with probability
    ``p_ambiguous``, else a word of type X (uniform over 20). The padding id
    has probability 0 under every tag. B-X and I-X emit alike.

    Parameters
    ----------
    p_ambiguous : float
        Probability that an entity token is an ambiguous word.

    Returns
    -------
    torch.Tensor, shape (VOCAB_SIZE, 5)
        p(word | tag), float64; each column sums to 1.
    """
    _check_corpus_args(p_ambiguous)
    E = torch.zeros(VOCAB_SIZE, len(BIO_TAGS), dtype=torch.float64)
    for k, kind in enumerate(_KIND):
        if kind is None:
            E[list(VOCAB["O"]), k] = 1 / len(VOCAB["O"])
        else:
            E[list(VOCAB["AMB"]), k] += p_ambiguous / len(VOCAB["AMB"])
            E[list(VOCAB[kind]), k] += (1 - p_ambiguous) / len(VOCAB[kind])
    return E


def sample_bio_corpus(
    n_sentences: int,
    seed: int = 0,
    min_len: int = 6,
    max_len: int = 20,
    p_ambiguous: float = 0.6,
):
    """Sentences from a known hidden Markov process over BIO tags (simulated
    data).

    Tags follow a Markov chain that only makes legal BIO moves
    (:data:`BIO_START_PROBS`, :data:`BIO_TRANSITION_PROBS`): a sentence starts
    with O (0.6) or B-PER / B-LOC (0.2 each); after O comes O (0.7) or a B- tag
    (0.15 each); inside an entity, I-X continues it (0.6), O ends it (0.3) or
    another entity begins (0.05 each). Each word is drawn given its tag only
    (:func:`bio_emission_probs`): an entity token of type X is an ambiguous
    word (``VOCAB['AMB']``, shared by PER and LOC) with probability
    ``p_ambiguous``, else a word of type X; an O token is an ordinary word.
    Lengths are uniform on [min_len, max_len] and independent of the tags.

    Returns ``(words, tags)``: two lists of ``n_sentences`` integer lists.

    Parameters
    ----------
    n_sentences : int
        Number of sentences.
    seed : int
        Seed of the generator.
    min_len : int
        Shortest sentence.
    max_len : int
        Longest sentence.
    p_ambiguous : float
        Probability that an entity token is an ambiguous word.

    Returns
    -------
    tuple of list
        ``words`` and ``tags``: ``n_sentences`` integer lists each.
    """
    if n_sentences < 1 or not 1 <= min_len <= max_len:
        raise ValueError("need n_sentences >= 1 and 1 <= min_len <= max_len")
    _check_corpus_args(p_ambiguous)
    rng = np.random.default_rng(seed)
    # cumulative probabilities of the next tag, one row per previous tag;
    # row 5 is the sentence start
    next_tag = np.cumsum([*BIO_TRANSITION_PROBS, BIO_START_PROBS], axis=1)
    words, tags = [], []
    for _ in range(n_sentences):
        T = int(rng.integers(min_len, max_len + 1))
        u_tag, u_amb, u_word = rng.random(T), rng.random(T), rng.random(T)
        y, x, prev = [], [], 5
        for t in range(T):
            prev = int(np.searchsorted(next_tag[prev], u_tag[t], side="right"))
            pool = (
                "O"
                if _KIND[prev] is None
                else ("AMB" if u_amb[t] < p_ambiguous else _KIND[prev])
            )
            ids = VOCAB[pool]
            y.append(prev)
            x.append(ids[int(u_word[t] * len(ids))])
        words.append(x)
        tags.append(y)
    return words, tags


def pad_batch(seqs, pad: int):
    """Pad integer lists into a (B, T_max) long tensor; returns it and the
    (B, T_max) bool mask.

    Parameters
    ----------
    seqs : list of list of int
        Sequences of different lengths.
    pad : int
        The padding id.

    Returns
    -------
    tuple of torch.Tensor
        The padded ids (B, T_max), int64, and the mask (B, T_max), bool.
    """
    lengths = np.array([len(s) for s in seqs])
    if len(seqs) == 0 or lengths.min() < 1:
        raise ValueError(
            "seqs must be a non-empty list of non-empty sequences"
        )
    mask = np.arange(lengths.max())[None, :] < lengths[:, None]  # (B, T_max)
    out = np.full(mask.shape, pad, dtype=np.int64)
    # row by row
    out[mask] = np.concatenate([np.asarray(s, dtype=np.int64) for s in seqs])
    return torch.from_numpy(out), torch.from_numpy(mask)


# ----------------------------------------------------------------------------
# The corpus's true posterior as a CRF: an HMM's p(y|x) is a linear-chain CRF
# with ψ_t(k) = log p(x_t | k), φ = log A and φ_start = log π
# ----------------------------------------------------------------------------


def oracle_crf(p_ambiguous: float = 0.6) -> LinearChainCRF:
    """The corpus's true posterior p(y|x) as a constrained float64 CRF (use
    with :func:`oracle_emissions`).

    φ(i, j) = log A_ij and φ_start(j) = log π_j, where
    A = ``BIO_TRANSITION_PROBS`` and π = ``BIO_START_PROBS``; their zero
    entries become hard constraints (−∞). There is no end score: sentence
    lengths do not depend on the tags.

    Parameters
    ----------
    p_ambiguous : float
        Probability that an entity token is an ambiguous word.

    Returns
    -------
    LinearChainCRF
        The constrained float64 CRF of the true process.
    """
    A = torch.tensor(BIO_TRANSITION_PROBS, dtype=torch.float64)
    pi = torch.tensor(BIO_START_PROBS, dtype=torch.float64)
    crf = LinearChainCRF(
        len(BIO_TAGS),
        batch_first=True,
        allowed_transitions=A > 0,
        allowed_start=pi > 0,
    ).double()
    with torch.no_grad():
        crf.transitions.copy_(torch.where(A > 0, A.log(), 0.0))
        crf.start_transitions.copy_(torch.where(pi > 0, pi.log(), 0.0))
        crf.end_transitions.zero_()
    return crf


def oracle_emissions(X: Sequence[Sequence[int]], p_ambiguous: float = 0.6):
    """ψ_t(k) = log p(x_t | k) of the true process for padded sentences;
    returns ((B, T, K) float64, mask (B, T)).

    Words a tag cannot emit get −∞; padded steps get 0 (the mask hides them).

    Parameters
    ----------
    X : sequence of sequence of int
        Word ids of the sentences.
    p_ambiguous : float
        Probability that an entity token is an ambiguous word.

    Returns
    -------
    tuple of torch.Tensor
        ψ (B, T, K), float64, and the mask (B, T).
    """
    words, mask = pad_batch(X, PAD)
    with np.errstate(divide="ignore"):
        # (V, K), −inf where 0
        log_e = torch.from_numpy(
            np.log(bio_emission_probs(p_ambiguous).numpy())
        )
    em = log_e[words]  # (B, T, K)
    em[~mask] = 0.0
    return em, mask
