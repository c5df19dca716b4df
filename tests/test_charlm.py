"""lecture_code.charlm: the nanochat details of the tiny model, batched
generation and the text metrics."""

import math

import pytest
import torch

from lecture_code.charlm import (
    TinyCharLM,
    distinct_ngram_fraction,
    generate,
    ngram_hit_rate,
)
from lecture_code.sampling import softcap_probability_bounds


def test_zero_head_gives_exactly_uniform_predictions():
    model = TinyCharLM(13, block_size=8, d=16, n_head=2, seed=0)
    x = torch.randint(
        0, 13, (2, 8), generator=torch.Generator().manual_seed(0)
    )
    logits, loss = model(x, x)
    assert (logits == 0).all()
    assert math.isclose(loss.item(), math.log(13), rel_tol=1e-6)
    assert not (
        TinyCharLM(13, block_size=8, d=16, n_head=2, zero_head=False)(x) == 0
    ).all()


def test_softcap_bounds_the_logits_and_the_probabilities():
    model = TinyCharLM(5, block_size=4, d=8, n_head=2, seed=0, softcap=2.0)
    with torch.no_grad():
        # huge raw logits
        model.head.weight.normal_(
            0, 50.0, generator=torch.Generator().manual_seed(0)
        )
    x = torch.randint(0, 5, (3, 4), generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        logits = model(x)
    # float32 tanh rounds to ±1: the cap is reached
    assert logits.abs().max() <= 2.0 and (logits.abs() == 2.0).any()
    p = torch.softmax(logits.double(), -1)
    lo, hi = softcap_probability_bounds(5, 2.0)
    assert (p >= lo * (1 - 1e-12)).all() and (p <= hi * (1 + 1e-12)).all()
    uncapped = TinyCharLM(5, block_size=4, d=8, n_head=2, seed=0, softcap=None)
    uncapped.load_state_dict(model.state_dict())
    with torch.no_grad():
        assert uncapped(x).abs().max() > 2.0


def test_qk_norm_makes_the_model_blind_to_the_length_of_q_and_k():
    a = TinyCharLM(7, block_size=6, d=12, n_head=3, seed=0, zero_head=False)
    b = TinyCharLM(7, block_size=6, d=12, n_head=3, seed=0, zero_head=False)
    with torch.no_grad():
        b.qkv.weight[:24] *= 10.0  # q and k rows ten times longer; v unchanged
    x = torch.randint(0, 7, (2, 6), generator=torch.Generator().manual_seed(2))
    with torch.no_grad():
        assert torch.allclose(a(x), b(x), atol=1e-5)
        a.qk_norm = b.qk_norm = False
        assert not torch.allclose(a(x), b(x), atol=1e-3)


def test_generate_many_rows_and_validation():
    model = TinyCharLM(9, block_size=4, d=8, n_head=2, seed=0, zero_head=False)
    prompt = torch.tensor([1, 2])
    ids = generate(model, prompt, 5, seed=3, num_samples=4, temperature=1.0)
    assert ids.shape == (4, 7) and (ids[:, :2] == prompt).all()
    one = generate(model, prompt, 5, seed=3, temperature=1.0)
    assert torch.equal(
        one,
        generate(model, prompt, 5, seed=3, num_samples=1, temperature=1.0)[0],
    )
    greedy = generate(model, prompt, 5, num_samples=3, temperature=0.0)
    assert (greedy == greedy[0]).all()
    with pytest.raises(ValueError, match="num_samples"):
        generate(model, prompt, 5, num_samples=0)


def test_text_metrics_by_hand():
    ids = torch.tensor([[1, 2, 1, 2, 1], [0, 1, 2, 3, 4]])
    # (1,2),(2,1) twice vs four distinct
    assert distinct_ngram_fraction(ids, 2).tolist() == [0.5, 1.0]
    assert distinct_ngram_fraction(ids, 1).tolist() == [0.4, 1.0]
    assert ngram_hit_rate(ids, torch.tensor([1, 2, 3]), 2).tolist() == [
        0.5,
        0.5,
    ]
    assert ngram_hit_rate(
        torch.tensor([5, 6, 7]), torch.tensor([5, 6, 7]), 3
    ).tolist() == [1.0]
    with pytest.raises(ValueError, match="n must"):
        distinct_ngram_fraction(ids, 6)
    with pytest.raises(ValueError, match="int64"):
        ngram_hit_rate(ids.float(), torch.tensor([1, 2]))


def test_last_only_is_the_last_row_of_the_full_forward():
    model = TinyCharLM(
        9, block_size=6, d=12, n_head=3, seed=0, zero_head=False
    )
    x = torch.randint(0, 9, (4, 6), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        assert torch.allclose(
            model(x, last_only=True), model(x)[:, -1:], atol=1e-6
        )
    with pytest.raises(ValueError, match="last_only"):
        model(x, x, last_only=True)


def test_chapter_11_corpus_snapshot_is_cleaned_book_text(tmp_path):
    # Chapter 11 trains on a frozen snapshot of load_book_text(ROOT) (so that
    # editing the book's pages does not move the chapter's numbers). The
    # snapshot must be text load_book_text produced: cleaning it again changes
    # nothing, and it is long enough to train on.
    from pathlib import Path

    from lecture_code.charlm import load_book_text

    snapshot = (
        Path(__file__).resolve().parents[1]
        / "notebooks"
        / "data"
        / "ch11_book_text.txt"
    )
    text = snapshot.read_text(encoding="utf-8")
    assert len(text) > 10_000
    (tmp_path / "book").mkdir()
    (tmp_path / "book" / "page.md").write_text(text, encoding="utf-8")
    assert load_book_text(tmp_path) == text
