"""Kernel Inception Distance (Bińkowski et al. 2018, "Demystifying MMD GANs").

The unbiased estimate of MMD² with the cubic polynomial kernel
k(x, y) = (x·y / d + 1)³, averaged over random subsets: for each subset, m
rows are drawn without replacement from each set, and

    MMD² = (Σ_{i≠j} k(x_i, x_j) + Σ_{i≠j} k(y_i, y_j)) / (m(m-1)) - 2 Σ_{i,j} k(x_i, y_j) / m².

Subsets are drawn with `numpy.random.RandomState(seed).choice(n, m, replace=False)`,
alternately from the two sets, which is the order torch-fidelity uses; with
its default seed (2020) both give the same subsets. The reported std is the
spread of the subset values (`np.std`), not a standard error. When the subset
size equals both set sizes every subset is the whole of both sets, so every
subset value is the same number: it is computed once and the std is exactly 0
(summing a permuted set would only add rounding noise of about 1e-16).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
import torch

from gan_eval.count_limits import check_count
from gan_eval.errors import GanEvalError, GanEvalWarning, caller_stacklevel

DEFAULT_SUBSETS = 100
DEFAULT_SUBSET_SIZE = 1000
DEFAULT_SEED = 2020
MAX_SUBSETS = 1_000_000  # a million subsets of 1000 already take hours; more is a typo


@dataclass(frozen=True)
class KidResult:
    """KID mean and std over subsets (None for a single subset, which has no spread), with the subset settings.

    `whole_sets`: every subset was the whole of both sets (subset size = both sizes), so `std` is exactly 0.
    """

    mean: float
    std: float | None
    subsets: int
    subset_size: int
    seed: int
    whole_sets: bool = False


def polynomial_mmd2(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD² between `x: (m, D)` and `y: (m, D)` with k = (x·y/D + 1)³, in float64."""
    m, dim = x.shape
    k_xx = (x @ x.T / dim + 1) ** 3
    k_yy = (y @ y.T / dim + 1) ** 3
    k_xy = (x @ y.T / dim + 1) ** 3
    within = (k_xx.sum() - k_xx.diagonal().sum()) + (k_yy.sum() - k_yy.diagonal().sum())
    return float(within / (m * (m - 1)) - 2 * k_xy.sum() / (m * m))


def kernel_inception_distance(
    features_a: np.ndarray | torch.Tensor,
    features_b: np.ndarray | torch.Tensor,
    subsets: int = DEFAULT_SUBSETS,
    subset_size: int = DEFAULT_SUBSET_SIZE,
    seed: int = DEFAULT_SEED,
    device: str | torch.device = "cpu",
) -> KidResult:
    """KID between `features_a: (N, D)` and `features_b: (M, D)`.

    The subset size is clipped to the smaller set (with a warning); each set
    needs at least 2 samples.
    """
    check_count(f"KID subsets {subsets}", subsets, 8 * subsets, f"{subsets:.3g} subset values", limit=MAX_SUBSETS)
    a = torch.as_tensor(features_a, dtype=torch.float64, device=device)
    b = torch.as_tensor(features_b, dtype=torch.float64, device=device)
    n_a, n_b = a.shape[0], b.shape[0]
    if min(n_a, n_b) < 2:
        raise GanEvalError(f"KID needs at least 2 samples per set; got {n_a} and {n_b}")
    if subset_size > min(n_a, n_b):
        warnings.warn(
            f"KID subset size {subset_size} clipped to {min(n_a, n_b)}, the size of the smaller set",
            GanEvalWarning,
            stacklevel=caller_stacklevel(),
        )
        subset_size = min(n_a, n_b)
    if subset_size == n_a == n_b:
        value = polynomial_mmd2(a, b)
        return KidResult(value, 0.0 if subsets > 1 else None, subsets, subset_size, seed, whole_sets=True)
    rng = np.random.RandomState(seed)
    values = np.empty(subsets)
    for i in range(subsets):
        idx_a = torch.from_numpy(rng.choice(n_a, subset_size, replace=False)).to(a.device)
        idx_b = torch.from_numpy(rng.choice(n_b, subset_size, replace=False)).to(b.device)
        values[i] = polynomial_mmd2(a[idx_a], b[idx_b])
    std = float(values.std()) if subsets > 1 else None
    return KidResult(float(values.mean()), std, subsets, subset_size, seed)
