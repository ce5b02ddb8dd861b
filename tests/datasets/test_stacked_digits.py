"""stacked-digits: channels are the named digit images, every mode exactly ten times, fixed across calls."""

from __future__ import annotations

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


def test_fixed_and_registered() -> None:
    assert np.array_equal(stacked_digits_images("test"), BUILTIN_IMAGE_SETS["stacked-digits:test"]())
    assert np.array_equal(stacked_triples("train"), stacked_triples("train"))
    assert not np.array_equal(stacked_digits_modes("train"), stacked_digits_modes("test"))
    assert "stacked-digits:train" in BUILTIN_IMAGE_SETS


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
