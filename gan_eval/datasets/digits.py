"""scikit-learn's 8x8 handwritten digits as 32x32 RGB images.

The 1,797 images of the UCI optical digits set (Alpaydin & Kaynak 1998),
as scikit-learn ships them: 8x8 pixels with values 0..16. They become uint8 by
`round(v * 255 / 16)`, are enlarged 4x by pixel repetition to 32x32 (so no
resampling choice enters the numbers), and are repeated over R, G and B.
Splits follow scikit-learn's own digits example: `train` is the first half
(898 images), `test` the second half (899).
"""

from __future__ import annotations

import numpy as np

SPLITS = ("train", "test", "all")
_HALF = 898


def digits_images(split: str = "all") -> np.ndarray:
    """Digits of `split` as `(N, 32, 32, 3)` uint8."""
    return _digits(split)[0]


def digits_labels(split: str = "all") -> np.ndarray:
    """Class labels 0..9 of `split`, `(N,)` int64."""
    return _digits(split)[1]


def _digits(split: str) -> tuple[np.ndarray, np.ndarray]:
    if split not in SPLITS:
        raise ValueError(f"unknown digits split {split!r}; choose one of {SPLITS}")
    from sklearn.datasets import load_digits

    bunch = load_digits()
    small = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    big = small.repeat(4, axis=1).repeat(4, axis=2)
    rgb = np.repeat(big[..., None], 3, axis=3)
    labels = bunch.target.astype(np.int64)
    if split == "train":
        return rgb[:_HALF], labels[:_HALF]
    if split == "test":
        return rgb[_HALF:], labels[_HALF:]
    return rgb, labels
