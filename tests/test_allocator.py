"""`keep_freed_memory`: large freed buffers are reused instead of being mapped and zeroed again."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

PROBE = """
import json, resource, sys
import numpy as np
from gan_eval.allocator import keep_freed_memory
applied = keep_freed_memory() if sys.argv[1] == "on" else False
np.ones(64 << 17)  # first touch of 64 MiB: every page faults once in both modes
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(10):
    np.ones(64 << 17)  # 64 MiB allocated, written and freed again
faults = resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before
print(json.dumps({"applied": applied, "faults": faults}))
"""


def probe(mode: str) -> dict:
    done = subprocess.run([sys.executable, "-c", PROBE, mode], capture_output=True, text=True, check=True)
    return json.loads(done.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_freed_large_buffers_are_reused_without_page_faults() -> None:
    default, tuned = probe("off"), probe("on")
    faults_per_buffer = (64 << 20) // (2 << 20)  # at least one per 2 MiB (transparent huge pages; 4 KiB pages: more)
    assert default["faults"] >= 5 * faults_per_buffer  # glibc maps and zeroes each 64 MiB buffer afresh
    assert tuned["applied"] is True
    assert tuned["faults"] < faults_per_buffer // 2
