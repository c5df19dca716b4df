"""Tests for lecture_code.crf: brute force over K^T paths, autograd, and torchcrf (pytorch-crf 0.7.2)."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torchcrf import CRF

from lecture_code import crf as lc
from lecture_code.crf import LinearChainCRF

pytestmark = pytest.mark.filterwarnings("ignore:where received a uint8")

BIO = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]


def pair(K, batch_first=False, dtype=torch.float64, seed=0):
    """A torchcrf.CRF and a LinearChainCRF with the same parameters."""
    torch.manual_seed(seed)
    ref = CRF(K, batch_first=batch_first).to(dtype)
    torch.manual_seed(seed)
    ours = LinearChainCRF(K, batch_first=batch_first).to(dtype)
    return ref, ours


def random_case(B, T, K, batch_first=False, dtype=torch.float64, seed=0, ragged=True):
    g = torch.Generator().manual_seed(seed)
    shape = (B, T) if batch_first else (T, B)
    emissions = torch.randn(*shape, K, generator=g, dtype=dtype) * 2
    tags = torch.randint(0, K, shape, generator=g)
    lengths = torch.randint(1, T + 1, (B,), generator=g) if ragged else torch.full((B,), T)
    lengths[0] = T
    mask = torch.arange(T)[None, :] < lengths[:, None]  # (B, T)
    return emissions, tags, (mask if batch_first else mask.T.contiguous())


def brute_force(emissions, start, trans, end, allowed=None):
    """log Z, the best path and the marginals of one sequence (T, K) by listing all paths."""
    T, K = emissions.shape
    paths = lc.all_paths(T, K)
    scores = lc.sequence_score(emissions, paths, trans, start, end)
    if allowed is not None:
        legal = allowed[paths[:, :-1], paths[:, 1:]].all(dim=1)
        scores = torch.where(legal, scores, -torch.inf)
    p = torch.softmax(scores, dim=0)
    marg = torch.zeros(T, K, dtype=emissions.dtype)
    for t in range(T):
        marg[t].index_add_(0, paths[:, t], p)
    return torch.logsumexp(scores, 0), paths[scores.argmax()].tolist(), marg


# ---------------------------------------------------------------- lesson functions vs brute force


@pytest.mark.parametrize("T,K", [(1, 3), (2, 2), (4, 3), (5, 4), (3, 6)])
def test_log_partition_forward_and_viterbi_match_enumeration(T, K):
    g = torch.Generator().manual_seed(T * 10 + K)
    em = torch.randn(T, K, generator=g, dtype=torch.float64) * 2
    trans = torch.randn(K, K, generator=g, dtype=torch.float64)
    start, end = torch.randn(K, generator=g, dtype=torch.float64), torch.randn(K, generator=g, dtype=torch.float64)
    log_z, best, marg = brute_force(em, start, trans, end)
    torch.testing.assert_close(lc.brute_force_log_partition(em, trans, start, end), log_z)
    torch.testing.assert_close(lc.forward_log_partition(em, trans, start, end), log_z, rtol=1e-12, atol=1e-12)
    path, score = lc.viterbi(em, trans, start, end)
    assert path == best
    assert score == pytest.approx(float(lc.sequence_score(em, best, trans, start, end)), abs=1e-12)
    crf = LinearChainCRF(K, batch_first=True).double()
    with torch.no_grad():
        crf.start_transitions.copy_(start), crf.transitions.copy_(trans), crf.end_transitions.copy_(end)
    torch.testing.assert_close(crf.log_partition(em[None])[0], log_z, rtol=1e-12, atol=1e-12)
    assert crf.decode(em[None]) == [best]
    m = crf.marginals(em[None])[0]
    torch.testing.assert_close(m, marg, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(m.sum(-1), torch.ones(T, dtype=torch.float64))


def test_sequence_score_is_the_sum_of_emissions_and_transitions():
    em = torch.tensor([[1.0, 2.0], [0.5, -1.0], [3.0, 0.0]], dtype=torch.float64)
    trans = torch.tensor([[0.1, 0.2], [0.3, 0.4]], dtype=torch.float64)
    # path 1 -> 0 -> 0: ψ = 2 + 0.5 + 3, φ = 0.3 + 0.1
    assert float(lc.sequence_score(em, [1, 0, 0], trans)) == pytest.approx(5.9)


def test_grad_log_partition_equals_marginals():
    """∇_ψ log Z = node marginals and ∇_φ log Z = expected transition counts (eq-crf-grad-marginals)."""
    T, K = 4, 3
    g = torch.Generator().manual_seed(3)
    em = torch.randn(T, K, generator=g, dtype=torch.float64, requires_grad=True)
    crf = LinearChainCRF(K, batch_first=True).double()
    crf.log_partition(em[None]).sum().backward()
    _, _, marg = brute_force(em.detach(), crf.start_transitions.detach(), crf.transitions.detach(), crf.end_transitions.detach())
    torch.testing.assert_close(em.grad, marg, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(em.grad, crf.marginals(em.detach()[None])[0], rtol=1e-10, atol=1e-12)
    # pairwise: E[#(i -> j)] by enumeration
    paths = lc.all_paths(T, K)
    s = lc.sequence_score(em.detach(), paths, crf.transitions.detach(), crf.start_transitions.detach(), crf.end_transitions.detach())
    p = torch.softmax(s, 0)
    counts = torch.zeros(K, K, dtype=torch.float64)
    for t in range(T - 1):
        counts.index_put_((paths[:, t], paths[:, t + 1]), p, accumulate=True)
    torch.testing.assert_close(crf.transitions.grad, counts, rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(crf.start_transitions.grad, marg[0], rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(crf.end_transitions.grad, marg[-1], rtol=1e-10, atol=1e-12)


def test_gradcheck_log_likelihood():
    crf = LinearChainCRF(3).double()
    em, tags, mask = random_case(3, 5, 3, seed=4)
    em.requires_grad_(True)
    f = lambda e, s, tr, en: _with_params(crf, s, tr, en)(e, tags, mask, reduction="none")  # noqa: E731
    assert torch.autograd.gradcheck(f, (em, crf.start_transitions.detach().clone().requires_grad_(),
                                        crf.transitions.detach().clone().requires_grad_(),
                                        crf.end_transitions.detach().clone().requires_grad_()))


def _with_params(crf, s, tr, en):
    def call(e, tags, mask, reduction):
        # run forward with the given tensors as the parameters (they carry the autograd graph)
        params = {"start_transitions": s, "transitions": tr, "end_transitions": en}
        return torch.func.functional_call(crf, params, (e, tags, mask), {"reduction": reduction})
    return call


# ---------------------------------------------------------------- agreement with torchcrf


@pytest.mark.parametrize("dtype,rtol", [(torch.float32, 1e-5), (torch.float64, 1e-10)])
@pytest.mark.parametrize("batch_first", [False, True])
@pytest.mark.parametrize("ragged", [False, True])
def test_agrees_with_torchcrf(dtype, rtol, batch_first, ragged):
    K = 5
    ref, ours = pair(K, batch_first, dtype, seed=1)
    em, tags, mask = random_case(6, 9, K, batch_first, dtype, seed=2, ragged=ragged)
    for m in (None, mask, mask.to(torch.uint8)):
        for red in ("none", "sum", "mean", "token_mean"):
            torch.testing.assert_close(ours(em, tags, m, reduction=red), ref(em, tags, m, reduction=red), rtol=rtol, atol=0)
        e1, e2 = em.clone().requires_grad_(), em.clone().requires_grad_()
        ref.zero_grad(), ours.zero_grad()
        ref(e1, tags, m).backward()
        ours(e2, tags, m).backward()
        atol = 1e-5 if dtype == torch.float32 else 1e-12
        torch.testing.assert_close(e2.grad, e1.grad, rtol=0, atol=atol)
        for p, q in zip(ours.parameters(), ref.parameters()):
            torch.testing.assert_close(p.grad, q.grad, rtol=0, atol=atol * 10)
        assert ours.decode(em, m) == ref.decode(em, m)
        torch.testing.assert_close(ours.log_partition(em, m), ref._compute_normalizer(*_tf(ref, em, m)), rtol=rtol, atol=0)


def _tf(ref, em, m):
    if m is None:
        m = torch.ones(em.shape[:2], dtype=torch.bool)
    if ref.batch_first:
        return em.transpose(0, 1), m.transpose(0, 1).bool()
    return em, m.bool()


@settings(max_examples=40, deadline=None)
@given(B=st.integers(1, 5), T=st.integers(1, 12), K=st.integers(1, 7), seed=st.integers(0, 10_000), bf=st.booleans())
def test_property_matches_torchcrf(B, T, K, seed, bf):
    ref, ours = pair(K, bf, torch.float64, seed=seed)
    em, tags, mask = random_case(B, T, K, bf, torch.float64, seed=seed)
    torch.testing.assert_close(ours(em, tags, mask, reduction="none"), ref(em, tags, mask, reduction="none"), rtol=1e-10, atol=1e-10)
    assert ours.decode(em, mask) == ref.decode(em, mask)


def test_large_shapes_float32_agree():
    for B, T, K in [(32, 128, 9), (4, 300, 50)]:
        ref, ours = pair(K, True, torch.float32, seed=5)
        em, tags, mask = random_case(B, T, K, True, torch.float32, seed=6)
        torch.testing.assert_close(ours(em, tags, mask, "none"), ref(em, tags, mask, "none"), rtol=1e-5, atol=0)
        assert ours.decode(em, mask) == ref.decode(em, mask)


def test_ties_give_the_same_paths_as_torchcrf():
    """Integer scores make many exact ties; both keep the first maximiser."""
    ref, ours = pair(4, True, torch.float32, seed=0)
    with torch.no_grad():
        for p, q in zip(ref.parameters(), ours.parameters()):
            p.copy_(torch.randint(-1, 2, p.shape).float())
            q.copy_(p)
    em = torch.randint(-2, 3, (8, 10, 4)).float()
    assert ours.decode(em) == ref.decode(em)


def test_mask_with_gaps_matches_torchcrf():
    ref, ours = pair(4, False, torch.float64, seed=7)
    em, tags, _ = random_case(4, 8, 4, False, torch.float64, seed=8)
    mask = torch.ones(8, 4, dtype=torch.bool)
    mask[3, 1] = mask[5:, 2] = mask[2, 3] = mask[6, 3] = False
    torch.testing.assert_close(ours(em, tags, mask, "none"), ref(em, tags, mask, "none"), rtol=1e-10, atol=1e-10)
    assert ours.decode(em, mask) == ref.decode(em, mask)
    m = ours.marginals(em, mask)
    assert (m[~mask] == 0).all()
    torch.testing.assert_close(m.sum(-1)[mask], torch.ones(int(mask.sum()), dtype=torch.float64))


def test_extreme_scores_fall_back_to_log_space():
    """Transition scores 200 apart underflow exp in float32; the result must still match."""
    ref, ours = pair(3, True, torch.float32, seed=9)
    with torch.no_grad():
        big = torch.tensor([[0.0, -200.0, 5.0], [-150.0, 0.0, 0.0], [80.0, -90.0, 0.0]])
        ref.transitions.copy_(big), ours.transitions.copy_(big)
    em, tags, mask = random_case(4, 6, 3, True, torch.float32, seed=10)
    em = em * 40
    np_args = [x.detach().numpy() for x in (ours.start_transitions, ours.transitions, ours.end_transitions)]
    assert not lc._scaled_forward(em.transpose(0, 1).contiguous().numpy(), *np_args, mask.sum(1).numpy(), False)[1]  # exp space fails here
    torch.testing.assert_close(ours(em, tags, mask, "none"), ref(em, tags, mask, "none"), rtol=1e-5, atol=1e-3)
    m = ours.marginals(em, mask)
    torch.testing.assert_close(m.sum(-1)[mask], torch.ones(int(mask.sum())))


def test_same_initialisation_and_state_dict_as_torchcrf():
    ref, ours = pair(7, seed=11, dtype=torch.float32)
    for (n1, p), (n2, q) in zip(ref.named_parameters(), ours.named_parameters()):
        assert n1 == n2 and torch.equal(p, q)
    assert all(-0.1 <= float(p.detach().min()) and float(p.detach().max()) <= 0.1 for p in ours.parameters())
    assert set(ours.state_dict()) == set(ref.state_dict())
    fresh = LinearChainCRF(7)
    fresh.load_state_dict(ref.state_dict())
    assert torch.equal(fresh.transitions, ref.transitions)
    assert repr(ours) == "LinearChainCRF(num_tags=7)"


def test_mixed_precision_promotes_like_torchcrf():
    ref, ours = pair(4, seed=12, dtype=torch.float32)
    em, tags, mask = random_case(3, 5, 4, dtype=torch.float64, seed=13)
    out = ours(em, tags, mask, "none")
    assert out.dtype == ref(em, tags, mask, "none").dtype == torch.float64
    torch.testing.assert_close(out, ref(em, tags, mask, "none"), rtol=1e-6, atol=0)


def test_half_precision_falls_back_and_stays_close():
    ref, ours = pair(4, seed=14, dtype=torch.float32)
    em, tags, mask = random_case(3, 5, 4, dtype=torch.float32, seed=15)
    torch.testing.assert_close(ours(em.bfloat16(), tags, mask, "none"), ref(em.bfloat16(), tags, mask, "none"), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- constraints


def test_bio_allowed_transitions():
    allowed, start, end = lc.bio_allowed_transitions(BIO)
    assert allowed[BIO.index("B-PER"), BIO.index("I-PER")] and allowed[BIO.index("I-PER"), BIO.index("I-PER")]
    assert not allowed[BIO.index("B-PER"), BIO.index("I-LOC")]
    assert not allowed[BIO.index("O"), BIO.index("I-PER")]
    assert allowed[:, BIO.index("B-LOC")].all() and allowed[:, 0].all()
    assert start.tolist() == [True, True, False, True, False] and end.all()
    assert int((~allowed).sum()) == 6  # each I-X has 3 forbidden predecessors
    with pytest.raises(ValueError, match="not BIO"):
        lc.bio_allowed_transitions(["O", "PER"])
    with pytest.raises(ValueError, match="duplicates"):
        lc.bio_allowed_transitions(["O", "O"])


def test_constraints_are_never_violated_and_match_brute_force():
    allowed, a_start, a_end = lc.bio_allowed_transitions(BIO)
    K = len(BIO)
    crf = LinearChainCRF(K, batch_first=True, allowed_transitions=allowed, allowed_start=a_start, allowed_end=a_end).double()
    g = torch.Generator().manual_seed(16)
    em = torch.randn(200, 12, K, generator=g, dtype=torch.float64) * 3
    em[:, :, [2, 4]] += 2.0  # make the I- tags tempting everywhere
    paths = crf.decode(em)
    assert lc.illegal_transitions(paths, allowed, a_start) == 0
    free = LinearChainCRF(K, batch_first=True).double()
    free.load_state_dict(crf.state_dict())
    assert lc.illegal_transitions(free.decode(em), allowed, a_start) > 0
    # log Z and the best path over legal paths only, by enumeration (start constraint as -inf start score)
    small = em[:3, :4]
    start = crf.start_transitions.detach().masked_fill(~a_start, -torch.inf)
    for b in range(3):
        log_z, best, marg = brute_force(small[b], start, crf.transitions.detach(), crf.end_transitions.detach(), allowed)
        torch.testing.assert_close(crf.log_partition(small[b : b + 1])[0], log_z, rtol=1e-12, atol=1e-12)
        assert crf.decode(small[b : b + 1]) == [best]
        torch.testing.assert_close(crf.marginals(small[b : b + 1])[0], marg, rtol=1e-10, atol=1e-12)


def test_constrained_training_step_is_finite():
    allowed, a_start, _ = lc.bio_allowed_transitions(BIO)
    crf = LinearChainCRF(len(BIO), batch_first=True, allowed_transitions=allowed, allowed_start=a_start)
    em = torch.randn(2, 5, len(BIO), requires_grad=True)
    tags = torch.tensor([[1, 2, 0, 3, 4], [0, 3, 4, 4, 0]])
    crf(em, tags).backward()
    assert torch.isfinite(em.grad).all() and torch.isfinite(crf.transitions.grad).all()
    assert (crf.transitions.grad[~allowed] == 0).all()
    with pytest.raises(ValueError, match="allowed_transitions forbids"):
        crf(em, torch.tensor([[1, 4, 0, 0, 0], [0, 0, 0, 0, 0]]))
    with pytest.raises(ValueError, match="allowed_start forbids"):
        crf(em, torch.tensor([[2, 2, 0, 0, 0], [0, 0, 0, 0, 0]]))


def test_illegal_transitions_and_entity_f1():
    assert lc.illegal_transitions([0, 2, 2, 0], *lc.bio_allowed_transitions(BIO)[:2]) == 1  # O -> I-PER
    assert lc.illegal_transitions([[2, 0], [1, 4]], *lc.bio_allowed_transitions(BIO)[:2]) == 2  # start I-PER; B-PER -> I-LOC
    assert lc.bio_entities([0, 1, 2, 0, 3, 4, 4], BIO) == {(1, 3, "PER"), (4, 7, "LOC")}
    assert lc.bio_entities([2, 2, 4, 1, 1], BIO) == {(0, 2, "PER"), (2, 3, "LOC"), (3, 4, "PER"), (4, 5, "PER")}
    true = [[0, 1, 2, 0, 3]]
    assert lc.entity_f1(true, true, BIO)["f1"] == 1.0
    scores = lc.entity_f1(true, [[0, 1, 0, 0, 3]], BIO)  # PER span cut short: 1 of 2 right
    assert scores == {"precision": 0.5, "recall": 0.5, "f1": 0.5}
    with pytest.raises(ValueError, match="length"):
        lc.entity_f1(true, [[0, 1]], BIO)


# ---------------------------------------------------------------- errors


def test_errors_match_torchcrf_messages():
    ref, ours = pair(3, seed=17)
    em, tags, mask = random_case(2, 4, 3, seed=18)
    cases = [
        ((em[0], tags), {}),  # 2-D emissions
        ((torch.randn(4, 2, 5, dtype=torch.float64), tags), {}),  # wrong K
        ((em, tags[:3]), {}),  # tags shape
        ((em, tags, mask[:3]), {}),  # mask shape
        ((em, tags, torch.cat([torch.zeros(1, 2, dtype=torch.bool), mask[1:]])), {}),  # first step off
        ((em, tags), {"reduction": "avg"}),
    ]
    for args, kwargs in cases:
        with pytest.raises(ValueError) as e_ref:
            ref(*args, **kwargs)
        with pytest.raises(ValueError) as e_ours:
            ours(*args, **kwargs)
        assert str(e_ours.value) == str(e_ref.value)
    with pytest.raises(ValueError, match="invalid number of tags: 0"):
        LinearChainCRF(0)
    with pytest.raises(ValueError, match="mask of the first timestep must all be on"):
        ours.decode(em, torch.zeros(4, 2, dtype=torch.bool))


def test_errors_torchcrf_lacks():
    crf = LinearChainCRF(3, batch_first=True)
    em = torch.randn(2, 4, 3)
    with pytest.raises(ValueError, match=r"tags must lie in \[0, 3\), got 3 at time step 2 of sequence 1"):
        crf(em, torch.tensor([[0, 1, 2, 0], [0, 1, 3, 0]]))
    with pytest.raises(ValueError, match=r"got -1"):
        crf(em, torch.tensor([[0, 1, 2, 0], [-1, 1, 2, 0]]))
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]], dtype=torch.bool)
    crf(em, torch.tensor([[0, 1, 2, 0], [0, 1, -100, -100]]), mask)  # padding may hold anything
    with pytest.raises(TypeError, match="tags must be an integer tensor"):
        crf(em, torch.zeros(2, 4))
    with pytest.raises(TypeError, match="mask must be a bool or uint8"):
        crf(em, torch.zeros(2, 4, dtype=torch.long), torch.ones(2, 4))
    with pytest.raises(TypeError, match="floating-point"):
        crf.decode(torch.ones(2, 4, 3, dtype=torch.long))
    bad = em.clone()
    bad[1, 2, 0] = float("nan")
    with pytest.raises(ValueError, match="NaN"):
        crf(bad, torch.zeros(2, 4, dtype=torch.long))
    with pytest.raises(ValueError, match="at least one time step"):
        crf.decode(torch.randn(2, 0, 3))
    with pytest.raises(TypeError, match="num_tags must be an int"):
        LinearChainCRF(3.0)
    with pytest.raises(ValueError, match=r"allowed_transitions must have shape \(3, 3\)"):
        crf.set_constraints(torch.ones(2, 2, dtype=torch.bool))
    with pytest.raises(TypeError, match="bool tensor"):
        crf.set_constraints(torch.ones(3, 3))
    with pytest.raises(ValueError, match="transitions must have shape"):
        lc.forward_log_partition(torch.randn(3, 2), torch.randn(3, 3))
    with pytest.raises(ValueError, match="too many"):
        lc.all_paths(30, 9)


def test_bench_script_is_not_collected():
    """The benchmark file must not look like a test module to pytest."""
    import pathlib

    bench = pathlib.Path(__file__).with_name("bench_crf.py")
    assert bench.exists() and not bench.name.startswith("test_")
    assert "def test_" not in bench.read_text()


# ---------------------------------------------------------------- the chapter's corpus and encoder


def test_sample_bio_corpus_follows_its_process():
    words, tags = lc.sample_bio_corpus(400, seed=3)
    assert len(words) == len(tags) == 400
    assert all(6 <= len(y) <= 20 and len(x) == len(y) for x, y in zip(words, tags))
    allowed, a_start, _ = lc.bio_allowed_transitions(lc.BIO_TAGS)
    assert lc.illegal_transitions(tags, allowed, a_start) == 0
    for x, y in zip(words, tags):
        for w, t in zip(x, y):
            name = lc.BIO_TAGS[t]
            pool = "O" if name == "O" else name[2:]
            assert w in lc.VOCAB[pool] or (name != "O" and w in lc.VOCAB["AMB"])
    flat = [t for y in tags for t in y]
    assert abs(flat.count(0) / len(flat) - 0.5) < 0.1  # O is about half of the tokens
    assert lc.sample_bio_corpus(5, seed=1) == lc.sample_bio_corpus(5, seed=1)
    with pytest.raises(ValueError, match="n_sentences"):
        lc.sample_bio_corpus(0)


def test_pad_batch_and_window_encoder():
    words, mask = lc.pad_batch([[1, 2, 3], [4]], pad=9)
    assert words.tolist() == [[1, 2, 3], [4, 9, 9]] and mask.tolist() == [[True] * 3, [True, False, False]]
    enc = lc.WindowEncoder(10, 5, pad=9)
    out = enc(words)
    assert out.shape == (2, 3, 5)
    # the window is t-1, t, t+1: changing word 0 leaves position 2 unchanged
    out2 = enc(torch.tensor([[7, 2, 3], [4, 9, 9]]))
    torch.testing.assert_close(out[0, 2], out2[0, 2])
    assert not torch.allclose(out[0, 1], out2[0, 1])
    with pytest.raises(ValueError, match="non-empty"):
        lc.pad_batch([[1], []], pad=0)


def test_sample_bio_corpus_is_unchanged_by_the_process_constants():
    """The chapter's numbers rest on this exact corpus: the first training sentence of seed 0."""
    words, tags = lc.sample_bio_corpus(1000, seed=0)
    assert [lc.BIO_TAGS[k] for k in tags[0]] == ["O", "O", "O", "B-PER", "I-PER", "I-PER", "I-PER", "I-PER", "I-PER",
                                                 "I-PER", "O", "B-LOC", "O", "B-PER", "O", "B-LOC", "I-LOC", "O"]
    assert sum(map(len, tags)) == 12894


