"""Chapter 10's comparison of gradient estimators for E_{y~softmax(z)}[f(e_y)].

Book equations (chapter 10, Gumbel-softmax とストレートスルー推定):

- (eq-exact-grad) the exact gradient, by enumeration
  (:func:`lecture_code.discrete.exact_gradient`);
- (eq-reinforce) REINFORCE, with and without a leave-one-out baseline;
- Gumbel-softmax and straight-through Gumbel at several τ, and the lecture's
  deterministic straight-through gradient (eq-ste-det).

:func:`make_estimators` builds the estimators from the functions of
:mod:`lecture_code.discrete`; :func:`compare_estimators` runs each with
several seeds and summarises every run with
:func:`lecture_code.discrete.summarize_estimates`; :func:`estimator_table`
turns the result into the chapter's Markdown table.
"""

from __future__ import annotations

import numpy as np
import torch

from . import discrete
from .validate import function, integer, logits, positive

#: Name of the lecture's noiseless straight-through gradient in the results.
DETERMINISTIC = "講義の STE（ノイズなし）"


def _sequence(x, name: str, what: str) -> list:
    if np.ndim(x) != 1:
        raise TypeError(f"{name} must be a sequence of {what}, got {x!r}")
    return list(x)


def make_estimators(
    z, f, n: int, *, taus_gs=(), taus_st=(), batch: int = 16
) -> dict:
    """The chapter's estimators of ∇_z E[f(e_y)] (eq-reinforce and the
    relaxations), each a function of a ``torch.Generator`` returning ``n``
    per-sample estimates (n, K).

    Every argument is checked here, before any estimator runs.

    Parameters
    ----------
    z : torch.Tensor, shape (K,)
        Logits.
    f : callable
        Maps an (N, K) batch of points of Δ^{K-1} to (N,) values.
    n : int
        Samples per run, n >= 2.
    taus_gs : sequence of float
        Temperatures τ > 0 of the Gumbel-softmax estimators.
    taus_st : sequence of float
        Temperatures τ > 0 of the straight-through Gumbel estimators.
    batch : int
        Group size of the mini-batch REINFORCE baseline; 2 <= batch <= n and
        a divisor of n.

    Returns
    -------
    dict
        Name (as the chapter's table prints it) -> function of a generator.
    """
    z = logits(z, "z", ndim=1)[0]
    f, n = function(f, "f", "(N, K) -> (N,)"), integer(n, "n", minimum=2)
    batch = integer(batch, "batch", minimum=2, maximum=n)
    if n % batch:
        raise ValueError(f"batch must divide n={n}, got {batch}")
    taus = {
        name: [positive(t, name) for t in _sequence(ts, name, "τ > 0")]
        for name, ts in (("taus_gs", taus_gs), ("taus_st", taus_st))
    }
    sf, relaxed = discrete.score_function_grads, discrete.relaxed_grads
    est = {
        "REINFORCE": lambda g: sf(z, f, n, generator=g),
        "REINFORCE＋ベースライン（残り全部）": lambda g: sf(
            z, f, n, baseline=True, generator=g
        ),
        f"REINFORCE＋ベースライン（{batch} 個のバッチ）": lambda g: sf(
            z, f, n, baseline=True, group=batch, generator=g
        ),
    }
    for tau in taus["taus_gs"]:
        est[f"Gumbel-softmax τ={tau:g}"] = lambda g, tau=tau: relaxed(
            z, f, tau, n, generator=g
        )
    for tau in taus["taus_st"]:
        est[f"ST-Gumbel τ={tau:g}"] = lambda g, tau=tau: relaxed(
            z, f, tau, n, hard=True, generator=g
        )
    return est


