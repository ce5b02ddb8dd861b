"""`decode_image`: every image mode to 8-bit RGB, each against an independently computed array."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_eval.errors import GanEvalError
from gan_eval.sources.decode import decode_image

RNG = np.random.default_rng(0)
H, W = 6, 7


def decode_saved(image: Image.Image, path: Path, **save_args: object) -> np.ndarray:
    image.save(path, **save_args)
    return decode_image(str(path), str(path))


def gray_to_rgb(gray: np.ndarray) -> np.ndarray:
    return np.stack([gray, gray, gray], axis=-1)


def test_rgb(tmp_path: Path) -> None:
    rgb = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
    decoded = decode_saved(Image.fromarray(rgb), tmp_path / "rgb.png")
    assert decoded.dtype == np.uint8
    np.testing.assert_array_equal(decoded, rgb)


def test_grayscale_l(tmp_path: Path) -> None:
    gray = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    decoded = decode_saved(Image.fromarray(gray), tmp_path / "l.png")
    np.testing.assert_array_equal(decoded, gray_to_rgb(gray))


def test_grayscale_with_alpha_la(tmp_path: Path) -> None:
    gray = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    alpha = RNG.integers(0, 256, (H, W), dtype=np.uint8)
    image = Image.merge("LA", [Image.fromarray(gray), Image.fromarray(alpha)])
    decoded = decode_saved(image, tmp_path / "la.png")
    np.testing.assert_array_equal(decoded, gray_to_rgb(gray))


def test_rgba_drops_alpha(tmp_path: Path) -> None:
    rgba = RNG.integers(0, 256, (H, W, 4), dtype=np.uint8)
    decoded = decode_saved(Image.fromarray(rgba), tmp_path / "rgba.png")
    np.testing.assert_array_equal(decoded, rgba[..., :3])


def palette_image() -> tuple[Image.Image, np.ndarray, np.ndarray]:
    palette = RNG.integers(0, 256, (16, 3), dtype=np.uint8)
    indices = RNG.integers(0, 16, (H, W), dtype=np.uint8)
    image = Image.frombytes("P", (W, H), indices.tobytes())
    image.putpalette(palette.flatten().tolist())
    return image, palette, indices


def test_palette(tmp_path: Path) -> None:
    image, palette, indices = palette_image()
    decoded = decode_saved(image, tmp_path / "p.png")
    np.testing.assert_array_equal(decoded, palette[indices])


@pytest.mark.parametrize("suffix", [".png", ".gif"])
def test_palette_with_transparency(tmp_path: Path, suffix: str) -> None:
    image, palette, indices = palette_image()
    path = tmp_path / f"p-transparent{suffix}"
    image.save(path, transparency=int(indices[0, 0]))
    with Image.open(path) as check:
        assert check.mode == "P"
        assert "transparency" in check.info
    np.testing.assert_array_equal(decode_image(str(path), str(path)), palette[indices])


def test_bilevel_1(tmp_path: Path) -> None:
    bits = RNG.random((H, W)) > 0.5
    image = Image.fromarray(bits)
    assert image.mode == "1"
    decoded = decode_saved(image, tmp_path / "bits.png")
    np.testing.assert_array_equal(decoded, gray_to_rgb(np.where(bits, 255, 0).astype(np.uint8)))


def test_cmyk(tmp_path: Path) -> None:
    cmyk = RNG.integers(0, 256, (H, W, 4), dtype=np.uint8)
    image = Image.frombytes("CMYK", (W, H), cmyk.tobytes())
    decoded = decode_saved(image, tmp_path / "cmyk.tif")
    c = cmyk.astype(np.int64)
    expected = np.round((255 - c[..., :3]) * (255 - c[..., 3:]) / 255).astype(np.uint8)
    np.testing.assert_array_equal(decoded, expected)


def test_16_bit_grayscale_png(tmp_path: Path) -> None:
    values = RNG.integers(0, 65536, (H, W), dtype=np.uint16)
    values[0, :3] = [0, 65535, 32896]
    path = tmp_path / "gray16.png"
    Image.fromarray(values).save(path)
    with Image.open(path) as check:
        assert check.mode.startswith("I")
    expected = np.round(values.astype(np.float64) * 255 / 65535).astype(np.uint8)
    np.testing.assert_array_equal(decode_image(str(path), str(path)), gray_to_rgb(expected))


def test_decodes_a_binary_stream() -> None:
    rgb = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
    buffer = io.BytesIO()
    Image.fromarray(rgb).save(buffer, format="PNG")
    buffer.seek(0)
    np.testing.assert_array_equal(decode_image(buffer, "stream"), rgb)


def test_multi_frame_gif_gives_the_first_frame(tmp_path: Path) -> None:
    frames = [np.full((H, W), v, dtype=np.uint8) for v in (10, 200)]
    path = tmp_path / "anim.gif"
    images = [Image.fromarray(f) for f in frames]
    images[0].save(path, save_all=True, append_images=images[1:])
    np.testing.assert_array_equal(decode_image(str(path), str(path)), gray_to_rgb(frames[0]))


def test_refuses_floating_point_images(tmp_path: Path) -> None:
    path = tmp_path / "float.tif"
    Image.fromarray(RNG.random((H, W)).astype(np.float32)).save(path)
    with pytest.raises(GanEvalError, match=re.escape("float.tif: floating-point")):
        decode_image(str(path), str(path))


def test_refuses_a_corrupt_file(tmp_path: Path) -> None:
    path = tmp_path / "broken.png"
    path.write_bytes(b"\x89PNG\r\n\x1a\nthis is not a png")
    with pytest.raises(GanEvalError, match=re.escape("broken.png")):
        decode_image(str(path), str(path))


def test_refuses_a_truncated_file(tmp_path: Path) -> None:
    path = tmp_path / "cut.png"
    Image.fromarray(RNG.integers(0, 256, (64, 64, 3), dtype=np.uint8)).save(path)
    path.write_bytes(path.read_bytes()[:200])
    with pytest.raises(GanEvalError, match=re.escape("cut.png")):
        decode_image(str(path), str(path))


# 1600 pixels: over the limit of 1000 (Pillow warns) and over twice the limit of 700 (Pillow raises).
@pytest.mark.parametrize("limit", [1000, 700])
def test_refuses_decompression_bombs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, limit: int) -> None:
    path = tmp_path / "big.png"
    Image.fromarray(np.zeros((40, 40), dtype=np.uint8)).save(path)
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", limit)
    with pytest.raises(GanEvalError, match=re.escape("big.png: image is over the decompression-bomb limit")):
        decode_image(str(path), str(path))
