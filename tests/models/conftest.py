"""One intra-op thread for the small nets of these tests: faster than two on a shared CPU, and restored after."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import torch


@pytest.fixture(autouse=True)
def single_thread() -> Iterator[None]:
    """Run the test with `torch.set_num_threads(1)`, then put the previous count back."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)
