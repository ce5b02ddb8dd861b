"""Records of checked weights files: written at import, trusted while the file's `stat` matches, checked again when
it does not, and `gan-eval weights info` (with `--verify`) read from them.

`info` must read metadata only: its test caches two 300 MB files (sparse: written as a size, not as bytes)
with their records, replaces every weights loader and the hash by a function that fails, and times it.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import pytest
import torch
from cli_runner import run_cli

from gan_eval.digest import file_sha256
from gan_eval.errors import GanEvalError
from gan_eval.extractors import weights_files, weights_records
from gan_eval.extractors.clip import weights as clip_weights
from gan_eval.extractors.clip.network import ARCHS as CLIP_ARCHS
from gan_eval.extractors.dinov2 import weights as dinov2_weights
from gan_eval.extractors.dinov2.network import ARCHS as DINOV2_ARCHS
from gan_eval.extractors.inception import weights as inception_weights
from gan_eval.extractors.vgg16 import weights as vgg16_weights
from gan_eval.extractors.weights_records import (
    WeightsRecord,
    read_recorded,
    recorded,
    records_dir,
    store_record,
    stored_record,
)
from gan_eval.paired.lpips import weights as lpips_weights
from gan_eval.paired.lpips.network import linear_keys
from gan_eval.style import weights as vgg19_weights

LOADERS = [
    (inception_weights, "load_weights"),
    (dinov2_weights, "load_weights"),
    (clip_weights, "load_weights"),
    (vgg16_weights, "load_weights"),
    (vgg19_weights, "load_weights"),
    (lpips_weights, "load_linear_weights"),
    (lpips_weights, "load_alexnet_weights"),
    (weights_files, "file_sha256"),
    (weights_files, "read_state_dict"),
    (inception_weights, "read_torchscript_tensors"),
    (clip_weights, "read_torchscript_tensors"),
]


@pytest.fixture
def no_weights_read(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every weights loader and the file hash replaced by one that records its call and fails."""
    calls: list[str] = []
    for module, name in LOADERS:

        def refuse(*args: object, _name: str = f"{module.__name__}.{name}", **kwargs: object) -> None:
            calls.append(_name)
            raise AssertionError(f"{_name} was called")

        monkeypatch.setattr(module, name, refuse)
    return calls


def _linear_file(path: Path, seed: int = 0) -> Path:
    g = torch.Generator().manual_seed(seed)
    torch.save({k: torch.rand(s, generator=g) for k, s in linear_keys("alex").items()}, path)
    return path


def _check(path: Path) -> WeightsRecord:
    return WeightsRecord(path, "lpips", "lpips-v0.1-alex", "state-dict", file_sha256(path), False)


def _in_cache(name: str) -> Path:
    """A path in the weights cache, whose records are written when checked (others: on first use)."""
    folder = records_dir().parent
    folder.mkdir(parents=True, exist_ok=True)
    return folder / name


def test_a_record_is_trusted_while_the_stat_matches(tmp_path: Path) -> None:
    path = _linear_file(_in_cache("alex.pth"))
    calls = []

    def check(p: Path) -> WeightsRecord:
        calls.append(p)
        return _check(p)

    first = recorded(path, "lpips", "lpips-v0.1-alex", check)
    assert recorded(path, "lpips", "lpips-v0.1-alex", check) == first and len(calls) == 1
    assert stored_record(path, "lpips", "another-arch") is None  # a record answers for its own network only
    _linear_file(path, seed=1)  # rewritten: size or times differ
    again = recorded(path, "lpips", "lpips-v0.1-alex", check)
    assert len(calls) == 2 and again.sha256 == file_sha256(path) != first.sha256


