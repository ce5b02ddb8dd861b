"""One intra-op thread for the small nets of these tests: faster than two on a shared CPU, and restored after."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def single_thread(one_thread) -> None:
    """Every test here runs with the shared `one_thread` fixture."""
