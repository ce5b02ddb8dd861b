"""Rarity score (Han et al. 2022, "Rarity Score: A New Metric to Evaluate the Uncommonness of Synthesized Images").

Each real sample x_i has a k-NN ball of radius r_i, the distance to its k-th
nearest other real sample (k = 3 in the authors' example). A generated
sample's rarity is the smallest radius among the real balls that hold it,
min{r_i : ‖g - x_i‖ < r_i}: it is rare when only large, sparse balls reach
it. A sample inside no ball is off the real manifold; the authors' code
(hichoe95/Rarity-Score, commit ec2ebd8) gives it score 0 and leaves it out of
the ranking, as here. The boundary is strict (on the sphere is outside).

Scores are distances in the units of the features. Squared distances in
float64 from row blocks (`gan_eval.metrics.nearest`), so memory stays at
`block × N × 8` bytes; the radii from half a pass over the real pairs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gan_eval.errors import GanEvalError
from gan_eval.metrics.nearest import smallest_within
from gan_eval.metrics.prdc import DEFAULT_BLOCK, as_float64, block_sq_distances


@dataclass(frozen=True)
class Rarity:
    """Per generated sample: `scores` `(M,)` float64 (0 off the manifold) and `in_manifold` `(M,)` bool."""

    scores: np.ndarray
    in_manifold: np.ndarray
    k: int

    @property
    def in_manifold_share(self) -> float:
        """Share of generated samples inside at least one real ball."""
        return float(self.in_manifold.mean())

    def mean(self) -> float:
        """Mean rarity of the generated samples inside the real manifold (NaN when none is)."""
        return float(self.scores[self.in_manifold].mean()) if self.in_manifold.any() else float("nan")

    def median(self) -> float:
        """Median rarity of the generated samples inside the real manifold (NaN when none is)."""
        return float(np.median(self.scores[self.in_manifold])) if self.in_manifold.any() else float("nan")


def rarity_scores(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    k: int = 3,
    block: int = DEFAULT_BLOCK,
    device: str | torch.device = "cpu",
) -> Rarity:
    """Rarity of each row of `fake: (M, D)` against the k-NN balls of `real: (N, D)`."""
    x, y = as_float64(real, device), as_float64(fake, device)
    if len(x) < k + 1 or len(y) < 1:
        raise GanEvalError(
            f"the rarity score with k={k} needs at least {k + 1} real samples and 1 generated; got {len(x)}, {len(y)}"
        )
    radii_sq = smallest_within(x, k, block)[:, k - 1]
    x_sq = (x * x).sum(dim=1)
    smallest = torch.empty(len(y), dtype=torch.float64, device=x.device)
    for start in range(0, len(y), block):
        d2 = block_sq_distances(y[start : start + block], x, x_sq)
        holding = torch.where(d2 < radii_sq[None, :], radii_sq[None, :], torch.inf)
        smallest[start : start + d2.shape[0]] = holding.min(dim=1).values
    inside = torch.isfinite(smallest)
    scores = torch.where(inside, smallest.sqrt(), torch.zeros_like(smallest))
    return Rarity(scores.cpu().numpy(), inside.cpu().numpy(), k)
