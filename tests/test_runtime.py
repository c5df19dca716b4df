"""lecture_code.runtime.setup_chapter: style, one thread, seeded global
generators."""

import random

import matplotlib
import numpy as np
import pytest
import torch
from threadpoolctl import threadpool_info

from lecture_code.runtime import setup_chapter


def test_setup_chapter_sets_style_threads_and_seeds():
    threads = torch.get_num_threads()
    try:
        # a cell ending with the call prints nothing
        assert setup_chapter(seed=3) is None
        assert matplotlib.rcParams["font.family"] == ["IPAexGothic"]
        assert torch.get_num_threads() == 1
        assert all(info["num_threads"] == 1 for info in threadpool_info())
        a = (random.random(), np.random.rand(), torch.rand(1).item())
        setup_chapter(seed=3)
        assert (random.random(), np.random.rand(), torch.rand(1).item()) == a
    finally:
        torch.set_num_threads(threads)


@pytest.mark.parametrize("seed", [1.5, "0", True, None])
def test_setup_chapter_rejects_a_seed_that_is_not_an_integer(seed):
    with pytest.raises(TypeError, match="seed must be an integer"):
        setup_chapter(seed=seed)
