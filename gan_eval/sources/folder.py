"""Images in a folder tree: recursive, sorted by relative path, hidden entries skipped."""

from __future__ import annotations

import os
import warnings
from pathlib import Path, PurePosixPath

import numpy as np

from gan_eval.digest import file_sha256
from gan_eval.errors import GanEvalError, GanEvalWarning, caller_stacklevel
from gan_eval.regular_files import require_regular_file
from gan_eval.sources.base import HASH_THREADS, content_fingerprint
from gan_eval.sources.decode import IMAGE_EXTENSIONS, decode_image


def list_image_files(root: Path) -> list[Path]:
    """Image files under `root` (by extension, case-insensitive), sorted by relative POSIX path."""
    return _list_files(root)[0]


def _list_files(root: Path) -> tuple[list[Path], list[Path]]:
    """Visible files under `root`: those with an image extension, sorted by relative POSIX path, and the others.

    Nothing is opened: a named pipe or a device without an image extension is only counted.
    """

    def fail(error: OSError) -> None:
        raise GanEvalError(f"cannot read folder {error.filename}: {error.strerror}")

    images, others = [], []
    for folder, subfolders, files in os.walk(root, onerror=fail):
        subfolders[:] = [d for d in subfolders if not d.startswith(".")]
        for name in files:
            if not name.startswith("."):
                (images if Path(name).suffix.lower() in IMAGE_EXTENSIONS else others).append(Path(folder, name))
    return sorted(images, key=lambda p: p.relative_to(root).as_posix()), others


def warn_of_ignored_files(where: str, names: list[str]) -> None:
    """One `GanEvalWarning` line saying how many files of `where` were ignored for their extension, and which."""
    if not names:
        return
    suffixes = sorted({PurePosixPath(name).suffix.lower() or "no extension" for name in names})
    listed = ", ".join(suffixes[:5]) + (", ..." if len(suffixes) > 5 else "")
    warnings.warn(
        f"ignored {len(names)} file(s) in {where} that are not images ({listed})",
        GanEvalWarning,
        stacklevel=caller_stacklevel(),
    )


class ImageFolderSource:
    """Every image file under a folder, in a deterministic order."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise GanEvalError(f"{self.root} is not a folder")
        self.files, ignored = _list_files(self.root)
        if not self.files:
            raise GanEvalError(f"{self.root} holds no images (looked for {', '.join(sorted(IMAGE_EXTENSIONS))})")
        warn_of_ignored_files(str(self.root), [path.name for path in ignored])
        self.name = str(self.root)

    def __len__(self) -> int:
        return len(self.files)

    def describe(self, index: int) -> str:
        return str(self.files[index])

    def load(self, index: int) -> np.ndarray:
        path = self.files[index]
        require_regular_file(path)
        try:
            return decode_image(str(path), str(path))
        except PermissionError:
            raise GanEvalError(f"{path}: permission denied") from None

    def fingerprint(self) -> str:
        """sha256 of every file's relative path and bytes (`content_fingerprint`): the feature cache key.

        The folder's own location is left out, so a moved or copied folder keeps its cache entry; any added,
        removed, renamed or changed file changes the fingerprint, and a touched file does not.
        """
        names = [path.relative_to(self.root).as_posix() for path in self.files]
        return content_fingerprint("folder-content", names, self._file_digest, threads=HASH_THREADS)

    def _file_digest(self, index: int) -> str:
        path = self.files[index]
        require_regular_file(path)
        try:
            return file_sha256(path)
        except PermissionError:
            raise GanEvalError(f"{path}: permission denied") from None
        except OSError as exc:
            raise GanEvalError(f"{path}: cannot read ({exc.strerror})") from None
