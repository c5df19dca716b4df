"""Tests of lecture_code.check: the helpers that make notebook claims fail
loudly."""

import numpy as np
import pytest
import torch

from lecture_code.check import cmp, rounded, vs_source


def test_cmp_passes_and_reports(capsys):
    cmp("same", torch.tensor([1.0, 2.0]), np.array([1.0, 2.0]))
    out = capsys.readouterr().out
    assert "完全一致: はい" in out and "許容誤差内: はい" in out


def test_cmp_reports_close_but_not_exact(capsys):
    cmp("rounding", [0.1 + 0.2], [0.3])
    out = capsys.readouterr().out
    assert (
        "完全一致: いいえ" in out
        and "許容誤差内: はい" in out
        and "最大の差: 5.6e-17" in out
    )


def test_cmp_fails_on_disagreement():
    with pytest.raises(AssertionError, match="max difference"):
        cmp("different", [1.0, 2.0], [1.0, 2.1])
    with pytest.raises(AssertionError, match="shapes differ"):
        cmp("shape", [1.0, 2.0], [1.0])


def test_cmp_treats_equal_infinities_as_equal():
    cmp("masked", [0.0, -np.inf], [0.0, -np.inf])
    with pytest.raises(AssertionError):
        cmp("nan is never close", [np.nan], [np.nan])


def test_vs_source_rounds_to_the_stated_precision(capsys):
    assert vs_source(
        "softmax",
        [0.09003057, 0.24472847, 0.66524096],
        [0.0900, 0.2447, 0.6652],
        4,
    )
    assert "一致" in capsys.readouterr().out
    assert not vs_source("wrong digit", [0.0820], [0.0819], 4)
    assert "不一致" in capsys.readouterr().out


def test_rounded_has_no_negative_zero():
    assert str(rounded(-0.00001, 2)) == "0.0"