def test_a_file_replaced_with_its_old_time_is_checked_again(tmp_path: Path) -> None:
    """`cp -p` or `touch -r`: same size and modification time, other bytes; the change time and inode tell."""
    path = _linear_file(_in_cache("alex.pth"))
    first = recorded(path, "lpips", "lpips-v0.1-alex", _check)
    stat = path.stat()
    (tmp_path / "other").mkdir()
    other = _linear_file(tmp_path / "other" / "alex.pth", seed=1)  # the same name: torch.save's zip, the same size
    os.replace(other, path)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert path.stat().st_size == stat.st_size and path.stat().st_mtime_ns == stat.st_mtime_ns
    assert recorded(path, "lpips", "lpips-v0.1-alex", _check).sha256 == file_sha256(path) != first.sha256


def test_records_of_another_format_or_damaged_are_ignored(tmp_path: Path) -> None:
    path = _linear_file(_in_cache("alex.pth"))
    recorded(path, "lpips", "lpips-v0.1-alex", _check)
    [record_file] = records_dir().iterdir()
    data = json.loads(record_file.read_text())
    record_file.write_text(json.dumps(dict(data, format=0)))
    assert stored_record(path, "lpips", "lpips-v0.1-alex") is None
    record_file.write_text("{not json")
    assert stored_record(path, "lpips", "lpips-v0.1-alex") is None


