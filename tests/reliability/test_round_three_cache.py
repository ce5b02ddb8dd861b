"""Round three against the feature cache: a forged zip, entries copied, edited or holding NaN, foreign files
in the cache folder, and zip members that run past their declared size.

Each case gave a wrong number (FID 0 from a forged key or a copied entry, 1.28e6 from an edited mean), a
traceback (NaN), deleted a user's file (`cache clear`) or reserved up to 1 GiB for a 100-byte member before
the fixes; each test builds the attack itself.
"""

from __future__ import annotations

import io
import shutil
import tracemalloc
import zipfile
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_eval.cache import FeatureCache, entry_key
from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.evaluation import evaluate
from gan_eval.extraction import ExtractionOptions
from gan_eval.sources import ArraySource, ZipSource


def png_bytes(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels).save(buffer, format="PNG")
    return buffer.getvalue()


def crc32_forging_suffix(prefix: bytes, target: int) -> bytes:
    """4 bytes that, appended to `prefix`, make its CRC-32 `target`.

    CRC-32 is affine over GF(2) in the appended bits: solve the 32x32 linear system by Gaussian elimination.
    """
    base = zlib.crc32(prefix + bytes(4))
    columns = [zlib.crc32(prefix + (1 << bit).to_bytes(4, "little")) ^ base for bit in range(32)]
    rows = [(columns[bit], 1 << bit) for bit in range(32)]  # (effect on the CRC, bits of the suffix)
    basis: dict[int, tuple[int, int]] = {}
    for effect, bits in rows:
        for pivot in sorted(basis, reverse=True):
            if effect >> pivot & 1:
                effect ^= basis[pivot][0]
                bits ^= basis[pivot][1]
        if effect:
            basis[effect.bit_length() - 1] = (effect, bits)
    want, suffix = target ^ base, 0
    for pivot in sorted(basis, reverse=True):
        if want >> pivot & 1:
            want ^= basis[pivot][0]
            suffix ^= basis[pivot][1]
    assert want == 0, "the CRC system is always solvable with 32 free bits"
    return suffix.to_bytes(4, "little")


def forged_like(data: bytes, pixels: np.ndarray) -> bytes:
    """A PNG of `pixels`, padded after its end chunk (decoders ignore it) to `data`'s size and CRC-32."""
    image = png_bytes(pixels)
    assert len(image) + 4 <= len(data)
    padded = image + bytes(len(data) - len(image) - 4)
    forged = padded + crc32_forging_suffix(padded, zlib.crc32(data))
    assert len(forged) == len(data) and zlib.crc32(forged) == zlib.crc32(data)
    return forged


def write_zip(path: Path, members: dict[str, bytes]) -> Path:
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.fixture
def reference_zip(tmp_path: Path) -> Path:
    rng = np.random.default_rng(0)
    members = {f"{i:03d}.png": png_bytes(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)) for i in range(12)}
    return write_zip(tmp_path / "reference.zip", members)


def test_a_zip_forged_to_match_names_crcs_and_sizes_is_not_served_the_reference_features(
    reference_zip: Path, tmp_path: Path, stand_in
) -> None:
    with zipfile.ZipFile(reference_zip) as archive:
        reference = {info.filename: archive.read(info) for info in archive.infolist()}
    flat = np.full((16, 16, 3), 128, np.uint8)
    forged_zip = write_zip(tmp_path / "forged.zip", {name: forged_like(data, flat) for name, data in reference.items()})
    with zipfile.ZipFile(reference_zip) as a, zipfile.ZipFile(forged_zip) as b:
        assert [(i.filename, i.CRC, i.file_size) for i in a.infolist()] == [
            (i.filename, i.CRC, i.file_size) for i in b.infolist()
        ]
    np.testing.assert_array_equal(ZipSource(forged_zip).load(0), flat)

    evaluate(reference_zip, reference_zip, "fid", extractor=stand_in, progress=False)  # fills the default cache
    cached = evaluate(reference_zip, forged_zip, "fid", extractor=stand_in, progress=False)
    fresh = evaluate(
        reference_zip, forged_zip, "fid", extractor=stand_in, progress=False, extraction=ExtractionOptions(cache=False)
    )
    assert cached.cached == {"real": True, "fake": False}
    assert fresh["fid"] > 1.0
    assert cached["fid"] == fresh["fid"]


