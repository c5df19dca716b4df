"""Tests for lecture_code.bio: BIO constraints, entities, entity F1, and the
simulated corpus."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from lecture_code import bio, crf

BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def test_bio_allowed_transitions():
    allowed, start, end = bio.bio_allowed_transitions(BIO)
    assert (
        allowed[BIO.index("B-PER"), BIO.index("I-PER")]
        and allowed[BIO.index("I-PER"), BIO.index("I-PER")]
    )
    assert not allowed[BIO.index("B-PER"), BIO.index("I-LOC")]
    assert not allowed[BIO.index("O"), BIO.index("I-PER")]
    assert allowed[:, BIO.index("B-LOC")].all() and allowed[:, 0].all()
    assert start.tolist() == [True, True, False, True, False] and end.all()
    assert int((~allowed).sum()) == 6  # each I-X has 3 forbidden predecessors
    with pytest.raises(ValueError, match="not BIO"):
        bio.bio_allowed_transitions(["O", "PER"])
    with pytest.raises(ValueError, match="duplicates"):
        bio.bio_allowed_transitions(["O", "O"])


def test_illegal_transitions_and_entity_f1():
    # O -> I-PER
    assert (
        bio.illegal_transitions(
            [0, 2, 2, 0], *bio.bio_allowed_transitions(BIO)[:2]
        )
        == 1
    )
    # start I-PER; B-PER -> I-LOC
    assert (
        bio.illegal_transitions(
            [[2, 0], [1, 4]], *bio.bio_allowed_transitions(BIO)[:2]
        )
        == 2
    )
    assert bio.bio_entities([0, 1, 2, 0, 3, 4, 4], BIO) == {
        (1, 3, "PER"),
        (4, 7, "LOC"),
    }
    assert bio.bio_entities([2, 2, 4, 1, 1], BIO) == {
        (0, 2, "PER"),
        (2, 3, "LOC"),
        (3, 4, "PER"),
        (4, 5, "PER"),
    }
    true = [[0, 1, 2, 0, 3]]
    assert bio.entity_f1(true, true, BIO)["f1"] == 1.0
    # PER span cut short: 1 of 2 right
    scores = bio.entity_f1(true, [[0, 1, 0, 0, 3]], BIO)
    assert scores == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    with pytest.raises(ValueError, match="length"):
        bio.entity_f1(true, [[0, 1]], BIO)


def test_sample_bio_corpus_follows_its_process():
    words, tags = bio.sample_bio_corpus(400, seed=3)
    assert len(words) == len(tags) == 400
    assert all(
        6 <= len(y) <= 20 and len(x) == len(y) for x, y in zip(words, tags)
    )
    allowed, a_start, _ = bio.bio_allowed_transitions(bio.BIO_TAGS)
    assert bio.illegal_transitions(tags, allowed, a_start) == 0
    for x, y in zip(words, tags):
        for w, t in zip(x, y):
            name = bio.BIO_TAGS[t]
            pool = "O" if name == "O" else name[2:]
            assert w in bio.VOCAB[pool] or (
                name != "O" and w in bio.VOCAB["AMB"]
            )
    flat = [t for y in tags for t in y]
    # O is about half of the tokens
    assert abs(flat.count(0) / len(flat) - 0.5) < 0.1
    assert bio.sample_bio_corpus(5, seed=1) == bio.sample_bio_corpus(5, seed=1)
    with pytest.raises(ValueError, match="n_sentences"):
        bio.sample_bio_corpus(0)


def test_sample_bio_corpus_is_unchanged_by_the_process_constants():
    """The chapter's numbers rest on this exact corpus: the first training
    sentence of seed 0."""
    words, tags = bio.sample_bio_corpus(1000, seed=0)
    assert [bio.BIO_TAGS[k] for k in tags[0]] == [
        "O",
        "O",
        "O",
        "B-PER",
        "I-PER",
        "I-PER",
        "I-PER",
        "I-PER",
        "I-PER",
        "I-PER",
        "O",
        "B-LOC",
        "O",
        "B-PER",
        "O",
        "B-LOC",
        "I-LOC",
        "O",
    ]
    assert sum(map(len, tags)) == 12894


def test_bio_emission_probs_match_the_sampler():
    E = bio.bio_emission_probs()
    assert E.shape == (bio.VOCAB_SIZE, 5)
    torch.testing.assert_close(E.sum(0), torch.ones(5, dtype=torch.float64))
    assert E[bio.VOCAB_SIZE - 1].sum() == 0  # padding is never emitted
    # B-X and I-X emit alike
    assert torch.equal(E[:, 1], E[:, 2]) and torch.equal(E[:, 3], E[:, 4])
    words, tags = bio.sample_bio_corpus(1500, seed=5)
    ent = [(w, t) for x, y in zip(words, tags) for w, t in zip(x, y) if t != 0]
    share_amb = sum(w in bio.VOCAB["AMB"] for w, _ in ent) / len(ent)
    # 0.6 by construction
    assert abs(share_amb - float(E[list(bio.VOCAB["AMB"]), 1].sum())) < 0.02
    # transition frequencies of the sampled tags against BIO_TRANSITION_PROBS
    A = torch.tensor(bio.BIO_TRANSITION_PROBS, dtype=torch.float64)
    counts = torch.zeros(5, 5, dtype=torch.float64)
    for y in tags:
        for a, b in zip(y[:-1], y[1:]):
            counts[a, b] += 1
    torch.testing.assert_close(
        counts / counts.sum(1, keepdim=True), A, atol=0.03, rtol=0
    )
    with pytest.raises(ValueError, match="p_ambiguous"):
        bio.bio_emission_probs(1.5)


def test_pad_batch():
    words, mask = bio.pad_batch([[1, 2, 3], [4]], pad=9)
    assert words.tolist() == [[1, 2, 3], [4, 9, 9]] and mask.tolist() == [
        [True] * 3,
        [True, False, False],
    ]
    with pytest.raises(ValueError, match="non-empty"):
        bio.pad_batch([[1], []], pad=0)


def test_oracle_crf_is_the_hmm_posterior():
    """log Z = log p(x) and log p(y|x) = log p(x, y) - log p(x), by listing
    every tag path."""
    X, Y = bio.sample_bio_corpus(40, seed=4, min_len=4, max_len=6)
    truth = bio.oracle_crf()
    with np.errstate(divide="ignore"):
        log_pi, log_A = (
            np.log(bio.BIO_START_PROBS),
            np.log(bio.BIO_TRANSITION_PROBS),
        )
        log_E = np.log(bio.bio_emission_probs().numpy())
    em, mask = bio.oracle_emissions(X[:3])
    for b, (x, y) in enumerate(zip(X[:3], Y[:3])):
        paths = crf.all_paths(len(x), 5)
        log_joint = torch.from_numpy(
            log_pi[paths[:, 0]]
            + log_A[paths[:, :-1], paths[:, 1:]].sum(1)
            + log_E[np.array(x), paths].sum(1)
        )
        log_px = torch.logsumexp(log_joint, 0)
        torch.testing.assert_close(
            truth.log_partition(em[b : b + 1], mask[b : b + 1])[0], log_px
        )
        gold = log_joint[(paths == torch.tensor(y)).all(1)][0] - log_px
        torch.testing.assert_close(
            truth(
                em[b : b + 1],
                torch.tensor([y + [0] * (em.shape[1] - len(y))]),
                mask[b : b + 1],
            ),
            gold,
        )
    assert em.dtype == torch.float64 and (em[~mask] == 0).all()
    assert torch.isneginf(em[0, 0]).sum() >= 1  # a word some tag cannot emit
