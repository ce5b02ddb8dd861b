"""Authenticity (Alaa et al. 2022, "How Faithful is your Synthetic Data? Sample-level Metrics
for Evaluating and Auditing Generative Models").

A generated sample g is *authentic* when d(g, x*) > d_NN(x*), where x* is the
training sample nearest to g and d_NN(x*) is the distance from x* to its own
nearest other training sample. A generator that copies training samples puts
them closer to their source than any other training sample is, so a low
authentic share points at memorisation. The reference passed in plays the
training set; the share is only meaningful when it is the set the generator
was trained on.

Euclidean distances in float64, computed in row blocks; a tie (d(g, x*) equal
to d_NN(x*)) counts as not authentic.
"""

from __future__ import annotations

import numpy as np
import torch

from gan_eval.errors import GanEvalError

DEFAULT_BLOCK = 1024


def _nearest(
    queries: torch.Tensor, points: torch.Tensor, block: int, exclude_self: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance to and index of each query's nearest point, `(Q,)` each."""
    sq = (points * points).sum(dim=1)
    dist = torch.empty(queries.shape[0], dtype=torch.float64)
    index = torch.empty(queries.shape[0], dtype=torch.long)
    for start in range(0, queries.shape[0], block):
        rows = queries[start : start + block]
        d2 = ((rows * rows).sum(dim=1)[:, None] + sq[None, :] - 2 * rows @ points.T).clamp_min_(0)
        if exclude_self:
            own = torch.arange(start, start + rows.shape[0])
            d2[own - start, own] = float("inf")
        best = d2.min(dim=1)
        dist[start : start + rows.shape[0]] = best.values.sqrt()
        index[start : start + rows.shape[0]] = best.indices
    return dist, index


def authentic_mask(
    real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, block: int = DEFAULT_BLOCK
) -> torch.Tensor:
    """Per generated sample of `fake: (M, D)`, whether it is authentic against `real: (N, D)`, `(M,)` bool."""
    x = torch.as_tensor(real, dtype=torch.float64)
    y = torch.as_tensor(fake, dtype=torch.float64)
    if x.shape[0] < 2 or y.shape[0] < 1:
        raise GanEvalError(
            f"authenticity needs at least 2 reference samples and 1 generated sample; got {x.shape[0]} and {y.shape[0]}"
        )
    real_nn, _ = _nearest(x, x, block, exclude_self=True)
    to_real, nearest = _nearest(y, x, block, exclude_self=False)
    return to_real > real_nn[nearest]


def authenticity(real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, block: int = DEFAULT_BLOCK) -> float:
    """Share of `fake: (M, D)` that is authentic against the training set `real: (N, D)`."""
    return float(authentic_mask(real, fake, block).double().mean())
