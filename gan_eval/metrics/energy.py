"""Energy distance between two feature sets (Székely & Rizzo 2013, "Energy statistics: A class of statistics
based on distances").

With A = E‖X - Y‖, B = E‖X - X'‖, C = E‖Y - Y'‖ over all pairs (the
V-statistic: a point's zero distance to itself included):

- the energy distance E = 2A - B - C, in the units of the features, 0 for
  equal empirical distributions;
- its normalised form H = E / 2A in [0, 1] (Rizzo & Székely's coefficient),
  which is what dgm-eval's `energy` computes (pull request 9, commit 064a94e,
  not merged into its master): there the three sums are not divided by the
  number of pairs, which gives H when both sets have the same size.

Euclidean distances in float64, summed over row blocks (the blocks of
`gan_eval.metrics.prdc`), so the N×M matrices are never held.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gan_eval.errors import GanEvalError
from gan_eval.metrics.prdc import DEFAULT_BLOCK, as_float64, block_sq_distances


@dataclass(frozen=True)
class EnergyDistance:
    """The energy distance `distance` (feature units) and its normalised form `coefficient` in [0, 1]."""

    distance: float
    coefficient: float


def mean_distance(a: torch.Tensor, b: torch.Tensor, same: bool = False, block: int = DEFAULT_BLOCK) -> float:
    """Mean Euclidean distance over all pairs of rows of `a: (N, D)` and `b: (M, D)` float64.

    `same`: `b` is `a`, and each row's distance to itself is exactly 0.
    """
    b_sq = (b * b).sum(dim=1)
    total = 0.0
    for start in range(0, a.shape[0], block):
        d2 = block_sq_distances(a[start : start + block], b, b_sq)
        if same:
            own = torch.arange(start, start + d2.shape[0], device=a.device)
            d2[own - start, own] = 0.0
        total += float(d2.sqrt_().sum())
    return total / (a.shape[0] * b.shape[0])


def energy_distance(
    x: np.ndarray | torch.Tensor, y: np.ndarray | torch.Tensor, device: str | torch.device = "cpu"
) -> EnergyDistance:
    """Energy distance between `x: (N, D)` and `y: (M, D)`, and its normalised form."""
    a, b = as_float64(x, device), as_float64(y, device)
    if min(len(a), len(b)) < 1:
        raise GanEvalError(f"the energy distance needs at least 1 sample per set; got {len(a)} and {len(b)}")
    across = mean_distance(a, b)
    distance = 2 * across - mean_distance(a, a, same=True) - mean_distance(b, b, same=True)
    return EnergyDistance(distance, distance / (2 * across) if across > 0 else 0.0)