def _cached_fid(real, fake, stand_in) -> float:
    return evaluate(real, fake, "fid", extractor=stand_in, progress=False)["fid"]


@pytest.fixture
def two_inputs(stand_in) -> tuple[np.ndarray, np.ndarray, float, dict[str, Path]]:
    """Two image arrays, their FID with no cache, and their cache entries (by input) after one cached run."""
    rng = np.random.default_rng(1)
    a = rng.integers(0, 256, (40, 12, 12, 3), dtype=np.uint8)
    b = np.clip(a.astype(int) + rng.integers(-60, 60, a.shape), 0, 255).astype(np.uint8)
    truth = evaluate(a, b, "fid", extractor=stand_in, progress=False, extraction=ExtractionOptions(cache=False))["fid"]
    assert _cached_fid(a, b, stand_in) == truth
    cache = FeatureCache()
    entries = {
        name: cache.path(entry_key(ArraySource(images).fingerprint(), stand_in.settings(), "pool3", False))
        for name, images in (("a", a), ("b", b))
    }
    assert all(path.is_file() for path in entries.values()) and len(cache.entries()) == 2
    return a, b, truth, entries


def test_an_entry_copied_over_another_is_a_miss_with_one_warning(two_inputs, stand_in) -> None:
    a, b, truth, entries = two_inputs
    shutil.copyfile(entries["a"], entries["b"])
    with pytest.warns(GanEvalWarning, match="does not verify .*records the key") as caught:
        assert _cached_fid(a, b, stand_in) == truth
    assert len([w for w in caught if issubclass(w.category, GanEvalWarning)]) == 1
    assert FeatureCache().load(entries["b"].stem) is not None  # replaced by the recomputed entry
    assert _cached_fid(a, b, stand_in) == truth


def _rewrite(path: Path, change) -> None:
    with np.load(path, allow_pickle=False) as data:
        arrays = {name: data[name] for name in data.files}
    change(arrays)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    path.write_bytes(buffer.getvalue())


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda arrays: arrays["total"].__setitem__(0, arrays["total"][0] + 1e6), id="mean-edited"),
        pytest.param(lambda arrays: arrays["outer"].__setitem__((0, 0), np.nan), id="nan-in-covariance"),
        pytest.param(lambda arrays: arrays["features"].__setitem__((0, 0), np.nan), id="nan-in-features"),
        pytest.param(lambda arrays: arrays.__setitem__("count", np.asarray(np.int64(41))), id="count-edited"),
    ],
)
def test_an_edited_entry_is_a_miss_with_one_warning_never_a_number(two_inputs, stand_in, edit) -> None:
    a, b, truth, entries = two_inputs
    _rewrite(entries["b"], edit)
    with pytest.warns(GanEvalWarning, match="does not verify"):
        assert _cached_fid(a, b, stand_in) == truth


def test_an_entry_edited_with_a_matching_digest_but_nan_is_still_refused(two_inputs, stand_in) -> None:
    """Whoever recomputes the digest still cannot make the cache hand out a non-finite number."""
    from gan_eval.cache import _arrays_digest

    a, b, truth, entries = two_inputs

    def poison(arrays: dict[str, np.ndarray]) -> None:
        arrays["total"][0] = np.nan
        arrays["digest"] = np.array(_arrays_digest(arrays))

    _rewrite(entries["b"], poison)
    with pytest.warns(GanEvalWarning, match="non-finite"):
        assert _cached_fid(a, b, stand_in) == truth


