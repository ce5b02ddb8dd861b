"""Fixtures of the reliability tests: the command line run in this process, with the extractor built once.

`cli` runs `gan_eval.cli.main.main` in this process, as a user's command
would run, and captures its exit code and output. The only shortcut: the
Inception extractor for a given weights file is built once per session and
handed out again (`load_extractor` is memoised), so a table of bad inputs
does not reload 90 MB of weights per case. Weights given by anything but an
explicit path, and weights that fail to load, still take the real path.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
from cli_harness import CliRun

from gan_eval import extraction
from gan_eval.cli.main import main
from gan_eval.errors import GanEvalWarning

_EXTRACTORS: dict[tuple[str, str, str], object] = {}


@pytest.fixture
def shared_extractor(monkeypatch: pytest.MonkeyPatch) -> None:
    """Memoise `gan_eval.extraction.load_extractor` for explicit weights paths (see the module docstring)."""
    load = extraction.load_extractor

    def memoised(weights=None, device=None, precision=None, progress=True, features="inception"):
        if weights is None:
            return load(weights, device, precision, progress, features)
        key = (str(Path(weights).resolve()), str(device), str(precision), features)
        if key not in _EXTRACTORS:
            _EXTRACTORS[key] = load(weights, device, precision, progress, features)
        return _EXTRACTORS[key]

    monkeypatch.setattr(extraction, "load_extractor", memoised)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str], shared_extractor: None) -> Callable[..., CliRun]:
    """`cli(*args)`: run `gan-eval ARGS` in this process; argparse's exits are caught, anything else propagates."""

    def run(*args: str | Path) -> CliRun:
        capsys.readouterr()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GanEvalWarning)
            try:
                code = main([str(a) for a in args])
            except SystemExit as exc:
                code = exc.code
        captured = capsys.readouterr()
        return CliRun(code, captured.out, captured.err)

    return run
