"""Running `gan-eval` in-process for the CLI tests: exit code, stdout and stderr of one command."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from gan_eval.cli.main import main
from gan_eval.errors import GanEvalWarning


def run_cli(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    """`gan-eval ARGS...` in this process (GanEvalWarnings silenced): `(exit code, stdout, stderr)`."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GanEvalWarning)
        try:
            code = main([str(a) for a in args])
        except SystemExit as exc:  # argparse's errors
            code = exc.code
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def one_error_line(code: int, err: str, *names: str) -> None:
    """Assert exit code 2 and exactly one `error:` line on stderr that mentions every one of `names`."""
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), err
    for name in names:
        assert name in lines[0], lines[0]
