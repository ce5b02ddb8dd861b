"""With `--json`, an error still prints one JSON object on stdout (`{"error": ...}`) beside the `error:` line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_runner import one_error_line, run_cli


@pytest.mark.parametrize(
    "command",
    [
        ("fid", "{missing}", "{missing}", "--json"),
        ("report", "{missing}", "{missing}", "--json"),
        ("gate", "--result", "{missing}", "--max-fid", "10", "--json"),
    ],
    ids=lambda command: command[0],
)
def test_error_with_json_prints_a_json_object(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, command: tuple[str, ...]
) -> None:
    missing = str(tmp_path / "missing")
    code, out, err = run_cli(capsys, *(part.format(missing=missing) for part in command))
    one_error_line(code, err, missing)
    assert json.loads(out) == {"error": err.strip().removeprefix("error: ")}
    assert out.count("\n") == 1


@pytest.mark.parametrize(
    "command", [("fid", "only-one", "--json"), ("report", "a", "b", "--json", "--no-such-option")], ids=lambda c: c[0]
)
def test_usage_error_with_json_prints_a_json_object(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    code, out, err = run_cli(capsys, *command)
    one_error_line(code, err, "--help")
    assert json.loads(out) == {"error": err.strip().removeprefix("error: ")}


def test_error_without_json_leaves_stdout_empty(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run_cli(capsys, "fid", tmp_path / "missing", tmp_path / "missing")
    one_error_line(code, err, "missing")
    assert out == ""
