"""FID∞ (Chong & Forsyth 2020, "Effectively Unbiased FID and Inception Score and where to find them").

FID computed on N generated samples is biased upward by about b/N. FID_N is
measured at 15 values of N evenly spaced from 5,000 (n/10 for sets smaller
than 50,000) to the full n, each on a subset drawn without replacement
from the generated features, against the fixed reference statistics; a
least-squares line FID_N = a + b/N gives FID∞ = a and the slope b. Below
5,000 generated samples the fit is noisy, and `fid_infinity` warns.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from gan_eval.errors import GanEvalError, GanEvalWarning, caller_stacklevel
from gan_eval.metrics.fid import fid_from_features, frechet_distance
from gan_eval.stats import FeatureStats

DEFAULT_POINTS = 15
DEFAULT_MIN_N = 5000
DEFAULT_SEED = 2020
NOISY_BELOW = 5000  # generated samples (docs/metrics.md)


@dataclass(frozen=True)
class FidInfResult:
    """Extrapolated FID∞, the fitted slope b, and the measured (N, FID_N) points."""

    fid_inf: float
    slope: float
    sizes: tuple[int, ...]
    fids: tuple[float, ...]


def sample_sizes(n: int, points: int = DEFAULT_POINTS, min_n: int = DEFAULT_MIN_N) -> list[int]:
    """The N values: `points` evenly spaced integers from min(min_n, n // 10) to n."""
    start = min(min_n, n // 10)
    if start < 2:
        raise GanEvalError(f"FID∞ needs at least 20 generated samples; got {n}")
    return sorted({round(v) for v in np.linspace(start, n, points)})


def fid_infinity(
    reference: FeatureStats,
    fake_features: np.ndarray | torch.Tensor,
    points: int = DEFAULT_POINTS,
    min_n: int = DEFAULT_MIN_N,
    seed: int = DEFAULT_SEED,
) -> FidInfResult:
    """FID∞ of generated `fake_features: (n, D)` against `reference` statistics."""
    feats = torch.as_tensor(fake_features, dtype=torch.float64)
    n = feats.shape[0]
    mu_ref, sigma_ref = reference.mean(), reference.covariance()
    rng = np.random.RandomState(seed)
    sizes = sample_sizes(n, points, min_n)
    if n < NOISY_BELOW:
        warnings.warn(
            f"FID∞ from {n} generated samples: below {NOISY_BELOW} its fit is noisy; "
            "generate more, or read its points (fid_inf_sizes, fid_inf_fids) before trusting it",
            GanEvalWarning,
            stacklevel=caller_stacklevel(),
        )
    fids = []
    for size in sizes:
        subset = feats[torch.from_numpy(rng.choice(n, size, replace=False))]
        if size <= feats.shape[1]:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", GanEvalWarning)
                fids.append(fid_from_features(reference, subset))
            continue
        stats = FeatureStats(dim=feats.shape[1])
        stats.update(subset)
        fids.append(
            frechet_distance(stats.mean(), stats.covariance(), mu_ref, sigma_ref, counts=(size, reference.count))
        )
    design = np.stack([np.ones(len(sizes)), 1.0 / np.asarray(sizes, dtype=np.float64)], axis=1)
    (intercept, slope), *_ = np.linalg.lstsq(design, np.asarray(fids), rcond=None)
    return FidInfResult(float(intercept), float(slope), tuple(sizes), tuple(fids))