def test_bio_emission_probs_match_the_sampler():
    E = lc.bio_emission_probs()
    assert E.shape == (lc.VOCAB_SIZE, 5)
    torch.testing.assert_close(E.sum(0), torch.ones(5, dtype=torch.float64))
    assert E[lc.VOCAB_SIZE - 1].sum() == 0  # padding is never emitted
    assert torch.equal(E[:, 1], E[:, 2]) and torch.equal(E[:, 3], E[:, 4])  # B-X and I-X emit alike
    words, tags = lc.sample_bio_corpus(1500, seed=5)
    ent = [(w, t) for x, y in zip(words, tags) for w, t in zip(x, y) if t != 0]
    share_amb = sum(w in lc.VOCAB["AMB"] for w, _ in ent) / len(ent)
    assert abs(share_amb - float(E[list(lc.VOCAB["AMB"]), 1].sum())) < 0.02  # 0.6 by construction
    # transition frequencies of the sampled tags against BIO_TRANSITION_PROBS
    A = torch.tensor(lc.BIO_TRANSITION_PROBS, dtype=torch.float64)
    counts = torch.zeros(5, 5, dtype=torch.float64)
    for y in tags:
        for a, b in zip(y[:-1], y[1:]):
            counts[a, b] += 1
    torch.testing.assert_close(counts / counts.sum(1, keepdim=True), A, atol=0.03, rtol=0)
    with pytest.raises(ValueError, match="p_ambiguous"):
        lc.bio_emission_probs(1.5)


