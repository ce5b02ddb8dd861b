"""`gan-eval weights import|info`, and bad weights files given to the command line.

Runs `gan_eval.cli.main.main` in-process (one subprocess checks the real
entry point); the sha256 values are computed here with hashlib.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_eval.cli.main import main
from gan_eval.extractors.inception.weights import load_weights, weights_cache_dir


class _Pickled:
    """An arbitrary object: loading with `weights_only=True` must refuse it."""


@pytest.fixture(scope="session")
def state_dict_file(real_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real weights saved as a plain state dict `.pth`, written once per session."""
    path = tmp_path_factory.mktemp("cli-state-dict") / "inception.pth"
    torch.save(load_weights(real_weights).state_dict, path)
    return path


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _cache_entries() -> list[str]:
    """The files in the Inception cache folder (not the other spaces' folders, nor the records')."""
    folder = weights_cache_dir()
    return sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []


def _one_error_line(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.splitlines()
    assert len(lines) == 1, captured.err
    assert lines[0].startswith("error: ")
    assert captured.out == ""
    return lines[0]


def test_info_on_empty_cache(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["weights", "info"]) == 0
    out = capsys.readouterr().out
    assert str(weights_cache_dir()) in out
    assert "no weights cached" in out


def test_import_both_formats_then_info(
    real_weights: Path, state_dict_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["weights", "import", str(real_weights)]) == 0
    assert main(["weights", "import", str(state_dict_file)]) == 0
    capsys.readouterr()
    script_sha, plain_sha = _sha256(real_weights), _sha256(state_dict_file)
    assert _cache_entries() == sorted(
        [f"inception-2015-12-05-{script_sha[:8]}.pt", f"inception-2015-12-05-{plain_sha[:8]}.pth"]
    )

    assert main(["weights", "info"]) == 0
    text = capsys.readouterr().out
    assert f"sha256 {script_sha}" in text
    assert f"sha256 {plain_sha}" in text
    assert "format torchscript-tf-names" in text
    assert "format state-dict" in text
    assert text.count("heads pool3 (no classifier: Inception Score unavailable)") == 2

    assert main(["weights", "info", "--json"]) == 0
    listed = {Path(e["path"]).suffix: e for e in json.loads(capsys.readouterr().out)["weights"]}
    assert listed[".pt"]["sha256"] == script_sha
    assert listed[".pth"]["sha256"] == plain_sha
    for entry in listed.values():
        assert entry["heads"] == ["pool3"]
        assert entry["inception_score"] is False


def test_info_reports_an_unusable_cached_file(capsys: pytest.CaptureFixture[str]) -> None:
    weights_cache_dir().mkdir(parents=True)
    broken = weights_cache_dir() / "inception-2015-12-05-00000000.pth"
    broken.write_bytes(b"garbage")
    assert main(["weights", "info"]) == 0
    out = capsys.readouterr().out
    assert str(broken) in out
    assert "unusable" in out


def _write_bad(kind: str, folder: Path, state_dict_file: Path) -> Path:
    path = folder / f"{kind}.pth"
    if kind == "truncated":
        path.write_bytes(state_dict_file.read_bytes()[: 1 << 20])
    elif kind == "random-bytes":
        path.write_bytes(np.random.default_rng(0).bytes(4096))
    elif kind == "wrong-architecture":
        torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(1000, 2048)}, path)
    elif kind == "pickled-object":
        torch.save({"Conv2d_1a_3x3.conv.weight": _Pickled()}, path)
    return path


BAD_KINDS = ["truncated", "random-bytes", "wrong-architecture", "pickled-object"]


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_import_of_bad_weights(
    kind: str, tmp_path: Path, state_dict_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_bad(kind, tmp_path, state_dict_file)
    assert main(["weights", "import", str(path)]) == 2
    assert str(path) in _one_error_line(capsys)
    assert _cache_entries() == []


@pytest.mark.parametrize("kind", BAD_KINDS)
def test_stats_with_bad_weights(
    kind: str, tmp_path: Path, state_dict_file: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write_bad(kind, tmp_path, state_dict_file)
    images = tmp_path / "images"
    images.mkdir()
    for name in ("a.png", "b.png"):
        Image.new("RGB", (8, 8)).save(images / name)
    out = tmp_path / "out.npz"
    assert main(["stats", str(images), "-o", str(out), "--weights", str(path), "--quiet"]) == 2
    assert str(path) in _one_error_line(capsys)
    assert not out.exists()
    assert _cache_entries() == []


def test_import_of_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    missing = tmp_path / "nope.pth"
    assert main(["weights", "import", str(missing)]) == 2
    assert str(missing) in _one_error_line(capsys)


def test_bad_weights_through_the_entry_point(tmp_path: Path) -> None:
    path = tmp_path / "random.pth"
    path.write_bytes(np.random.default_rng(1).bytes(4096))
    result = subprocess.run(
        [sys.executable, "-m", "gan_eval", "weights", "import", str(path)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"error: weights file {path} is not a readable PyTorch state dict (UnpicklingError)"
    ]
    assert _cache_entries() == []
