"""`ImageFolderSource`: recursive, sorted, case-insensitive extensions, hidden entries skipped."""

from __future__ import annotations

import contextlib
import os
import re
import stat
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.extraction import ExtractionOptions
from gan_eval.pipeline import extract
from gan_eval.sources import open_input
from gan_eval.sources.folder import ImageFolderSource, list_image_files


def write_png(path: Path, pixels: np.ndarray) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(pixels).save(path, format="PNG")
    return pixels


def solid(value: int, size: tuple[int, int] = (4, 5)) -> np.ndarray:
    return np.full((*size, 3), value, dtype=np.uint8)


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A folder with images at several depths, odd extension cases, hidden entries and a non-image."""
    root = tmp_path / "images"
    write_png(root / "b.png", solid(2))
    write_png(root / "a" / "c.PNG", solid(1))
    write_png(root / "a" / ".hidden.png", solid(100))
    write_png(root / ".cache" / "x.png", solid(101))
    write_png(root / "z.JpEg", solid(4))
    write_png(root / "sub" / "deeper" / "d.Png", solid(3))
    (root / "notes.txt").write_text("not an image")
    (root / "empty").mkdir()
    return root


def test_listing_is_recursive_sorted_and_skips_hidden(tree: Path) -> None:
    relative = [p.relative_to(tree).as_posix() for p in list_image_files(tree)]
    assert relative == ["a/c.PNG", "b.png", "sub/deeper/d.Png", "z.JpEg"]


def test_order_does_not_depend_on_creation_order(tmp_path: Path) -> None:
    names = ["m.png", "a.png", "k/b.png", "a0.png", "B.png"]
    for order, folder in ((names, "one"), (names[::-1], "two")):
        for name in order:
            write_png(tmp_path / folder / name, solid(0))
    one = [p.relative_to(tmp_path / "one").as_posix() for p in list_image_files(tmp_path / "one")]
    two = [p.relative_to(tmp_path / "two").as_posix() for p in list_image_files(tmp_path / "two")]
    assert one == two == sorted(names)


def test_loads_images_in_listed_order(tree: Path) -> None:
    source = ImageFolderSource(tree)
    assert len(source) == 4
    for index, value in enumerate((1, 2, 3, 4)):
        np.testing.assert_array_equal(source.load(index), solid(value))
    assert source.describe(0).endswith("c.PNG")


def test_open_input_gives_a_folder_source(tree: Path) -> None:
    assert isinstance(open_input(str(tree)), ImageFolderSource)


def test_mixed_sizes_in_one_folder(tmp_path: Path, stand_in) -> None:
    rng = np.random.default_rng(0)
    sizes = [(32, 32), (20, 45), (64, 48), (9, 9)]
    images = [
        write_png(tmp_path / f"{i}.png", rng.integers(0, 256, (*s, 3), dtype=np.uint8)) for i, s in enumerate(sizes)
    ]
    source = ImageFolderSource(tmp_path)
    for index, image in enumerate(images):
        np.testing.assert_array_equal(source.load(index), image)
    result = extract(
        source, stand_in, ("pool3",), ExtractionOptions(batch_size=3, workers=0, progress=False), keep_features=True
    )
    assert result.count == 4
    alone = [stand_in.extract([torch.from_numpy(i).permute(2, 0, 1)])["pool3"][0].numpy() for i in images]
    np.testing.assert_allclose(result.features["pool3"], np.stack(alone), rtol=1e-6, atol=1e-6)


def test_folder_without_images_is_refused(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")
    with pytest.raises(GanEvalError, match="holds no images"):
        ImageFolderSource(tmp_path)


def test_a_file_is_not_a_folder(tmp_path: Path) -> None:
    write_png(tmp_path / "one.png", solid(0))
    with pytest.raises(GanEvalError, match="is not a folder"):
        ImageFolderSource(tmp_path / "one.png")


def test_corrupt_file_is_named(tmp_path: Path) -> None:
    write_png(tmp_path / "good.png", solid(0))
    (tmp_path / "bad.png").write_bytes(b"garbage")
    source = ImageFolderSource(tmp_path)
    with pytest.raises(GanEvalError, match=re.escape("bad.png")):
        source.load(0)


def test_pipes_and_devices_without_an_image_extension_are_never_opened(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", solid(7))
    os.mkfifo(tmp_path / "pipe.txt")  # opening it would block
    (tmp_path / "zero.dat").symlink_to("/dev/zero")
    source = ImageFolderSource(tmp_path)
    assert [p.name for p in source.files] == ["a.png"]
    source.fingerprint()
    np.testing.assert_array_equal(source.load(0), solid(7))


@pytest.mark.parametrize(
    ("name", "make", "kind"),
    [
        ("pipe.png", os.mkfifo, "a named pipe"),
        ("zero.png", lambda path: path.symlink_to("/dev/zero"), "a character device, /dev/zero"),
    ],
    ids=["named-pipe", "link-to-dev-zero"],
)
def test_pipes_and_devices_named_as_images_are_refused_by_name(tmp_path: Path, name: str, make, kind: str) -> None:
    make(tmp_path / name)
    refusal = pytest.raises(GanEvalError, match=re.escape(f"{name}: not a regular file ({kind})"))
    with unblocked_after(tmp_path / name, seconds=30), refusal:
        ImageFolderSource(tmp_path).load(0)


@contextlib.contextmanager
def unblocked_after(path: Path, seconds: float) -> Iterator[None]:
    """If `path` is a named pipe, open its writing end after `seconds`: a reader that regressed into opening
    it then gets end-of-file and the test fails, rather than blocking forever."""
    done = threading.Event()

    def writer() -> None:
        if not done.wait(seconds) and stat.S_ISFIFO(os.stat(path).st_mode):
            os.close(os.open(path, os.O_WRONLY))

    thread = threading.Thread(target=writer, daemon=True)
    thread.start()
    try:
        yield
    finally:
        done.set()
        thread.join()


def test_gif_files_are_listed_and_give_their_first_frame(tmp_path: Path) -> None:
    frames = [Image.fromarray(solid(value, (6, 7))) for value in (40, 220)]
    frames[0].save(tmp_path / "anim.GIF", save_all=True, append_images=frames[1:])
    source = ImageFolderSource(tmp_path)
    assert [p.name for p in source.files] == ["anim.GIF"]
    np.testing.assert_array_equal(source.load(0), solid(40, (6, 7)))


def test_files_ignored_for_their_extension_are_counted_in_one_warning(tree: Path) -> None:
    (tree / "sub" / "labels.json").write_text("{}")
    (tree / "sub" / "README").write_text("no extension")
    (tree / ".hidden.txt").write_text("hidden files are skipped, not ignored")
    with pytest.warns(GanEvalWarning) as caught:
        ImageFolderSource(tree)
    assert [str(w.message) for w in caught] == [
        f"ignored 3 file(s) in {tree} that are not images (.json, .txt, no extension)"
    ]


def test_no_warning_when_every_visible_file_is_an_image(tmp_path: Path) -> None:
    write_png(tmp_path / "a.png", solid(1))
    (tmp_path / ".notes.txt").write_text("hidden")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        ImageFolderSource(tmp_path)
