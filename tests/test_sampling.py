"""Tests for lecture_code.sampling (nanochat's sample_next_token semantics)
and lecture_code.attention."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from lecture_code.attention import attention, attention_weights, causal_mask
from lecture_code.charlm import cross_entropy
from lecture_code.sampling import (
    sample_next_token,
    sampling_distribution,
    top_p_mask,
    truncate_top_n,
)


def nanochat_reference(logits, rng, temperature=1.0, top_k=None):
    """nanochat's operation order, restated for the test (engine.py,
    sample_next_token): temperature 0 -> argmax; else optional top-k (k
    capped at V) -> divide the kept logits by the temperature -> softmax
    -> one multinomial draw with the generator -> map back to token ids."""
    if temperature == 0.0:
        return logits.argmax(dim=-1, keepdim=True)
    if top_k is not None:
        vals, idx = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1)
        return idx.gather(
            1,
            torch.multinomial(
                F.softmax(vals / temperature, dim=-1), 1, generator=rng
            ),
        )
    return torch.multinomial(
        F.softmax(logits / temperature, dim=-1), 1, generator=rng
    )


@pytest.mark.parametrize("temperature", [0.0, 0.5, 1.0, 1.7])
@pytest.mark.parametrize("top_k", [None, 1, 3, 50, 1000])
def test_same_seed_same_tokens_as_nanochat(temperature, top_k):
    logits = torch.randn(8, 50, generator=torch.Generator().manual_seed(0))
    r1, r2 = (
        torch.Generator().manual_seed(42),
        torch.Generator().manual_seed(42),
    )
    # a sequence of draws from one generator, as in generation
    for _ in range(20):
        ours = sample_next_token(logits, r1, temperature, top_k)
        ref = nanochat_reference(logits, r2, temperature, top_k)
        assert ours.shape == (8, 1)
        assert torch.equal(ours, ref)


def test_temperature_zero_is_argmax():
    logits = torch.tensor([[0.1, 2.0, -1.0], [5.0, 0.0, 4.9]])
    assert sample_next_token(logits, None, temperature=0.0).tolist() == [
        [1],
        [0],
    ]


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(temperature=1.0),
        dict(temperature=0.7, top_k=3),
        dict(temperature=1.3, top_p=0.6),
        dict(top_k=4, top_p=0.8),
    ],
)
def test_empirical_frequencies_match_exact_distribution(kwargs):
    logits = torch.tensor([[2.0, 1.5, 0.3, 0.0, -0.5, -2.0]])
    n = 30_000
    rng = torch.Generator().manual_seed(1)
    draws = sample_next_token(logits.expand(n, -1), rng, **kwargs)[:, 0]
    counts = torch.bincount(draws, minlength=6).double()
    p = sampling_distribution(logits, **kwargs)[0].double()
    assert torch.isclose(p.sum(), torch.tensor(1.0, dtype=torch.float64))
    assert (counts[p == 0] == 0).all()
    keep = p > 0
    if keep.sum() > 1:
        expected = p[keep] / p[keep].sum() * n
        assert (
            stats.chisquare(counts[keep].numpy(), expected.numpy()).pvalue
            > 1e-3
        )


def test_top_p_keeps_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert (sampling_distribution(logits, top_p=0.45)[0] > 0).tolist() == [
        True,
        False,
        False,
        False,
    ]
    assert (sampling_distribution(logits, top_p=0.51)[0] > 0).tolist() == [
        True,
        True,
        False,
        False,
    ]
    assert (sampling_distribution(logits, top_p=0.79)[0] > 0).tolist() == [
        True,
        True,
        False,
        False,
    ]
    assert (sampling_distribution(logits, top_p=0.81)[0] > 0).tolist() == [
        True,
        True,
        True,
        False,
    ]
    assert (sampling_distribution(logits, top_p=1.0)[0] > 0).all()
    # a mass before the token equal to top_p drops it (strict <); dyadic values
    # make the tie exact
    # any order: the mask follows it
    probs = torch.tensor([[0.125, 0.5, 0.25, 0.125]], dtype=torch.float64)
    assert top_p_mask(probs, 0.5).tolist() == [[False, True, False, False]]
    assert top_p_mask(probs, 0.75).tolist() == [[False, True, True, False]]
    # ties ranked by position
    assert top_p_mask(probs, 0.875).tolist() == [[True, True, True, False]]
    assert top_p_mask(probs, 0.8751).tolist() == [[True, True, True, True]]


def exact_top_p_mask(probs_row: torch.Tensor, top_p: float):
    """Reference for one row: rank by (-p, position), prefix sums in exact
    integer arithmetic on the float values as given (no rounding
    anywhere), keep rank r iff sum_{s<r} p_(s) < top_p * sum_s p_(s).
    Also returns the smallest |sum_{s<r} p_(s) - top_p * S| / S over all
    r (the margin of the cut)."""
    vals = probs_row.double().tolist()  # float32 -> float64 is exact
    order = sorted(range(len(vals)), key=lambda i: (-vals[i], i))
    scale = 2**1200  # every float64 in [0, 1] times 2**1200 is an integer
    ints = []
    for i in order:
        # den is a power of two <= 2**1074
        num, den = vals[i].as_integer_ratio()
        ints.append(num * (scale // den))
    total = sum(ints)
    tp_num, tp_den = float(top_p).as_integer_ratio()
    keep, before, gap = [False] * len(vals), 0, None
    for i, m in zip(order, ints):
        # |before - top_p * S| * tp_den, exact
        d = abs(before * tp_den - tp_num * total)
        keep[i] = before * tp_den < tp_num * total
        gap = d if gap is None else min(gap, d)
        before += m
    return torch.tensor(keep), gap / (tp_den * total)


def naive_float32_support(probs_row: torch.Tensor, top_p: float) -> int:
    """The rule this module used before: running float32 sum of the sorted
    probabilities."""
    ranked = torch.sort(probs_row, descending=True).values
    return int(((ranked.cumsum(0) - ranked) < top_p).sum())


@pytest.mark.parametrize("temperature", [0.5, 1.0, 1.7])
@pytest.mark.parametrize("top_k", [None, 5])
def test_top_p_one_is_no_truncation(temperature, top_k):
    """top_p = 1 draws the same tokens as top_p = None from the same
    generator, and gives the same distribution."""
    # unsorted rows
    rows = [
        torch.randn(8, 50, generator=torch.Generator().manual_seed(0)),
        # float32 probabilities sum to 1.0 after the first token
        torch.tensor([[10.0] + [-10.0] * 20]),
    ]
    for logits in rows:
        r1, r2 = (
            torch.Generator().manual_seed(7),
            torch.Generator().manual_seed(7),
        )
        for _ in range(20):
            a = sample_next_token(logits, r1, temperature, top_k)
            b = sample_next_token(logits, r2, temperature, top_k, top_p=1.0)
            assert torch.equal(a, b)
        assert torch.equal(
            sampling_distribution(logits, temperature, top_k, top_p=1.0),
            sampling_distribution(logits, temperature, top_k),
        )
        assert torch.equal(
            sampling_distribution(logits, temperature, top_k, top_p=1),
            sampling_distribution(logits, temperature, top_k),
        )


def test_top_p_one_keeps_every_token_of_a_vocabulary_row():
    """A 50 000-token float32 row: the running float32 sum saturates at 1.0
    and the old rule dropped about 20 000 tokens at top_p = 1 (and all 20
    tail tokens of [10, -10, ..., -10])."""
    z = torch.randn(1, 50_000, generator=torch.Generator().manual_seed(0)) * 4
    probs = F.softmax(z, dim=-1)[0]
    # the bug this guards against is real on this row
    assert naive_float32_support(probs, 1.0) < 40_000
    assert int((sampling_distribution(z, top_p=1.0) > 0).sum()) == 50_000
    assert top_p_mask(probs[None], 1.0).all()
    z21 = torch.tensor([[10.0] + [-10.0] * 20])
    assert naive_float32_support(F.softmax(z21, dim=-1)[0], 1.0) == 1
    assert int((sampling_distribution(z21, top_p=1.0) > 0).sum()) == 21


@pytest.mark.parametrize("top_p", [0.9, 0.99, 0.999, 0.9999, 0.99999])
def test_top_p_cut_matches_exact_computation_on_a_vocabulary_row(top_p):
    """The cut on a 50 000-token float32 row equals the exact one (integer
    arithmetic on the same float32 probabilities); near top_p = 1 the old
    running float32 sum missed it by thousands."""
    z = torch.randn(1, 50_000, generator=torch.Generator().manual_seed(0)) * 4
    # (1, V): what the sampler draws from at temperature 1
    probs = F.softmax(z, dim=-1)
    ref, margin = exact_top_p_mask(probs[0], top_p)
    # no prefix mass lies within float64 rounding of the threshold
    assert margin > 1e-10
    assert torch.equal(top_p_mask(probs, top_p)[0], ref)
    assert torch.equal(sampling_distribution(z, top_p=top_p)[0] > 0, ref)
    if top_p >= 0.9999:
        assert (
            abs(naive_float32_support(probs[0], top_p) - int(ref.sum())) > 100
        )


def test_top_p_cut_matches_exact_computation_when_the_head_rounds_to_one():
    """[10, -10 x 20]: the first probability is 1.0 in float32; the tail
    tokens each have about 2.1e-9."""
    z = torch.tensor([[10.0] + [-10.0] * 20])
    probs = F.softmax(z, dim=-1)
    assert probs[0, 0].item() == 1.0
    for top_p in (1 - 1e-8, 1 - 2e-8, 1 - 3e-8):
        ref, margin = exact_top_p_mask(probs[0], top_p)
        assert margin > 1e-10 and 1 < int(ref.sum()) < 21
        assert torch.equal(top_p_mask(probs, top_p)[0], ref)
        assert naive_float32_support(probs[0], top_p) == 1


@given(
    st.integers(0, 10_000),
    st.integers(2, 300),
    st.floats(0.05, 0.999999),
    st.floats(0.1, 8.0),
)
@settings(max_examples=60, deadline=None)
def test_top_p_mask_matches_exact_reference(seed, n, top_p, scale):
    probs = F.softmax(
        torch.randn(1, n, generator=torch.Generator().manual_seed(seed))
        * scale,
        dim=-1,
    )
    ref, margin = exact_top_p_mask(probs[0], top_p)
    if margin > 1e-10:  # ties within float64 rounding may fall on either side
        assert torch.equal(top_p_mask(probs, top_p)[0], ref)


@pytest.mark.parametrize("top_k", [None, 20])
def test_top_p_below_one_only_zeroes_weights(top_k):
    """top-p does not re-sort the candidates: the draw is torch.multinomial
    on nanochat's candidates (vocabulary order, or top-k order) with the
    tokens outside the nucleus set to 0."""
    logits = torch.randn(6, 50, generator=torch.Generator().manual_seed(3))
    r1, r2 = torch.Generator().manual_seed(0), torch.Generator().manual_seed(0)
    for _ in range(10):
        ours = sample_next_token(logits, r1, 0.9, top_k, top_p=0.8)
        vals, idx = (
            (logits, None)
            if top_k is None
            else torch.topk(logits, top_k, dim=-1)
        )
        probs = F.softmax(vals / 0.9, dim=-1)
        keep = torch.stack([exact_top_p_mask(row, 0.8)[0] for row in probs])
        choice = torch.multinomial(probs * keep, 1, generator=r2)
        assert torch.equal(
            ours, choice if idx is None else idx.gather(1, choice)
        )


@given(st.integers(1, 12), st.floats(0.1, 3.0))
@settings(max_examples=40, deadline=None)
def test_top_k_support_and_renormalization(k, temperature):
    logits = torch.randn(3, 10, generator=torch.Generator().manual_seed(k))
    p = sampling_distribution(logits, temperature=temperature, top_k=k)
    assert torch.allclose(p.sum(-1), torch.ones(3))
    assert ((p > 0).sum(-1) == min(k, 10)).all()
    top = torch.topk(logits, min(k, 10), dim=-1).indices
    ref = F.softmax(torch.gather(logits, 1, top) / temperature, dim=-1)
    assert torch.allclose(torch.gather(p, 1, top), ref)


def test_bad_options_raise():
    z = torch.zeros(1, 4)
    with pytest.raises(ValueError, match="temperature"):
        sample_next_token(z, None, temperature=-0.1)
    with pytest.raises(ValueError, match="top_k"):
        sample_next_token(z, None, top_k=0)
    for bad in (0.0, 1.5, -0.2):
        with pytest.raises(ValueError, match="top_p"):
            sample_next_token(z, None, top_p=bad)
    with pytest.raises(ValueError, match=r"\(B, V\)"):
        sample_next_token(torch.zeros(4), None)
    with pytest.raises(TypeError, match="rng"):
        sample_next_token(z, 42)
    with pytest.raises(ValueError, match="NaN"):
        sampling_distribution(torch.tensor([[0.0, float("nan")]]))
    with pytest.raises(TypeError, match="probs"):
        top_p_mask([[0.5, 0.5]], 0.9)
    with pytest.raises(ValueError, match=r"\(B, n\)"):
        top_p_mask(torch.tensor([0.5, 0.5]), 0.9)
    with pytest.raises(ValueError, match="non-negative"):
        top_p_mask(torch.tensor([[1.5, -0.5]]), 0.9)
    with pytest.raises(ValueError, match="positive sum"):
        top_p_mask(torch.zeros(1, 3), 0.9)
    with pytest.raises(ValueError, match="top_p"):
        top_p_mask(torch.tensor([[0.5, 0.5]]), 1.01)


@pytest.mark.parametrize("causal", [True, False])
def test_attention_matches_sdpa(causal):
    g = torch.Generator().manual_seed(0)
    q, k, v = (
        torch.randn(2, 3, 7, 8, generator=g, dtype=torch.float64)
        for _ in range(3)
    )
    out, a = attention(q, k, v, causal=causal)
    ref = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert torch.allclose(out, ref)
    assert torch.allclose(a.sum(-1), torch.ones(2, 3, 7, dtype=torch.float64))
    if causal:
        assert (a[..., ~causal_mask(7)] == 0).all()


def test_attention_validates():
    with pytest.raises(ValueError, match="last dimension"):
        attention_weights(torch.zeros(3, 4), torch.zeros(3, 5))
    with pytest.raises(TypeError, match="q must"):
        attention_weights([[0.0]], torch.zeros(1, 1))


def test_cross_entropy_matches_torch_with_ignore_index():
    g = torch.Generator().manual_seed(0)
    logits = torch.randn(12, 7, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 7, (12,), generator=g)
    targets[[1, 5, 6]] = -1
    ref = F.cross_entropy(logits, targets, ignore_index=-1)
    assert torch.allclose(cross_entropy(logits, targets), ref)
    assert math.isclose(
        cross_entropy(torch.zeros(3, 7), torch.tensor([0, 1, 2])).item(),
        math.log(7),
        rel_tol=1e-6,
    )
    with pytest.raises(ValueError, match="ignore_index"):
        cross_entropy(logits[:2], torch.tensor([-1, -1]))
    with pytest.raises(ValueError, match="targets must lie"):
        cross_entropy(logits[:2], torch.tensor([0, 9]))
    # lists are arrays of numbers; float targets are not labels
    torch.testing.assert_close(
        cross_entropy(logits.tolist(), targets.tolist()).double(), ref
    )
    with pytest.raises(TypeError, match="targets"):
        cross_entropy(logits, targets.double())
    with pytest.raises(ValueError, match=r"targets must have shape \(12,\)"):
        cross_entropy(logits, targets[:5])
    with pytest.raises(ValueError, match="logits"):
        cross_entropy(logits[0], targets[:1])


def test_interleaved_split_and_book_text(tmp_path):
    from lecture_code.charlm import interleaved_split, load_book_text

    data = torch.arange(1000)
    tr, va = interleaved_split(data, block=10, every=5)
    assert len(va) == 200 and len(tr) == 800
    assert set(tr.tolist()).isdisjoint(va.tolist())
    with pytest.raises(ValueError, match="too few"):
        interleaved_split(torch.arange(20), block=10, every=5)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "a.md").write_text(
        "# 題名\n本文 $x^2$ と {doc}`第一章 <../x>` 0.25。\n:::{note}\n| a "
        "| b |\n",
        encoding="utf-8",
    )
    assert load_book_text(tmp_path) == "題名\n本文 と 第一章 。\na b\n"
    with pytest.raises(ValueError, match="no files"):
        load_book_text(tmp_path / "missing")


def test_tiny_lm_loss_is_our_cross_entropy():
    from lecture_code.charlm import TinyCharLM

    model = TinyCharLM(11, block_size=8, d=16, n_head=2, seed=0)
    x = torch.randint(
        0, 11, (3, 8), generator=torch.Generator().manual_seed(0)
    )
    y = x.roll(-1, dims=1)
    y[:, -1] = -1
    logits, loss = model(x, y)
    assert torch.allclose(
        loss, cross_entropy(logits.view(-1, 11), y.view(-1)), atol=1e-6
    )
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 9, dtype=torch.int64))


def test_train_is_torch_adamw():
    """charlm.train is the standard torch.optim.AdamW loop (weight decay
    0.01) on random windows."""
    from lecture_code.charlm import TinyCharLM, random_batch, train

    data = torch.randint(
        0, 11, (400,), generator=torch.Generator().manual_seed(1)
    )
    ours = TinyCharLM(11, block_size=8, d=16, n_head=2, seed=0)
    losses = train(ours, data, steps=5, batch_size=4, lr=1e-2, seed=0)
    ref = TinyCharLM(11, block_size=8, d=16, n_head=2, seed=0)
    opt = torch.optim.AdamW(ref.parameters(), lr=1e-2, weight_decay=0.01)
    gen, ref_losses = torch.Generator().manual_seed(0), []
    for _ in range(5):
        _, loss = ref(*random_batch(data, 4, 8, gen))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        ref_losses.append(loss.item())
    assert losses == pytest.approx(ref_losses, abs=1e-6)
    for p, q in zip(ours.parameters(), ref.parameters()):
        assert torch.allclose(p, q, atol=1e-6)


def test_softcap_is_cap_tanh_and_nearly_identity_for_small_logits():
    from lecture_code.sampling import softcap

    z = torch.linspace(-100, 100, 2001, dtype=torch.float64)
    out = softcap(z, 15.0)
    assert (
        torch.allclose(out, 15.0 * torch.tanh(z / 15.0))
        and out.abs().max() < 15.0
    )
    small = z[z.abs() <= 3]
    assert (softcap(small) - small).abs().max() < 0.04
    with pytest.raises(ValueError, match="cap"):
        softcap(z, 0.0)
    with pytest.raises(TypeError, match="logits"):
        softcap([1.0])


@pytest.mark.parametrize(
    "V,cap,tau",
    [(2, 1.0, 1.0), (10, 3.0, 0.7), (32768, 15.0, 1.0), (644, 15.0, 2.0)],
)
def test_softcap_bounds_are_approached_by_the_extreme_logits(V, cap, tau):
    from lecture_code.sampling import softcap_probability_bounds

    lo, hi = softcap_probability_bounds(V, cap, tau)
    z = torch.full((V,), cap, dtype=torch.float64)
    z[0] = -cap
    assert math.isclose(torch.softmax(z / tau, 0)[0].item(), lo, rel_tol=1e-12)
    assert math.isclose(
        torch.softmax(-z / tau, 0)[0].item(), hi, rel_tol=1e-12
    )
    # random logits strictly inside (-cap, cap) stay strictly inside the bounds
    gen = torch.Generator().manual_seed(0)
    u = torch.rand(50, V, generator=gen, dtype=torch.float64)
    r = (2 * u - 1) * cap * 0.999
    p = torch.softmax(r / tau, -1)
    assert (p > lo).all() and (p < hi).all()


def test_softcap_bounds_validate():
    from lecture_code.sampling import softcap_probability_bounds

    with pytest.raises(ValueError, match="vocab_size"):
        softcap_probability_bounds(1)
    with pytest.raises(ValueError, match="temperature"):
        softcap_probability_bounds(10, 15.0, 0.0)


def test_truncate_top_n_is_top_k_on_probabilities():
    g = torch.Generator().manual_seed(0)
    p = torch.softmax(
        2 * torch.randn(6, 9, generator=g, dtype=torch.float64), -1
    )
    for n in range(1, 10):
        # no ties: the same as top-k sampling on log p
        torch.testing.assert_close(
            truncate_top_n(p, n), sampling_distribution(p.log(), top_k=n)
        )
    # ties with the n-th largest are kept
    tied = torch.tensor([[0.4, 0.2, 0.2, 0.2]], dtype=torch.float64)
    assert truncate_top_n(tied, 2).tolist() == [[0.4, 0.2, 0.2, 0.2]]
    with pytest.raises(ValueError, match="n must"):
        truncate_top_n(p, 10)
    with pytest.raises(ValueError, match="probs"):
        truncate_top_n(p[0], 1)
