"""lecture_code.attention: QK-norm scores and the sliding window, against
torch (chapter 11)."""

import math

import pytest
import torch
import torch.nn.functional as F

from lecture_code.attention import (
    attention,
    attention_scores,
    attention_weights,
    causal_mask,
    random_attention_rows,
)


def rand(*shape, seed=0):
    return torch.randn(
        *shape,
        generator=torch.Generator().manual_seed(seed),
        dtype=torch.float64,
    )


@pytest.mark.parametrize("gain", [1.0, 1.2])
def test_qk_norm_scores_are_scaled_cosines(gain):
    q, k = rand(2, 5, 16), rand(2, 7, 16, seed=1)
    # (2, 5, 7)
    cos = F.normalize(q, dim=-1) @ F.normalize(k, dim=-1).transpose(-2, -1)
    s = attention_scores(q, k, qk_norm=True, gain=gain)
    assert torch.allclose(s, gain**2 * math.sqrt(16) * cos, atol=1e-12)
    assert s.abs().max() <= gain**2 * math.sqrt(16) + 1e-12
    # invariant to the length of q and k: only the angles matter
    assert torch.allclose(
        attention_scores(100 * q, 0.01 * k, qk_norm=True, gain=gain),
        s,
        atol=1e-10,
    )


def test_qk_norm_attention_matches_rms_norm_then_sdpa():
    """What nanochat does on the SDPA path: rms_norm(q), rms_norm(k), both
    times 1.2, then SDPA (scale 1/√d)."""
    q, k, v = (
        rand(1, 2, 6, 8),
        rand(1, 2, 6, 8, seed=1),
        rand(1, 2, 6, 8, seed=2),
    )
    qn, kn = 1.2 * F.rms_norm(q, (8,)), 1.2 * F.rms_norm(k, (8,))
    ref = F.scaled_dot_product_attention(qn, kn, v, is_causal=True)
    out, _ = attention(q, k, v, qk_norm=True, gain=1.2)
    assert torch.allclose(out, ref, atol=1e-12)


@pytest.mark.parametrize(
    "t_q,t_k,window", [(7, 7, 2), (7, 7, 0), (3, 9, 4), (6, 6, 10)]
)
def test_sliding_window_matches_sdpa_with_the_same_mask(t_q, t_k, window):
    q, k, v = rand(2, t_q, 4), rand(2, t_k, 4, seed=1), rand(2, t_k, 4, seed=2)
    mask = causal_mask(t_q, t_k, window)
    # the mask nanochat builds for SDPA: col <= row and row - col <= window,
    # rows offset by t_k - t_q
    row = (t_k - t_q) + torch.arange(t_q)[:, None]
    col = torch.arange(t_k)[None, :]
    assert torch.equal(mask, (col <= row) & (row - col <= window))
    out, a = attention(q, k, v, window=window)
    assert torch.allclose(
        out,
        F.scaled_dot_product_attention(q, k, v, attn_mask=mask),
        atol=1e-12,
    )
    assert (a[..., ~mask] == 0).all() and torch.allclose(
        a.sum(-1), torch.ones(2, t_q, dtype=torch.float64)
    )


def test_window_none_is_plain_causal():
    assert torch.equal(
        causal_mask(5, window=None), torch.ones(5, 5, dtype=torch.bool).tril()
    )
    assert torch.equal(causal_mask(5, window=4), causal_mask(5))


def test_validation():
    with pytest.raises(ValueError, match="window"):
        causal_mask(3, window=-1)
    with pytest.raises(ValueError, match="window applies"):
        attention_weights(rand(3, 4), rand(3, 4), causal=False, window=1)
    with pytest.raises(ValueError, match="gain"):
        attention_scores(rand(3, 4), rand(3, 4), qk_norm=True, gain=0.0)


@pytest.mark.parametrize("d", [1, 16, 512])
def test_random_attention_rows_match_sdpa_weights(d):
    g = torch.Generator().manual_seed(3)
    q = torch.randn(50, 1, d, generator=g, dtype=torch.float64)
    k = torch.randn(50, 7, d, generator=g, dtype=torch.float64)
    for scale in (True, False):
        rows = random_attention_rows(d, n_keys=7, rows=50, seed=3, scale=scale)
        s = (q @ k.transpose(-2, -1))[:, 0] / (math.sqrt(d) if scale else 1)
        torch.testing.assert_close(rows, torch.softmax(s, dim=-1))
    # QK-norm: scores g² √d cos∠(q, k) with g = 1
    cos = F.cosine_similarity(q, k, dim=-1)  # (50, 7)
    torch.testing.assert_close(
        random_attention_rows(d, 7, 50, seed=3, qk_norm=True),
        torch.softmax(cos * math.sqrt(d), dim=-1),
    )
    with pytest.raises(ValueError, match="rows"):
        random_attention_rows(d, rows=0)
