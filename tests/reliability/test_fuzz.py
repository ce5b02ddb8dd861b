"""Seeded fuzzing: damaged image files and random arrays give a clean `GanEvalError` or a correct result.

Nothing else is allowed: no other exception type, no message over one line
or without the file's name, and no array accepted that the documented rules
refuse (or refused that they accept). Each loop is seeded, and a failure
reports the seed and iteration that reproduce it.

- Image files: valid PNG, JPEG, GIF, BMP and WebP files and random bytes,
  then truncated, bit-flipped, overwritten or spliced, saved as `.png` or
  `.jpg` whatever their content. Every file is decoded on its own, then the
  whole folder goes through the pipeline with `--skip-bad` semantics (the
  stand-in extractor), and a few through the real command line.
- Arrays: random rank, shape, dtype, values (NaN, Inf, out of range) and
  declared range, in memory, as tensors and as `.npy` files. Whether each is
  accepted is decided here from the rules of docs/inputs.md, and accepted
  ones must give exactly the pixels `round((x - lo) / (hi - lo) * 255)`.
- Through the command line, each case ending in exit 0 or in exit 2 with one
  `error:` line naming the file, never a traceback or a hang (a deadline per
  case): zip archives (`gan-eval stats`, the stand-in network) of random and
  damaged members under random names (`../`, absolute, empty, duplicated)
  with mutated headers; statistics files (`gan-eval fid`) with members
  dropped, reshaped, retyped, filled with odd values or replaced by random
  bytes, and damaged archives; run records (`gan-eval plot`) with random
  values, keys and kinds in their JSON lines, and damaged lines.
"""

from __future__ import annotations

import contextlib
import io
import json
import signal
import struct
import warnings
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_harness import CliRun, assert_refused, image_folder
from PIL import Image
from stand_in import StandInExtractor

from gan_eval import extraction
from gan_eval.errors import GanEvalError
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors import registry
from gan_eval.extractors.base import ExtractorSpec
from gan_eval.feature_types import FEATURES
from gan_eval.pipeline import extract
from gan_eval.sources import open_input
from gan_eval.sources.decode import decode_image
from gan_eval.sources.folder import ImageFolderSource
from gan_eval.stats import load_stats

SEED = 20240608
IMAGE_CASES = 1000
ARRAY_CASES = 1000
FORMATS = ("PNG", "JPEG", "GIF", "BMP", "WEBP")
MODES = ("RGB", "L", "RGBA", "P", "1")


def valid_image(rng: np.random.Generator) -> bytes:
    """A small valid image file of a random format and mode."""
    size = (int(rng.integers(1, 24)), int(rng.integers(1, 24)))
    pixels = rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)
    mode = str(rng.choice(MODES))
    image = Image.fromarray(pixels).convert(mode)
    fmt = str(rng.choice(FORMATS))
    if fmt in ("JPEG", "WEBP") and mode not in ("RGB", "L"):
        image = image.convert("RGB")
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def damaged(rng: np.random.Generator) -> bytes:
    """A valid image, random bytes, or empty, then one random kind of damage (or none)."""
    base = rng.random()
    if base < 0.85:
        data = bytearray(valid_image(rng))
    elif base < 0.97:
        data = bytearray(rng.integers(0, 256, int(rng.integers(1, 600)), dtype=np.uint8).tobytes())
    else:
        data = bytearray()
    damage = int(rng.integers(0, 6)) if data else 0
    if damage == 1:  # truncated
        data = data[: int(rng.integers(0, len(data)))]
    elif damage == 2:  # a few bits flipped
        for _ in range(int(rng.integers(1, 8))):
            data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
    elif damage == 3:  # a run overwritten with random bytes
        start = int(rng.integers(0, len(data)))
        stop = min(len(data), start + int(rng.integers(1, 64)))
        data[start:stop] = rng.integers(0, 256, stop - start, dtype=np.uint8).tobytes()
    elif damage == 4:  # random bytes inserted
        at = int(rng.integers(0, len(data) + 1))
        data[at:at] = rng.integers(0, 256, int(rng.integers(1, 64)), dtype=np.uint8).tobytes()
    elif damage == 5:  # the head of one file on the body of another
        other = valid_image(rng)
        cut = int(rng.integers(0, len(data)))
        data = data[:cut] + other[cut:]
    return bytes(data)


