"""The one user-facing error type of gan-eval, and its warning type.

A `GanEvalError` carries a one-line message that names the file or argument
at fault; the command line prints it as ``error: <message>`` and exits with
code 2. Programming errors stay ordinary exceptions.
"""

from __future__ import annotations

import sys


class GanEvalError(Exception):
    """A user mistake or bad input, reported as one line without a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))


class GanEvalWarning(UserWarning):
    """A condition the user should know about that does not stop the computation."""


def caller_stacklevel() -> int:
    """`stacklevel` for a `warnings.warn` in the calling function: the first frame outside gan-eval.

    So a warning points at the user's line however deep in the package it is
    raised: `warnings.warn(message, GanEvalWarning, stacklevel=caller_stacklevel())`.
    """
    frame = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals.get("__name__", "").partition(".")[0] == "gan_eval":
        frame = frame.f_back
        level += 1
    return level if frame is not None else 1
