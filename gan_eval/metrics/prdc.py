"""k-nearest-neighbour metrics: improved precision and recall, density and coverage.

- Precision and recall (Kynkäänniemi et al. 2019, "Improved Precision and
  Recall Metric for Assessing Generative Models"): each point's ball has the
  radius of its k-th nearest neighbour within its own set (k = 3, the point
  itself not counted). Precision is the share of generated points inside at
  least one real ball; recall the share of real points inside at least one
  generated ball. A point on a ball's boundary counts as inside.
- Density and coverage (Naeem et al. 2020, "Reliable Fidelity and Diversity
  Metrics for Generative Models"): balls around real points only (k = 5).
  Density = (1 / kM) Σ_j Σ_i 1[y_j ∈ B(x_i, r_i)]; coverage = share of real
  balls that hold at least one generated point.

Distances are computed in float64, in row blocks, so the full N×M matrix is
never held: peak memory is about `block * max(N, M) * 8` bytes per matrix.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gan_eval.errors import GanEvalError

DEFAULT_BLOCK = 1024


def _squared_norms(x: torch.Tensor) -> torch.Tensor:
    return (x * x).sum(dim=1)


def block_sq_distances(rows: torch.Tensor, cols: torch.Tensor, cols_sq: torch.Tensor) -> torch.Tensor:
    """Squared distances `(B, M)` in one buffer (in-place updates keep the block's peak memory at B*M*8 bytes)."""
    d2 = rows @ cols.T
    d2.mul_(-2).add_(cols_sq[None, :]).add_(_squared_norms(rows)[:, None])
    return d2.clamp_min_(0)


def knn_radii(features: torch.Tensor, k: int, block: int = DEFAULT_BLOCK) -> torch.Tensor:
    """Squared distance from each row of `features: (N, D)` to its k-th nearest other row, `(N,)`."""
    n = features.shape[0]
    if n < k + 1:
        raise GanEvalError(f"k-NN metrics with k={k} need at least {k + 1} samples per set; got {n}")
    sq = _squared_norms(features)
    radii = torch.empty(n, dtype=features.dtype, device=features.device)
    for start in range(0, n, block):
        rows = features[start : start + block]
        d2 = block_sq_distances(rows, features, sq)
        idx = torch.arange(start, start + rows.shape[0], device=features.device)
        d2[idx - start, idx] = 0.0
        radii[start : start + rows.shape[0]] = d2.kthvalue(k + 1, dim=1).values
    return radii


def _ball_counts(
    points: torch.Tensor, centres: torch.Tensor, radii: torch.Tensor, block: int
) -> tuple[torch.Tensor, torch.Tensor]:
    """Per point: how many balls hold it `(P,)`; per centre: whether any point is inside `(C,)`."""
    centres_sq = _squared_norms(centres)
    counts = torch.empty(points.shape[0], dtype=torch.long, device=points.device)
    hit = torch.zeros(centres.shape[0], dtype=torch.bool, device=points.device)
    for start in range(0, points.shape[0], block):
        inside = block_sq_distances(points[start : start + block], centres, centres_sq) <= radii[None, :]
        counts[start : start + inside.shape[0]] = inside.sum(dim=1)
        hit |= inside.any(dim=0)
    return counts, hit


@dataclass(frozen=True)
class PrecisionRecall:
    """Improved precision and recall with their neighbourhood size."""

    precision: float
    recall: float
    k: int


@dataclass(frozen=True)
class DensityCoverage:
    """Density and coverage with their neighbourhood size."""

    density: float
    coverage: float
    k: int


def as_float64(x: np.ndarray | torch.Tensor, device: str | torch.device = "cpu") -> torch.Tensor:
    """`x` as a float64 tensor on `device`."""
    return torch.as_tensor(x, dtype=torch.float64, device=device)


def precision_recall(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    k: int = 3,
    block: int = DEFAULT_BLOCK,
    device: str | torch.device = "cpu",
) -> PrecisionRecall:
    """Improved precision and recall of `fake: (M, D)` against `real: (N, D)`."""
    x, y = as_float64(real, device), as_float64(fake, device)
    fake_in_real, _ = _ball_counts(y, x, knn_radii(x, k, block), block)
    real_in_fake, _ = _ball_counts(x, y, knn_radii(y, k, block), block)
    return PrecisionRecall(
        precision=float((fake_in_real > 0).double().mean()),
        recall=float((real_in_fake > 0).double().mean()),
        k=k,
    )


def density_coverage(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    k: int = 5,
    block: int = DEFAULT_BLOCK,
    device: str | torch.device = "cpu",
) -> DensityCoverage:
    """Density and coverage of `fake: (M, D)` against `real: (N, D)` (balls around real points)."""
    x, y = as_float64(real, device), as_float64(fake, device)
    counts, covered = _ball_counts(y, x, knn_radii(x, k, block), block)
    return DensityCoverage(
        density=float(counts.sum()) / (k * y.shape[0]),
        coverage=float(covered.double().mean()),
        k=k,
    )