def assert_clean_error(error: GanEvalError, name: str) -> None:
    message = str(error)
    assert "\n" not in message and name in message, message


@pytest.fixture(scope="module")
def fuzzed_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, bool]]:
    """A folder of `IMAGE_CASES` fuzzed files, and for each file name whether it decoded on its own."""
    folder = tmp_path_factory.mktemp("fuzz") / "images"
    folder.mkdir()
    rng = np.random.default_rng(SEED)
    decoded: dict[str, bool] = {}
    for i in range(IMAGE_CASES):
        name = f"{i:04d}{rng.choice(['.png', '.jpg'])}"
        path = folder / name
        path.write_bytes(damaged(rng))
        try:
            pixels = decode_image(str(path), str(path))
        except GanEvalError as error:
            assert_clean_error(error, str(path))
            decoded[name] = False
        except Exception as error:  # anything else is the bug this test looks for
            pytest.fail(f"seed {SEED}, file {i}: {type(error).__name__}: {error}")
        else:
            assert pixels.dtype == np.uint8 and pixels.ndim == 3 and pixels.shape[2] == 3, (i, pixels.shape)
            assert pixels.shape[0] > 0 and pixels.shape[1] > 0
            decoded[name] = True
    return folder, decoded


def test_each_fuzzed_file_decodes_or_is_refused_in_one_line(fuzzed_files: tuple[Path, dict[str, bool]]) -> None:
    _, decoded = fuzzed_files
    # The mix exercises both outcomes broadly (not a property of the code, a check on the fuzzer).
    assert 0.2 < sum(decoded.values()) / len(decoded) < 0.9


def test_fuzzed_folder_through_the_pipeline_skipping_bad_files(
    fuzzed_files: tuple[Path, dict[str, bool]], stand_in
) -> None:
    folder, decoded = fuzzed_files
    result = extract(
        ImageFolderSource(folder),
        stand_in,
        ("pool3",),
        ExtractionOptions(batch_size=32, workers=0, progress=False, skip_bad=True),
    )
    assert result.count == sum(decoded.values())
    assert sorted(message.split(":")[0] for message in result.skipped) == sorted(
        str(folder / name) for name, ok in decoded.items() if not ok
    )
    assert all("\n" not in message for message in result.skipped)
    stats = result.stats["pool3"]
    assert np.isfinite(stats.mean()).all() and np.isfinite(stats.covariance()).all()


def test_fuzzed_files_through_the_command_line(
    fuzzed_files: tuple[Path, dict[str, bool]], cli, real_weights: Path, tmp_path: Path
) -> None:
    """Three files that decode and three that do not, each beside one good image: a result or one line."""
    folder, decoded = fuzzed_files
    chosen = [n for n, ok in decoded.items() if ok][:3] + [n for n, ok in decoded.items() if not ok][:3]
    for name in chosen:
        images = image_folder(tmp_path / name / "images", 1)
        (images / name).write_bytes((folder / name).read_bytes())
        out = tmp_path / name / "stats.npz"
        run = cli("stats", images, "-o", out, "--weights", real_weights, "--quiet", "--no-cache")
        if decoded[name]:
            assert run.code == 0, run.err
            assert load_stats(out).count == 2
        else:
            assert_refused(run, images / name)
            assert not out.exists()


# --- arrays -----------------------------------------------------------------------------------------------

# Accepted dtypes first and twice as likely as each refused one.
DTYPES = (np.uint8, np.float32, np.float64, np.float16, np.int8, np.int16, np.int64, np.uint16, bool, np.complex64)
DTYPE_WEIGHTS = np.array([2, 2, 2, 2, 1, 1, 1, 1, 1, 1]) / 14


