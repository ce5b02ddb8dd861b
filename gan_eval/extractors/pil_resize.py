"""PIL's bicubic resize of 8-bit images (`Image.resize(size, Image.BICUBIC)`), on uint8 tensors, bit for bit.

dgm-eval resizes each PIL image with torchvision's `Resize((224, 224),
BICUBIC)`, which calls PIL. Pillow's 8-bit resampler (libImaging/Resample.c)
is a separable convolution with fixed-point weights:

- per output pixel `i` of a side of `n` input and `m` output pixels, scale
  `s = n / m`, filter scale `f = max(s, 1)` (so downscaling antialiases),
  support `2 f`; centre `c = (i + 0.5) s`; taps `j` from `int(c - 2f + 0.5)`
  (at least 0) to `int(c + 2f + 0.5)` (at most n), weights
  `cubic((j - c + 0.5) / f)` with the Keys cubic, a = -0.5, normalised
  to sum 1 (in double precision, summed in order);
- each weight becomes an integer, `round-half-away(w * 2^22)`;
- a pass sums `pixel * weight` plus `2^21` in integers, shifts right by 22
  and clips to 0..255: the horizontal pass first (to a uint8 image), then the
  vertical pass; a side whose size does not change is not resampled.

Here the weights are the same integers and the sums run in float64, where
every partial sum (below 2^53) is exact, so the result equals PIL's.

The order of the two passes matters (the intermediate image is rounded and
clipped). The published Resample.c always runs the horizontal pass first;
Pillow 13.0.0 (installed here) runs the vertical pass first for some
non-square inputs (e.g. 300x199 to 224x224), by a rule we could not read
(its source was not reachable): up to 2 levels on a few percent of the
pixels of a smooth image. So the tensor path serves only the inputs where
the order cannot matter (a square input to a square size, or one side
unchanged), proven equal to PIL in tests/extractors/test_dinov2.py; any
other input is resized by PIL itself, on the CPU, one image at a time.
"""

from __future__ import annotations

import functools

import numpy as np
import torch
from PIL import Image

PRECISION_BITS = 22  # Pillow's 32 - 8 - 2
_CUBIC_A = -0.5
_SUPPORT = 2.0


def _cubic(x: float) -> float:
    """Keys' cubic convolution kernel with a = -0.5, in Pillow's arithmetic order."""
    x = abs(x)
    if x < 1.0:
        return ((_CUBIC_A + 2.0) * x - (_CUBIC_A + 3.0)) * x * x + 1
    if x < 2.0:
        return (((x - 5) * x + 8) * x - 4) * _CUBIC_A
    return 0.0


@functools.lru_cache(maxsize=32)
def pil_bicubic_weights(in_size: int, out_size: int) -> torch.Tensor:
    """Pillow's fixed-point bicubic weights for one side: `(out_size, in_size)` float64 holding integers."""
    scale = in_size / out_size
    filter_scale = max(scale, 1.0)
    support = _SUPPORT * filter_scale
    inverse = 1.0 / filter_scale  # Pillow multiplies by the reciprocal: the same rounding as it
    weights = torch.zeros(out_size, in_size, dtype=torch.float64)
    for i in range(out_size):
        center = (i + 0.5) * scale
        first = max(int(center - support + 0.5), 0)
        count = min(int(center + support + 0.5), in_size) - first
        taps = [_cubic((j + first - center + 0.5) * inverse) for j in range(count)]
        total = 0.0
        for tap in taps:
            total += tap
        for j, tap in enumerate(taps):
            w = tap / total if total != 0.0 else tap
            weights[i, first + j] = int(w * (1 << PRECISION_BITS) + (-0.5 if w < 0 else 0.5))
    return weights


def _fixed_point_to_uint8(sums: torch.Tensor) -> torch.Tensor:
    """Pillow's `clip8((sum + 2^21) >> 22)` on exact float64 sums."""
    return torch.floor((sums + (1 << (PRECISION_BITS - 1))) / (1 << PRECISION_BITS)).clamp_(0, 255)


def resize_bicubic_pil(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize uint8 `(N, C, H, W)` images to `size = (height, width)` exactly as PIL's 8-bit bicubic does.

    Returns `(N, C, height, width)` float64 holding the uint8 values PIL gives, on `images`' device.
    """
    height, width = size
    in_height, in_width = images.shape[-2:]
    order_free = in_width == width or in_height == height or (in_height == in_width and height == width)
    if not order_free:
        return _resize_with_pil(images, size)
    x = images.to(torch.float64)
    if in_width != width:
        weights = pil_bicubic_weights(in_width, width).to(x.device)
        x = _fixed_point_to_uint8(x @ weights.T)
    if in_height != height:
        weights = pil_bicubic_weights(in_height, height).to(x.device)
        x = _fixed_point_to_uint8(weights @ x)
    return x


def _resize_with_pil(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """PIL's own `Image.resize((width, height), BICUBIC)` per RGB image: `(N, 3, H, W)` uint8 in, float64 out."""
    height, width = size
    pixels = images.permute(0, 2, 3, 1).cpu().numpy()
    resized = [np.asarray(Image.fromarray(img).resize((width, height), Image.BICUBIC)) for img in pixels]
    return torch.from_numpy(np.stack(resized)).permute(0, 3, 1, 2).to(images.device, torch.float64)
