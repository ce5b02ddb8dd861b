"""Process-wide heap settings that keep large freed buffers for reuse (glibc on Linux).

glibc serves every allocation above its mmap threshold (at most 32 MiB) with a
fresh `mmap` and returns it with `munmap` when freed, so the kernel has to
zero every page again on the next allocation. A CPU Inception forward pass at
batch 64 allocates activations of 50-100 MiB per layer, and on a 2-core
machine those page faults were about half of the wall time (see
docs/performance.md). `keep_freed_memory()` makes glibc serve large blocks from
the heap and keep freed memory instead of trimming it, so later batches reuse
pages that are already mapped. The cost: the process keeps its peak heap
until it exits. The `gan-eval` command turns it on; a library user can call it
once at the start of an evaluation script.
"""

from __future__ import annotations

import ctypes
import sys

# mallopt() parameter numbers, from glibc's <malloc.h>
_M_TRIM_THRESHOLD = -1
_M_TOP_PAD = -2
_M_MMAP_MAX = -4

_TRIM_THRESHOLD_BYTES = 1 << 30  # keep up to 1 GiB of free memory at the top of the heap
_TOP_PAD_BYTES = 64 << 20  # grow the heap 64 MiB at a time


def keep_freed_memory() -> bool:
    """Stop glibc from mmap-ing large blocks and from returning freed heap memory; False where unavailable."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):  # not glibc (e.g. musl)
        return False
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt.restype = ctypes.c_int
    settings = ((_M_MMAP_MAX, 0), (_M_TRIM_THRESHOLD, _TRIM_THRESHOLD_BYTES), (_M_TOP_PAD, _TOP_PAD_BYTES))
    return all(mallopt(parameter, value) == 1 for parameter, value in settings)