def random_array(rng: np.random.Generator) -> tuple[np.ndarray, tuple[float, float]]:
    """An array of random rank, shape (channel-like sizes favoured), dtype and values, and a declared range."""
    rank = int(rng.choice([0, 1, 2, 3, 3, 4, 4, 4, 4, 5]))
    shape = [int(rng.choice([0, 1, 2, 3, 3, 3, 4, 5, 7])) for _ in range(rank)]
    if rank >= 1 and rng.random() < 0.9:
        shape[0] = max(shape[0], 1)
    dtype = DTYPES[int(rng.choice(len(DTYPES), p=DTYPE_WEIGHTS))]
    value_range = ((0.0, 1.0), (-1.0, 1.0))[int(rng.integers(0, 2))]
    if np.issubdtype(dtype, np.floating):
        lo, hi = value_range
        spill = rng.choice([0.0, 0.0, 0.0, 0.3])
        values = rng.uniform(lo - spill, hi + spill, shape)
        if rng.random() < 0.15 and values.size:
            values.flat[int(rng.integers(0, values.size))] = rng.choice([np.nan, np.inf, -np.inf])
        array = values.astype(dtype)
    else:
        array = rng.integers(0, 256, shape).astype(dtype)
    return array, value_range


def expected_pixels(array: np.ndarray, value_range: tuple[float, float]) -> np.ndarray | None:
    """The `(N, H, W, 3)` uint8 images the rules of docs/inputs.md give for `array`, or None when refused."""
    if array.dtype != np.uint8 and not np.issubdtype(array.dtype, np.floating):
        return None
    if array.ndim == 3:
        nhwc = array[..., None]
    elif array.ndim == 4 and array.shape[-1] in (1, 3):
        nhwc = array
    elif array.ndim == 4 and array.shape[1] in (1, 3):
        nhwc = array.transpose(0, 2, 3, 1)
    else:
        return None
    if 0 in nhwc.shape[:3]:
        return None
    if array.dtype != np.uint8:
        lo, hi = value_range
        wide = nhwc.astype(np.float64)
        if not np.isfinite(wide).all() or wide.min() < lo or wide.max() > hi:
            return None
        nhwc = np.rint((wide - lo) / (hi - lo) * 255).astype(np.uint8)
    return np.repeat(nhwc, 3, axis=-1) if nhwc.shape[-1] == 1 else nhwc


def test_random_arrays_are_read_by_the_rules_or_refused_in_one_line(tmp_path: Path, stand_in) -> None:
    rng = np.random.default_rng(SEED)
    accepted = 0
    for i in range(ARRAY_CASES):
        array, value_range = random_array(rng)
        expected = expected_pixels(array, value_range)
        form = ("array", "tensor", "npy")[i % 3]
        if form == "tensor" and array.dtype in (np.uint16, np.complex64):
            form = "array"  # torch has no such tensors to hand in
        if form == "npy":
            spec = tmp_path / f"{i}.npy"
            np.save(spec, array)
        else:
            spec = torch.from_numpy(array.copy()) if form == "tensor" else array
        try:
            source = open_input(spec, value_range)
            pixels = source.load_range(0, len(source))
        except GanEvalError as error:
            assert expected is None, f"seed {SEED}, case {i}: {form} {array.dtype} {array.shape} refused: {error}"
            assert "\n" not in str(error)
            if form == "npy":
                assert str(spec) in str(error)
            continue
        except Exception as error:  # anything else is the bug this test looks for
            pytest.fail(f"seed {SEED}, case {i}: {form} {array.dtype} {array.shape}: {type(error).__name__}: {error}")
        assert expected is not None, f"seed {SEED}, case {i}: {form} {array.dtype} {array.shape} accepted"
        np.testing.assert_array_equal(pixels, expected, err_msg=f"seed {SEED}, case {i}")
        features = extract(source, stand_in, ("pool3",), ExtractionOptions(workers=0, progress=False))
        assert features.count == len(expected) and np.isfinite(features.stats["pool3"].mean()).all()
        accepted += 1
    assert 0.1 < accepted / ARRAY_CASES < 0.9  # both outcomes exercised (a check on the fuzzer)