def test_cache_clear_and_info_leave_and_name_files_the_cache_did_not_write(two_inputs, cli_main, capsys) -> None:
    _, _, _, entries = two_inputs
    root = entries["a"].parent.parent
    mine = root / "ab" / "my-features.npz"
    mine.parent.mkdir(exist_ok=True)
    np.savez(mine, features=np.zeros(3))
    named_like_an_entry = root / "cd" / ("cd" + "0" * 62 + ".npz")
    named_like_an_entry.parent.mkdir(exist_ok=True)
    np.savez(named_like_an_entry, meta=np.array("{}"), features=np.zeros(3))
    notes = root / "notes.txt"
    notes.write_text("keep me")

    assert cli_main(["cache", "info", "--json"]) == 0
    info = __import__("json").loads(capsys.readouterr().out)
    assert info["entries"] == 2
    assert sorted(info["other_files"]) == sorted(map(str, (mine, named_like_an_entry, notes)))
    assert cli_main(["cache", "clear"]) == 0
    out = capsys.readouterr().out
    assert "removed 2 entries" in out and "left 3 file(s) the cache did not write" in out
    assert mine.is_file() and named_like_an_entry.is_file() and notes.read_text() == "keep me"
    assert not entries["a"].exists() and not entries["b"].exists()


@pytest.fixture
def cli_main():
    from gan_eval.cli.main import main

    return main


def _understated_zip(path: Path, method: int) -> Path:
    """A zip whose member `z.png` holds 50 MB of zeros but declares 100 bytes in both headers."""
    with zipfile.ZipFile(path, "w", method) as archive:
        archive.writestr("a.png", png_bytes(np.zeros((4, 4, 3), np.uint8)))
        archive.writestr("z.png", bytes(50_000_000))
    raw = bytearray(path.read_bytes())
    with zipfile.ZipFile(path) as archive:
        local = archive.getinfo("z.png").header_offset
    raw[local + 22 : local + 26] = (100).to_bytes(4, "little")
    central = raw.find(b"PK\x01\x02")
    while raw[central + 46 : central + 51] != b"z.png":
        central = raw.find(b"PK\x01\x02", central + 4)
    raw[central + 24 : central + 28] = (100).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    return path


@pytest.mark.parametrize("method", [zipfile.ZIP_DEFLATED, zipfile.ZIP_STORED], ids=["deflated", "stored"])
def test_a_member_running_past_its_declared_size_is_refused_in_bounded_memory(tmp_path: Path, method: int) -> None:
    source = ZipSource(_understated_zip(tmp_path / "understated.zip", method))
    index = source.members.index("z.png")
    tracemalloc.start()
    try:
        with pytest.raises(GanEvalError, match=r"understated.zip:z.png: cannot read member .*100 bytes"):
            source.load(index)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 4 << 20, f"reading a member that declares 100 bytes took {peak} bytes"


def test_a_member_whose_crc_matches_its_declared_bytes_but_runs_past_them_is_refused(tmp_path: Path) -> None:
    """The declared size and CRC-32 describe a real PNG; the data goes on: refused, not truncated silently."""
    image = png_bytes(np.zeros((4, 4, 3), np.uint8))
    path = tmp_path / "longer.zip"
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.png", image + bytes(5000))
    raw = bytearray(path.read_bytes())
    for header, at_size, at_crc in ((b"PK\x03\x04", 22, 14), (b"PK\x01\x02", 24, 16)):
        start = raw.find(header)
        raw[start + at_size : start + at_size + 4] = len(image).to_bytes(4, "little")
        raw[start + at_crc : start + at_crc + 4] = zlib.crc32(image).to_bytes(4, "little")
    path.write_bytes(bytes(raw))
    with pytest.raises(GanEvalError, match=r"CRC-32 matches the .* bytes its header declares, and its data runs past"):
        ZipSource(path).load(0)
