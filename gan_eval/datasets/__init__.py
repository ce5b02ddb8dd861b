"""Built-in data sets that need no download, addressed by name (`digits:train`)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from gan_eval.datasets.digits import digits_images
from gan_eval.datasets.stacked_digits import stacked_digits_images

BUILTIN_IMAGE_SETS: dict[str, Callable[[], np.ndarray]] = {
    "digits:train": lambda: digits_images("train"),
    "digits:test": lambda: digits_images("test"),
    "digits:all": lambda: digits_images("all"),
    "stacked-digits:train": lambda: stacked_digits_images("train"),
    "stacked-digits:test": lambda: stacked_digits_images("test"),
}
