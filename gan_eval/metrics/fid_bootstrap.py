"""A bootstrap confidence interval for FID over the generated samples.

The generated features are resampled with replacement B times; each
replicate's FID against the fixed reference statistics forms the bootstrap
distribution, and the interval is its (α/2, 1-α/2) percentiles (Efron's
percentile interval). The reference set is held fixed, as in a regression
gate where the reference statistics are precomputed. Replicates are weighted
sums (multinomial counts), so no resampled copy of the features is built.

When there are fewer generated samples than dimensions (n < D, the usual
case in a CI gate), each replicate's trace term comes from an n×n matrix
instead of a D×D one: with weights c, centred features Xc and the fixed
reference covariance S_r, the non-zero eigenvalues of S_r S_f equal those
of C^½ Xc S_r Xcᵀ C^½ / (n-1), and Xc S_r Xcᵀ follows from K = X S_r Xᵀ
(computed once) by rank-one corrections for the replicate's mean.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gan_eval.errors import GanEvalError
from gan_eval.metrics.fid import frechet_distance
from gan_eval.stats import FeatureStats

DEFAULT_SEED = 2020


@dataclass(frozen=True)
class FidInterval:
    """Percentile interval of FID with its level, replicate count and the replicates' std."""

    low: float
    high: float
    level: float
    replicates: int
    std: float


def fid_bootstrap(
    reference: FeatureStats,
    fake_features: np.ndarray | torch.Tensor,
    replicates: int = 100,
    level: float = 0.95,
    seed: int = DEFAULT_SEED,
) -> FidInterval:
    """Percentile bootstrap interval of FID for `fake_features: (n, D)` against `reference`."""
    if replicates < 2:
        raise GanEvalError(f"--bootstrap {replicates}: needs at least 2 replicates")
    if not 0 < level < 1:
        raise GanEvalError(f"confidence level {level} must be between 0 and 1")
    feats = torch.as_tensor(fake_features, dtype=torch.float64)
    n = feats.shape[0]
    if n < 2:
        raise GanEvalError(f"a bootstrap interval needs at least 2 generated samples; got {n}")
    mu_ref, sigma_ref = reference.mean(), reference.covariance()
    rng = np.random.RandomState(seed)
    draws = [torch.from_numpy(rng.multinomial(n, np.full(n, 1.0 / n)).astype(np.float64)) for _ in range(replicates)]
    if n < feats.shape[1]:
        values = _replicates_small_n(feats, draws, mu_ref, sigma_ref)
    else:
        values = np.empty(replicates)
        for r, counts in enumerate(draws):
            mean = (counts @ feats) / n
            centred = feats - mean
            cov = (centred.T * counts) @ centred / (n - 1)
            distinct = int((counts > 0).sum())  # a replicate's covariance has rank distinct - 1 at most
            values[r] = frechet_distance(
                mean.numpy(), cov.numpy(), mu_ref, sigma_ref, counts=(distinct, reference.count)
            )
    alpha = (1 - level) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return FidInterval(float(low), float(high), level, replicates, float(values.std(ddof=1)))


def _replicates_small_n(
    feats: torch.Tensor, draws: list[torch.Tensor], mu_ref: np.ndarray, sigma_ref: np.ndarray
) -> np.ndarray:
    """FID of each weighted replicate of `feats: (n, D)` with n < D, through n×n matrices (module docstring)."""
    n = feats.shape[0]
    sigma = torch.from_numpy(sigma_ref)
    mu = torch.from_numpy(mu_ref)
    kernel = feats @ sigma @ feats.T
    kernel = (kernel + kernel.T) / 2
    sq_norms = (feats * feats).sum(1)
    trace_ref = float(torch.trace(sigma))
    values = np.empty(len(draws))
    for r, counts in enumerate(draws):
        mean = (counts @ feats) / n
        k_c = kernel @ counts / n
        centred_gram = kernel - k_c[:, None] - k_c[None, :] + float(counts @ k_c) / n
        root = counts.sqrt()
        middle = root[:, None] * centred_gram * root[None, :] / (n - 1)
        trace_sqrt = float(torch.linalg.eigvalsh(middle).clamp_min(0).sqrt().sum())
        trace_fake = float((counts @ sq_norms - n * (mean @ mean)) / (n - 1))
        diff = mean - mu
        values[r] = max(float(diff @ diff) + trace_ref + trace_fake - 2 * trace_sqrt, 0.0)
    return values
