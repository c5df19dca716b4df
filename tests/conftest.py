"""Shared pytest settings: hypothesis without per-example deadlines (the machines are small and
shared, so timing is noisy), and derandomized in CI so a run is reproducible."""

import os

from hypothesis import settings

settings.register_profile("book", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "book")