def compare_estimators(
    z,
    f,
    n: int,
    *,
    taus_gs=(),
    taus_st=(),
    seeds=range(5),
    batch: int = 16,
) -> dict:
    """Run every estimator of :func:`make_estimators` once per seed and
    summarise each run against the exact gradient (eq-exact-grad).

    Parameters
    ----------
    z : torch.Tensor, shape (K,)
        Logits.
    f : callable
        Maps an (N, K) batch of points of Δ^{K-1} to (N,) values.
    n : int
        Samples per run, n >= 2.
    taus_gs : sequence of float
        Temperatures τ > 0 of the Gumbel-softmax estimators.
    taus_st : sequence of float
        Temperatures τ > 0 of the straight-through Gumbel estimators.
    seeds : sequence of int
        One run per seed, with ``torch.Generator().manual_seed(seed)``.
    batch : int
        The mini-batch size, both of the REINFORCE baseline's groups and of
        the ``batch_cos`` summary (the cos of a mean of ``batch`` estimates).

    Returns
    -------
    dict
        Name -> list of :func:`~lecture_code.discrete.summarize_estimates`
        dicts, one per seed, plus :data:`DETERMINISTIC` -> [the summary of
        the lecture's deterministic straight-through gradient (eq-ste-det)].
    """
    estimators = make_estimators(
        z, f, n, taus_gs=taus_gs, taus_st=taus_st, batch=batch
    )
    seeds = [
        integer(s, "seeds", minimum=0)
        for s in _sequence(seeds, "seeds", "integers >= 0")
    ]
    if not seeds:
        raise ValueError("seeds must hold at least one seed")
    exact = discrete.exact_gradient(z, f)
    out = {
        name: [
            discrete.summarize_estimates(
                est(torch.Generator().manual_seed(s)), exact, batch
            )
            for s in seeds
        ]
        for name, est in estimators.items()
    }
    det = discrete.deterministic_ste_grad(z, f)
    out[DETERMINISTIC] = [discrete.summarize_estimates(det[None], exact, 1)]
    return out


def _cell(runs: list, key: str, fmt, fmt_sd=None) -> str:
    v = np.array([r[key] for r in runs])
    if len(v) == 1:
        return fmt(v.mean(), v.mean())
    return f"{fmt(v.mean(), v.mean())} ± {(fmt_sd or fmt)(v.std(), v.mean())}"


def _pct(x, ref):  # digits set by the mean
    return f"{100 * x:.1f}%" if ref < 0.1 else f"{100 * x:.0f}%"


def estimator_table(
    res: dict, *, batch: int = 16, key: str = "rel_var"
) -> str:
    """The chapter's Markdown table of :func:`compare_estimators` results:
    mean ± standard deviation over the seeds.

    Parameters
    ----------
    res : dict
        Output of :func:`compare_estimators`.
    batch : int
        The ``batch`` that :func:`compare_estimators` was run with (named in
        the header of the ``batch_cos`` column).
    key : str
        The summary shown in the variance column.

    Returns
    -------
    str
        A Markdown table, one row per estimator.
    """
    batch = integer(batch, "batch", minimum=1)
    rows = [
        "| 推定量 | 相対バイアス "
        "| $\\cos(\\mathbb{E}\\hat{\\mathbf g},\\nabla\\mathcal L)$ "
        f"| 長さの比 | 1 サンプルの相対分散 | {batch} 個の平均の cos |",
        "|---|---|---|---|---|---|",
    ]

    def fixed(digits):
        return lambda x, ref: f"{x:.{digits}f}"

    for name, runs in res.items():
        var = (
            "0"
            if len(runs) == 1
            else _cell(
                runs, key, lambda x, ref: f"{x:.3g}", lambda x, ref: f"{x:.2g}"
            )
        )
        rows.append(
            f"| {name} | {_cell(runs, 'rel_bias', _pct)} "
            f"| {_cell(runs, 'cos', fixed(3))} "
            f"| {_cell(runs, 'norm_ratio', fixed(2))} | {var} "
            f"| {_cell(runs, 'batch_cos', fixed(3))} |"
        )
    return "\n".join(rows)
