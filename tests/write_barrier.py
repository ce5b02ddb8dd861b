"""A barrier inside file writes, so that the writes of two processes certainly overlap (for the concurrency tests).

A writer process calls `hold_writes(folder)`. From then on each `os.fsync` of
the process (the point of an atomic write where the data is in the temporary
file, not yet renamed into place) creates `<pid>.<n>.arrived` in `folder`, n
counting the process's fsyncs from 0, and waits for `<n>.go` before going on.

The test process, in `with all_held(procs, folder, n):`, waits until every
process has arrived at its write number n, checks what it likes while all of
them are held there, and lets them go at the end of the block. It fails if a
process ends before arriving or does not arrive within `TIMEOUT` s, and kills
the processes if the block fails. A writer that is not let go within
`TIMEOUT` s exits with code 3, so nothing waits forever.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import subprocess
import sys
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

TIMEOUT = 120.0
HELD_TOO_LONG = 3


def _arrived(folder: Path, pid: int, step: int) -> Path:
    return folder / f"{pid}.{step}.arrived"


def _go(folder: Path, step: int) -> Path:
    return folder / f"{step}.go"


def _wait(ready, timeout: float) -> bool:
    """Poll `ready()` until it is true (True) or `timeout` s have passed (False)."""
    deadline = time.monotonic() + timeout
    while not ready():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.01)
    return True


def hold_writes(folder: Path, timeout: float = TIMEOUT) -> None:
    """In this (writer) process: hold each fsync at the barrier in `folder` (see the module docstring)."""
    real_fsync = os.fsync
    steps = itertools.count()

    def fsync(fd: int) -> None:
        real_fsync(fd)
        step = next(steps)
        _arrived(folder, os.getpid(), step).touch()
        if not _wait(_go(folder, step).exists, timeout):
            sys.stderr.write(f"write barrier: write {step} was not let go within {timeout:.0f} s\n")
            os._exit(HELD_TOO_LONG)

    os.fsync = fsync


@contextlib.contextmanager
def all_held(procs: Sequence[subprocess.Popen], folder: Path, step: int, timeout: float = TIMEOUT) -> Iterator[None]:
    """In the test: every one of `procs` held in its write number `step` for the block, then let go."""
    try:

        def all_arrived() -> bool:
            for proc in procs:
                if proc.poll() is not None:
                    raise AssertionError(
                        f"process {proc.pid} ended (code {proc.returncode}) before its write {step}: "
                        f"{proc.communicate()[1]}"
                    )
            return all(_arrived(folder, proc.pid, step).exists() for proc in procs)

        if not _wait(all_arrived, timeout):
            raise AssertionError(f"not every process reached its write {step} within {timeout:.0f} s")
        yield
    except BaseException:
        for proc in procs:
            proc.kill()
            proc.wait()
        raise
    _go(folder, step).touch()
