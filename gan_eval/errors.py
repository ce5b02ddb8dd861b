"""The one user-facing error type of gan-eval.

A `GanEvalError` carries a one-line message that names the file or argument
at fault; the command line prints it as ``error: <message>`` and exits with
code 2. Programming errors stay ordinary exceptions.
"""

from __future__ import annotations


class GanEvalError(Exception):
    """A user mistake or bad input, reported as one line without a traceback."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))
