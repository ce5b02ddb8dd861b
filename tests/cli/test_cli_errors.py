"""User errors through the real command line: one `error:` line naming the culprit, exit 2, nothing written.

Each case runs `python -m gan_eval` in a subprocess. Bad inputs fail before
any image reaches the network (the first batch holds the bad file); only the
`--skip-bad` case runs the real network, on two 16x16 images.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image


def run_cli(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ)
    # A refused port: a test that reached for a download would fail fast instead of using the network.
    env["GAN_EVAL_WEIGHTS_URL"] = "http://127.0.0.1:9/weights-inception-2015-12-05-00000000.pth"
    return subprocess.run(
        [sys.executable, "-m", "gan_eval", *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], *names: str | Path) -> str:
    """Exit 2, a single `error: ...` line on stderr naming each of `names`, no traceback."""
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for name in names:
        assert str(name) in lines[0]
    return lines[0]


def assert_nothing_written(folder: Path, output: Path) -> None:
    assert not output.exists()
    assert not [p.name for p in folder.iterdir() if p.name.startswith(f".{output.name}")]


def _png(path: Path, size: int = 16, seed: int = 0) -> Path:
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def _folder(root: Path, name: str, files: dict[str, bytes | None]) -> Path:
    """A folder with files: bytes as given, or None for a valid 16x16 PNG."""
    folder = root / name
    folder.mkdir()
    for seed, (file_name, data) in enumerate(files.items()):
        if data is None:
            _png(folder / file_name, seed=seed)
        else:
            (folder / file_name).write_bytes(data)
    return folder


@pytest.fixture
def png_bytes(tmp_path: Path) -> bytes:
    return _png(tmp_path / "source.png", size=64).read_bytes()


@pytest.fixture
def out(tmp_path: Path) -> Path:
    return tmp_path / "out.npz"


# --- inputs refused before the network loads --------------------------------------------------------------


def test_missing_path(tmp_path: Path, out: Path) -> None:
    missing = tmp_path / "no-such-folder"
    assert_one_line_error(run_cli("stats", missing, "-o", out, cwd=tmp_path), missing)
    assert_nothing_written(tmp_path, out)


def test_empty_folder(tmp_path: Path, out: Path) -> None:
    empty = _folder(tmp_path, "empty", {})
    line = assert_one_line_error(run_cli("stats", empty, "-o", out, cwd=tmp_path), empty)
    assert "no images" in line
    assert_nothing_written(tmp_path, out)


def test_folder_without_images(tmp_path: Path, out: Path) -> None:
    notes = _folder(tmp_path, "notes", {"a.txt": b"hello", "b.txt": b"world"})
    line = assert_one_line_error(run_cli("stats", notes, "-o", out, cwd=tmp_path), notes)
    assert "no images" in line
    assert_nothing_written(tmp_path, out)


def test_single_image_folder_for_fid(tmp_path: Path, real_weights: Path) -> None:
    one = _folder(tmp_path, "one", {"a.png": None})
    line = assert_one_line_error(run_cli("fid", one, one, "--weights", real_weights, cwd=tmp_path), one)
    assert "at least 2" in line


@pytest.mark.parametrize("value", [np.nan, np.inf])
def test_npy_with_non_finite_values(value: float, tmp_path: Path, out: Path) -> None:
    array = np.full((2, 8, 8, 3), 0.5, dtype=np.float32)
    array[1, 2, 3, 0] = value
    path = tmp_path / "images.npy"
    np.save(path, array)
    line = assert_one_line_error(run_cli("stats", path, "-o", out, cwd=tmp_path), path)
    assert "NaN or Inf" in line
    assert_nothing_written(tmp_path, out)


def test_npz_with_pickled_object_array(tmp_path: Path, out: Path) -> None:
    path = tmp_path / "images.npz"
    np.savez(path, images=np.array([{"a": 1}, None], dtype=object))
    line = assert_one_line_error(run_cli("stats", path, "-o", out, cwd=tmp_path), path)
    assert "pickled" in line
    assert_nothing_written(tmp_path, out)


def test_output_that_is_a_folder(tmp_path: Path) -> None:
    images = _folder(tmp_path, "images", {"a.png": None, "b.png": None})
    target = tmp_path / "stats.npz"
    target.mkdir()
    assert_one_line_error(run_cli("stats", images, "-o", target, cwd=tmp_path), target)


def test_output_without_npz_suffix(tmp_path: Path) -> None:
    images = _folder(tmp_path, "images", {"a.png": None, "b.png": None})
    target = tmp_path / "stats.txt"
    assert_one_line_error(run_cli("stats", images, "-o", target, cwd=tmp_path), target)
    assert not target.exists()


# --- bad options ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("options", "named"),
    [
        (["--device", "tpu"], "--device tpu"),
        (["--device", "cuda:banana"], "--device cuda:banana"),
        (["--batch-size", "0"], "--batch-size"),
        (["--batch-size", "many"], "--batch-size"),
        (["--workers", "-1"], "--workers"),
        (["--float-range", "0,255"], "--float-range"),
        (["--bogus-option"], "--bogus-option"),
    ],
)
def test_bad_option(options: list[str], named: str, tmp_path: Path, out: Path) -> None:
    images = _folder(tmp_path, "images", {"a.png": None, "b.png": None})
    assert_one_line_error(run_cli("stats", images, "-o", out, *options, cwd=tmp_path), named)
    assert_nothing_written(tmp_path, out)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the messages of a machine without CUDA")
@pytest.mark.parametrize(
    ("options", "named"), [(["--precision", "tf32"], "--precision tf32"), (["--device", "cuda"], "--device cuda")]
)
def test_cuda_only_option_on_cpu(options: list[str], named: str, tmp_path: Path, out: Path, real_weights: Path) -> None:
    images = _folder(tmp_path, "images", {"a.png": None, "b.png": None})
    args = ("stats", images, "-o", out, "--weights", real_weights, "--device", "cpu", *options)
    assert_one_line_error(run_cli(*args, cwd=tmp_path), named)
    assert_nothing_written(tmp_path, out)


def test_missing_subcommand_and_argument(tmp_path: Path) -> None:
    assert_one_line_error(run_cli(cwd=tmp_path))
    assert_one_line_error(run_cli("stats", tmp_path, cwd=tmp_path), "-o")


# --- bad image files: found while decoding, after the network loads ---------------------------------------


def _bomb_png() -> bytes:
    """A 1-bit 10000x10000 PNG: 12 KB on disk, 100 million pixels (over Pillow's 89.5 million)."""
    from io import BytesIO

    buffer = BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, format="PNG")
    return buffer.getvalue()


