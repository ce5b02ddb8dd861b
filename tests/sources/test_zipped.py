"""`ZipSource`: image members sorted by name and decoded in memory; unsafe members refused."""

from __future__ import annotations

import io
import pickle
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.sources import open_input
from gan_eval.sources.zipped import ZipSource


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture
def archive(tmp_path: Path) -> tuple[Path, dict[str, np.ndarray]]:
    """A zip whose members are written out of order, with a folder, a hidden file and a non-image."""
    rng = np.random.default_rng(0)
    images = {
        name: rng.integers(0, 256, (5 + i, 6, 3), dtype=np.uint8)
        for i, name in enumerate(["z.png", "a/b.PNG", "m.png", "a/a.png"])
    }
    path = tmp_path / "set.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a/", b"")
        for name, pixels in images.items():
            zf.writestr(name, png_bytes(pixels))
        zf.writestr("a/.hidden.png", png_bytes(np.zeros((2, 2, 3), np.uint8)))
        zf.writestr("readme.txt", b"not an image")
    return path, images


def test_members_sorted_and_decoded(archive: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, images = archive
    source = ZipSource(path)
    assert source.members == ["a/a.png", "a/b.PNG", "m.png", "z.png"]
    assert len(source) == 4
    for index, name in enumerate(source.members):
        np.testing.assert_array_equal(source.load(index), images[name])
    assert source.describe(1) == f"{path}:a/b.PNG"


def test_survives_pickling_for_worker_processes(archive: tuple[Path, dict[str, np.ndarray]]) -> None:
    path, images = archive
    source = ZipSource(path)
    source.load(0)
    copy = pickle.loads(pickle.dumps(source))
    np.testing.assert_array_equal(copy.load(3), images["z.png"])


def test_open_input_gives_a_zip_source(archive: tuple[Path, dict[str, np.ndarray]]) -> None:
    assert isinstance(open_input(str(archive[0])), ZipSource)


@pytest.mark.parametrize("member", ["../evil.png", "/abs.png", "a/../../evil.png", "C:evil.png"])
def test_refuses_members_that_escape_the_root(tmp_path: Path, member: str) -> None:
    path = tmp_path / "evil.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr(member, png_bytes(np.zeros((2, 2, 3), np.uint8)))
    with pytest.raises(GanEvalError, match="escapes the archive root"):
        ZipSource(path)


def test_refuses_an_archive_without_images(tmp_path: Path) -> None:
    path = tmp_path / "empty.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("notes.txt", b"hello")
    with pytest.raises(GanEvalError, match=re.escape("empty.zip holds no images")):
        ZipSource(path)


def test_refuses_a_file_that_is_not_a_zip(tmp_path: Path) -> None:
    path = tmp_path / "fake.zip"
    path.write_bytes(b"not a zip")
    with pytest.raises(GanEvalError, match=re.escape("fake.zip is not a readable zip archive")):
        ZipSource(path)


def test_corrupt_member_is_named(tmp_path: Path) -> None:
    path = tmp_path / "broken.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("bad.png", b"garbage")
    with pytest.raises(GanEvalError, match=re.escape("broken.zip:bad.png")):
        ZipSource(path).load(0)


def test_refuses_two_members_of_one_name(tmp_path: Path) -> None:
    """zipfile would read the last one for both, and the first never."""
    path = tmp_path / "twice.zip"
    with zipfile.ZipFile(path, "w") as zf, pytest.warns(UserWarning, match="Duplicate name"):
        zf.writestr("a/x.png", png_bytes(np.zeros((2, 2, 3), np.uint8)))
        zf.writestr("a/x.png", png_bytes(np.ones((2, 2, 3), np.uint8)))
    with pytest.raises(GanEvalError, match=re.escape("twice.zip: holds 2 members named 'a/x.png'")):
        ZipSource(path)


def test_members_ignored_for_their_extension_are_counted_in_one_warning(tmp_path: Path) -> None:
    path = tmp_path / "mixed.zip"
    with zipfile.ZipFile(path, "w") as zf:
        zf.writestr("a.png", png_bytes(np.zeros((2, 2, 3), np.uint8)))
        zf.writestr("b.gif", png_bytes(np.zeros((2, 2, 3), np.uint8)))  # decoded by its content
        zf.writestr("notes.txt", b"text")
        zf.writestr("meta/labels.csv", b"1,2")
    with pytest.warns(GanEvalWarning) as caught:
        source = ZipSource(path)
    assert source.members == ["a.png", "b.gif"]
    assert [str(w.message) for w in caught] == [f"ignored 2 file(s) in {path} that are not images (.csv, .txt)"]
