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
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_harness import assert_refused, image_folder
from PIL import Image

from gan_eval.errors import GanEvalError
from gan_eval.extraction import ExtractionOptions
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
