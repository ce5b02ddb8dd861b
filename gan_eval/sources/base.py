"""The interface of an image source: a fixed-length, indexable set of RGB images."""

from __future__ import annotations

from typing import Protocol

import numpy as np


class ImageSource(Protocol):
    """A deterministic, ordered collection of images.

    `load(i)` returns image `i` as `(H, W, 3)` uint8 or raises `GanEvalError`
    naming the file. Sources must be picklable so that decoding can run in
    worker processes.
    """

    name: str

    def __len__(self) -> int: ...

    def load(self, index: int) -> np.ndarray: ...

    def describe(self, index: int) -> str:
        """The file or entry behind image `index`, for messages."""
        ...
