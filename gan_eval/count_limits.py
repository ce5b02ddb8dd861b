"""Count limits: what a requested count (samples, latents, resamples) will cost, refused before any work.

A count the user types (`-n`, `--bootstrap`, `n=`) sizes arrays. Each caller
computes the bytes its request will hold at once, from what its
implementation allocates, and hands them to `check_count`, which refuses in
one line, before anything is allocated, a count over its sane upper bound or
one whose bytes exceed the machine's physical memory. The line names the
argument and its value, the bytes needed and the memory there is:

    -n 1000000000000: 1e+12 latents of 64 float32 need 256 TB, more than the machine's memory (25.3 GB)

Physical memory, not the memory free at this moment, is the bound: a request
within it may still swap or wait, but one beyond it can never succeed.
"""

from __future__ import annotations

import os
from pathlib import Path

from gan_eval.errors import GanEvalError

FLOAT32_BYTES = 4
MEMINFO = Path("/proc/meminfo")


def machine_memory_bytes() -> int | None:
    """The machine's physical memory in bytes: `sysconf`, else `/proc/meminfo`'s MemTotal, else None."""
    try:
        pages, page_size = os.sysconf("SC_PHYS_PAGES"), os.sysconf("SC_PAGE_SIZE")
        if pages > 0 and page_size > 0:  # -1: the system does not say
            return pages * page_size
    except (OSError, ValueError, AttributeError):  # no sysconf (Windows) or no such name
        pass
    try:
        for line in MEMINFO.read_text().splitlines():
            name, _, value = line.partition(":")
            if name == "MemTotal" and value.split() and value.split()[-1] == "kB":
                return int(value.split()[0]) * 1024
    except (OSError, ValueError):
        pass
    return None


def size_text(size: int) -> str:
    """`size` bytes in decimal units: `3.07 PB`."""
    units = ("bytes", "KB", "MB", "GB", "TB", "PB", "EB")
    power = min(len(str(size)) - 1, 3 * (len(units) - 1)) // 3
    return f"{size / 1000**power:.3g} {units[power]}"


def check_count(request: str, count: int, need: int, what: str, limit: int | None = None) -> None:
    """Refuse a requested count before anything is allocated: over `limit`, or `need` bytes beyond the memory.

    `request` is the argument and its value as the user gave them (`--bootstrap 10000000000`, `n=10000000000`);
    `count` the value; `need` the bytes the request will hold at once; `what` what they hold
    (`1e+10 bootstrap means`), the subject of `need ...` in the message.
    """
    memory = machine_memory_bytes()
    memory_text = "unknown" if memory is None else size_text(memory)
    if limit is not None and count > limit:
        raise GanEvalError(
            f"{request}: at most {limit} are allowed ({what} would need {size_text(need)}; "
            f"the machine's memory is {memory_text})"
        )
    if memory is not None and need > memory:
        raise GanEvalError(f"{request}: {what} need {size_text(need)}, more than the machine's memory ({memory_text})")


def check_latent_count(request: str, n: int, latent_dim: int | None) -> None:
    """Refuse `n` samples of a generator whose `(n, latent_dim)` float32 latents, drawn at once, cannot fit.

    `latent_dim` None: not known yet (a file not loaded), so one float32 a sample, the least any generator draws.
    """
    if latent_dim is None:
        check_count(request, n, n * FLOAT32_BYTES, f"{n:.3g} latents (one float32 at least)")
    else:
        check_count(request, n, n * latent_dim * FLOAT32_BYTES, f"{n:.3g} latents of {latent_dim} float32")
