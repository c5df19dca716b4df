"""The two goodness-of-fit tests chapter 10 uses: Pearson's χ² and
Kolmogorov–Smirnov.

``scipy.stats`` does all of this, but importing it costs about a second, a
tenth of the chapter's time budget. The formulas are short, the one special
function (the χ² survival function, a regularized incomplete gamma function)
comes from ``torch.special``, and ``tests/test_stattests.py`` checks every
result against ``scipy.stats``.

- χ² statistic Σ (O − E)² / E with p-value Q(df/2, x/2) (regularized upper
  incomplete gamma); goodness of fit has df = K − 1, a contingency table (r −
  1)(c − 1), no continuity correction;
- KS statistic D = sup |F_n − F| (one sample) or sup |F_n − G_m| (two samples),
  compared with the asymptotic critical value c(α)·√(1/n) or c(α)·√((n + m)/(n
  m)), c(α) = √(−ln(α/2)/2).
"""

from __future__ import annotations

import math

import torch

from .validate import in_interval, integer, positive


def _counts(x, name: str, ndim: int) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float64)
    if x.dim() != ndim or x.numel() < 2:
        raise ValueError(
            f"{name} must be a {ndim}-D array with at least two cells, got shape {tuple(x.shape)}"
        )
    if not torch.isfinite(x).all() or (x < 0).any():
        raise ValueError(f"{name} must hold finite counts >= 0")
    return x


def chi2_sf(x: float, df: int) -> float:
    """P(χ²_df > x), the p-value of a χ² statistic x with df degrees of
    freedom."""
    df, x = integer(df, "df", minimum=1), positive(x, "x", allow_zero=True)
    a = torch.tensor(df / 2, dtype=torch.float64)
    return float(
        torch.special.gammaincc(a, torch.tensor(x / 2, dtype=torch.float64))
    )


def chisquare(observed, expected) -> tuple[float, float]:
    """Pearson's goodness-of-fit test: (statistic, p-value) with K − 1
    degrees of freedom."""
    o, e = _counts(observed, "observed", 1), _counts(expected, "expected", 1)
    if o.shape != e.shape or not (e > 0).all():
        raise ValueError(
            "expected must have the shape of observed and be > 0 everywhere"
        )
    if not math.isclose(float(o.sum()), float(e.sum()), rel_tol=1e-8):
        raise ValueError(
            f"observed and expected must have the same total, got {float(o.sum())} and {float(e.sum())}"
        )
    stat = float(((o - e) ** 2 / e).sum())
    return stat, chi2_sf(stat, o.numel() - 1)


def chi2_contingency(table) -> tuple[float, float]:
    """χ² test of independence for an (r, c) table of counts: (statistic,
    p-value), no correction."""
    t = _counts(table, "table", 2)
    if min(t.shape) < 2:
        raise ValueError(
            f"table needs at least 2 rows and 2 columns, got shape {tuple(t.shape)}"
        )
    # (r, c) under independence
    e = t.sum(1, keepdim=True) * t.sum(0, keepdim=True) / t.sum()
    if not (e > 0).all():
        raise ValueError(
            "every row and column of table needs a positive total"
        )
    stat = float(((t - e) ** 2 / e).sum())
    return stat, chi2_sf(stat, (t.shape[0] - 1) * (t.shape[1] - 1))


def _sample(x, name: str) -> torch.Tensor:
    x = torch.as_tensor(x, dtype=torch.float64).reshape(-1)
    if x.numel() == 0 or not torch.isfinite(x).all():
        raise ValueError(
            f"{name} must be a non-empty sample of finite numbers"
        )
    return torch.sort(x).values


def ks_statistic(sample, cdf) -> float:
    """D = sup_x |F_n(x) − F(x)| for a continuous ``cdf`` (a function of a
    tensor)."""
    x = _sample(sample, "sample")
    n = x.numel()
    F = cdf(x).to(torch.float64)
    i = torch.arange(1, n + 1, dtype=torch.float64)
    return float(torch.maximum(i / n - F, F - (i - 1) / n).max())


def ks_2samp_statistic(a, b) -> float:
    """D = sup_x |F_a(x) − F_b(x)| between two samples' empirical
    distribution functions."""
    a, b = _sample(a, "a"), _sample(b, "b")
    points = torch.cat([a, b])
    Fa = torch.searchsorted(a, points, right=True).double() / a.numel()
    Fb = torch.searchsorted(b, points, right=True).double() / b.numel()
    return float((Fa - Fb).abs().max())


def ks_critical_value(
    n: int, m: int | None = None, alpha: float = 0.05
) -> float:
    """Asymptotic critical value of D at level ``alpha`` (one sample of n, or
    samples of n and m).

    c(α) = √(−ln(α/2)/2) solves 2 e^{−2c²} = α, the first term of Kolmogorov's
    series for P(√n D > c); the neglected terms change the level by less than
    1e-4 of itself for α ≤ 0.1.
    """
    alpha, n = (
        in_interval(alpha, "alpha", 0.0, 1.0, closed="neither"),
        integer(n, "n", minimum=1),
    )
    m = None if m is None else integer(m, "m", minimum=1)
    n_eff = n if m is None else n * m / (n + m)
    return math.sqrt(-math.log(alpha / 2) / 2) / math.sqrt(n_eff)
