"""Tests for lecture_code.crf_experiment: the true process as a CRF,
training, decoders, evaluation."""

from __future__ import annotations

import math
from collections import Counter

import numpy as np
import pytest
import torch

from lecture_code import bio, linear_chain_crf
from lecture_code import crf as lc
from lecture_code import crf_experiment as ce

pytestmark = pytest.mark.filterwarnings("ignore:where received a uint8")


@pytest.fixture(scope="module")
def chapter_data():
    torch.set_num_threads(1)
    return bio.sample_bio_corpus(1000, seed=0), bio.sample_bio_corpus(
        500, seed=1
    )


def test_decoders():
    g = torch.Generator().manual_seed(0)
    em = torch.randn(3, 4, 5, generator=g)
    mask = torch.tensor(
        [[1, 1, 1, 1], [1, 1, 1, 0], [1, 1, 0, 0]], dtype=torch.bool
    )
    lengths = [4, 3, 2]
    arg = ce.decode(em, mask, "argmax")
    assert [len(p) for p in arg] == lengths and arg[0] == em[0].argmax(
        -1
    ).tolist()
    cv = ce.decode(em, mask, "constrained-viterbi")
    allowed, a_start, _ = bio.bio_allowed_transitions(bio.BIO_TAGS)
    assert bio.illegal_transitions(cv, allowed, a_start) == 0
    # constrained Viterbi = the best legal path of the log-softmax scores, by
    # enumeration
    ls = torch.log_softmax(em[2, :2].double(), -1)
    paths = lc.all_paths(2, 5)
    legal = torch.tensor(
        [
            bio.illegal_transitions(p.tolist(), allowed, a_start) == 0
            for p in paths
        ]
    )
    scores = torch.where(
        legal, ls[0][paths[:, 0]] + ls[1][paths[:, 1]], -torch.inf
    )
    assert cv[2] == paths[scores.argmax()].tolist()
    crf = lc.LinearChainCRF(5, batch_first=True)
    assert ce.decode(em, mask, "viterbi", crf) == crf.decode(em, mask)
    mpm = ce.decode(em, mask, "mpm", crf)
    assert (
        mpm[0] == crf.marginals(em, mask)[0].argmax(-1).tolist()
        and [len(p) for p in mpm] == lengths
    )
    with pytest.raises(ValueError, match="needs a crf"):
        ce.decode(em, mask, "mpm")
    with pytest.raises(ValueError, match="how must be"):
        ce.decode(em, mask, "beam", crf)


def test_evaluate_violation_types_and_type_evidence():
    O, BP, IP, BL, IL = range(5)
    Y = [[O, BP, IP, IP, O], [BL, IL, O]]
    pred = [[O, BP, IL, IP, O], [IL, IL, O]]
    r = ce.evaluate(pred, Y)
    assert (
        r["token_acc"] == pytest.approx(6 / 8)
        and r["acc_o"] == 1.0
        and r["acc_entity"] == pytest.approx(3 / 5)
    )
    # 1 of 4 predicted, 1 of 2 true entities
    assert r["illegal"] == 3 and r["entity_f1"] == pytest.approx(1 / 3)
    assert ce.violation_types(pred) == Counter(
        {("B-PER", "I-LOC"): 1, ("I-LOC", "I-PER"): 1, ("文頭", "I-LOC"): 1}
    )
    amb, per, loc = (
        bio.VOCAB["AMB"][0],
        bio.VOCAB["PER"][0],
        bio.VOCAB["LOC"][0],
    )
    X = [[1, per, amb, amb, 2], [amb, amb, 3]]
    ev = ce.type_evidence(X, Y)
    assert ev == [
        (0, 1, "window"),
        (0, 2, "window"),
        (0, 3, "far"),
        (1, 0, "none"),
        (1, 1, "none"),
    ]
    acc = ce.type_accuracy(pred, Y, ev)
    assert acc == {"window": 0.5, "far": 1.0, "none": 1.0}
    assert loc not in X[0]
    with pytest.raises(ValueError, match="differ in length"):
        ce.evaluate(pred[:1], Y)


