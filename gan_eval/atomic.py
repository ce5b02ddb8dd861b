"""Atomic file writes: a reader sees the old file or the whole new one, never a part.

Data goes to a temporary file in the destination's folder, is flushed to disk,
then renamed over the destination with `os.replace`, which is atomic on POSIX
and Windows file systems. A failure or a kill before the rename leaves the
destination untouched; the temporary file is removed on failure.

A kill (SIGKILL, power loss) leaves the temporary file behind, hidden:
`.<name>.<pid>@<host>.<random>.tmp`, where a name over 100 bytes is cut to
its first 83 bytes and `~` and 16 hex digits of its sha256, so that a name
within the file system's 255 bytes keeps its temporary's within them too
(the dots, the writer id, the random part and the suffix add at most 87
bytes). The next write of the same destination
removes those whose process on this host no longer exists, so a crash leaves
no litter after the next successful run, and a live writer's file is kept.

Under torchrun only rank 0 writes (every rank computes the same bytes): on
the other ranks the data goes to a scratch buffer and nothing is touched.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import io
import os
import socket
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from gan_eval.errors import GanEvalError

_TEMP_SUFFIX = ".tmp"
_NAME_KEPT_BYTES = 100  # of the destination's name, in its temporaries' names


def temporary_prefix(dest: Path) -> str:
    """`.<name>.`, the start of every temporary name of `dest`; a long name is cut and hashed (module docstring)."""
    name = os.fsencode(dest.name)
    if len(name) > _NAME_KEPT_BYTES:
        digest = hashlib.sha256(name).hexdigest()[:16]
        name = name[: _NAME_KEPT_BYTES - len(digest) - 1] + b"~" + digest.encode()
    return f".{os.fsdecode(name)}."


def _writer_id() -> str:
    return f"{os.getpid()}@{socket.gethostname()}"


def _process_exists(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # PermissionError: it exists, under another user
        return True
    return True


def remove_stale_temporaries(dest: Path) -> None:
    """Delete the temporary files of `dest` left by killed writers on this host (see the module docstring)."""
    prefix = temporary_prefix(dest)
    host = socket.gethostname()
    try:
        candidates = list(dest.parent.glob(f"{glob.escape(prefix)}*{_TEMP_SUFFIX}"))
    except OSError:
        return
    for tmp in candidates:
        writer = tmp.name[len(prefix) : -len(_TEMP_SUFFIX)].rsplit(".", 1)[0]
        pid, _, writer_host = writer.partition("@")
        if writer_host == host and pid.isdigit() and not _process_exists(int(pid)):
            with contextlib.suppress(OSError):
                tmp.unlink()


def _create_temporary(dest: Path) -> tuple[int, Path]:
    """A new temporary file beside `dest` (its folder created, stale temporaries removed): (fd, path)."""
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_temporaries(dest)
        fd, name = tempfile.mkstemp(
            prefix=f"{temporary_prefix(dest)}{_writer_id()}.", suffix=_TEMP_SUFFIX, dir=dest.parent
        )
    except OSError as exc:
        raise GanEvalError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    return fd, Path(name)


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str]) -> Iterator[BinaryIO]:
    """Open a binary file that replaces `path` only when the block ends without error."""
    from gan_eval import distributed

    if not distributed.is_primary():
        yield io.BytesIO()
        return
    dest = Path(path)
    fd, tmp = _create_temporary(dest)
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


def atomic_write_files(files: dict[Path, bytes]) -> None:
    """Write several files so that either every one is replaced or none is.

    All temporary files are written and flushed to disk first, and renamed
    into place only when every one is complete: a full disk, or a kill before
    the renames, leaves each destination as it was.
    """
    from gan_eval import distributed

    if not distributed.is_primary():
        return
    ready: list[tuple[Path, Path]] = []
    dest = None
    try:
        for dest, data in files.items():
            fd, tmp = _create_temporary(dest)
            ready.append((tmp, dest))
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chmod(tmp, 0o644)
        for tmp, dest in ready:
            os.replace(tmp, dest)
    except OSError as exc:
        for tmp, _ in ready:
            tmp.unlink(missing_ok=True)
        raise GanEvalError(f"cannot write {dest}: {exc.strerror or exc}") from exc
    except BaseException:
        for tmp, _ in ready:
            tmp.unlink(missing_ok=True)
        raise


@contextlib.contextmanager
def atomic_folder(folder: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a hidden staging folder beside `folder`, renamed to `folder` when the block ends without error.

    `folder` must be absent or empty (`os.replace` swaps an empty folder
    atomically on POSIX); on failure or interruption the staging folder is
    removed and `folder` is left as it was.
    """
    import shutil

    dest = Path(folder)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=temporary_prefix(dest), suffix=_TEMP_SUFFIX, dir=dest.parent))
    except OSError as exc:
        raise GanEvalError(f"cannot write {dest}: {exc.strerror or exc}") from None
    try:
        yield staging
        os.chmod(staging, 0o755)
        os.replace(staging, dest)
    except OSError as exc:
        shutil.rmtree(staging, ignore_errors=True)
        raise GanEvalError(f"cannot write {dest}: {exc.strerror or exc}") from None
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
