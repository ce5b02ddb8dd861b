"""`stacked-digits`: three digits as the R, G and B channels, 1,000 modes, no download.

The offline analogue of Stacked MNIST (Metz et al. 2017, "Unrolled Generative
Adversarial Networks"; the mode-collapse benchmark of VEEGAN and PacGAN):
each image stacks three independently drawn 32x32 grey digits of
`gan_eval.datasets.digits` as its red, green and blue channels, so the
(red, green, blue) digit classes give 10³ = 1,000 equally likely modes. Mode
`100 r + 10 g + b` names them.

The built-in sets are fixed and stratified: `stacked-digits:train` holds each
of the 1,000 modes exactly 10 times (10,000 images, in a shuffled order), each
channel a digit image of the mode's class drawn uniformly (with replacement)
from the 898 images of the digits' train split, seed 0; `stacked-digits:test`
is built the same way from the 899 images of the test split, seed 1. So the
reference's mode histogram is exactly the uniform one of Stacked MNIST.
Training (`gan-eval train --data stacked-digits`) draws fresh samples of the
same distribution at every batch: per channel a uniformly drawn class, then a
uniformly drawn train-split image of that class.
"""

from __future__ import annotations

import numpy as np

from gan_eval.datasets.digits import digits_images, digits_labels

SPLITS = ("train", "test")
PER_MODE = 10
NUM_MODES = 1000
_SEEDS = {"train": 0, "test": 1}


def stack_channels(grey: np.ndarray, triples: np.ndarray) -> np.ndarray:
    """Images `(N, H, W, 3)` uint8 whose channel c is `grey[triples[:, c]]`; `grey: (M, H, W)`, `triples: (N, 3)`."""
    return np.ascontiguousarray(np.stack([grey[triples[:, c]] for c in range(3)], axis=-1))


def mode_digits(modes: np.ndarray) -> np.ndarray:
    """The (red, green, blue) digit classes `(N, 3)` of modes `100 r + 10 g + b`, `(N,)`."""
    modes = np.asarray(modes, dtype=np.int64)
    return np.stack([modes // 100, modes // 10 % 10, modes % 10], axis=1)


def stacked_digits_modes(split: str) -> np.ndarray:
    """Modes `(10000,)` int64 of the built-in set's images, in order: each of 0..999 ten times, shuffled."""
    _check(split)
    return np.random.default_rng(_SEEDS[split]).permutation(np.repeat(np.arange(NUM_MODES), PER_MODE))


def stacked_triples(split: str) -> np.ndarray:
    """Indices `(10000, 3)` int64 into the digits' `split`: the built-in set's red, green and blue digits."""
    modes = stacked_digits_modes(split)
    rng = np.random.default_rng([_SEEDS[split], 1])
    labels = digits_labels(split)
    triples = np.empty((modes.shape[0], 3), dtype=np.int64)
    for channel, wanted in enumerate(mode_digits(modes).T):
        for digit in range(10):
            rows = np.flatnonzero(wanted == digit)
            triples[rows, channel] = rng.choice(np.flatnonzero(labels == digit), size=rows.shape[0])
    return triples


def stacked_digits_images(split: str) -> np.ndarray:
    """The built-in `stacked-digits:<split>` images, `(10000, 32, 32, 3)` uint8."""
    return stack_channels(digits_images(split)[..., 0], stacked_triples(split))


def _check(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"unknown stacked-digits split {split!r}; choose one of {SPLITS}")