def test_train_tagger_is_deterministic_and_learns():
    X, Y = bio.sample_bio_corpus(300, seed=6)
    a = ce.train_tagger("crf+rules", X, Y, epochs=4, batch_size=50, seed=3)
    b = ce.train_tagger("crf+rules", X, Y, epochs=4, batch_size=50, seed=3)
    for p, q in zip(
        list(a[0].parameters()) + list(a[1].parameters()),
        list(b[0].parameters()) + list(b[1].parameters()),
    ):
        assert torch.equal(p, q)
    em, mask = ce.emission_scores(a[0], X)
    assert (
        ce.evaluate(ce.decode(em, mask, "viterbi", a[1]), Y)["token_acc"]
        > 0.85
    )
    enc, crf = ce.train_tagger("softmax", X, Y, epochs=1)
    assert crf is None and isinstance(enc, ce.WindowEncoder)
    with pytest.raises(ValueError, match="kind"):
        ce.train_tagger("hmm", X, Y)
    with pytest.raises(ValueError, match="lr"):
        ce.train_tagger("crf", X, Y, lr=-1.0)
    with pytest.raises(TypeError, match="lr"):
        ce.train_tagger("crf", X, Y, lr="0.1")
    for epochs in (0, -3):
        with pytest.raises(ValueError, match="epochs"):
            ce.train_tagger("crf", X, Y, epochs=epochs)
    with pytest.raises(TypeError, match="batch_size"):
        ce.train_tagger("crf", X, Y, batch_size=2.5)
    # a NumPy number is a number
    enc32, _ = ce.train_tagger("softmax", X[:20], Y[:20], lr=np.float32(0.1))
    assert isinstance(enc32, ce.WindowEncoder)
    with pytest.raises(ValueError, match="equally long"):
        ce.train_tagger("crf", X, Y[:-1])


def test_learning_rate_grid_shape():
    X, Y = bio.sample_bio_corpus(60, seed=7)
    grid = ce.learning_rate_grid((0.05,), X, Y, X[:20], Y[:20], epochs=1)
    assert set(grid) == set(ce.KINDS) and all(
        set(v) == {0.05} and 0 <= v[0.05] <= 1 for v in grid.values()
    )


def test_chapter_ablation_seed_0(chapter_data):
    """A sample of the chapter's 5-seed table, recomputed: seed 0 and the
    true model."""
    (X_train, Y_train), (X_test, Y_test) = chapter_data
    results, models = ce.run_ablation(
        [0], X_train, Y_train, X_test, Y_test, keep_models=True
    )
    assert set(results) == {name for name, _, _ in ce.DECODERS} and set(
        models[0]
    ) == set(ce.KINDS)
    f1 = {n: round(rows[0]["entity_f1"], 3) for n, rows in results.items()}
    assert f1["oracle"] == 0.603 and f1["oracle-mpm"] == 0.567
    assert (
        f1["softmax"],
        f1["softmax+viterbi"],
        f1["crf"],
        f1["crf+rules"],
    ) == (0.464, 0.543, 0.583, 0.596)
    assert (
        results["oracle-mpm"][0]["illegal"] == 92
        and results["softmax"][0]["illegal"] == 326
    )
    assert (
        results["crf+rules"][0]["illegal"] == 0
        and results["crf+rules-mpm"][0]["illegal"] == 30
    )
    s = ce.summarize(results["crf"] * 2, "entity_f1")
    assert (
        s["n"] == 2 and s["std"] == 0.0 and s["min"] == s["max"] == s["mean"]
    )
    assert math.isclose(ce.summarize(results["crf"], "entity_f1")["std"], 0.0)


@pytest.mark.parametrize(
    "module", [lc, bio, linear_chain_crf, ce], ids=lambda m: m.__name__
)
def test_crf_docstring_examples_run(module):
    import doctest

    assert doctest.testmod(module).failed == 0


def test_window_encoder():
    words, _ = bio.pad_batch([[1, 2, 3], [4]], pad=9)
    enc = ce.WindowEncoder(10, 5, pad=9)
    out = enc(words)
    assert out.shape == (2, 3, 5)
    # the window is t-1, t, t+1: changing word 0 leaves position 2 unchanged
    out2 = enc(torch.tensor([[7, 2, 3], [4, 9, 9]]))
    torch.testing.assert_close(out[0, 2], out2[0, 2])
    assert not torch.allclose(out[0, 1], out2[0, 1])


def test_stored_learning_rate_grid_is_reproduced():
    """Chapter 9 reads its learning-rate grid from
    notebooks/data/ch09_lr_grid.csv (``bench_crf.py --write-grid``):
    every model at the chosen rate, recomputed here, gives the stored
    validation F1 exactly."""
    from pathlib import Path

    stored = ce.read_learning_rate_grid(
        Path(__file__).resolve().parents[1]
        / "notebooks"
        / "data"
        / "ch09_lr_grid.csv"
    )
    assert set(stored) == set(ce.KINDS) and all(
        tuple(row) == ce.LEARNING_RATES for row in stored.values()
    )
    torch.set_num_threads(1)
    (X_tr, Y_tr), (X_va, Y_va) = (
        bio.sample_bio_corpus(1000, seed=0),
        bio.sample_bio_corpus(500, seed=2),
    )
    fresh = ce.learning_rate_grid(
        (ce.LEARNING_RATE,), X_tr, Y_tr, X_va, Y_va, seed=0
    )
    assert {k: row[ce.LEARNING_RATE] for k, row in stored.items()} == {
        k: row[ce.LEARNING_RATE] for k, row in fresh.items()
    }


