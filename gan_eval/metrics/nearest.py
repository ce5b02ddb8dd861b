"""Each sample's nearest neighbour in another feature set, in row blocks.

Authenticity, the C_T data-copying test and rarity all ask, for every row of
one set, which row of another set is nearest and how far it is. The nearest
row is found from squared Euclidean distances ‖a‖² + ‖b‖² - 2a·b in float64,
one block of query rows at a time (the blocks of `gan_eval.metrics.prdc`), so
memory stays at `block × P × 8` bytes. Its distance is then recomputed as
‖a - b‖ from the difference itself, so an exact copy is at distance 0, not at
the square root of a rounding error.
"""

from __future__ import annotations

import numpy as np
import torch

from gan_eval.metrics.prdc import DEFAULT_BLOCK, _block_sq_distances


def as_float64(x: np.ndarray | torch.Tensor, device: str | torch.device = "cpu") -> torch.Tensor:
    """`x` as a float64 tensor on `device`."""
    return torch.as_tensor(x, dtype=torch.float64, device=device)


def nearest_neighbours(
    queries: torch.Tensor, points: torch.Tensor, block: int = DEFAULT_BLOCK, exclude_self: bool = False
) -> tuple[torch.Tensor, torch.Tensor]:
    """Distance to and index of each query's nearest point, `(Q,)` float64 and `(Q,)` long.

    `queries: (Q, D)`, `points: (P, D)` float64. With `exclude_self`, `queries` is `points` and a row is not
    its own neighbour. Of several points at the same squared distance, the first is taken.
    """
    points_sq = (points * points).sum(dim=1)
    distance = torch.empty(queries.shape[0], dtype=torch.float64, device=queries.device)
    index = torch.empty(queries.shape[0], dtype=torch.long, device=queries.device)
    for start in range(0, queries.shape[0], block):
        rows = queries[start : start + block]
        d2 = _block_sq_distances(rows, points, points_sq)
        if exclude_self:
            own = torch.arange(start, start + rows.shape[0], device=queries.device)
            d2[own - start, own] = float("inf")
        nearest = d2.argmin(dim=1)
        index[start : start + rows.shape[0]] = nearest
        distance[start : start + rows.shape[0]] = (rows - points[nearest]).norm(dim=1)
    return distance, index