# --- zip archives, statistics files and run records through the command line -------------------------------

ZIP_CASES = 60
STATS_CASES = 60
RECORD_CASES = 15
CASE_DEADLINE_S = 60


@contextlib.contextmanager
def deadline(seconds: int, what: str) -> Iterator[None]:
    """Fail (instead of hanging) when the block runs longer than `seconds`."""

    def expire(signum: int, frame: object) -> None:
        raise TimeoutError(f"{what} ran over {seconds} s")

    previous = signal.signal(signal.SIGALRM, expire)
    signal.alarm(seconds)
    try:
        yield
    finally:
        signal.alarm(0)
        signal.signal(signal.SIGALRM, previous)


def assert_result_or_one_line(run: CliRun, case: str, *culprits: Path) -> bool:
    """Exit 0, or exit 2 with one `error:` line (naming `culprits`); True for exit 0."""
    assert run.code in (0, 2), f"{case}: exit {run.code}: {run.err}"
    if run.code == 2:
        assert_refused(run, *culprits)
    return run.code == 0


@pytest.fixture
def stand_in_cli(cli, monkeypatch: pytest.MonkeyPatch):
    """`cli`, with the stand-in network wherever weights would load (extraction costs milliseconds)."""
    monkeypatch.setattr(extraction, "load_extractor", lambda *args, **kwargs: StandInExtractor())
    return cli


MEMBER_NAMES = ("a.png", "b.jpg", "d/c.png", "../evil.png", "/abs/evil.png", "a/../../evil.png", "", "d/", "é.png")


def fuzzed_zip(rng: np.random.Generator) -> bytes:
    """A zip of 2 to 5 members, mostly valid images under plain names, some damaged or under odd names (`../`,
    absolute, empty, a folder's, duplicated), then often a random mutation of its bytes."""
    buffer = io.BytesIO()
    method = zipfile.ZIP_DEFLATED if rng.random() < 0.5 else zipfile.ZIP_STORED
    with warnings.catch_warnings(), zipfile.ZipFile(buffer, "w", compression=method) as archive:
        warnings.simplefilter("ignore", UserWarning)  # "Duplicate name": a duplicate is one of the cases
        for index in range(int(rng.integers(2, 6))):
            name = str(rng.choice(MEMBER_NAMES)) if rng.random() < 0.1 else f"{index}.png"
            member = valid_image(rng) if rng.random() < 0.9 else damaged(rng)
            archive.writestr(name or "x.png", member)
    data = bytearray(buffer.getvalue())
    mutation = int(rng.integers(0, 10))  # 5 and over: none
    if mutation == 1:  # bits flipped anywhere
        for _ in range(int(rng.integers(1, 6))):
            data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
    elif mutation == 2:  # a size, offset or count field of a header overwritten
        signature = (b"PK\x03\x04", b"PK\x01\x02", b"PK\x05\x06")[int(rng.integers(0, 3))]
        at = data.find(signature)
        field = at + int(rng.integers(4, 30))
        value = int(rng.choice([0, 1, 0xFFFF, 0xFFFFFFFF, int(rng.integers(0, 1 << 31))]))
        data[field : field + 4] = struct.pack("<I", value)
    elif mutation == 3:  # truncated
        data = data[: int(rng.integers(0, len(data)))]
    elif mutation == 4:  # the central directory's entry count says more than there is
        at = data.rfind(b"PK\x05\x06")
        data[at + 8 : at + 12] = struct.pack("<HH", 60000, 60000)
    return bytes(data)


