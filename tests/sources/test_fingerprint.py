"""Content fingerprints of sources, the feature cache's key: stable when nothing changed, new when anything did."""

from __future__ import annotations

import io
import os
import shutil
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_eval.cache import entry_key
from gan_eval.sources import ArraySource, ImageFolderSource, ZipSource, open_input
from gan_eval.sources import arrays as array_sources


def make_folder(root: Path, count: int = 3) -> Path:
    root.mkdir(parents=True)
    rng = np.random.default_rng(0)
    for i in range(count):
        Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(root / f"{i}.png")
    return root


def test_folder_fingerprint_follows_names_and_bytes_not_times(tmp_path: Path) -> None:
    folder = make_folder(tmp_path / "a")
    first = ImageFolderSource(folder).fingerprint()
    assert ImageFolderSource(folder).fingerprint() == first
    moved = tmp_path / "moved"
    shutil.copytree(folder, moved)
    assert ImageFolderSource(moved).fingerprint() == first
    stat = (folder / "1.png").stat()
    os.utime(folder / "1.png", ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000))
    assert ImageFolderSource(folder).fingerprint() == first  # a touched file holds the same bytes
    (folder / "2.png").rename(folder / "9.png")
    renamed = ImageFolderSource(folder).fingerprint()
    assert renamed != first
    (folder / "notes.txt").write_text("not an image")
    assert ImageFolderSource(folder).fingerprint() == renamed


def test_folder_fingerprint_changes_with_one_byte_of_the_last_file_at_the_same_size_and_time(tmp_path: Path) -> None:
    """A file changed in place, its size and modification time put back: the key still changes (it is the bytes)."""
    folder = make_folder(tmp_path / "a", count=4)
    first = ImageFolderSource(folder).fingerprint()
    last = folder / "3.png"
    stat = last.stat()
    image = np.asarray(Image.open(last)).copy()
    image[-1, -1, -1] ^= 1
    Image.fromarray(image).save(last)
    os.utime(last, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert last.stat().st_size == stat.st_size
    assert ImageFolderSource(folder).fingerprint() != first


def test_zip_fingerprint_follows_member_content(tmp_path: Path) -> None:
    def write(path: Path, payloads: dict[str, bytes]) -> Path:
        with zipfile.ZipFile(path, "w") as archive:
            for name, data in payloads.items():
                archive.writestr(name, data)
        return path

    png = (make_folder(tmp_path / "imgs", 2) / "0.png").read_bytes()
    other = (tmp_path / "imgs" / "1.png").read_bytes()
    a = ZipSource(write(tmp_path / "a.zip", {"x/0.png": png, "x/1.png": other})).fingerprint()
    same = ZipSource(write(tmp_path / "b.zip", {"x/1.png": other, "x/0.png": png})).fingerprint()
    changed = ZipSource(write(tmp_path / "c.zip", {"x/0.png": png, "x/1.png": png})).fingerprint()
    assert a == same
    assert changed != a


def test_array_fingerprint_follows_bytes_dtype_and_range() -> None:
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 4, 4, 3), dtype=np.uint8)
    base = ArraySource(images).fingerprint()
    assert ArraySource(images.copy()).fingerprint() == base
    flipped = images.copy()
    flipped[3, 2, 1, 0] ^= 1
    assert ArraySource(flipped).fingerprint() != base
    floats = rng.uniform(0, 1, (5, 4, 4, 3)).astype(np.float32)
    assert ArraySource(floats).fingerprint() != ArraySource(floats, value_range=(-1.0, 1.0)).fingerprint()
    assert ArraySource(floats).fingerprint() != ArraySource(floats.astype(np.float64)).fingerprint()
    # NCHW and its NHWC transpose are the same images.
    assert ArraySource(images.transpose(0, 3, 1, 2)).fingerprint() == base


def _write_input(kind: str, images: np.ndarray, where: Path) -> object:
    """`(N, H, W, 3)` uint8 `images` as the input `kind` a user names: a path, an array or a tensor."""
    if kind == "array":
        return images
    if kind == "tensor":
        return torch.from_numpy(images).permute(0, 3, 1, 2)
    if kind == "npy":
        np.save(where.with_suffix(".npy"), images)
        return where.with_suffix(".npy")
    if kind == "npz":
        np.savez(where.with_suffix(".npz"), images=images)
        return where.with_suffix(".npz")
    if kind == "folder":
        where.mkdir()
        for i, image in enumerate(images):
            Image.fromarray(image).save(where / f"{i}.png")
        return where
    with zipfile.ZipFile(where.with_suffix(".zip"), "w") as archive:
        for i, image in enumerate(images):
            Image.fromarray(image).save(buffer := io.BytesIO(), format="PNG")
            archive.writestr(f"images/{i}.png", buffer.getvalue())
    return where.with_suffix(".zip")


@pytest.mark.parametrize("kind", ["array", "tensor", "npy", "npz", "folder", "zip"])
def test_one_pixel_of_the_last_image_changes_the_cache_key(
    kind: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every input kind: the key reads the whole input, not a first chunk or member. Arrays are hashed in
    chunks; the chunk is made two images long here, so 5 images span 3 chunks and the last image the last."""
    images = np.random.default_rng(2).integers(0, 256, (5, 8, 8, 3), dtype=np.uint8)
    monkeypatch.setattr(array_sources, "_HASH_CHUNK_BYTES", 2 * images[0].nbytes)
    changed = images.copy()
    changed[-1, -1, -1, -1] ^= 1
    settings = {"extractor": "stand-in", "weights_sha256": "0" * 64, "device": "cpu"}

    def key(pixels: np.ndarray, name: str) -> str:
        source = open_input(_write_input(kind, pixels, tmp_path / name))
        return entry_key(source.fingerprint(), settings, "pool3", skip_bad=False)

    first = key(images, "a")
    assert key(images.copy(), "b") == first
    assert key(changed, "c") != first
