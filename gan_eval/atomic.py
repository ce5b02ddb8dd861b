"""Atomic file writes: a reader sees the old file or the whole new one, never a part.

Data goes to a temporary file in the destination's folder, is flushed to disk,
then renamed over the destination with `os.replace`, which is atomic on POSIX
and Windows file systems. A failure or a kill before the rename leaves the
destination untouched; the temporary file is removed on failure.

Under torchrun only rank 0 writes (every rank computes the same bytes): on
the other ranks the data goes to a scratch buffer and nothing is touched.
"""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from gan_eval.errors import GanEvalError


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a binary file that replaces `path` only when the block ends without error."""
    from gan_eval import distributed

    if not distributed.is_primary():
        yield io.BytesIO()
        return
    dest = Path(path)
    folder = dest.parent
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise GanEvalError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, dest)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        raise GanEvalError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write `data` to `path` atomically."""
    with atomic_write(path) as handle:
        handle.write(data)