# ---------------------------------------------------------------- forward-backward, scaling, exponential family, MEMM


def _case(T, K, seed, scale=1.0, ends=True):
    g = torch.Generator().manual_seed(seed)
    em = scale * torch.randn(T, K, generator=g, dtype=torch.float64)
    tr = torch.randn(K, K, generator=g, dtype=torch.float64)
    st = torch.randn(K, generator=g, dtype=torch.float64) if ends else None
    en = torch.randn(K, generator=g, dtype=torch.float64) if ends else None
    return em, tr, st, en


@pytest.mark.parametrize("T,K", [(1, 3), (2, 2), (4, 3), (5, 4)])
def test_forward_backward_matches_enumeration(T, K):
    em, tr, st, en = _case(T, K, seed=T + 7 * K)
    fb = lc.forward_backward(em, tr, st, en)
    log_z, _, marg = brute_force(em, st, tr, en)
    torch.testing.assert_close(fb.log_z, log_z, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(fb.marginals, marg, rtol=1e-10, atol=1e-12)
    # Σ_k α_t(k) β_t(k) = Z at every t (eq-crf-marginals)
    torch.testing.assert_close(torch.logsumexp(fb.log_alpha + fb.log_beta, 1), log_z.expand(T), rtol=1e-12, atol=1e-12)
    # pairwise marginals by enumeration
    paths = lc.all_paths(T, K)
    p = torch.softmax(lc.sequence_score(em, paths, tr, st, en), 0)
    pair = torch.zeros(max(T - 1, 0), K, K, dtype=torch.float64)
    for t in range(1, T):
        pair[t - 1].index_put_((paths[:, t - 1], paths[:, t]), p, accumulate=True)
    torch.testing.assert_close(fb.pair_marginals, pair, rtol=1e-10, atol=1e-12)
    # β_T = exp(end), α_1 = exp(start + ψ_1)
    torch.testing.assert_close(fb.log_beta[-1], en)
    torch.testing.assert_close(fb.log_alpha[0], st + em[0])


def test_forward_backward_gradients_are_its_marginals():
    """autograd of log Z from forward_backward gives its own node and pair marginals (eq-crf-grad-marginals)."""
    em, tr, st, en = _case(5, 3, seed=11)
    em.requires_grad_(True), tr.requires_grad_(True)
    fb = lc.forward_backward(em, tr, st, en)
    g_em, g_tr = torch.autograd.grad(fb.log_z, (em, tr))
    torch.testing.assert_close(g_em, fb.marginals.detach(), rtol=1e-10, atol=1e-12)
    torch.testing.assert_close(g_tr, fb.pair_marginals.detach().sum(0), rtol=1e-10, atol=1e-12)


def test_scaled_forward_log_z_scales_and_filtering():
    em, tr, st, en = _case(6, 3, seed=2)
    alpha_hat, log_c, log_z = lc.scaled_forward(em, tr, st, en)
    fb = lc.forward_backward(em, tr, st, en)
    torch.testing.assert_close(log_z, fb.log_z, rtol=1e-12, atol=1e-12)
    torch.testing.assert_close(alpha_hat.sum(1), torch.ones(6, dtype=torch.float64))
    torch.testing.assert_close(log_c.cumsum(0), torch.logsumexp(fb.log_alpha, 1), rtol=1e-12, atol=1e-12)
    for t in range(6):  # α̂_t = marginal of the last tag of the chain cut after t
        paths = lc.all_paths(t + 1, 3)
        p = torch.softmax(lc.sequence_score(em[: t + 1], paths, tr, st), 0)
        last = torch.zeros(3, dtype=torch.float64).index_add_(0, paths[:, -1], p)
        torch.testing.assert_close(alpha_hat[t], last, rtol=1e-10, atol=1e-12)
    # huge scores: the direct product would overflow float64, the scaled recursion does not
    big = 1000.0 * em
    _, _, log_z_big = lc.scaled_forward(big, tr, st, en)
    torch.testing.assert_close(log_z_big, lc.forward_log_partition(big, tr, st, en), rtol=1e-12, atol=1e-9)
    assert torch.isfinite(log_z_big)
    # and it agrees with the library's batched NumPy version
    crf = LinearChainCRF(3, batch_first=True).double()
    with torch.no_grad():
        crf.start_transitions.copy_(st), crf.transitions.copy_(tr), crf.end_transitions.copy_(en)
    torch.testing.assert_close(crf.log_partition(em[None])[0], log_z, rtol=1e-12, atol=1e-12)


def test_path_features_give_the_score():
    em, tr, _, _ = _case(4, 3, seed=5, ends=False)
    paths = lc.all_paths(4, 3)
    f = lc.path_features(paths, 3)
    assert f.shape == (81, 4 * 3 + 9) and f.dtype == torch.float64
    xi = torch.cat([em.ravel(), tr.ravel()])
    torch.testing.assert_close(f @ xi, lc.sequence_score(em, paths, tr), rtol=1e-12, atol=1e-12)
    assert torch.equal(lc.path_features(paths[5], 3), f[5])
    assert (f[:, :12].reshape(81, 4, 3).sum(-1) == 1).all() and (f[:, 12:].sum(-1) == 3).all()
    with pytest.raises(ValueError, match="paths must hold tags"):
        lc.path_features([0, 3], 3)
    with pytest.raises(ValueError, match="K must be"):
        lc.path_features([0, 1], 0)
    with pytest.raises(ValueError, match="integer tag ids"):
        lc.path_features(torch.tensor([0.0, 1.0]), 2)


@pytest.mark.parametrize("T,K", [(2, 2), (3, 2), (4, 3), (6, 3), (3, 5)])
def test_crf_fisher_is_the_hessian_and_has_the_family_dimension(T, K):
    """rank Cov[f] = T(K-1) + (K-1)² (prop-crf-dimension); at φ = 0 the ψ block has rank T(K-1)."""
    em, tr, _, _ = _case(T, K, seed=3 * T + K, ends=False)
    F = lc.crf_fisher(em, tr)
    d = T * (K - 1) + (K - 1) ** 2
    assert int(torch.linalg.matrix_rank(F)) == d
    ev = torch.linalg.eigvalsh(F)
    assert ev[-d] > 1e-5 and ev[:-d].abs().max() < 1e-12
    F0 = lc.crf_fisher(em, torch.zeros(K, K, dtype=torch.float64))[: T * K, : T * K]
    assert int(torch.linalg.matrix_rank(F0)) == T * (K - 1)
    if T * K + K * K <= 40:
        xi = torch.cat([em.ravel(), tr.ravel()])
        H = torch.autograd.functional.hessian(
            lambda v: lc.forward_log_partition(v[: T * K].reshape(T, K), v[T * K:].reshape(K, K)), xi)
        torch.testing.assert_close(H, F, rtol=1e-10, atol=1e-12)


def test_crf_fisher_for_a_single_position_is_the_softmax_covariance():
    em = torch.tensor([[0.3, -1.0, 2.0]], dtype=torch.float64)
    F = lc.crf_fisher(em, torch.zeros(3, 3, dtype=torch.float64))
    p = torch.softmax(em[0], 0)
    torch.testing.assert_close(F[:3, :3], torch.diag(p) - torch.outer(p, p))
    assert int(torch.linalg.matrix_rank(F)) == 2  # K - 1 (no transitions when T = 1)


def test_memm_is_locally_normalised_and_causal():
    em, tr, st, _ = _case(3, 3, seed=9)
    paths = lc.all_paths(3, 3)
    p = lc.memm_log_prob(em, paths, tr, st).exp()
    torch.testing.assert_close(p.sum(), torch.tensor(1.0, dtype=torch.float64))
    # p(y_1, y_2 | x) does not depend on ψ_3 (label bias: later words cannot change earlier decisions)
    em2 = em.clone()
    em2[2] = torch.tensor([5.0, -3.0, 0.0], dtype=torch.float64)
    p2 = lc.memm_log_prob(em2, paths, tr, st).exp()
    prefix = paths[:, 0] * 3 + paths[:, 1]
    torch.testing.assert_close(torch.zeros(9, dtype=torch.float64).index_add_(0, prefix, p),
                               torch.zeros(9, dtype=torch.float64).index_add_(0, prefix, p2))
    # with φ = 0 both models are the product of per-position softmaxes
    zero = torch.zeros(3, 3, dtype=torch.float64)
    torch.testing.assert_close(lc.memm_log_prob(em, paths, zero),
                               lc.sequence_score(em, paths, zero) - lc.forward_log_partition(em, zero))
    # a state with one allowed successor passes all its mass on, whatever the next word says
    tr_one = torch.full((2, 2), -torch.inf, dtype=torch.float64)
    tr_one[0, 1] = tr_one[1, 0] = 0.0
    for s in (-4.0, 0.0, 4.0):
        e = torch.tensor([[0.0, 0.3], [s, -s]], dtype=torch.float64)
        assert float(lc.memm_log_prob(e, [0, 1], tr_one).exp()) == pytest.approx(1 / (1 + math.exp(0.3)))
    with pytest.raises(ValueError, match="last dimension"):
        lc.memm_log_prob(em, [0, 1], tr)