BAD_FILES = {
    "zero-byte": (lambda png: b"", "empty file"),
    "truncated": (lambda png: png[: len(png) // 2], "cannot decode"),
    "text": (lambda png: b"this is not an image\n", "not a readable image"),
    "bomb": (lambda png: _bomb_png(), "decompression-bomb"),
}


@pytest.mark.parametrize("kind", list(BAD_FILES))
def test_bad_image_file_is_named(kind: str, tmp_path: Path, out: Path, png_bytes: bytes, real_weights: Path) -> None:
    make, message = BAD_FILES[kind]
    images = _folder(tmp_path, "images", {"a.png": None, "b.png": make(png_bytes)})
    args = ("stats", images, "-o", out, "--weights", real_weights, "--quiet")
    line = assert_one_line_error(run_cli(*args, cwd=tmp_path), images / "b.png")
    assert message in line
    assert_nothing_written(tmp_path, out)


def test_bad_member_of_zip_is_named(tmp_path: Path, out: Path, png_bytes: bytes, real_weights: Path) -> None:
    archive = tmp_path / "images.zip"
    with zipfile.ZipFile(archive, "w") as zipped:
        zipped.writestr("a.png", png_bytes)
        zipped.writestr("b.png", b"not an image")
    args = ("stats", archive, "-o", out, "--weights", real_weights, "--quiet")
    assert_one_line_error(run_cli(*args, cwd=tmp_path), f"{archive}:b.png")
    assert_nothing_written(tmp_path, out)


def test_skip_bad_counts_and_continues(tmp_path: Path, out: Path, png_bytes: bytes, real_weights: Path) -> None:
    files = {"a.png": None, "b.png": None, "c.png": b"", "d.png": png_bytes[:100], "e.png": b"text"}
    images = _folder(tmp_path, "images", files)
    args = ("stats", images, "-o", out, "--weights", real_weights, "--quiet", "--skip-bad", "--json")
    result = run_cli(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines() == ["warning: skipped 3 unreadable image file(s)"]
    summary = json.loads(result.stdout)
    assert summary["n"] == 2
    assert summary["skipped"] == 3
    assert out.is_file()
