"""`resize_bilinear_tf1` against torch-fidelity's TF1 resize and a naive float64 loop of TF1's formula."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from gan_eval.extractors.tf_resize import resize_bilinear_tf1


def naive_tf1_resize(image: np.ndarray, out_h: int, out_w: int) -> np.ndarray:
    """TF1 `resize_bilinear` (align_corners=False) of one `(H, W)` image, one pixel at a time, float64."""
    in_h, in_w = image.shape
    scale_y, scale_x = in_h / out_h, in_w / out_w
    out = np.empty((out_h, out_w))
    for y in range(out_h):
        src_y = y * scale_y
        y0 = math.floor(src_y)
        y1 = min(y0 + 1, in_h - 1)
        ty = src_y - y0
        for x in range(out_w):
            src_x = x * scale_x
            x0 = math.floor(src_x)
            x1 = min(x0 + 1, in_w - 1)
            tx = src_x - x0
            top = image[y0, x0] + (image[y0, x1] - image[y0, x0]) * tx
            bottom = image[y1, x0] + (image[y1, x1] - image[y1, x0]) * tx
            out[y, x] = top + (bottom - top) * ty
    return out


@pytest.mark.parametrize(
    "in_size",
    [(32, 32), (64, 48), (17, 300), (299, 299), (512, 384), (1, 1), (600, 37)],
)
def test_equals_torch_fidelity_bit_exactly(in_size: tuple[int, int]) -> None:
    generator = torch.Generator().manual_seed(in_size[0] * 1000 + in_size[1])
    images = torch.randint(0, 256, (2, 3, *in_size), generator=generator, dtype=torch.uint8).float()
    ours = resize_bilinear_tf1(images, (299, 299))
    theirs = interpolate_bilinear_2d_like_tensorflow1x(images, size=(299, 299), align_corners=False)
    assert ours.shape == (2, 3, 299, 299)
    assert ours.dtype == torch.float32
    assert torch.equal(ours, theirs)


def test_hand_computed_upscale_2x2_to_4x4() -> None:
    # scale 0.5: source coordinates 0, 0.5, 1, 1.5 -> lower 0, 0, 1, 1; upper clamped to 1; fractions 0, .5, 0, .5.
    image = torch.tensor([[[[0.0, 10.0], [20.0, 30.0]]]])
    expected = torch.tensor(
        [
            [0.0, 5.0, 10.0, 10.0],
            [10.0, 15.0, 20.0, 20.0],
            [20.0, 25.0, 30.0, 30.0],
            [20.0, 25.0, 30.0, 30.0],
        ]
    )
    assert torch.equal(resize_bilinear_tf1(image, (4, 4))[0, 0], expected)


@pytest.mark.parametrize(("in_size", "out_size"), [((3, 4), (5, 3)), ((7, 5), (3, 11)), ((2, 9), (9, 2))])
def test_matches_naive_tf1_formula(in_size: tuple[int, int], out_size: tuple[int, int]) -> None:
    rng = np.random.default_rng(7)
    image = rng.integers(0, 256, size=in_size).astype(np.float64)
    ours = resize_bilinear_tf1(torch.from_numpy(image).float()[None, None], out_size)[0, 0].double().numpy()
    np.testing.assert_allclose(ours, naive_tf1_resize(image, *out_size), rtol=0, atol=1e-4)


def test_same_size_is_identity() -> None:
    images = torch.rand(1, 3, 299, 299) * 255
    assert torch.equal(resize_bilinear_tf1(images, (299, 299)), images)


def test_refuses_non_4d_input() -> None:
    with pytest.raises(ValueError, match="4-D"):
        resize_bilinear_tf1(torch.zeros(3, 8, 8), (4, 4))
