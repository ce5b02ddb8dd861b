"""Run `gan-eval ARGS` in a subprocess with faults made to happen at a known moment (for test_faults.py).

    python fault_driver.py [options] -- ARGS...

Options:
  --stand-in          a tiny fixed random network instead of Inception (16-d "pool3"), so that a
                      subprocess does not spend its time on the real one; everything else is real
  --download-weights  with --stand-in: resolve the weights first, as the real loader does (a download
                      from $GAN_EVAL_WEIGHTS_URL when the cache is empty)
  --slow-batch S      the stand-in sleeps S seconds per batch
  --marker PATH       created when the fault point is reached: the first batch, or the pause below
  --pause-in-write S  sleep S seconds in the first fsync of a file, i.e. inside an atomic write, with the
                      data written to the temporary file but not yet renamed into place
  --file-size-limit N RLIMIT_FSIZE of N bytes, SIGXFSZ ignored: a write past N fails with EFBIG, as a
                      full disk fails with ENOSPC
  --hold-writes DIR   hold every write, its data written but not yet renamed into place, until the test
                      lets it go: the barrier of tests/write_barrier.py in the folder DIR

The exit code is the command's.
"""

from __future__ import annotations

import argparse
import os
import resource
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # the tests folder, for stand_in
from stand_in import StandInExtractor as _StandIn
from write_barrier import hold_writes


class StandInExtractor(_StandIn):
    """The tests' stand-in network, which can mark its first batch and sleep per batch."""

    def __init__(self, slow_batch: float, marker: Path | None) -> None:
        super().__init__()
        self.slow_batch = slow_batch
        self.marker = marker

    def extract(self, images, heads=("pool3",)):
        if self.marker is not None:
            self.marker.touch()
        time.sleep(self.slow_batch)
        return super().extract(images, heads)


def _use_stand_in(options: argparse.Namespace) -> None:
    from gan_eval import extraction
    from gan_eval.extractors.inception.weights import resolve_weights_path

    def load_extractor(weights=None, device=None, precision=None, progress=True, features="inception"):
        if options.download_weights:
            resolve_weights_path(weights, progress)
        return StandInExtractor(options.slow_batch, options.marker if options.pause_in_write is None else None)

    extraction.load_extractor = load_extractor


def _pause_in_first_fsync(seconds: float, marker: Path | None) -> None:
    real_fsync = os.fsync
    paused = []

    def fsync(fd: int) -> None:
        if not paused:
            paused.append(fd)
            if marker is not None:
                marker.touch()
            time.sleep(seconds)
        real_fsync(fd)

    os.fsync = fsync


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--stand-in", action="store_true")
    parser.add_argument("--download-weights", action="store_true")
    parser.add_argument("--slow-batch", type=float, default=0.0)
    parser.add_argument("--marker", type=Path)
    parser.add_argument("--pause-in-write", type=float)
    parser.add_argument("--file-size-limit", type=int)
    parser.add_argument("--hold-writes", type=Path)
    parser.add_argument("args", nargs=argparse.REMAINDER)
    options = parser.parse_args()
    args = options.args[1:] if options.args[:1] == ["--"] else options.args
    if options.file_size_limit is not None:
        # Matplotlib writes its font cache on first use; on a fresh machine that write would be the first
        # to fail, not the command's own output.
        import matplotlib.font_manager  # noqa: F401

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (options.file_size_limit, options.file_size_limit))
    if options.stand_in:
        _use_stand_in(options)
    if options.pause_in_write is not None:
        _pause_in_first_fsync(options.pause_in_write, options.marker)
    if options.hold_writes is not None:
        hold_writes(options.hold_writes)
    from gan_eval.cli.main import main as gan_eval_main

    return gan_eval_main(args)


if __name__ == "__main__":
    sys.exit(main())
