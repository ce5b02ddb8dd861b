"""PSNR, SSIM (Wang et al. 2004) and MS-SSIM (Wang et al. 2003) of image pairs, in float64.

Every function takes two `(N, C, H, W)` tensors of one shape on the 0..255
scale (uint8 or float) and returns one value per pair, `(N,)` float64.

- PSNR = 10·log10(255² / MSE), the MSE over every channel and pixel; a pair
  with MSE 0 has PSNR +inf.
- SSIM: 11×11 Gaussian window (σ = 1.5, normalised to sum 1), C1 = (0.01·L)²,
  C2 = (0.03·L)², L = 255, population (not sample) covariances; the SSIM map
  is computed where the window fits inside the image (no padding, as the
  authors' `ssim_index.m` with `filter2(..., 'valid')`), averaged over the
  map, then over the channels. The authors' later `ssim.m` also shrinks
  images over 256 px first; we do not (scikit-image does not either).
- MS-SSIM: 5 scales with the paper's weights (0.0448, 0.2856, 0.3001, 0.2363,
  0.1333); contrast-structure terms at the four finer scales, the full SSIM
  at the coarsest; between scales the authors' `msssim.m` filter: a 2×2
  mean (the last row or column repeated on an odd side) keeping every other
  pixel. Computed per channel, then averaged over the channels. A negative
  term, for which the paper's fractional power is undefined, counts as 0
  (pytorch-msssim does the same).
- The super-resolution convention (SRGAN, ESRGAN): `to_y_channel` (ITU-R
  BT.601 luma, Y = 16 + 65.481 R + 128.553 G + 24.966 B for R, G, B in
  [0, 1], not rounded, as BasicSR computes it) and `crop_border`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

DATA_RANGE = 255.0
WINDOW_SIZE = 11
WINDOW_SIGMA = 1.5
K1, K2 = 0.01, 0.03
MS_SSIM_WEIGHTS = (0.0448, 0.2856, 0.3001, 0.2363, 0.1333)
MS_SSIM_MIN_SIZE = (WINDOW_SIZE - 1) * 2 ** (len(MS_SSIM_WEIGHTS) - 1) + 1  # 161: the window fits the 5th scale
BT601_Y = (65.481, 128.553, 24.966)


def to_y_channel(images: torch.Tensor) -> torch.Tensor:
    """ITU-R BT.601 luma of RGB `(N, 3, H, W)` images on 0..255: `(N, 1, H, W)` float64 in [16, 235]."""
    rgb = images.to(torch.float64) / 255.0
    r, g, b = rgb[:, 0:1], rgb[:, 1:2], rgb[:, 2:3]
    return 16.0 + BT601_Y[0] * r + BT601_Y[1] * g + BT601_Y[2] * b


def crop_border(images: torch.Tensor, crop: int) -> torch.Tensor:
    """`(N, C, H, W)` without `crop` pixels on each of the four sides: `(N, C, H - 2 crop, W - 2 crop)`."""
    if crop == 0:
        return images
    return images[..., crop : images.shape[-2] - crop, crop : images.shape[-1] - crop]


def psnr(pred: torch.Tensor, target: torch.Tensor, data_range: float = DATA_RANGE) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of each pair, `(N,)` float64 (+inf where the pair is identical)."""
    mse = (pred.to(torch.float64) - target.to(torch.float64)).square().flatten(1).mean(1)
    return 10.0 * torch.log10(data_range**2 / mse)


def gaussian_window(size: int = WINDOW_SIZE, sigma: float = WINDOW_SIGMA) -> torch.Tensor:
    """The 1-D Gaussian window, `(size,)` float64 summing to 1 (the 2-D window is its outer product)."""
    x = torch.arange(size, dtype=torch.float64) - (size - 1) / 2
    window = torch.exp(-(x**2) / (2 * sigma**2))
    return window / window.sum()


def _blur(x: torch.Tensor, window: torch.Tensor) -> torch.Tensor:
    """Each channel of `(N, C, H, W)` filtered by the separable window where it fits ('valid')."""
    channels = x.shape[1]
    rows = window.view(1, 1, -1, 1).expand(channels, 1, -1, 1)
    cols = window.view(1, 1, 1, -1).expand(channels, 1, 1, -1)
    return F.conv2d(F.conv2d(x, rows, groups=channels), cols, groups=channels)


def ssim_and_contrast_structure(
    pred: torch.Tensor, target: torch.Tensor, data_range: float = DATA_RANGE
) -> tuple[torch.Tensor, torch.Tensor]:
    """Mean SSIM and mean contrast-structure term of each pair and channel: two `(N, C)` float64.

    Both sides must be at least `WINDOW_SIZE` pixels.
    """
    x, y = pred.to(torch.float64), target.to(torch.float64)
    window = gaussian_window().to(x.device)
    c1, c2 = (K1 * data_range) ** 2, (K2 * data_range) ** 2
    mu_x, mu_y = _blur(x, window), _blur(y, window)
    var_x = _blur(x * x, window) - mu_x**2
    var_y = _blur(y * y, window) - mu_y**2
    cov = _blur(x * y, window) - mu_x * mu_y
    cs_map = (2 * cov + c2) / (var_x + var_y + c2)
    ssim_map = (2 * mu_x * mu_y + c1) / (mu_x**2 + mu_y**2 + c1) * cs_map
    return ssim_map.mean((2, 3)), cs_map.mean((2, 3))


def ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = DATA_RANGE) -> torch.Tensor:
    """Structural similarity of each pair, averaged over the map and the channels: `(N,)` float64."""
    return ssim_and_contrast_structure(pred, target, data_range)[0].mean(1)


def _halve(x: torch.Tensor) -> torch.Tensor:
    """`msssim.m`'s step between scales: 2×2 mean, every other pixel; an odd side's last row/column repeated."""
    pad_h, pad_w = x.shape[-2] % 2, x.shape[-1] % 2
    if pad_h or pad_w:
        x = F.pad(x, (0, pad_w, 0, pad_h), mode="replicate")
    return F.avg_pool2d(x, 2)


def ms_ssim(pred: torch.Tensor, target: torch.Tensor, data_range: float = DATA_RANGE) -> torch.Tensor:
    """Multi-scale SSIM of each pair, per channel then averaged: `(N,)` float64.

    Both sides must be at least `MS_SSIM_MIN_SIZE` (161) pixels.
    """
    x, y = pred.to(torch.float64), target.to(torch.float64)
    value = torch.ones(x.shape[:2], dtype=torch.float64, device=x.device)
    last = len(MS_SSIM_WEIGHTS) - 1
    for scale, weight in enumerate(MS_SSIM_WEIGHTS):
        full, cs = ssim_and_contrast_structure(x, y, data_range)
        value = value * (full if scale == last else cs).clamp(min=0.0) ** weight
        if scale != last:
            x, y = _halve(x), _halve(y)
    return value.mean(1)


def check_sizes(height: int, width: int, ms: bool) -> str | None:
    """Why SSIM (or with `ms` MS-SSIM) cannot be computed on `height` x `width` images, or None."""
    needed = MS_SSIM_MIN_SIZE if ms else WINDOW_SIZE
    if min(height, width) < needed:
        what = "MS-SSIM" if ms else "SSIM"
        return f"{what} needs at least {needed} pixels on each side, the images are {height}x{width}"
    return None
