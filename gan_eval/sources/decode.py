"""Decoding one image file into 8-bit RGB, with the conversions documented in docs/inputs.md.

- RGB stays as it is; grayscale, bilevel, CMYK and YCbCr go through
  Pillow's standard conversion to RGB.
- Alpha is dropped (RGBA, LA, palette with transparency), as Pillow's
  `convert("RGB")` does and as the peers do.
- 16-bit and 32-bit integer grayscale is scaled to 8 bits with
  `round(v * 255 / 65535)`, clipped to 0..65535 first.
- Floating-point images are refused: their range is not defined.
- Multi-frame files (GIF, TIFF) give their first frame.
- Images larger than Pillow's decompression-bomb limit (`Image.MAX_IMAGE_PIXELS`,
  89.5 million pixels by default) are refused.
"""

from __future__ import annotations

import os
import struct
import warnings
from typing import IO

import numpy as np
from PIL import Image, UnidentifiedImageError

from gan_eval.errors import GanEvalError

IMAGE_EXTENSIONS = frozenset({".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff", ".gif"})

_WIDE_GRAY = {"I", "I;16", "I;16L", "I;16B", "I;16N"}


def to_rgb8(image: Image.Image, name: str) -> np.ndarray:
    """A decoded Pillow image as `(H, W, 3)` uint8."""
    mode = image.mode
    if mode == "RGB":
        return np.array(image, dtype=np.uint8)
    if mode in _WIDE_GRAY:
        wide = np.asarray(image).astype(np.int64).clip(0, 65535)
        gray = ((wide * 255 + 32767) // 65535).astype(np.uint8)
        return np.repeat(gray[:, :, None], 3, axis=2)
    if mode == "F":
        raise GanEvalError(f"{name}: floating-point images are not supported (convert to 8-bit first)")
    if mode == "P":
        image = image.convert("RGBA" if "transparency" in image.info else "RGB")
    return np.array(image.convert("RGB"), dtype=np.uint8)


def _is_empty(source: str | IO[bytes]) -> bool:
    try:
        if isinstance(source, str):
            return os.path.getsize(source) == 0
        return source.seek(0, os.SEEK_END) == 0
    except OSError:
        return False


def decode_image(source: str | IO[bytes], name: str) -> np.ndarray:
    """Decode a file path or binary stream to `(H, W, 3)` uint8; `name` labels errors.

    The returned array is a writable copy, owned by the caller.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(source) as image:
                image.load()
                pixels = to_rgb8(image, name)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise GanEvalError(
            f"{name}: image is over the decompression-bomb limit of {Image.MAX_IMAGE_PIXELS} pixels"
        ) from None
    except UnidentifiedImageError:
        detail = "empty file" if _is_empty(source) else "not a readable image"
        raise GanEvalError(f"{name}: {detail}") from None
    # Pillow's decoders report corrupt data with these types besides OSError.
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError) as exc:
        raise GanEvalError(f"{name}: cannot decode image ({exc})") from None
    if pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise GanEvalError(f"{name}: image has no pixels")
    return pixels
