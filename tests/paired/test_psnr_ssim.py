"""PSNR, SSIM and MS-SSIM against independent implementations, to 1e-6.

- PSNR and the Y-channel/crop convention: naive float64 NumPy formulas.
- SSIM: scikit-image's `structural_similarity` (Gaussian weights, σ = 1.5,
  population covariance, data range 255), per channel averaged.
- MS-SSIM: pytorch-msssim on sides divisible by 16 (where its downsampling is
  the authors'), and a NumPy transcription of the authors' `msssim.m`
  (`filter2` 'valid' with the Gaussian window; `imfilter` of `ones(2)/4`,
  'symmetric', 'same', then every other pixel) on odd sides.
Images: random pairs (a noisy copy, independent noise) and digits (real strokes) tiled into mosaics.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from pytorch_msssim import ms_ssim as reference_ms_ssim
from scipy.signal import correlate2d
from skimage.metrics import structural_similarity

from gan_eval.datasets.digits import digits_images
from gan_eval.paired.psnr_ssim import check_sizes, crop_border, ms_ssim, psnr, ssim, to_y_channel

WEIGHTS = [0.0448, 0.2856, 0.3001, 0.2363, 0.1333]


def _noisy_pair(seed: int, shape: tuple[int, ...], sigma: float) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, shape).astype(np.uint8)
    b = np.clip(a + rng.normal(0, sigma, shape), 0, 255).astype(np.uint8)
    return a, b


def _digit_mosaic(start: int, rows: int, cols: int) -> np.ndarray:
    """`(3, 32 rows, 32 cols)` uint8: digits start.. tiled, each a different shade per channel."""
    digits = digits_images("all")[start : start + rows * cols].astype(np.float64)
    tiles = digits.reshape(rows, cols, 32, 32, 3).transpose(0, 2, 1, 3, 4).reshape(rows * 32, cols * 32, 3)
    return np.rint(tiles * np.array([1.0, 0.7, 0.4])).astype(np.uint8).transpose(2, 0, 1)


def _digit_pairs(n: int, rows: int, cols: int) -> tuple[np.ndarray, np.ndarray]:
    """Mosaics of digits and of their neighbours' digits, (N, 3, H, W) uint8: similar strokes, different images."""
    a = np.stack([_digit_mosaic(i * 50, rows, cols) for i in range(n)])
    b = np.stack([_digit_mosaic(i * 50 + 1, rows, cols) for i in range(n)])
    return a, b


