"""Tests for lecture_code.sampling (nanochat's sample_next_token semantics) and lecture_code.attention."""

import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from lecture_code.attention import attention, attention_weights, causal_mask
from lecture_code.charlm import cross_entropy
from lecture_code.sampling import sample_next_token, sampling_distribution


def nanochat_reference(logits, rng, temperature=1.0, top_k=None):
    """nanochat's operation order, restated for the test (engine.py, sample_next_token):
    temperature 0 -> argmax; else optional top-k (k capped at V) -> divide the kept logits by the
    temperature -> softmax -> one multinomial draw with the generator -> map back to token ids."""
    if temperature == 0.0:
        return logits.argmax(dim=-1, keepdim=True)
    if top_k is not None:
        vals, idx = torch.topk(logits, min(top_k, logits.size(-1)), dim=-1)
        return idx.gather(1, torch.multinomial(F.softmax(vals / temperature, dim=-1), 1, generator=rng))
    return torch.multinomial(F.softmax(logits / temperature, dim=-1), 1, generator=rng)


@pytest.mark.parametrize("temperature", [0.0, 0.5, 1.0, 1.7])
@pytest.mark.parametrize("top_k", [None, 1, 3, 50, 1000])
def test_same_seed_same_tokens_as_nanochat(temperature, top_k):
    logits = torch.randn(8, 50, generator=torch.Generator().manual_seed(0))
    r1, r2 = torch.Generator().manual_seed(42), torch.Generator().manual_seed(42)
    for _ in range(20):  # a sequence of draws from one generator, as in generation
        ours = sample_next_token(logits, r1, temperature, top_k)
        ref = nanochat_reference(logits, r2, temperature, top_k)
        assert ours.shape == (8, 1)
        assert torch.equal(ours, ref)


def test_temperature_zero_is_argmax():
    logits = torch.tensor([[0.1, 2.0, -1.0], [5.0, 0.0, 4.9]])
    assert sample_next_token(logits, None, temperature=0.0).tolist() == [[1], [0]]


@pytest.mark.parametrize(
    "kwargs",
    [dict(temperature=1.0), dict(temperature=0.7, top_k=3), dict(temperature=1.3, top_p=0.6), dict(top_k=4, top_p=0.8)],
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
        assert stats.chisquare(counts[keep].numpy(), expected.numpy()).pvalue > 1e-3


def test_top_p_keeps_smallest_set_reaching_p():
    logits = torch.log(torch.tensor([[0.5, 0.3, 0.15, 0.05]]))
    assert (sampling_distribution(logits, top_p=0.5)[0] > 0).tolist() == [True, False, False, False]
    assert (sampling_distribution(logits, top_p=0.51)[0] > 0).tolist() == [True, True, False, False]
    assert (sampling_distribution(logits, top_p=0.8)[0] > 0).tolist() == [True, True, False, False]
    assert (sampling_distribution(logits, top_p=1.0)[0] > 0).all()


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


@pytest.mark.parametrize("causal", [True, False])
def test_attention_matches_sdpa(causal):
    g = torch.Generator().manual_seed(0)
    q, k, v = (torch.randn(2, 3, 7, 8, generator=g, dtype=torch.float64) for _ in range(3))
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
    assert math.isclose(cross_entropy(torch.zeros(3, 7), torch.tensor([0, 1, 2])).item(), math.log(7), rel_tol=1e-6)
    with pytest.raises(ValueError, match="ignore_index"):
        cross_entropy(logits[:2], torch.tensor([-1, -1]))
    with pytest.raises(ValueError, match="targets must lie"):
        cross_entropy(logits[:2], torch.tensor([0, 9]))


def test_interleaved_split_and_book_text(tmp_path):
    from lecture_code.charlm import interleaved_split, load_book_text

    data = torch.arange(1000)
    tr, va = interleaved_split(data, block=10, every=5)
    assert len(va) == 200 and len(tr) == 800
    assert set(tr.tolist()).isdisjoint(va.tolist())
    with pytest.raises(ValueError, match="too few"):
        interleaved_split(torch.arange(20), block=10, every=5)
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "a.md").write_text("# 題名\n本文 $x^2$ と {doc}`第一章 <../x>` 0.25。\n:::{note}\n| a | b |\n", encoding="utf-8")
    assert load_book_text(tmp_path) == "題名\n本文 と 第一章 。\na b\n"
    with pytest.raises(ValueError, match="no files"):
        load_book_text(tmp_path / "missing")


def test_tiny_lm_loss_is_our_cross_entropy():
    from lecture_code.charlm import TinyCharLM

    model = TinyCharLM(11, block_size=8, d=16, n_head=2, seed=0)
    x = torch.randint(0, 11, (3, 8), generator=torch.Generator().manual_seed(0))
    y = x.roll(-1, dims=1)
    y[:, -1] = -1
    logits, loss = model(x, y)
    assert torch.allclose(loss, cross_entropy(logits.view(-1, 11), y.view(-1)), atol=1e-6)
    with pytest.raises(ValueError, match="block_size"):
        model(torch.zeros(1, 9, dtype=torch.int64))


def test_train_is_torch_adamw():
    """charlm.train writes AdamW out (torch.optim imports torch._dynamo); it must match torch.optim.AdamW."""
    from lecture_code.charlm import TinyCharLM, random_batch, train

    data = torch.randint(0, 11, (400,), generator=torch.Generator().manual_seed(1))
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
