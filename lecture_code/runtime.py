"""The one line at the top of every chapter: ``setup_chapter()``.

It applies the book's figure style (fonts, colours, how figures are displayed)
and keeps PyTorch and the BLAS under NumPy/SciPy/scikit-learn on one thread
each: every tensor in the book is tiny, so a second thread costs more than it
saves and makes timings noisier. Random draws in the chapters use explicit,
seeded generators (``torch.Generator().manual_seed(…)``,
``np.random.default_rng(…)``); ``setup_chapter`` also seeds the global
generators, so that a cell a reader adds without a generator is reproducible
too.
"""

from __future__ import annotations

import random

import numpy as np
import torch
from threadpoolctl import threadpool_limits

from .style import use_book_style


def setup_chapter(seed: int = 0) -> None:
    """Style, threads and seeds for a chapter (call once, in the first code
    cell).

    Parameters
    ----------
    seed : int
        Seed of Python's, NumPy's and PyTorch's global random generators.

    Returns
    -------
    None
        So that a cell ending with the call shows no output.
    """
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an integer, got {seed!r}")
    use_book_style()
    torch.set_num_threads(1)
    threadpool_limits(1)
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