def test_fuzzed_zip_archives_through_the_command_line(stand_in_cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(SEED)
    written = 0
    for i in range(ZIP_CASES):
        archive = tmp_path / f"{i:03d}.zip"
        archive.write_bytes(fuzzed_zip(rng))
        out = tmp_path / f"{i:03d}.npz"
        with deadline(CASE_DEADLINE_S, f"seed {SEED}, zip {i}"):
            run = stand_in_cli("stats", archive, "-o", out, "--quiet", "--no-cache")
        if assert_result_or_one_line(run, f"seed {SEED}, zip {i}", archive):
            assert load_stats(out).count >= 1
            written += 1
        else:
            assert not out.exists()
    assert 0.1 < written / ZIP_CASES < 0.9  # both outcomes exercised (a check on the fuzzer)


STATS_DIM = 8
STATS_SPACE = "fuzz-space"


@pytest.fixture
def small_space(monkeypatch: pytest.MonkeyPatch) -> str:
    """A registered feature space of `STATS_DIM` dimensions, so that FID of fuzzed statistics costs microseconds."""
    spec = ExtractorSpec(
        name=STATS_SPACE,
        title=STATS_SPACE,
        extractor=STATS_SPACE,
        kinds={FEATURES: "pool3"},
        dims={"pool3": STATS_DIM},
        resize="adaptive-avg-8",
        load=lambda weights, device, precision, progress: pytest.fail("statistics need no network"),
    )
    monkeypatch.setitem(registry.EXTRACTORS, STATS_SPACE, spec)
    return STATS_SPACE


ODD_VALUES = (np.nan, np.inf, -np.inf, 1e308, -1e308, 1e200, 0.0, -1.0)


def valid_statistics(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """The members of a statistics file of `STATS_DIM`-dimensional features of 50 samples."""
    features = rng.normal(size=(50, STATS_DIM))
    meta = {"extractor": STATS_SPACE, "weights_sha256": "0" * 64, "resize": "adaptive-avg-8", "n": 50}
    return {
        "mu": features.mean(0),
        "sigma": np.cov(features, rowvar=False),
        "n": np.int64(50),
        "gan_eval_meta": np.array(json.dumps(meta)),
    }


def fuzzed_statistics(rng: np.random.Generator) -> dict[str, np.ndarray]:
    """`valid_statistics` with one member dropped, reshaped, retyped, given odd values or replaced (or none)."""
    members = valid_statistics(rng)
    key = str(rng.choice(sorted(members)))
    mutation = int(rng.integers(0, 7))
    if mutation == 1:
        del members[key]
    elif mutation == 2:
        members[key] = np.resize(members[key], tuple(int(d) for d in rng.integers(0, 10, int(rng.integers(0, 4)))))
    elif mutation == 3:
        dtype = rng.choice([np.float16, np.float32, np.int64, np.uint8, np.bool_, np.complex64, "U8", "S8"])
        with contextlib.suppress(ValueError):  # the metadata text has no float, int or bool form
            members[key] = members[key].astype(dtype)
    elif mutation == 4 and members[key].dtype.kind == "f":
        values = members[key].copy()
        values.flat[int(rng.integers(0, values.size))] = rng.choice(ODD_VALUES)
        members[key] = values
    elif mutation == 5:
        members[key] = rng.integers(0, 256, int(rng.integers(0, 40)), dtype=np.uint8)
    elif mutation == 6:
        members[str(rng.choice(["features", "extra", "mu.npy"]))] = rng.normal(size=int(rng.integers(1, 5)))
    return members


def test_fuzzed_statistics_files_through_the_command_line(cli, small_space: str, tmp_path: Path) -> None:
    rng = np.random.default_rng(SEED)
    reference = tmp_path / "reference.npz"
    np.savez(reference, **valid_statistics(rng))
    computed = 0
    for i in range(STATS_CASES):
        path = tmp_path / f"{i:03d}.npz"
        np.savez(path, **fuzzed_statistics(rng))
        if rng.random() < 0.2:  # damage the archive itself
            data = bytearray(path.read_bytes())
            data[int(rng.integers(0, len(data)))] ^= 1 << int(rng.integers(0, 8))
            path.write_bytes(bytes(data[: int(rng.integers(len(data) // 2, len(data) + 1))]))
        with deadline(CASE_DEADLINE_S, f"seed {SEED}, statistics {i}"):
            run = cli("fid", reference, path, "--json", "--features", small_space)
        computed += assert_result_or_one_line(run, f"seed {SEED}, statistics {i}", path)
        if run.code == 0:
            assert np.isfinite(json.loads(run.out)["fid"])
    assert 0.1 < computed / STATS_CASES < 0.9  # both outcomes exercised (a check on the fuzzer)


RECORD = (
    {"kind": "session", "step": None, "resumed": False, "rules": {"overfit_rt": 0.6}},
    {"kind": "scalars", "step": 1, "g_loss": 1.0, "d_loss": 0.7},
    {"kind": "learning_rates", "step": 1, "g": 2e-4, "d": 2e-4},
    {"kind": "gradients", "step": 1, "g_norm": 0.5, "d_norm": 1.5},
    {"kind": "discriminator", "step": 2, "d_real": 0.6, "d_fake": 0.4, "r_t": 0.2},
    {"kind": "scalars", "step": 2, "g_loss": 0.9, "d_loss": 0.8},
    {"kind": "evaluation", "step": 2, "fid": 12.0, "kid_mean": 0.01, "precision": 0.6, "samples": "s.png"},
    {"kind": "alarm", "step": 2, "rule": "nan", "subject": "g_loss", "message": "m", "values": {"g_loss": 1.0}},
)
ODD_JSON = (
    "NaN",
    "Infinity",
    "-Infinity",
    "1e400",
    "-1e400",
    "1e308",
    "-1",
    "0",
    "1" + "0" * 30,
    '"nan"',
    '"x"',
    "null",
    "true",
    "[]",
    "{}",
    "[1, [2, [3]]]",
    str(2**63),
    "-0.0",
    "1" + "0" * 500,
)


def fuzzed_record(rng: np.random.Generator) -> str:
    """`RECORD` as JSON lines with random fields set to odd JSON values, random kinds, and damaged lines."""
    lines = []
    for event in RECORD:
        fields = {key: json.dumps(value) for key, value in event.items()}
        for _ in range(int(rng.random() < 0.25)):
            key = str(rng.choice([*fields, "extra", "kind", "step"]))
            fields[key] = (
                str(rng.choice(ODD_JSON)) if rng.random() < 0.8 else json.dumps(str(rng.choice(list(RECORD[0]))))
            )
        line = "{" + ", ".join(f"{json.dumps(k)}: {v}" for k, v in fields.items()) + "}"
        damage = rng.random()
        if damage < 0.05:
            line = line[: int(rng.integers(0, len(line)))]
        elif damage < 0.08:
            line = line.replace(":", "", 1)
        lines.append(line)
    return "\n".join(lines) + "\n"


def test_fuzzed_run_records_through_the_command_line(cli, tmp_path: Path) -> None:
    rng = np.random.default_rng(SEED)
    picture = io.BytesIO()
    Image.fromarray(rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)).save(picture, format="PNG")
    drawn = 0
    for i in range(RECORD_CASES):
        run_dir = tmp_path / f"run{i:02d}"
        run_dir.mkdir()
        (run_dir / "events.jsonl").write_text(fuzzed_record(rng))
        (run_dir / "s.png").write_bytes(picture.getvalue()[: None if rng.random() < 0.7 else 40])
        with deadline(CASE_DEADLINE_S, f"seed {SEED}, record {i}"):
            run = cli("plot", run_dir)
        if assert_result_or_one_line(run, f"seed {SEED}, record {i}", run_dir / "events.jsonl"):
            assert (run_dir / "dashboard.png").is_file() and (run_dir / "report.html").is_file()
            drawn += 1
        else:
            assert not (run_dir / "dashboard.png").exists()
    assert 0.1 < drawn / RECORD_CASES < 1.0  # both outcomes exercised (a check on the fuzzer)
