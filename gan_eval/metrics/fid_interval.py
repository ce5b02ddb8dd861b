"""A confidence interval for FID over the generated samples: the grouped (delete-a-group) jackknife.

What the interval is for: FID_N is biased upward by about b/N, so the number a
user can reproduce is the expected FID at the same sample sizes, E[FID_N],
with the reference statistics held fixed (as in a regression gate). The
interval is FID_N ± t·se, centred on the estimate itself, where se estimates
the standard deviation of FID_N over fresh generated sets of the same size.

Why not the bootstrap: resampling with replacement duplicates samples, which
lowers the rank of the resampled covariance and inflates every replicate's FID
(by 1.5 at n = 250 on Inception features of digits, more than seven times the
sampling spread), so Efron's percentile interval lies above its own estimate;
and the replicates' spread overstates the sampling spread (about 1.4 times at
n = 250), so even an interval recentred on the estimate covers far more than
its level. Both failures come from the duplication, which a statistic of the
n-point empirical distribution's rank cannot absorb (see docs/metrics.md for
the measured table).

The jackknife never duplicates a sample. The generated set is split at random
(seeded) into g groups; θ_(k) is FID with group k left out, and

    se² = (g - 1) / g · Σ_k (θ_(k) - θ̄)²

(the grouped jackknife, Efron & Tibshirani 1993, "An Introduction to the
Bootstrap", ch. 11; consistency of the delete-d jackknife: Shao & Wu 1989,
Ann. Statist. 17(3)). Leaving out only 1/g of the set keeps each θ_(k) close
to the size of the estimate; by the Efron-Stein inequality (Efron & Stein 1981,
Ann. Statist. 9(3)) the jackknife variance errs on the high side. With g
groups the estimate has g - 1 degrees of freedom, so the interval uses
Student's t quantile t_{g-1, 1-α/2}. Coverage measured by simulation
(`benchmarks/fid_interval_coverage.py`, table in docs/metrics.md).

Cost: g FIDs of n(1 - 1/g) samples. When those are at most D, each comes from
an m×m matrix (m the samples kept): with centred features Xc and the fixed
reference covariance S_r, the non-zero eigenvalues of S_r S_f are those of
Xc S_r Xcᵀ / (m-1), and K = Xc S_r Xcᵀ over all n samples is formed once
(each leave-out is a submatrix of it, re-centred). Otherwise each leave-out's
moments are the whole set's minus the group's.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import scipy.stats
import torch

from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.metrics.fid import fid_from_features, frechet_distance
from gan_eval.stats import FeatureStats

DEFAULT_GROUPS = 20
DEFAULT_SEED = 2020
METHOD = "grouped jackknife"


@dataclass(frozen=True)
class FidInterval:
    """FID's interval `[low, high]` at `level`, the standard error `std` behind it and the `groups` used."""

    estimate: float
    low: float
    high: float
    level: float
    std: float
    groups: int
    method: str = METHOD


def fid_interval(
    reference: FeatureStats,
    fake_features: np.ndarray | torch.Tensor,
    groups: int = DEFAULT_GROUPS,
    level: float = 0.95,
    seed: int = DEFAULT_SEED,
    estimate: float | None = None,
) -> FidInterval:
    """Grouped-jackknife interval of FID for `fake_features: (n, D)` against fixed `reference` statistics.

    `estimate`: the FID of all n samples when the caller has it (the interval
    is centred on it); computed here otherwise. `seed` fixes the random split
    into `groups` groups (n groups of one sample when n < groups).
    """
    if groups < 2:
        raise GanEvalError(f"--ci-groups {groups}: a jackknife interval needs at least 2 groups")
    if not 0 < level < 1:
        raise GanEvalError(f"confidence level {level} must be between 0 and 1")
    feats = torch.as_tensor(fake_features, dtype=torch.float64)
    n = feats.shape[0]
    groups = min(groups, n)  # one sample per group at most: the delete-1 jackknife
    if n - -(-n // groups) < 2:  # every leave-out keeps 2 samples for a covariance
        raise GanEvalError(f"the FID interval needs at least 3 generated samples; got {n}")
    if estimate is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GanEvalWarning)
            estimate = fid_from_features(reference, feats)
    parts = np.array_split(np.random.RandomState(seed).permutation(n), groups)
    leave_outs = _leave_group_out_fids(reference, feats, parts)
    std = float(np.sqrt((groups - 1) / groups * ((leave_outs - leave_outs.mean()) ** 2).sum()))
    half = float(scipy.stats.t.ppf(0.5 + level / 2, groups - 1)) * std
    return FidInterval(float(estimate), float(estimate) - half, float(estimate) + half, level, std, groups)


def _leave_group_out_fids(reference: FeatureStats, feats: torch.Tensor, parts: list[np.ndarray]) -> np.ndarray:
    """FID of `feats: (n, D)` without each group of `parts`, against `reference`: `(len(parts),)` float64."""
    n, dim = feats.shape
    mu_ref, sigma_ref = reference.mean(), reference.covariance()
    centre = feats.mean(0)
    centred = feats - centre  # covariances are shift-invariant; centring keeps the sums well conditioned
    if n - min(len(p) for p in parts) <= dim:
        return _leave_outs_small(centred, centre, parts, mu_ref, sigma_ref)
    gram = centred.T @ centred
    values = np.empty(len(parts))
    for k, part in enumerate(parts):
        left = centred[torch.from_numpy(part)]
        m = n - len(part)
        mean_c = -left.sum(0) / m  # the centred features sum to zero over all n
        cov = (gram - left.T @ left - m * torch.outer(mean_c, mean_c)) / (m - 1)
        cov = (cov + cov.T) / 2
        values[k] = frechet_distance(
            mu_ref, sigma_ref, (centre + mean_c).numpy(), cov.numpy(), counts=(reference.count, m)
        )
    return values


def _leave_outs_small(
    centred: torch.Tensor, centre: torch.Tensor, parts: list[np.ndarray], mu_ref: np.ndarray, sigma_ref: np.ndarray
) -> np.ndarray:
    """Leave-group-out FIDs through m×m matrices, for leave-outs of at most D samples (module docstring)."""
    n = centred.shape[0]
    sigma = torch.from_numpy(sigma_ref)
    kernel = centred @ sigma @ centred.T
    kernel = (kernel + kernel.T) / 2
    sq_norms = (centred * centred).sum(1)
    trace_ref = float(torch.trace(sigma))
    offset = centre - torch.from_numpy(mu_ref)
    values = np.empty(len(parts))
    for k, part in enumerate(parts):
        keep = torch.from_numpy(np.setdiff1d(np.arange(n), part))
        m = len(keep)
        sub = kernel[keep][:, keep]
        row_mean = sub.mean(0)
        middle = (sub - row_mean[:, None] - row_mean[None, :] + row_mean.mean()) / (m - 1)
        trace_sqrt = float(torch.linalg.eigvalsh((middle + middle.T) / 2).clamp_min(0).sqrt().sum())
        mean_c = centred[keep].mean(0)
        trace_fake = float(sq_norms[keep].sum() - m * (mean_c @ mean_c)) / (m - 1)
        diff = offset + mean_c
        values[k] = max(float(diff @ diff) + trace_ref + trace_fake - 2 * trace_sqrt, 0.0)
    return values
