"""Every bad input of the reliability issue, through the real command line: exit 2, one line, nothing written.

Each case builds its inputs in a fresh folder and names a command; the test
runs it in this process and checks that it exits with code 2, that stderr is
exactly one `error: ...` line naming the culprit (no traceback), and that
neither the output folder nor the cache home gained a file (no partial
statistics, report, baseline, cache entry or weights, no temporary file).
Every input is refused before any image reaches the network.
"""

from __future__ import annotations

import contextlib
import ctypes
import io
import json
import os
import pickle
import sys
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_harness import assert_refused, files_under, image_folder, serving, write_png
from PIL import Image

from gan_eval.extractors.inception.extractor import INCEPTION_NAME, RESIZE_MODE
from gan_eval.models.checkpoint import GeneratorConfig, build_generator, save_generator
from gan_eval.stats import META_KEY
from gan_eval.version import __version__

POOL3 = 2048


class Payload:
    """Unpickling this touches `marker`: a file that must never appear, since nothing may unpickle input."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@dataclass(frozen=True)
class Workspace:
    """Where a case builds its inputs (`inputs`), where commands write (`out`), the cache home and the weights.

    `stack` closes what a case opened (a server) and undoes what it changed (permissions) after the test.
    """

    inputs: Path
    out: Path
    home: Path
    weights: Path
    monkeypatch: pytest.MonkeyPatch
    stack: contextlib.ExitStack

    @property
    def marker(self) -> Path:
        """The file a pickle payload would create."""
        return self.inputs / "payload-ran"

    def good(self, count: int = 2, name: str = "good") -> Path:
        """A folder of `count` valid 16x16 PNGs."""
        return image_folder(self.inputs / name, count, seed=100)

    def with_bad_file(self, name: str, data: bytes) -> tuple[Path, Path]:
        """A folder holding one valid PNG and the file `name` with `data`; returns (folder, bad file)."""
        folder = image_folder(self.inputs / "images", 1)
        (folder / name).write_bytes(data)
        return folder, folder / name

    def npy(self, array: np.ndarray, name: str = "images.npy") -> Path:
        path = self.inputs / name
        np.save(path, array)
        return path

    def npz(self, name: str, **arrays: np.ndarray) -> Path:
        path = self.inputs / name
        np.savez(path, **arrays)
        return path

    def stats_file(self, name: str = "stats.npz", dim: int = POOL3, **changes: object) -> Path:
        """A valid statistics file of `dim`-d features, then `changes` applied (None deletes a key)."""
        meta = {"extractor": INCEPTION_NAME, "resize": RESIZE_MODE, "weights_sha256": "0" * 64, "n": 10}
        arrays: dict[str, object] = {
            "mu": np.zeros(dim),
            "sigma": np.eye(dim),
            "n": np.int64(10),
            META_KEY: np.array(json.dumps(meta)),
        }
        for key, value in changes.items():
            if value is None:
                del arrays[key]
            else:
                arrays[key] = value
        return self.npz(name, **arrays)

    def zip_file(self, members: dict[str, bytes], name: str = "images.zip") -> Path:
        path = self.inputs / name
        with zipfile.ZipFile(path, "w") as archive:
            for member, data in members.items():
                archive.writestr(member, data)
        return path


@dataclass(frozen=True)
class Case:
    """A command (`args`), the strings its error line must name, and a phrase it must contain."""

    args: tuple[str | Path, ...]
    culprits: tuple[str | Path, ...]
    message: str = ""


CASES: dict[str, tuple[Callable[[Workspace], Case], tuple]] = {}


def case(name: str, *marks: pytest.MarkDecorator) -> Callable:
    """Register a case builder under `name` (its test id)."""

    def add(build: Callable[[Workspace], Case]) -> Callable[[Workspace], Case]:
        CASES[name] = (build, marks)
        return build

    return add


def png_bytes(size: int = 32, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def jpeg_bytes(size: int = 32, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    pixels = np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(buffer, format="JPEG")
    return buffer.getvalue()


def bomb_png() -> bytes:
    """A 1-bit 10000x10000 PNG: 12 KB on disk, 100 million pixels (over Pillow's 89.5 million)."""
    buffer = io.BytesIO()
    Image.new("1", (10_000, 10_000)).save(buffer, format="PNG")
    return buffer.getvalue()


def stats(ws: Workspace, source: str | Path, *extra: str | Path, weights: Path | None = None) -> tuple[str | Path, ...]:
    return ("stats", source, "-o", ws.out / "stats.npz", "--weights", weights or ws.weights, "--quiet", *extra)


def fid(ws: Workspace, a: str | Path, b: str | Path, *extra: str | Path) -> tuple[str | Path, ...]:
    return ("fid", a, b, "--weights", ws.weights, "--quiet", *extra)


def report(ws: Workspace, real: str | Path, fake: str | Path, *extra: str | Path) -> tuple[str | Path, ...]:
    return ("report", real, fake, "--out", ws.out / "report", "--weights", ws.weights, "--quiet", *extra)


# --- image files ------------------------------------------------------------------------------------------


@case("image-corrupt-png")
def _(ws: Workspace) -> Case:
    data = bytearray(png_bytes())
    start = data.index(b"IDAT") + 20
    data[start : start + 40] = bytes(40)
    folder, bad = ws.with_bad_file("bad.png", bytes(data))
    return Case(stats(ws, folder), (bad,), "cannot decode")


@case("image-truncated-png")
def _(ws: Workspace) -> Case:
    folder, bad = ws.with_bad_file("bad.png", png_bytes()[:300])
    return Case(fid(ws, folder, ws.good()), (bad,), "cannot decode")


@case("image-truncated-jpeg")
def _(ws: Workspace) -> Case:
    data = jpeg_bytes()
    folder, bad = ws.with_bad_file("bad.jpg", data[: len(data) // 2])
    return Case(stats(ws, folder), (bad,), "truncated")


@case("image-zero-byte")
def _(ws: Workspace) -> Case:
    folder, bad = ws.with_bad_file("bad.png", b"")
    return Case(report(ws, folder, ws.good()), (bad,), "empty file")


@case("image-text-named-png")
def _(ws: Workspace) -> Case:
    folder, bad = ws.with_bad_file("bad.png", b"<html>not an image</html>\n")
    return Case(stats(ws, folder), (bad,), "not a readable image")


@case("image-array-named-jpg")
def _(ws: Workspace) -> Case:
    buffer = io.BytesIO()
    np.save(buffer, np.zeros((8, 8, 3), np.uint8))
    folder, bad = ws.with_bad_file("bad.jpg", buffer.getvalue())
    return Case(stats(ws, folder), (bad,), "not a readable image")


@case("image-decompression-bomb")
def _(ws: Workspace) -> Case:
    folder, bad = ws.with_bad_file("bomb.png", bomb_png())
    return Case(stats(ws, folder), (bad,), "decompression-bomb")


@case("image-floating-point-tiff")
def _(ws: Workspace) -> Case:
    buffer = io.BytesIO()
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(buffer, format="TIFF")
    folder, bad = ws.with_bad_file("float.tif", buffer.getvalue())
    return Case(stats(ws, folder), (bad,), "floating-point")


@case("image-broken-symlink")
def _(ws: Workspace) -> Case:
    folder = image_folder(ws.inputs / "images", 1)
    (folder / "gone.png").symlink_to(ws.inputs / "nowhere.png")
    return Case(stats(ws, folder), (folder / "gone.png",))


@case("image-named-pipe")
def _(ws: Workspace) -> Case:
    folder = image_folder(ws.inputs / "images", 1)
    os.mkfifo(folder / "pipe.png")  # reading it would block forever
    return Case(stats(ws, folder), (folder / "pipe.png",), "not a regular file")


@case("image-all-bad-with-skip-bad")
def _(ws: Workspace) -> Case:
    folder = ws.inputs / "images"
    folder.mkdir()
    (folder / "a.png").write_bytes(b"")
    (folder / "b.png").write_bytes(b"text")
    return Case(stats(ws, folder, "--skip-bad"), (folder,), "no image could be read (2 skipped)")


# --- folders and paths -----------------------------------------------------------------------------------


@case("folder-empty")
def _(ws: Workspace) -> Case:
    folder = ws.inputs / "empty"
    folder.mkdir()
    return Case(stats(ws, folder), (folder,), "no images")


@case("folder-without-images")
def _(ws: Workspace) -> Case:
    folder = ws.inputs / "notes"
    folder.mkdir()
    (folder / "a.txt").write_text("hello")
    (folder / "b.json").write_text("{}")
    return Case(fid(ws, folder, ws.good()), (folder,), "no images")


@case("folder-with-hidden-images-only")
def _(ws: Workspace) -> Case:
    folder = ws.inputs / "hidden"
    write_png(folder / ".a.png")
    write_png(folder / ".thumbs" / "b.png")
    return Case(stats(ws, folder), (folder,), "no images")


@case("path-missing")
def _(ws: Workspace) -> Case:
    return Case(report(ws, ws.inputs / "no-such-folder", ws.good()), (ws.inputs / "no-such-folder",), "does not exist")


@case("path-of-unknown-kind")
def _(ws: Workspace) -> Case:
    path = ws.inputs / "images.tar"
    path.write_bytes(b"x" * 100)
    return Case(stats(ws, path), (path,), "not a folder, .zip, .npy or .npz")


# --- zip archives -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("member", ["../evil.png", "/abs/evil.png", "a/../../evil.png"])
def test_zip_member_escaping_the_root(member: str, workspace: Workspace, cli) -> None:
    archive = workspace.zip_file({"a.png": png_bytes(), member: png_bytes(seed=1)})
    check(workspace, cli, Case(stats(workspace, archive), (archive, member), "escapes the archive root"))


@case("zip-member-not-an-image")
def _(ws: Workspace) -> Case:
    archive = ws.zip_file({"a.png": png_bytes(), "b.png": b"not an image"})
    return Case(stats(ws, archive), (f"{archive}:b.png",), "not a readable image")


@case("zip-bomb-member")
def _(ws: Workspace) -> Case:
    archive = ws.zip_file({"a.png": png_bytes(), "bomb.png": bomb_png()})
    return Case(stats(ws, archive), (f"{archive}:bomb.png",), "decompression-bomb")


@case("zip-member-over-the-size-limit")
def _(ws: Workspace) -> Case:
    ws.monkeypatch.setattr("gan_eval.sources.zipped.MAX_MEMBER_BYTES", 10_000)  # the real limit is 1 GiB
    archive = ws.zip_file({"a.png": png_bytes(), "huge.png": bytes(20_000)})
    return Case(stats(ws, archive), (f"{archive}:huge.png",), "member of 20000 bytes, over the 10000 bytes")


@case("zip-without-images")
def _(ws: Workspace) -> Case:
    archive = ws.zip_file({"readme.txt": b"hello", "data/labels.csv": b"1,2"})
    return Case(fid(ws, archive, ws.good()), (archive,), "holds no images")


@case("zip-truncated")
def _(ws: Workspace) -> Case:
    whole = ws.zip_file({f"{i}.png": png_bytes(seed=i) for i in range(3)}, name="whole.zip")
    archive = ws.inputs / "images.zip"
    archive.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    return Case(stats(ws, archive), (archive,), "not a readable zip archive")


# --- too few images for a metric (refused before the network loads) -------------------------------------


@case("fid-with-one-image")
def _(ws: Workspace) -> Case:
    one = ws.good(1, "one")
    return Case(fid(ws, one, ws.good()), (one,), "at least 2 images")


@case("kid-with-one-image")
def _(ws: Workspace) -> Case:
    one = ws.good(1, "one")
    return Case(report(ws, ws.good(), one, "--metrics", "kid"), (one, "kid"), "at least 2 images")


@case("precision-recall-with-k-images")
def _(ws: Workspace) -> Case:
    three = ws.good(3, "three")
    return Case(report(ws, three, ws.good(8, "eight"), "--metrics", "pr"), (three, "pr"), "at least 4 images")


@case("density-coverage-with-k-real-images")
def _(ws: Workspace) -> Case:
    five = ws.good(5, "five")
    return Case(report(ws, five, ws.good(8, "eight"), "--metrics", "dc"), (five, "dc"), "at least 6 images")


@case("fid-inf-with-too-few-fakes")
def _(ws: Workspace) -> Case:
    ten = ws.good(10, "ten")
    return Case(report(ws, ws.good(), ten, "--metrics", "fid_inf"), (ten, "fid_inf"), "at least 20 images")


@case("inception-score-with-fewer-images-than-splits")
def _(ws: Workspace) -> Case:
    fake = ws.good(2, "fake")
    return Case(report(ws, ws.good(), fake, "--metrics", "is"), (fake, "(is)"), "at least 10 images")


@case("inception-score-without-classifier")
def _(ws: Workspace) -> Case:
    return Case(report(ws, ws.good(), ws.good(10, "fake"), "--metrics", "is"), ("(is)",), "no classifier head")


# --- arrays -----------------------------------------------------------------------------------------------


def _array_case(name: str, array: np.ndarray, message: str, *extra: str) -> None:
    @case(name)
    def _(ws: Workspace) -> Case:
        path = ws.npy(array)
        return Case(stats(ws, path, *extra), (path,), message)


_HALF = np.full((4, 8, 8, 3), 0.5, np.float32)
_array_case("array-nan", np.where(np.arange(4)[:, None, None, None] == 2, np.nan, _HALF), "NaN or Inf")
_array_case("array-inf", np.where(np.arange(4)[:, None, None, None] == 3, np.inf, _HALF), "NaN or Inf")
_array_case("array-minus-inf", np.where(np.arange(4)[:, None, None, None] == 0, -np.inf, _HALF), "NaN or Inf")
_array_case("array-rank-2", np.zeros((4, 192), np.uint8), "is not images")
_array_case("array-rank-5", np.zeros((4, 8, 8, 3, 1), np.uint8), "is not images")
_array_case("array-rank-0", np.uint8(7), "is not images")
_array_case("array-2-channels", np.zeros((4, 8, 8, 2), np.uint8), "no channel axis of size 1 or 3")
_array_case("array-4-channels", np.zeros((4, 4, 8, 8), np.uint8), "no channel axis of size 1 or 3")
_array_case("array-int16", np.zeros((4, 8, 8, 3), np.int16), "dtype int16 are not supported")
_array_case("array-uint16", np.zeros((4, 8, 8, 3), np.uint16), "dtype uint16 are not supported")
_array_case("array-bool", np.zeros((4, 8, 8, 3), bool), "dtype bool are not supported")
_array_case("array-complex", np.zeros((4, 8, 8, 3), np.complex64), "dtype complex64 are not supported")
_array_case("array-strings", np.full((4, 8, 8, 3), "a"), "are not supported")
_array_case("array-above-range", np.full((4, 8, 8, 3), 1.5, np.float32), "outside the declared range [0, 1]")
_array_case("array-below-range", np.full((4, 8, 8, 3), -0.5, np.float64), "outside the declared range [0, 1]")
_array_case(
    "array-above-declared-range",
    np.full((4, 8, 8, 3), 1.25, np.float32),
    "outside the declared range [-1, 1]",
    "--float-range",
    "-1,1",
)
_array_case(
    "array-below-declared-range",
    np.full((4, 8, 8, 3), -1.5, np.float32),
    "outside the declared range [-1, 1]",
    "--float-range=-1:1",
)
_array_case("array-uint8-scale-as-float", np.full((4, 8, 8, 3), 255.0, np.float32), "outside the declared range")
_array_case("array-without-images", np.zeros((0, 8, 8, 3), np.uint8), "holds no images")
_array_case("array-images-without-pixels", np.zeros((4, 0, 8, 3), np.uint8), "have no pixels")


@case("array-of-pickled-objects")
def _(ws: Workspace) -> Case:
    path = ws.npy(np.array([Payload(ws.marker)] * 4, dtype=object))
    return Case(stats(ws, path), (path,), "pickled objects")


@case("array-pickle-named-npy")
def _(ws: Workspace) -> Case:
    path = ws.inputs / "images.npy"
    path.write_bytes(pickle.dumps(Payload(ws.marker)))
    return Case(stats(ws, path), (path,), "not a readable NumPy array")


@case("npz-with-several-arrays")
def _(ws: Workspace) -> Case:
    path = ws.npz("images.npz", a=np.zeros((2, 8, 8, 3), np.uint8), b=np.zeros((2, 8, 8, 3), np.uint8))
    return Case(stats(ws, path), (path,), "holds 2 arrays")


@case("npz-member-not-numpy-data")
def _(ws: Workspace) -> Case:
    path = ws.zip_file({"images.npy": b"these are not array bytes"}, name="images.npz")
    return Case(stats(ws, path), (path, "images"), "not NumPy array data")


# --- statistics files -------------------------------------------------------------------------------------


def _stats_case(name: str, message: str, dim: int = POOL3, **changes: object) -> None:
    @case(name)
    def _(ws: Workspace) -> Case:
        path = ws.stats_file(dim=dim, **changes)
        return Case(fid(ws, path, ws.good()), (path,), message)


_stats_case("stats-missing-sigma", "no 'sigma' array", sigma=None)
_stats_case("stats-missing-mu", "no 'mu' array", mu=None)
_stats_case("stats-sigma-wrong-shape", "expected (D,) and (D, D)", sigma=np.eye(POOL3)[:, :-1])
_stats_case("stats-mu-two-dimensional", "expected (D,) and (D, D)", mu=np.zeros((POOL3, 1)))
_stats_case("stats-other-dimension", "16-d features; this extractor gives 2048-d", dim=16)
_stats_case("stats-nan-in-sigma", "non-finite", sigma=np.full((POOL3, POOL3), np.nan))
_stats_case("stats-inf-in-mu", "non-finite", mu=np.full(POOL3, np.inf))
_stats_case("stats-strings-for-mu", "non-float", mu=np.array(["a"] * POOL3))
_stats_case("stats-nan-sample-count", "not a sample count", n=np.float64(np.nan))
_stats_case("stats-negative-sample-count", "not a sample count", n=np.int64(-5))
_stats_case("stats-metadata-not-json", f"unreadable {META_KEY}", **{META_KEY: np.array("{not json")})
_stats_case("stats-metadata-not-an-object", f"unreadable {META_KEY}", **{META_KEY: np.array("[1, 2]")})
_stats_case(
    "stats-other-extractor",
    "was made with extractor clip-vit-b-32, not inception",
    **{META_KEY: np.array('{"extractor": "clip-vit-b-32", "n": 10}')},
)


@case("stats-other-resize-than-the-other-side")
def _(ws: Workspace) -> Case:
    meta = f'{{"extractor": "{INCEPTION_NAME}", "resize": "pil-bicubic-299", "n": 10}}'
    path = ws.stats_file(**{META_KEY: np.array(meta)})
    return Case(fid(ws, path, ws.good()), (path,), f"resize pil-bicubic-299, not {RESIZE_MODE}")


@case("stats-with-a-pickled-member")
def _(ws: Workspace) -> Case:
    path = ws.stats_file(mu=np.array([Payload(ws.marker)], dtype=object))
    return Case(fid(ws, path, ws.good()), (path,), "pickled objects")


@case("stats-with-a-pickled-extra-member")
def _(ws: Workspace) -> Case:
    path = ws.stats_file(extra=np.array([Payload(ws.marker)], dtype=object))
    return Case(fid(ws, path, ws.good()), (path,), "pickled objects")


@case("stats-pickle-named-npz")
def _(ws: Workspace) -> Case:
    path = ws.inputs / "stats.npz"
    path.write_bytes(pickle.dumps({"mu": Payload(ws.marker), "sigma": Payload(ws.marker)}))
    return Case(fid(ws, path, ws.good()), (path,), "not a readable NumPy array")


@case("stats-member-not-numpy-data")
def _(ws: Workspace) -> Case:
    path = ws.zip_file({"mu.npy": b"garbage", "sigma.npy": b"garbage"}, name="stats.npz")
    return Case(fid(ws, path, ws.good()), (path, "mu"), "not NumPy array data")


@case("stats-as-input-to-stats")
def _(ws: Workspace) -> Case:
    path = ws.stats_file()
    return Case(stats(ws, path), (path,), "already a statistics file")


# --- weights ----------------------------------------------------------------------------------------------


@case("weights-truncated")
def _(ws: Workspace) -> Case:
    path = ws.inputs / "inception.pt"
    with open(ws.weights, "rb") as handle:
        path.write_bytes(handle.read(1 << 20))
    return Case(stats(ws, ws.good(), weights=path), (path,), "not a readable")


@case("weights-of-another-architecture")
def _(ws: Workspace) -> Case:
    path = ws.inputs / "resnet.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 7, 7), "fc.weight": torch.zeros(1000, 512)}, path)
    return Case(stats(ws, ws.good(), weights=path), (path,), "is not Inception-v3 2015-12-05")


@case("weights-with-a-pickled-payload")
def _(ws: Workspace) -> Case:
    path = ws.inputs / "payload.pth"
    torch.save({"Conv2d_1a_3x3.conv.weight": Payload(ws.marker)}, path)
    return Case(stats(ws, ws.good(), weights=path), (path,), "not a readable PyTorch state dict")


@case("weights-import-of-a-truncated-file")
def _(ws: Workspace) -> Case:
    path = ws.inputs / "inception.pth"
    path.write_bytes(b"PK\x03\x04" + bytes(1000))
    return Case(("weights", "import", path), (path,), "not a readable")


@case("weights-cached-file-truncated")
def _(ws: Workspace) -> Case:
    cached = ws.home / "weights" / "inception-2015-12-05-7ff4a85c.pt"
    cached.parent.mkdir(parents=True)
    with open(ws.weights, "rb") as handle:
        cached.write_bytes(handle.read(1 << 20))
    return Case(("stats", ws.good(), "-o", ws.out / "stats.npz", "--quiet"), (cached,), "not a readable")


@case("weights-download-with-wrong-checksum")
def _(ws: Workspace) -> Case:
    base = ws.stack.enter_context(serving(b"these bytes do not hash to the name's prefix"))
    ws.monkeypatch.setenv("GAN_EVAL_WEIGHTS_URL", f"{base}/weights-inception-2015-12-05-6726825d.pth")
    return Case(("fid", ws.good(), ws.good(2, "fake"), "--quiet"), (base,), "expected 6726825d")


@case("weights-path-is-a-folder")
def _(ws: Workspace) -> Case:
    return Case(stats(ws, ws.good(), weights=ws.inputs), (ws.inputs,), "is not a file")


# --- paths that cannot be read, or are a folder where a file belongs (and the reverse) --------------------


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


_CAPABILITY_VERSION_3 = 0x20080522  # two _CapData: capabilities 0-31, then 32-63
_CAP_DAC_OVERRIDE, _CAP_DAC_READ_SEARCH = 1, 2


def _set_effective_capabilities(change: Callable[[int], int]) -> int:
    """Replace this thread's effective capabilities 0-31 by `change(current)`; returns the current ones."""
    libc = ctypes.CDLL(None, use_errno=True)
    header, data = _CapHeader(_CAPABILITY_VERSION_3, 0), (_CapData * 2)()
    if libc.capget(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capget")
    current = data[0].effective
    data[0].effective = change(current)
    if libc.capset(ctypes.byref(header), data) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    return current


@contextlib.contextmanager
def permissions_enforced() -> Iterator[None]:
    """File permissions bind this thread, even as root: CAP_DAC_OVERRIDE and CAP_DAC_READ_SEARCH leave its
    effective set (a no-op without them, as for any other user) and come back from the permitted set after.

    Capabilities belong to a thread: the command runs in this one, and a DataLoader worker forked from it
    inherits them. Outside Linux there are no such capabilities and nothing to do.
    """
    if sys.platform != "linux":
        yield
        return
    dac = (1 << _CAP_DAC_OVERRIDE) | (1 << _CAP_DAC_READ_SEARCH)
    saved = _set_effective_capabilities(lambda effective: effective & ~dac)
    try:
        yield
    finally:
        _set_effective_capabilities(lambda _: saved)


def _locked(ws: Workspace, path: Path, mode: int) -> Path:
    """`path` made unreadable (chmod 000, put back to `mode` after the test) with permissions enforced for the
    rest of the test; fails unless reading it is then really refused."""
    path.chmod(0)
    ws.stack.callback(path.chmod, mode)
    ws.stack.enter_context(permissions_enforced())
    with pytest.raises(PermissionError):
        if path.is_dir():
            os.listdir(path)
        else:
            path.read_bytes()
    return path


@case("unreadable-image-file")
def _(ws: Workspace) -> Case:
    folder, bad = ws.with_bad_file("locked.png", png_bytes())
    return Case(stats(ws, folder), (_locked(ws, bad, 0o644),), "ermission denied")


@case("unreadable-folder")
def _(ws: Workspace) -> Case:
    folder = _locked(ws, ws.good(2, "locked"), 0o755)
    return Case(stats(ws, folder), (folder,), "ermission denied")


@case("stats-output-is-a-folder")
def _(ws: Workspace) -> Case:
    target = ws.inputs / "stats.npz"
    target.mkdir()
    return Case(("stats", ws.good(), "-o", target, "--weights", ws.weights), (target,), "is a folder")


@case("report-out-is-a-file")
def _(ws: Workspace) -> Case:
    target = ws.inputs / "report"
    target.write_text("an old file")
    return Case(("report", ws.good(), ws.good(2, "fake"), "--out", target), (target,), "is not a folder")


@case("gate-result-is-a-folder")
def _(ws: Workspace) -> Case:
    return Case(("gate", "--result", ws.inputs, "--max-fid", "10"), (ws.inputs,), "cannot read")


@case("gate-baseline-is-a-folder")
def _(ws: Workspace) -> Case:
    result = _result_file(ws, fid=1.0)
    args = ("gate", "--result", result, "--baseline", ws.inputs, "--max-increase", "1")
    return Case(args, (ws.inputs,), "cannot read")


# --- gate results and baselines: a number that is not a finite number never passes -----------------------


def _result_file(ws: Workspace, **values: object) -> Path:
    path = ws.inputs / "result.json"
    path.write_text(json.dumps({"settings": {"extractor": INCEPTION_NAME}, "n_real": 10, "n_fake": 10, **values}))
    return path


@case("gate-result-with-nan-fid")
def _(ws: Workspace) -> Case:
    result = _result_file(ws, fid=float("nan"))
    return Case(("gate", "--result", result, "--max-fid", "10"), (result, "fid"), "not a finite number")


@case("gate-result-with-text-fid")
def _(ws: Workspace) -> Case:
    result = _result_file(ws, fid="12.5")
    return Case(("gate", "--result", result, "--max-fid", "10"), (result, "fid"), "not a finite number")


@case("gate-result-with-infinite-noise")
def _(ws: Workspace) -> Case:
    result = _result_file(ws, fid=3.0, fid_std=float("inf"))
    args = ("gate", "--result", result, "--baseline", ws.out / "baseline.json", "--update-baseline")
    return Case(args, (result, "fid_std"), "not a finite number")


@case("gate-baseline-with-nan-fid")
def _(ws: Workspace) -> Case:
    result = _result_file(ws, fid=3.0)
    baseline = ws.inputs / "baseline.json"
    document = {"gan_eval_baseline": 1, "values": {"fid": float("nan")}, "comparable": {}}
    baseline.write_text(json.dumps(document))
    args = ("gate", "--result", result, "--baseline", baseline, "--max-increase", "1")
    return Case(args, (baseline, "fid"), "not a finite number")


@case("gate-baseline-not-utf8")
def _(ws: Workspace) -> Case:
    result = _result_file(ws, fid=3.0)
    baseline = ws.inputs / "baseline.json"
    baseline.write_bytes(b'{"values": "\xff\xfe\xc3"}')
    args = ("gate", "--result", result, "--baseline", baseline, "--max-increase", "1")
    return Case(args, (baseline,), "is not JSON")


@case("gate-result-not-a-report")
def _(ws: Workspace) -> Case:
    result = ws.inputs / "result.json"
    result.write_text('{"fid": 3.0}')
    return Case(("gate", "--result", result, "--max-fid", "10"), (result,), "not a gan-eval report")


# --- generators (`gan-eval gate --generator`) -------------------------------------------------------------


def _generator(ws: Workspace, out_shape: list[int], output: str = "tanh", nan: bool = False) -> Path:
    """A small MLP image generator checkpoint: `linear` output gives values near 5, `nan` a NaN in its output."""
    description = {
        "type": "mlp",
        "latent_dim": 4,
        "hidden": [8],
        "out_shape": out_shape,
        "activation": "relu",
        "output": output,
        "n_classes": 0,
    }
    config = GeneratorConfig(
        model="gan",
        dataset="digits",
        data={"kind": "images", "shape": [3, 8, 8], "n_classes": 0},
        generator=description,
        discriminator={"type": "mlp", "in_shape": [3, 8, 8], "hidden": [8], "n_classes": 0},
        loss={"name": "nonsaturating", "n_critic": 1, "clip": None, "gp_weight": None},
        optimizer={"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]},
        batch_size=8,
        steps=0,
        seed=0,
        gan_eval_version=__version__,
    )
    torch.manual_seed(0)
    generator = build_generator(config)
    with torch.no_grad():
        last = generator.net[-2] if output == "tanh" else generator.net[-1]
        if output == "linear":
            last.bias.fill_(5.0)
        if nan:
            last.bias[0] = float("nan")
    return save_generator(ws.inputs / "generator", generator, replace(config))


def _gate_generator(ws: Workspace, generator: Path) -> tuple[str | Path, ...]:
    real = ws.stats_file("real.npz")
    limits = ("-n", "2", "--ci-groups", "0", "--max-fid", "1e9")
    return ("gate", "--real", real, "--generator", generator, *limits, "--weights", ws.weights, "--quiet")


@case("generator-with-wrong-channel-count")
def _(ws: Workspace) -> Case:
    generator = _generator(ws, [2, 8, 8])
    return Case(_gate_generator(ws, generator), (generator,), "no channel axis of size 1 or 3")


@case("generator-with-flat-output")
def _(ws: Workspace) -> Case:
    generator = _generator(ws, [192])
    return Case(_gate_generator(ws, generator), (generator,), "is not images")


@case("generator-returning-nan")
def _(ws: Workspace) -> Case:
    generator = _generator(ws, [3, 8, 8], nan=True)
    return Case(_gate_generator(ws, generator), (generator,), "NaN or Inf")


@case("generator-outside-minus-one-one")
def _(ws: Workspace) -> Case:
    generator = _generator(ws, [3, 8, 8], output="linear")
    return Case(_gate_generator(ws, generator), (generator,), "outside the range [-1, 1]")


@case("generator-without-weights-file")
def _(ws: Workspace) -> Case:
    generator = _generator(ws, [3, 8, 8])
    (generator / "generator.pt").unlink()
    return Case(_gate_generator(ws, generator), (generator / "generator.pt",), "is missing")


# --- modes, plot, train -----------------------------------------------------------------------------------


@case("modes-points-of-wrong-shape")
def _(ws: Workspace) -> Case:
    path = ws.npy(np.zeros((50, 3)), "points.npy")
    return Case(("modes", "ring8", path), (path,), "expected an (N, 2) array of points")


@case("modes-points-pickled")
def _(ws: Workspace) -> Case:
    path = ws.npy(np.array([Payload(ws.marker)] * 50, dtype=object), "points.npy")
    return Case(("modes", "ring8", path), (path,), "not a readable")


@case("modes-points-with-nan")
def _(ws: Workspace) -> Case:
    path = ws.npy(np.array([[0.0, np.nan]] * 50), "points.npy")
    return Case(("modes", "ring8", path), (path,), "NaN")


@case("plot-folder-without-a-run")
def _(ws: Workspace) -> Case:
    return Case(("plot", ws.inputs, "--out", ws.out / "plots"), (ws.inputs,), "no events.jsonl")


@case("plot-out-is-a-file")
def _(ws: Workspace) -> Case:
    run = ws.inputs / "run"
    run.mkdir()
    (run / "events.jsonl").write_text("")
    target = ws.out / "plots"
    target.write_text("a file")
    return Case(("plot", run, "--out", target), (target,), "not a folder")


@case("train-out-not-empty")
def _(ws: Workspace) -> Case:
    target = ws.out / "checkpoint"
    target.mkdir()
    (target / "notes.txt").write_text("keep me")
    return Case(("train", "gan", "--data", "ring8", "--steps", "1", "--out", target), (target,), "not empty")


# --- the test ---------------------------------------------------------------------------------------------


@pytest.fixture
def workspace(
    tmp_path: Path, isolated_cache: Path, real_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Workspace]:
    (tmp_path / "inputs").mkdir()
    (tmp_path / "out").mkdir()
    with contextlib.ExitStack() as stack:
        yield Workspace(tmp_path / "inputs", tmp_path / "out", isolated_cache, real_weights, monkeypatch, stack)


def check(ws: Workspace, cli, bad: Case) -> None:
    """Run the case's command: refused in one line naming the culprit, no file added, no pickle run."""
    before = files_under(ws.out, ws.home)
    assert_refused(cli(*bad.args), *bad.culprits, message=bad.message)
    assert files_under(ws.out, ws.home) == before
    assert not ws.marker.exists(), "a pickle inside the input was unpickled"


@pytest.mark.parametrize("name", [pytest.param(name, marks=marks, id=name) for name, (_, marks) in CASES.items()])
def test_bad_input_is_refused_in_one_line(name: str, workspace: Workspace, cli) -> None:
    build, _ = CASES[name]
    check(workspace, cli, build(workspace))
