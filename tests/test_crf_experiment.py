"""Tests for lecture_code.crf_experiment: the true process as a CRF, training, decoders, evaluation."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from lecture_code import crf as lc
from lecture_code import crf_experiment as ce

pytestmark = pytest.mark.filterwarnings("ignore:where received a uint8")


@pytest.fixture(scope="module")
def chapter_data():
    torch.set_num_threads(1)
    return lc.sample_bio_corpus(1000, seed=0), lc.sample_bio_corpus(500, seed=1)


def test_oracle_crf_is_the_hmm_posterior():
    """log Z = log p(x) and log p(y|x) = log p(x, y) - log p(x), by listing every tag path."""
    X, Y = lc.sample_bio_corpus(40, seed=4, min_len=4, max_len=6)
    truth = ce.oracle_crf()
    with np.errstate(divide="ignore"):
        log_pi, log_A = np.log(lc.BIO_START_PROBS), np.log(lc.BIO_TRANSITION_PROBS)
        log_E = np.log(lc.bio_emission_probs().numpy())
    em, mask = ce.oracle_emissions(X[:3])
    for b, (x, y) in enumerate(zip(X[:3], Y[:3])):
        paths = lc.all_paths(len(x), 5)
        log_joint = torch.from_numpy(log_pi[paths[:, 0]] + log_A[paths[:, :-1], paths[:, 1:]].sum(1)
                                     + log_E[np.array(x), paths].sum(1))
        log_px = torch.logsumexp(log_joint, 0)
        torch.testing.assert_close(truth.log_partition(em[b : b + 1], mask[b : b + 1])[0], log_px)
        gold = log_joint[(paths == torch.tensor(y)).all(1)][0] - log_px
        torch.testing.assert_close(truth(em[b : b + 1], torch.tensor([y + [0] * (em.shape[1] - len(y))]), mask[b : b + 1]), gold)
    assert em.dtype == torch.float64 and (em[~mask] == 0).all()
    assert torch.isneginf(em[0, 0]).sum() >= 1  # a word some tag cannot emit


def test_decoders():
    g = torch.Generator().manual_seed(0)
    em = torch.randn(3, 4, 5, generator=g)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool)
    lengths = [4, 3, 2]
    arg = ce.decode(em, mask, "argmax")
    assert [len(p) for p in arg] == lengths and arg[0] == em[0].argmax(-1).tolist()
    cv = ce.decode(em, mask, "constrained-viterbi")
    allowed, a_start, _ = lc.bio_allowed_transitions(lc.BIO_TAGS)
    assert lc.illegal_transitions(cv, allowed, a_start) == 0
    # constrained Viterbi = the best legal path of the log-softmax scores, by enumeration
    ls = torch.log_softmax(em[2, :2].double(), -1)
    paths = lc.all_paths(2, 5)
    legal = torch.tensor([lc.illegal_transitions(p.tolist(), allowed, a_start) == 0 for p in paths])
    scores = torch.where(legal, ls[0][paths[:, 0]] + ls[1][paths[:, 1]], -torch.inf)
    assert cv[2] == paths[scores.argmax()].tolist()
    crf = lc.LinearChainCRF(5, batch_first=True)
    assert ce.decode(em, mask, "viterbi", crf) == crf.decode(em, mask)
    mpm = ce.decode(em, mask, "mpm", crf)
    assert mpm[0] == crf.marginals(em, mask)[0].argmax(-1).tolist() and [len(p) for p in mpm] == lengths
    with pytest.raises(ValueError, match="needs a crf"):
        ce.decode(em, mask, "mpm")
    with pytest.raises(ValueError, match="how must be"):
        ce.decode(em, mask, "beam", crf)


def test_evaluate_violation_types_and_type_evidence():
    O, BP, IP, BL, IL = range(5)
    Y = [[O, BP, IP, IP, O], [BL, IL, O]]
    pred = [[O, BP, IL, IP, O], [IL, IL, O]]
    r = ce.evaluate(pred, Y)
    assert r["token_acc"] == pytest.approx(6 / 8) and r["acc_o"] == 1.0 and r["acc_entity"] == pytest.approx(3 / 5)
    assert r["illegal"] == 3 and r["entity_f1"] == pytest.approx(1 / 3)  # 1 of 4 predicted, 1 of 2 true entities
    assert ce.violation_types(pred) == Counter({("B-PER", "I-LOC"): 1, ("I-LOC", "I-PER"): 1, ("文頭", "I-LOC"): 1})
    amb, per, loc = lc.VOCAB["AMB"][0], lc.VOCAB["PER"][0], lc.VOCAB["LOC"][0]
    X = [[1, per, amb, amb, 2], [amb, amb, 3]]
    ev = ce.type_evidence(X, Y)
    assert ev == [(0, 1, "window"), (0, 2, "window"), (0, 3, "far"), (1, 0, "none"), (1, 1, "none")]
    acc = ce.type_accuracy(pred, Y, ev)
    assert acc == {"window": 0.5, "far": 1.0, "none": 1.0}
    assert loc not in X[0]
    with pytest.raises(ValueError, match="differ in length"):
        ce.evaluate(pred[:1], Y)


def test_train_tagger_is_deterministic_and_learns():
    X, Y = lc.sample_bio_corpus(300, seed=6)
    a = ce.train_tagger("crf+rules", X, Y, epochs=4, batch_size=50, seed=3)
    b = ce.train_tagger("crf+rules", X, Y, epochs=4, batch_size=50, seed=3)
    for p, q in zip(list(a[0].parameters()) + list(a[1].parameters()), list(b[0].parameters()) + list(b[1].parameters())):
        assert torch.equal(p, q)
    em, mask = ce.emission_scores(a[0], X)
    assert ce.evaluate(ce.decode(em, mask, "viterbi", a[1]), Y)["token_acc"] > 0.85
    enc, crf = ce.train_tagger("softmax", X, Y, epochs=1)
    assert crf is None and isinstance(enc, lc.WindowEncoder)
    with pytest.raises(ValueError, match="kind"):
        ce.train_tagger("hmm", X, Y)
    with pytest.raises(ValueError, match="lr"):
        ce.train_tagger("crf", X, Y, lr=-1.0)
    with pytest.raises(ValueError, match="equally long"):
        ce.train_tagger("crf", X, Y[:-1])


def test_learning_rate_grid_shape():
    X, Y = lc.sample_bio_corpus(60, seed=7)
    grid = ce.learning_rate_grid((0.05,), X, Y, X[:20], Y[:20], epochs=1)
    assert set(grid) == set(ce.KINDS) and all(set(v) == {0.05} and 0 <= v[0.05] <= 1 for v in grid.values())


def test_chapter_ablation_seed_0(chapter_data):
    """A sample of the chapter's 5-seed table, recomputed: seed 0 and the true model."""
    (X_train, Y_train), (X_test, Y_test) = chapter_data
    results, models = ce.run_ablation([0], X_train, Y_train, X_test, Y_test, keep_models=True)
    assert set(results) == {name for name, _, _ in ce.DECODERS} and set(models[0]) == set(ce.KINDS)
    f1 = {n: round(rows[0]["entity_f1"], 3) for n, rows in results.items()}
    assert f1["oracle"] == 0.603 and f1["oracle-mpm"] == 0.567
    assert (f1["softmax"], f1["softmax+viterbi"], f1["crf"], f1["crf+rules"]) == (0.464, 0.543, 0.583, 0.596)
    assert results["oracle-mpm"][0]["illegal"] == 92 and results["softmax"][0]["illegal"] == 326
    assert results["crf+rules"][0]["illegal"] == 0 and results["crf+rules-mpm"][0]["illegal"] == 30
    s = ce.summarize(results["crf"] * 2, "entity_f1")
    assert s["n"] == 2 and s["std"] == 0.0 and s["min"] == s["max"] == s["mean"]
    assert math.isclose(ce.summarize(results["crf"], "entity_f1")["std"], 0.0)


def test_crf_docstring_examples_run():
    import doctest

    assert doctest.testmod(lc).failed == 0