def _t(x: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(x)


def naive_psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return 10 * np.log10(255.0**2 / mse)


def naive_y(image: np.ndarray) -> np.ndarray:
    """(3, H, W) 0..255 to Y (H, W) float64, the formula written per pixel from ITU-R BT.601."""
    r, g, b = (image[c].astype(np.float64) / 255.0 for c in range(3))
    return 16.0 + 65.481 * r + 128.553 * g + 24.966 * b


def skimage_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """scikit-image's SSIM of one (C, H, W) pair with Wang et al.'s settings."""
    return structural_similarity(
        a.astype(np.float64),
        b.astype(np.float64),
        gaussian_weights=True,
        sigma=1.5,
        use_sample_covariance=False,
        data_range=255,
        channel_axis=0,
    )


def _window() -> np.ndarray:
    x = np.arange(11) - 5.0
    g = np.exp(-(x**2) / (2 * 1.5**2))
    w = np.outer(g, g)
    return w / w.sum()


def matlab_ssim_cs(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """The authors' `ssim_index_new`: mean SSIM and mean contrast-structure of one (H, W) channel."""
    w = _window()
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def f(z: np.ndarray) -> np.ndarray:
        return correlate2d(z, w, mode="valid")

    mx, my = f(x), f(y)
    sx, sy, sxy = f(x * x) - mx * mx, f(y * y) - my * my, f(x * y) - mx * my
    cs = (2 * sxy + c2) / (sx + sy + c2)
    return float(np.mean((2 * mx * my + c1) / (mx * mx + my * my + c1) * cs)), float(np.mean(cs))


def matlab_downsample(x: np.ndarray) -> np.ndarray:
    """`imfilter(x, ones(2)/4, 'symmetric', 'same')` then `x(1:2:end, 1:2:end)`."""
    padded = np.pad(x, ((0, 1), (0, 1)), mode="symmetric")
    h, w = x.shape
    filtered = np.empty((h, w))
    for i in range(h):
        for j in range(w):
            filtered[i, j] = padded[i : i + 2, j : j + 2].mean()
    return filtered[::2, ::2]


def matlab_ms_ssim(a: np.ndarray, b: np.ndarray) -> float:
    """`msssim.m` on each channel of a (C, H, W) pair, averaged over the channels."""
    per_channel = []
    for x, y in zip(a.astype(np.float64), b.astype(np.float64), strict=True):
        value = 1.0
        for level, weight in enumerate(WEIGHTS):
            full, cs = matlab_ssim_cs(x, y)
            value *= (full if level == 4 else cs) ** weight
            x, y = matlab_downsample(x), matlab_downsample(y)
        per_channel.append(value)
    return float(np.mean(per_channel))


@pytest.mark.parametrize("source", ["random", "digits"])
def test_psnr_equals_the_naive_formula(source: str) -> None:
    a, b = _noisy_pair(0, (4, 3, 24, 31), 12.0) if source == "random" else _digit_pairs(3, 1, 2)
    ours = psnr(_t(a), _t(b)).numpy()
    assert ours.dtype == np.float64
    np.testing.assert_allclose(ours, [naive_psnr(x, y) for x, y in zip(a, b, strict=True)], rtol=0, atol=1e-9)
    assert psnr(_t(a), _t(a)).isinf().all()


@pytest.mark.parametrize("source", ["random", "digits"])
def test_ssim_equals_scikit_image(source: str) -> None:
    a, b = _noisy_pair(1, (3, 3, 37, 29), 25.0) if source == "random" else _digit_pairs(3, 2, 3)
    expected = [skimage_ssim(x, y) for x, y in zip(a, b, strict=True)]
    np.testing.assert_allclose(ssim(_t(a), _t(b)).numpy(), expected, rtol=0, atol=1e-6)
    np.testing.assert_allclose(ssim(_t(a), _t(a)).numpy(), 1.0, rtol=0, atol=1e-12)


def test_y_channel_and_crop_equal_the_naive_convention() -> None:
    a, b = _noisy_pair(2, (2, 3, 40, 36), 10.0)
    crop = 4
    ya, yb = to_y_channel(_t(a)), to_y_channel(_t(b))
    assert ya.shape == (2, 1, 40, 36) and ya.dtype == torch.float64
    np.testing.assert_allclose(ya[:, 0].numpy(), np.stack([naive_y(x) for x in a]), rtol=0, atol=1e-10)
    ca, cb = crop_border(ya, crop), crop_border(yb, crop)
    assert ca.shape == (2, 1, 32, 28)
    na = [naive_y(x)[crop:-crop, crop:-crop] for x in a]
    nb = [naive_y(x)[crop:-crop, crop:-crop] for x in b]
    np.testing.assert_allclose(psnr(ca, cb).numpy(), [naive_psnr(x, y) for x, y in zip(na, nb, strict=True)], atol=1e-9)
    expected = [
        structural_similarity(x, y, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255)
        for x, y in zip(na, nb, strict=True)
    ]
    np.testing.assert_allclose(ssim(ca, cb).numpy(), expected, rtol=0, atol=1e-6)
    assert crop_border(_t(a), 0).shape == a.shape


@pytest.mark.parametrize("source", ["random", "digits"])
def test_ms_ssim_equals_pytorch_msssim_on_even_sides(source: str) -> None:
    a, b = _noisy_pair(3, (2, 3, 176, 192), 30.0) if source == "random" else _digit_pairs(2, 6, 6)
    expected = reference_ms_ssim(_t(a).double(), _t(b).double(), data_range=255, size_average=False)
    np.testing.assert_allclose(ms_ssim(_t(a), _t(b)).numpy(), expected.numpy(), rtol=0, atol=1e-6)


def test_ms_ssim_equals_the_authors_code_on_odd_sides() -> None:
    a, b = _noisy_pair(4, (1, 3, 163, 171), 30.0)
    np.testing.assert_allclose(ms_ssim(_t(a), _t(b)).numpy(), [matlab_ms_ssim(a[0], b[0])], rtol=0, atol=1e-6)


def test_a_negative_term_counts_as_zero() -> None:
    a, _ = _noisy_pair(5, (1, 1, 161, 161), 0.0)
    inverted = 255 - a  # anti-correlated: contrast-structure terms below 0
    assert ms_ssim(_t(a), _t(inverted)).item() == 0.0


def test_sizes_too_small_are_named() -> None:
    assert check_sizes(11, 11, ms=False) is None and check_sizes(161, 200, ms=True) is None
    assert "SSIM needs at least 11 pixels" in check_sizes(10, 40, ms=False)
    assert "MS-SSIM needs at least 161 pixels" in check_sizes(160, 400, ms=True)
