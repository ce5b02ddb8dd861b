"""Refusing inputs that are not regular files, before they are opened.

Reading a named pipe blocks until a writer comes, and a device such as
`/dev/zero` or `/dev/urandom` never ends: either would hang a run or fill its
memory. Links are followed, so a symbolic link to a device is refused too.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from gan_eval.errors import GanEvalError

_KINDS = (
    (stat.S_ISFIFO, "a named pipe"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISDIR, "a folder"),
)


def require_regular_file(path: str | os.PathLike[str], name: str | None = None) -> None:
    """Raise `GanEvalError` `<name>: not a regular file (a named pipe)` unless `path` resolves to a regular file.

    `name` labels the message (default: the path). A path that cannot be
    examined at all (missing, unreadable) is left to the opener, which names
    that error as it always has.
    """
    try:
        mode = os.stat(path).st_mode
    except OSError:
        return
    if stat.S_ISREG(mode):
        return
    kind = next((what for test, what in _KINDS if test(mode)), "not a file")
    target = os.path.realpath(path)
    via = f", {target}" if Path(target) != Path(os.path.abspath(path)) else ""
    raise GanEvalError(f"{name or path}: not a regular file ({kind}{via})")
