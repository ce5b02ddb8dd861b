"""stacked-digits: channels are the named digit images, every mode exactly ten times, the data pinned by sha256."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from gan_eval.datasets import BUILTIN_IMAGE_SETS
from gan_eval.datasets.digits import digits_images, digits_labels
from gan_eval.datasets.stacked_digits import (
    mode_digits,
    stack_channels,
    stacked_digits_images,
    stacked_digits_modes,
    stacked_triples,
)


@pytest.mark.parametrize("split", ["train", "test"])
def test_channels_are_the_digits_of_the_mode(split: str) -> None:
    images = stacked_digits_images(split)
    triples = stacked_triples(split)
    modes = stacked_digits_modes(split)
    grey = digits_images(split)[..., 0]
    labels = digits_labels(split)
    assert images.shape == (10_000, 32, 32, 3) and images.dtype == np.uint8
    for i in range(0, 10_000, 997):
        r, g, b = (int(v) for v in triples[i])
        assert np.array_equal(images[i, :, :, 0], grey[r])
        assert np.array_equal(images[i, :, :, 1], grey[g])
        assert np.array_equal(images[i, :, :, 2], grey[b])
        assert modes[i] == 100 * labels[r] + 10 * labels[g] + labels[b]
    # Every triple's classes spell its mode, and every mode occurs exactly ten times.
    assert np.array_equal(labels[triples] @ np.array([100, 10, 1]), modes)
    assert np.array_equal(np.bincount(modes, minlength=1000), np.full(1000, 10))


# sha256 of the images' bytes and of the modes as little-endian int64, written down when the sets were made.
# The shipped stacked-digits-test statistics and the reference tables were computed from exactly these
# images, so any change (NumPy's generators, scikit-learn's digits, the seeds, the stacking) must fail here.
PINNED_SHA256 = {
    "train": (
        "6064cdeec1757b2de6db29b872f0074b722b265688360cc1903d41eeb459c1a5",
        "6c02061d12b636b7ef6f51a82c7668df025cd2d73064c33d2170f1be31bb7d44",
    ),
    "test": (
        "7076664572e773d9deb78cf36403dd9977bfd21dde016ef0abae35a86ba62daf",
        "5170f36170930a246beb92959b87bcabfe97580ac4d89dbdc7e920b675af322b",
    ),
}


def sha256(array: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(array).tobytes()).hexdigest()


@pytest.mark.parametrize("split", ["train", "test"])
def test_fixed_and_registered(split: str) -> None:
    images_sha256, modes_sha256 = PINNED_SHA256[split]
    assert sha256(stacked_digits_images(split)) == images_sha256
    assert sha256(stacked_digits_modes(split).astype("<i8")) == modes_sha256
    assert sha256(BUILTIN_IMAGE_SETS[f"stacked-digits:{split}"]()) == images_sha256


def test_mode_digits_and_stack_channels() -> None:
    assert mode_digits(np.array([0, 7, 42, 305, 999])).tolist() == [
        [0, 0, 0],
        [0, 0, 7],
        [0, 4, 2],
        [3, 0, 5],
        [9, 9, 9],
    ]
    grey = np.arange(4 * 2 * 2, dtype=np.uint8).reshape(4, 2, 2)
    stacked = stack_channels(grey, np.array([[3, 0, 1]]))
    assert stacked.shape == (1, 2, 2, 3)
    assert [stacked[0, :, :, c].tolist() for c in range(3)] == [grey[3].tolist(), grey[0].tolist(), grey[1].tolist()]


def test_unknown_split() -> None:
    with pytest.raises(ValueError, match="split"):
        stacked_digits_modes("all")
