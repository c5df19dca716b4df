"""Shared pytest settings: hypothesis without per-example deadlines (the
machines are small and shared, so timing is noisy), and derandomized in
CI so a run is reproducible."""

import os

import pytest
import torch
from hypothesis import settings

settings.register_profile("book", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "book")


@pytest.fixture
def one_thread():
    """One torch thread for the test (as in the chapters): the problems are
    small, and two threads on a busy 2-core machine made chapter 7's
    training loops 20 times slower."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