def test_learning_rate_grid_file_round_trip(tmp_path):
    grid = {
        "softmax": {0.01: 0.25, 0.05: 1 / 3},
        "crf": {0.01: 0.5, 0.05: 2 / 3},
    }
    ce.write_learning_rate_grid(tmp_path / "g.csv", grid)
    assert ce.read_learning_rate_grid(tmp_path / "g.csv") == grid


def test_viterbi_with_strength_interpolates_between_argmax_and_the_crf():
    g = torch.Generator().manual_seed(8)
    crf_ = linear_chain_crf.LinearChainCRF(4, batch_first=True).double()
    with torch.no_grad():
        crf_.transitions.copy_(
            3 * torch.randn(4, 4, generator=g, dtype=torch.float64)
        )
    em = torch.randn(6, 4, generator=g, dtype=torch.float64)
    # λ = 0: each position alone
    assert ce.viterbi_with_strength(em, crf_, 0.0) == em.argmax(dim=1).tolist()
    # λ = 1: the CRF itself
    assert ce.viterbi_with_strength(em, crf_, 1.0) == crf_.decode(em[None])[0]
    start, trans, end = (
        2.5 * x.detach()
        for x in (
            crf_.start_transitions,
            crf_.transitions,
            crf_.end_transitions,
        )
    )
    assert (
        ce.viterbi_with_strength(em, crf_, 2.5)
        == lc.viterbi(em, trans, start, end)[0]
    )
    with pytest.raises(ValueError, match="lam"):
        ce.viterbi_with_strength(em, crf_, -1.0)


def test_timing_helpers():
    calls = []
    assert (
        ce.best_time(lambda: calls.append(1), repeats=4) >= 0
        and len(calls) == 4
    )
    with pytest.raises(ValueError, match="repeats"):
        ce.best_time(lambda: None, repeats=0)
    g = torch.Generator().manual_seed(0)
    t_brute, t_forward = ce.log_partition_cost(
        [2, 3],
        [2, 4, 8],
        torch.zeros(3, 3, dtype=torch.float64),
        generator=g,
        repeats=1,
    )
    assert (
        len(t_brute) == 2
        and len(t_forward) == 3
        and all(t > 0 for t in t_brute + t_forward)
    )
    # the emissions are drawn in order from the generator: 2 + 3 tensors of
    # shape (T, 3)
    ref = torch.Generator().manual_seed(0)
    for T in (2, 3, 2, 4, 8):
        torch.randn(T, 3, generator=ref, dtype=torch.float64)
    assert torch.equal(
        torch.randn(3, generator=g), torch.randn(3, generator=ref)
    )


def test_compare_with_torchcrf_agrees_and_times_both():
    state = torch.random.get_rng_state()
    res = ce.compare_with_torchcrf((4, 10, 3), repeats=3)
    # the global generator is left alone
    assert torch.equal(state, torch.random.get_rng_state())
    assert (
        res["rel_llh"] < 1e-5 and res["grad_diff"] < 1e-4 and res["same_paths"]
    )
    for task in ("forward+backward", "decode"):
        assert all(
            len(res["times"][task][who]) == 3 for who in ("torchcrf", "ours")
        )
        m = res["median"][task]
        assert res["ratio"][task] == pytest.approx(m["torchcrf"] / m["ours"])
    with pytest.raises(ValueError, match="repeats"):
        ce.compare_with_torchcrf((2, 3, 2), repeats=0)


def test_format_spread_and_html_table():
    one = ce.summarize([{"f1": 0.5}], "f1")
    assert ce.format_spread(one) == "0.500"
    assert (
        ce.format_spread(ce.summarize([{"k": 1.0}, {"k": 3.0}], "k"), 0)
        == "2 ± 1（1〜3）"
    )
    html = ce.html_table(["x", "y<sup>2</sup>"], [(1, 1), (2, 4)]).data
    assert (
        html.count("<tr>") == 3
        and "<th>y<sup>2</sup></th>" in html
        and "<td>4</td>" in html
    )