def test_a_read_only_cache_only_costs_a_check_each_time(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = _linear_file(_in_cache("alex.pth"))

    def cannot_write(*args: object) -> None:
        raise GanEvalError("cannot write: Read-only file system")

    monkeypatch.setattr(weights_records, "atomic_write_bytes", cannot_write)
    assert recorded(path, "lpips", "lpips-v0.1-alex", _check).sha256 == file_sha256(path)
    assert not records_dir().exists()


def test_reading_a_file_that_is_not_the_recorded_one_is_refused(tmp_path: Path) -> None:
    """The record's sha256 keys the feature cache: features of other bytes must not be filed under it."""
    path = _linear_file(tmp_path / "alex.pth")
    store_record(WeightsRecord(path, "lpips", "lpips-v0.1-alex", "state-dict", "0" * 64, False))
    record = stored_record(path, "lpips", "lpips-v0.1-alex")
    assert record is not None and record.sha256 == "0" * 64

    def load(p: Path) -> WeightsRecord:
        return _check(p)

    with pytest.raises(GanEvalError, match=r"changed while in use .*run the command again"):
        read_recorded(record, load)


def _sparse(path: Path, size: int = 300 << 20) -> Path:
    """A file of `size` bytes that takes no time to write (a hole on most file systems)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "wb") as handle:
        handle.truncate(size)
    return path


def _cache_two_large_files() -> list[WeightsRecord]:
    dinov2, clip = DINOV2_ARCHS["vitl14"], CLIP_ARCHS["vitl14"]
    records = [
        WeightsRecord(
            _sparse(dinov2_weights.weights_cache_dir() / dinov2_weights.file_name(dinov2)),
            "dinov2-vitl14",
            "dinov2_vitl14",
            "state-dict",
            "1" * 64,
            None,
            ("cls",),
        ),
        WeightsRecord(
            _sparse(clip_weights.weights_cache_dir() / clip.file_name),
            "clip-vitl14",
            "ViT-L-14",
            "torchscript",
            "2" * 64,
            False,
            ("embedding",),
        ),
    ]
    for record in records:
        store_record(record)
    return records


def test_info_reads_records_only(no_weights_read: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    records = _cache_two_large_files()
    start = time.perf_counter()
    code, out, err = run_cli(capsys, "weights", "info", "--json")
    seconds = time.perf_counter() - start
    assert code == 0, err
    assert no_weights_read == []
    assert seconds < 1.0, f"weights info took {seconds:.2f} s"
    listed = {entry["space"]: entry for entry in json.loads(out)["weights"]}
    assert listed == {
        "dinov2-vitl14": {
            "path": str(records[0].path),
            "space": "dinov2-vitl14",
            "arch": "dinov2_vitl14",
            "format": "state-dict",
            "sha256": "1" * 64,
            "official": None,
            "heads": ["cls"],
        },
        "clip-vitl14": {
            "path": str(records[1].path),
            "space": "clip-vitl14",
            "arch": "ViT-L-14",
            "format": "torchscript",
            "sha256": "2" * 64,
            "official": False,
            "heads": ["embedding"],
        },
    }


def test_info_text_shows_what_json_shows(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _cache_two_large_files()
    lpips_weights.import_weights(_linear_file(tmp_path / "alex.pth"))
    code, out, _ = run_cli(capsys, "weights", "info", "--json")
    entries = json.loads(out)["weights"]
    code, text, _ = run_cli(capsys, "weights", "info")
    assert code == 0 and len(entries) == 3
    blocks = [block.splitlines() for block in ("\n" + text).split("\n/")[1:]]  # one per file, after `cache:`
    official = {True: "yes", False: "no (not the published file)", None: "unknown (no checksum published)"}
    for entry, lines in zip(entries, blocks, strict=True):
        assert "/" + lines[0] == entry["path"]
        for key, value in entry.items():
            shown = official[value] if key == "official" else ", ".join(value) if isinstance(value, list) else value
            assert key == "path" or f"  {key} {shown}" in lines, (key, lines)


def test_a_file_without_record_is_checked_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A cache filled by an older version: the first `info` checks each file and records it; the next reads."""
    dest = lpips_weights.weights_cache_dir() / "alex.pth"
    dest.parent.mkdir(parents=True)
    _linear_file(dest)
    assert not records_dir().exists()
    code, first, _ = run_cli(capsys, "weights", "info", "--json")
    assert code == 0 and len(list(records_dir().iterdir())) == 1
    assert json.loads(first)["weights"][0]["sha256"] == file_sha256(dest)


def test_info_then_verify_detects_bytes_changed_under_the_record(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Bytes that rot in place change no `stat`: the record still answers `info`, and `--verify` finds it."""
    dest = lpips_weights.import_weights(_linear_file(tmp_path / "alex.pth"))
    old = stored_record(dest, "lpips", "lpips-v0.1-alex")
    assert old is not None
    _linear_file(dest, seed=1)
    store_record(old)  # the old record under the file's new stat: what a flipped bit on disk looks like
    code, out, _ = run_cli(capsys, "weights", "info", "--json")
    assert code == 0 and json.loads(out)["weights"][0]["sha256"] == old.sha256

    code, out, _ = run_cli(capsys, "weights", "info", "--verify", "--json")
    [entry] = json.loads(out)["weights"]
    assert code == 1
    assert entry["verified"] is False
    assert entry["recorded_sha256"] == old.sha256 and entry["sha256"] == file_sha256(dest)
    code, text, _ = run_cli(capsys, "weights", "info", "--verify")
    assert code == 0 and "  verified yes" in text  # the record now holds the new sha256
    code, out, _ = run_cli(capsys, "weights", "info", "--json")
    assert json.loads(out)["weights"][0]["sha256"] == file_sha256(dest)


def test_verify_names_a_file_that_no_longer_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = lpips_weights.import_weights(_linear_file(tmp_path / "alex.pth"))
    dest.write_bytes(b"truncated")
    code, text, _ = run_cli(capsys, "weights", "info", "--verify")
    assert code == 1 and "unusable: weights file" in text and "  verified no" in text


def test_a_file_outside_the_cache_is_recorded_only_when_the_network_is_built(tmp_path: Path) -> None:
    """`--weights PATH` outside the cache: checked when the extractor is made, recorded when its tensors are
    first used, so a command refused before any image reaches the network leaves nothing in the cache home."""
    path = _linear_file(tmp_path / "alex.pth")
    record = recorded(path, "lpips", "lpips-v0.1-alex", _check)
    assert not records_dir().exists() or not any(records_dir().iterdir())
    weights_records.in_memory(record, lambda p: record)
    assert stored_record(path, "lpips", "lpips-v0.1-alex") == record
