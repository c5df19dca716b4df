"""lecture_code.stattests against scipy.stats."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from lecture_code.stattests import (
    chi2_contingency,
    chi2_sf,
    chisquare,
    ks_2samp_statistic,
    ks_critical_value,
    ks_statistic,
)


@pytest.mark.parametrize("df", [1, 2, 5, 30])
@pytest.mark.parametrize("x", [0.0, 0.3, 2.0, 11.0, 80.0])
def test_chi2_sf_matches_scipy(x, df):
    assert chi2_sf(x, df) == pytest.approx(
        stats.chi2.sf(x, df), rel=1e-10, abs=1e-300
    )


def test_chisquare_matches_scipy():
    rng = np.random.default_rng(0)
    for _ in range(20):
        k = int(rng.integers(2, 8))
        p = rng.dirichlet(np.ones(k))
        obs = rng.multinomial(500, p)
        ref = stats.chisquare(obs, 500 * p)
        stat, pv = chisquare(obs, 500 * p)
        assert stat == pytest.approx(
            ref.statistic, rel=1e-12
        ) and pv == pytest.approx(ref.pvalue, rel=1e-9)


def test_chi2_contingency_matches_scipy_without_correction():
    rng = np.random.default_rng(1)
    for shape in [(2, 2), (2, 3), (3, 4)]:
        table = rng.integers(5, 60, size=shape)
        ref = stats.chi2_contingency(table, correction=False)
        stat, pv = chi2_contingency(table)
        assert stat == pytest.approx(
            ref.statistic, rel=1e-12
        ) and pv == pytest.approx(ref.pvalue, rel=1e-9)


def test_ks_statistics_match_scipy():
    rng = np.random.default_rng(2)
    x = rng.gumbel(size=3000)
    gumbel_cdf = lambda t: torch.exp(-torch.exp(-t))
    assert ks_statistic(x, gumbel_cdf) == pytest.approx(
        stats.kstest(x, stats.gumbel_r.cdf).statistic, abs=1e-12
    )
    a, b = rng.normal(size=700), rng.normal(0.1, 1.0, size=1100)
    assert ks_2samp_statistic(a, b) == pytest.approx(
        stats.ks_2samp(a, b).statistic, abs=1e-12
    )


def test_ks_critical_value_is_the_asymptotic_quantile():
    # P(√n D > c) → P(K > c) for Kolmogorov's K; scipy's kstwobign is that
    # limit
    c = ks_critical_value(10_000) * math.sqrt(10_000)
    assert stats.kstwobign.sf(c) == pytest.approx(0.05, rel=1e-4)
    assert ks_critical_value(400, 400) == pytest.approx(ks_critical_value(200))
    # the test it defines rejects a shifted sample and (at this seed) not an
    # unshifted one
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=5000), rng.normal(size=5000)
    assert (
        ks_2samp_statistic(a, b)
        < ks_critical_value(5000, 5000)
        < ks_2samp_statistic(a, b + 0.2)
    )


def test_bad_input_raises():
    with pytest.raises(ValueError, match="df"):
        chi2_sf(1.0, 0)
    with pytest.raises(ValueError, match="x must"):
        chi2_sf(float("nan"), 2)
    with pytest.raises(ValueError, match="same total"):
        chisquare([10, 10], [5, 5])
    with pytest.raises(ValueError, match="expected"):
        chisquare([10, 10], [20, 0])
    with pytest.raises(ValueError, match="observed"):
        chisquare([10], [10])
    with pytest.raises(ValueError, match="table"):
        chi2_contingency([[1, 2, 3]])
    with pytest.raises(ValueError, match="positive total"):
        chi2_contingency([[0, 2], [0, 3]])
    with pytest.raises(ValueError, match="sample"):
        ks_statistic([], torch.sigmoid)
    with pytest.raises(ValueError, match="alpha"):
        ks_critical_value(10, alpha=1.5)
    with pytest.raises(ValueError, match="n must be a positive integer"):
        ks_critical_value(0)
