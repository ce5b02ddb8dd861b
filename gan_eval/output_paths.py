"""Checks of a command's outputs before any work: each can be written, and none is one of the inputs.

Every writing command (`stats -o`, `report --out`, `sample -o`, `plot`,
`train --out`, `gate --update-baseline`) calls `check_outputs` with what it
will read and what it will write, so that a mistake costs a second, not an
extraction, and an input is never overwritten by its own results
(`gan-eval stats imgs.npz -o imgs.npz` used to replace the images with their
statistics).

An output is refused when the path resolves to an input (`os.path.realpath`,
and `os.path.samefile` when both exist, which sees hard links), when it lies
inside an input folder (its files would be read as inputs by the next run,
and a paired or class-folder input would gain an unmatched file), when two
outputs are one path, when a folder to create or the name is longer than
the file system's NAME_MAX bytes, when something in the way is a file, or
when the nearest existing folder cannot be written.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from gan_eval.errors import GanEvalError

NAME_MAX_FALLBACK = 255  # POSIX file systems' usual limit, when `pathconf` cannot tell

Named = tuple[str, str | os.PathLike[str] | None]


def same_path(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Whether `a` and `b` name one file or folder: the same resolved path, or (both existing) the same inode."""
    if os.path.realpath(a) == os.path.realpath(b):
        return True
    try:
        return os.path.samefile(a, b)
    except OSError:  # one of them does not exist
        return False


def _name_max(folder: Path) -> int:
    try:
        return os.pathconf(folder, "PC_NAME_MAX")
    except (OSError, ValueError):
        return NAME_MAX_FALLBACK


def check_writable_path(flag: str, path: str | os.PathLike[str]) -> Path:
    """`path` as a Path when it can be created: names within NAME_MAX, folders on the way, a writable folder.

    `flag` names the argument in the error (`-o`, `--out`).
    """
    path = Path(path)
    existing = Path(os.path.abspath(path))
    to_create: list[str] = []
    while not os.path.lexists(existing):
        to_create.append(existing.name)
        existing = existing.parent
    if to_create and not existing.is_dir():
        raise GanEvalError(f"{flag} {path}: {existing} exists and is not a folder")
    folder = existing if to_create or existing.is_dir() else existing.parent
    limit = _name_max(folder)
    for name in to_create:
        size = len(os.fsencode(name))
        if size > limit:
            raise GanEvalError(f"{flag} {path}: a name of {size} bytes, over the {limit} bytes the file system allows")
    if not os.access(folder, os.W_OK | os.X_OK):
        raise GanEvalError(f"{flag} {path}: cannot write into {folder} (permission denied)")
    return path


def inside_folder(path: str | os.PathLike[str], folder: str | os.PathLike[str]) -> bool:
    """Whether `path` lies below the existing folder `folder` (both resolved, symbolic links followed)."""
    if not os.path.isdir(folder):
        return False
    return os.path.realpath(path).startswith(os.path.join(os.path.realpath(folder), ""))


def check_outputs(outputs: Iterable[Named], inputs: Iterable[Named], *, inside_inputs: bool = True) -> None:
    """Refuse, before any work, an output that cannot be written or that is an input (module docstring).

    `outputs`, `inputs`: (how the user gave it, path) pairs, e.g. `("-o", "stats.npz")`,
    `("PATH", "imgs.npz")`; a None path (an option not given) is skipped. Inputs
    that are no path (a built-in set's name) match no output. With `inside_inputs`
    (the default) an output inside an input folder is refused too; a command whose
    input folder is not read as data (a checkpoint) passes False.
    """
    given_inputs = [(flag, path) for flag, path in inputs if path is not None]
    checked: list[tuple[str, str | os.PathLike[str]]] = []
    for flag, path in outputs:
        if path is None:
            continue
        for in_flag, in_path in given_inputs:
            if same_path(path, in_path):
                raise GanEvalError(f"{flag} {path} is the input {in_flag} {in_path}; refusing to overwrite an input")
            if inside_inputs and inside_folder(path, in_path):
                raise GanEvalError(
                    f"{flag} {path} is inside the input folder {in_flag} {in_path}, whose files are read as inputs; "
                    "write it elsewhere"
                )
        for other_flag, other in checked:
            if same_path(path, other):
                raise GanEvalError(f"{flag} {path} is also {other_flag} {other}; give each output its own path")
        check_writable_path(flag, path)
        checked.append((flag, path))
