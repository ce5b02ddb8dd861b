"""Nearest neighbours in feature sets, in row blocks: across two sets, and within one.

Authenticity, the C_T data-copying test and rarity all ask, for every row of
one set, which row of another set is nearest and how far it is
(`nearest_neighbours`), or how far each row's k nearest other rows of its own
set are (`smallest_within`). Squared Euclidean distances ‖a‖² + ‖b‖² - 2a·b
in float64, one block of rows at a time (the blocks of
`gan_eval.metrics.prdc`), so memory stays at `block × P × 8` bytes. Across two
sets, the nearest row's distance is then recomputed as ‖a - b‖ from the
difference itself, so an exact copy is at distance 0, not at the square root
of a rounding error. Within one set, each pair of blocks is computed once and
serves both blocks' rows, half the work of a full pass.
"""

from __future__ import annotations

import torch

from gan_eval.metrics.prdc import DEFAULT_BLOCK, block_sq_distances


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
        d2 = block_sq_distances(rows, points, points_sq)
        if exclude_self:
            own = torch.arange(start, start + rows.shape[0], device=queries.device)
            d2[own - start, own] = float("inf")
        nearest = d2.argmin(dim=1)
        index[start : start + rows.shape[0]] = nearest
        distance[start : start + rows.shape[0]] = (rows - points[nearest]).norm(dim=1)
    return distance, index


def smallest_within(points: torch.Tensor, k: int, block: int = DEFAULT_BLOCK) -> torch.Tensor:
    """Squared distances from each row of `points: (N, D)` float64 to its k nearest other rows, `(N, k)`
    ascending (inf where fewer than k other rows exist)."""
    n = points.shape[0]
    sq = (points * points).sum(dim=1)
    best = torch.full((n, k), torch.inf, dtype=torch.float64, device=points.device)
    for i in range(0, n, block):
        rows = points[i : i + block]
        for j in range(i, n, block):
            d2 = block_sq_distances(rows, points[j : j + block], sq[j : j + block])
            if i == j:
                d2.fill_diagonal_(torch.inf)
            best[i : i + block] = torch.cat((best[i : i + block], d2), dim=1).topk(k, dim=1, largest=False).values
            if i != j:
                merged = torch.cat((best[j : j + block], d2.T), dim=1)
                best[j : j + block] = merged.topk(k, dim=1, largest=False).values
    return best
