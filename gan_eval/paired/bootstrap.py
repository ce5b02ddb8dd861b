"""Percentile bootstrap confidence interval of a mean over images (Efron 1979).

The mean of per-image values is an unbiased estimate of the expected value,
so Efron's percentile interval is used as it is: resample the N values with
replacement `resamples` times (a seeded NumPy generator), take each
resample's mean, and report the `(1 - confidence) / 2` and
`(1 + confidence) / 2` quantiles of those means (linear interpolation).
"""

from __future__ import annotations

import math

import numpy as np

_DRAWS_PER_CHUNK = 1 << 22  # indices drawn at a time, so memory stays bounded for large sets


def bootstrap_mean_interval(
    values: np.ndarray, resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """`(low, high)` of the percentile bootstrap interval of the mean of `values`, `(N,)`, N >= 1.

    Non-finite values (PSNR of identical images is +inf) give `(nan, nan)`: no interval is defined.
    """
    values = np.asarray(values, dtype=np.float64)
    if not np.isfinite(values).all():
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    n = len(values)
    rows = max(1, _DRAWS_PER_CHUNK // n)
    chunks = [min(rows, resamples - done) for done in range(0, resamples, rows)]
    means = np.concatenate([values[rng.integers(0, n, size=(k, n))].mean(1) for k in chunks])
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2])
    return float(low), float(high)
