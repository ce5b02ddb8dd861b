"""TensorFlow 1.x `resize_bilinear` (align_corners=False, half_pixel_centers=False).

The standard FID protocol resizes every image to 299x299 with this exact
kernel before the Inception network. Source coordinates are `out * scale` with
`scale = in / out` in float32, the lower neighbour is `floor`, the upper one is
clamped to the last pixel, and the two linear interpolations are evaluated as
`a + (b - a) * t`, first along x, then along y, in float32, as TF1's CPU kernel
does. No antialiasing, so downscaling large images aliases exactly as TF did.
"""

from __future__ import annotations

import torch


def _source_coords(
    in_size: int, out_size: int, device: torch.device
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lower index, upper index and fraction for each output coordinate."""
    scale = torch.tensor(in_size, dtype=torch.float32) / torch.tensor(out_size, dtype=torch.float32)
    coord = torch.arange(out_size, dtype=torch.float32) * scale
    lower = coord.floor()
    frac = coord - lower
    lower = lower.long()
    upper = (lower + 1).clamp_max(in_size - 1)
    return lower.to(device), upper.to(device), frac.to(device)


def resize_bilinear_tf1(images: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize `images: (N, C, H, W) float32` to `(N, C, size[0], size[1])` like TF1.

    Input values keep their scale (0..255 stays 0..255). The result is float32.
    """
    if images.dim() != 4:
        raise ValueError(f"expected a 4-D tensor, got shape {tuple(images.shape)}")
    images = images.to(torch.float32)
    out_h, out_w = size
    in_h, in_w = images.shape[-2:]
    if (in_h, in_w) == (out_h, out_w):
        return images
    x_lo, x_hi, x_t = _source_coords(in_w, out_w, images.device)
    left = images.index_select(3, x_lo)
    right = images.index_select(3, x_hi)
    rows = left + (right - left) * x_t
    y_lo, y_hi, y_t = _source_coords(in_h, out_h, images.device)
    top = rows.index_select(2, y_lo)
    bottom = rows.index_select(2, y_hi)
    return top + (bottom - top) * y_t.view(-1, 1)
