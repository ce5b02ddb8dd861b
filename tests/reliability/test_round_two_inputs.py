"""Bad inputs of "Reliability, round two", through the real command line: exit 2, one line, nothing written.

Statistics whose `sigma` is no covariance, zip archives with duplicated,
encrypted, oddly compressed or corrupt members, inputs that are not regular
files (named pipes, devices), and the GIF files a folder used to skip without
a word. A case that could block (a named pipe) or read forever (a device)
runs the command in a subprocess with a timeout, so a regression fails
instead of hanging.
"""

from __future__ import annotations

import io
import json
import os
import struct
import subprocess
import sys
import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
from cli_harness import CliRun, assert_refused, files_under
from PIL import Image

from gan_eval.cli.main import main
from gan_eval.errors import GanEvalWarning
from gan_eval.extractors.inception.extractor import INCEPTION_NAME, RESIZE_MODE
from gan_eval.stats import META_KEY

POOL3 = 2048


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """Where commands write; checked to stay empty when a command is refused."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def refused(cli, args: tuple[str | Path, ...], out: Path, home: Path, *culprits: str | Path, message: str) -> str:
    """Run `gan-eval ARGS`: exit 2, one `error:` line naming the culprits and `message`; no file added."""
    before = files_under(out, home)
    line = assert_refused(cli(*args), *culprits, message=message)
    assert files_under(out, home) == before
    return line


def stats_file(path: Path, mu: np.ndarray, sigma: np.ndarray) -> Path:
    """A statistics file as gan-eval writes it, with the given moments."""
    meta = {"extractor": INCEPTION_NAME, "resize": RESIZE_MODE, "weights_sha256": "0" * 64, "n": 10}
    np.savez(path, mu=mu, sigma=sigma, n=np.int64(10), **{META_KEY: np.array(json.dumps(meta))})
    return path


# --- statistics files with a sigma that is no covariance ---------------------------------------------------


def _not_symmetric() -> tuple[np.ndarray, np.ndarray]:
    sigma = np.eye(POOL3)
    sigma[0, 1] = 0.5  # sigma[1, 0] stays 0
    return np.zeros(POOL3), sigma


def _not_positive_semi_definite() -> tuple[np.ndarray, np.ndarray]:
    # Today's FID of this against the identity is 3 - 4 = -1, which used to print 0.000000.
    return np.zeros(POOL3), np.diag([4.0, -3.0, *np.ones(POOL3 - 2)])


def _huge_sigma() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(POOL3), np.eye(POOL3) * 1e200  # finite, but its products overflow (FID used to be inf)


def _mu_whose_square_overflows() -> tuple[np.ndarray, np.ndarray]:
    return np.full(POOL3, 1e160), np.eye(POOL3)


@pytest.mark.parametrize(
    ("moments", "message"),
    [
        (_not_symmetric, "has a sigma that is not symmetric"),
        (_not_positive_semi_definite, "has a sigma that is not positive semi-definite (eigenvalue -3"),
        (_huge_sigma, "has values up to 1e+200 in mu or sigma"),
        (_mu_whose_square_overflows, "has values up to 1e+160 in mu or sigma"),
    ],
    ids=["not-symmetric", "not-positive-semi-definite", "huge-sigma", "mu-whose-square-overflows"],
)
def test_statistics_whose_sigma_is_no_covariance(
    moments, message: str, tmp_path: Path, out: Path, isolated_cache: Path, real_weights: Path, cli
) -> None:
    bad = stats_file(tmp_path / "bad.npz", *moments())
    good = stats_file(tmp_path / "good.npz", np.zeros(POOL3), np.eye(POOL3))
    args = ("fid", good, bad, "--weights", real_weights, "--quiet")
    refused(cli, args, out, isolated_cache, f"statistics file {bad}", message=message)


# --- zip archives --------------------------------------------------------------------------------------------


def png_bytes(seed: int = 0, size: int = 16) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def zip_with(path: Path, members: list[tuple[str, bytes]], method: int = zipfile.ZIP_DEFLATED) -> Path:
    """A zip archive of `members` in order (a name may repeat)."""
    with warnings.catch_warnings(), zipfile.ZipFile(path, "w", method) as archive:
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns of a duplicate name, and writes it
        for name, data in members:
            archive.writestr(name, data)
    return path


def patch_member(
    path: Path,
    member: str,
    *,
    flag_bits: int | None = None,
    method: int | None = None,
    file_size: int | None = None,
    data: tuple[int, int] | None = None,
) -> None:
    """Rewrite fields of `member`'s local and central headers in place (what no zip writer would produce).

    `data` = (offset, byte) overwrites a byte of its compressed data (0xFF at 0 is an invalid deflate block type;
    at 4, invalid LZMA properties).
    """
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo(member).header_offset
    central = raw.find(b"PK\x01\x02")
    while raw[central + 46 : central + 46 + len(member)] != member.encode():
        central = raw.find(b"PK\x01\x02", central + 4)
    for field, local_at, central_at, fmt in (
        (flag_bits, 6, 8, "<H"),
        (method, 8, 10, "<H"),
        (file_size, 22, 24, "<I"),
    ):
        if field is not None:
            struct.pack_into(fmt, raw, local + local_at, field)
            struct.pack_into(fmt, raw, central + central_at, field)
    if data is not None:
        name_length, extra_length = struct.unpack_from("<HH", raw, local + 26)
        raw[local + 30 + name_length + extra_length + data[0]] = data[1]
    path.write_bytes(bytes(raw))


def zip_stats(archive: Path, out: Path, weights: Path) -> tuple[str | Path, ...]:
    return ("stats", archive, "-o", out / "stats.npz", "--weights", weights, "--quiet")


def test_zip_with_two_members_of_one_name(
    tmp_path: Path, out: Path, isolated_cache: Path, real_weights: Path, cli
) -> None:
    """zipfile reads the last `a.png` under that name: the first used to be read never, the second twice."""
    members = [("a.png", png_bytes(1)), ("b.png", png_bytes(2)), ("a.png", png_bytes(3))]
    archive = zip_with(tmp_path / "images.zip", members)
    args = zip_stats(archive, out, real_weights)
    refused(cli, args, out, isolated_cache, archive, message="holds 2 members named 'a.png'")


@pytest.mark.parametrize(
    ("patch", "method", "message"),
    [
        ({"flag_bits": 0x1}, zipfile.ZIP_DEFLATED, "member is encrypted"),
        ({"method": 99}, zipfile.ZIP_DEFLATED, "member uses compression method 99, which Python cannot read"),
        ({"data": (0, 0xFF)}, zipfile.ZIP_DEFLATED, "cannot read member (Error -3 while decompressing data"),
        ({"data": (4, 0xFF)}, zipfile.ZIP_LZMA, "cannot read member (Invalid or unsupported options)"),
        ({"data": (0, 0x00)}, zipfile.ZIP_BZIP2, "cannot read member (Invalid data stream)"),
    ],
    ids=["encrypted", "unknown-compression-method", "corrupt-deflate", "corrupt-lzma", "corrupt-bzip2"],
)
def test_zip_member_that_cannot_be_inflated(
    patch: dict[str, object],
    method: int,
    message: str,
    tmp_path: Path,
    out: Path,
    isolated_cache: Path,
    real_weights: Path,
    cli,
) -> None:
    """These used to end in a traceback and exit code 1 (RuntimeError, NotImplementedError, zlib.error)."""
    archive = zip_with(tmp_path / "images.zip", [("a.png", png_bytes(1)), ("b.png", png_bytes(2))], method)
    patch_member(archive, "a.png", **patch)
    args = zip_stats(archive, out, real_weights)
    refused(cli, args, out, isolated_cache, f"{archive}:a.png", message=message)


def test_zip_member_whose_header_understates_its_size(
    tmp_path: Path, out: Path, isolated_cache: Path, real_weights: Path, cli
) -> None:
    """A header saying 100 bytes for 50 MB of zeros: inflating stops at 100 bytes, and the CRC names the member."""
    archive = zip_with(tmp_path / "images.zip", [("a.png", png_bytes(1)), ("z.png", bytes(50_000_000))])
    patch_member(archive, "z.png", file_size=100)
    args = zip_stats(archive, out, real_weights)
    refused(cli, args, out, isolated_cache, f"{archive}:z.png", message="Bad CRC-32")


# --- inputs that are not regular files ------------------------------------------------------------------------

SUBPROCESS_TIMEOUT = 60  # seconds; the refusal takes the interpreter's start-up, a few seconds


def _named_pipe(path: Path) -> str:
    os.mkfifo(path)  # opening it for reading blocks until a writer comes
    return "a named pipe"


def _link_to(device: str):
    def make(path: Path) -> str:
        path.symlink_to(device)  # reading it never ends
        return f"a character device, {device}"

    return make


@pytest.mark.parametrize(
    "make",
    [_named_pipe, _link_to("/dev/zero"), _link_to("/dev/urandom")],
    ids=["named-pipe", "link-to-dev-zero", "link-to-dev-urandom"],
)
@pytest.mark.parametrize("input_name", ["x.npy", "x.npz", "x.zip", "statistics.npz"])
def test_input_that_is_not_a_regular_file(
    make, input_name: str, tmp_path: Path, out: Path, isolated_cache: Path, real_weights: Path
) -> None:
    """Given directly as the input of `stats`, or as the statistics of `fid`: refused before it is opened.

    Runs in a subprocess with a timeout: these inputs used to block or read until memory ran out.
    """
    path = tmp_path / input_name
    kind = make(path)
    if input_name == "statistics.npz":
        good = stats_file(tmp_path / "good.npz", np.zeros(POOL3), np.eye(POOL3))
        args = ("fid", good, path, "--weights", real_weights, "--quiet")
    else:
        args = ("stats", path, "-o", out / "stats.npz", "--weights", real_weights, "--quiet")
    before = files_under(out, isolated_cache)
    ran = subprocess.run(
        [sys.executable, "-m", "gan_eval", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        stdin=subprocess.DEVNULL,
    )
    assert_refused(CliRun(ran.returncode, ran.stdout, ran.stderr), path, message=f"not a regular file ({kind})")
    assert files_under(out, isolated_cache) == before


# --- GIF files, and files ignored for their extension --------------------------------------------------------


def run_showing_warnings(capsys: pytest.CaptureFixture[str], *args: str | Path) -> CliRun:
    """`gan-eval ARGS` in this process with its warning lines printed (the `cli` fixture silences them)."""
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("always", GanEvalWarning)
        code = main([str(a) for a in args])
    captured = capsys.readouterr()
    return CliRun(code, captured.out, captured.err)


def test_animated_gifs_give_their_first_frame_and_other_files_are_counted(
    tmp_path: Path, real_weights: Path, shared_extractor: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """Two two-frame GIFs, red-ish then blue-ish: their statistics are those of PNGs of the first frames.

    GIFs used to be skipped without a word; files of other extensions are now counted in one warning line.
    """
    rng = np.random.default_rng(7)
    gifs, firsts = tmp_path / "gifs", tmp_path / "first-frames"
    gifs.mkdir()
    firsts.mkdir()
    for index in range(2):
        pixels = rng.integers(0, 4, (40, 48), dtype=np.uint8)  # palette indices
        frames = []
        for low, high in (((120, 0, 0), (255, 90, 60)), ((0, 0, 120), (60, 90, 255))):
            palette = np.linspace(low, high, 4).astype(np.uint8)
            frame = Image.fromarray(pixels, "P")
            frame.putpalette(palette.flatten().tolist())
            frames.append(frame)
            if len(frames) == 1:
                Image.fromarray(palette[pixels]).save(firsts / f"{index}.png")
        frames[0].save(gifs / f"{index}.gif", save_all=True, append_images=frames[1:])
    (gifs / "notes.txt").write_text("not an image")
    (gifs / "labels.json").write_text("{}")
    (gifs / "LICENSE").write_text("no extension")

    from_gifs = run_showing_warnings(capsys, "stats", gifs, "-o", tmp_path / "gifs.npz", "--weights", real_weights)
    from_pngs = run_showing_warnings(capsys, "stats", firsts, "-o", tmp_path / "pngs.npz", "--weights", real_weights)
    assert from_gifs.code == from_pngs.code == 0, (from_gifs.err, from_pngs.err)
    ignored = [line for line in from_gifs.err.splitlines() if "ignored" in line]
    assert ignored == [f"warning: ignored 3 file(s) in {gifs} that are not images (.json, .txt, no extension)"]
    assert "ignored" not in from_pngs.err
    with np.load(tmp_path / "gifs.npz") as a, np.load(tmp_path / "pngs.npz") as b:
        assert int(a["n"]) == 2
        np.testing.assert_array_equal(a["mu"], b["mu"])
        np.testing.assert_array_equal(a["sigma"], b["sigma"])
