"""Percentile bootstrap confidence interval of a mean over images (Efron 1979).

The mean of per-image values is an unbiased estimate of the expected value,
so Efron's percentile interval is used as it is: resample the N values with
replacement `resamples` times (a seeded NumPy generator), take each
resample's mean, and report the `(1 - confidence) / 2` and
`(1 + confidence) / 2` quantiles of those means (linear interpolation).

Memory: the resamples are drawn a chunk of about `_DRAWS_PER_CHUNK` indices
at a time, so only the `resamples` means (8 bytes each) grow with the count;
`MAX_RESAMPLES` bounds them (`check_resamples`).
"""

from __future__ import annotations

import math

import numpy as np

from gan_eval.count_limits import check_count

_DRAWS_PER_CHUNK = 1 << 22  # indices drawn at a time, so memory stays bounded for large sets
# Far beyond use: at 1e6 resamples the Monte Carlo error of an interval's ends is ~0.1% of its width.
MAX_RESAMPLES = 10**7


def bootstrap_bytes(resamples: int, n: int = 1) -> int:
    """Bytes `bootstrap_mean_interval` holds at most for `n` values: the float64 means, and a chunk of int64
    indices with the float64 values they draw (`_DRAWS_PER_CHUNK` of each, or one resample when n is larger)."""
    return 8 * resamples + 16 * max(_DRAWS_PER_CHUNK, n)


def check_resamples(resamples: int, request: str | None = None, n: int = 1) -> None:
    """Refuse, before any draw, more than `MAX_RESAMPLES` or resamples whose means cannot fit in memory.

    `request` names the count in the error (default `resamples=R`; the CLI says `--bootstrap R`).
    """
    need = bootstrap_bytes(resamples, n)
    what = f"{resamples:.3g} bootstrap means"
    check_count(request or f"resamples={resamples}", resamples, need, what, MAX_RESAMPLES)


def bootstrap_mean_interval(
    values: np.ndarray, resamples: int = 1000, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """`(low, high)` of the percentile bootstrap interval of the mean of `values`, `(N,)`, N >= 1.

    Non-finite values (PSNR of identical images is +inf) give `(nan, nan)`: no interval is defined.
    """
    values = np.asarray(values, dtype=np.float64)
    n = len(values)
    check_resamples(resamples, n=n)
    if not np.isfinite(values).all():
        return math.nan, math.nan
    rng = np.random.default_rng(seed)
    rows = max(1, _DRAWS_PER_CHUNK // n)
    means = np.empty(resamples)
    for done in range(0, resamples, rows):
        k = min(rows, resamples - done)
        np.mean(values[rng.integers(0, n, size=(k, n))], axis=1, out=means[done : done + k])
    low, high = np.quantile(means, [(1 - confidence) / 2, (1 + confidence) / 2], overwrite_input=True)
    return float(low), float(high)
