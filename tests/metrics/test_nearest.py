"""Blockwise nearest neighbours against dense float64 NumPy distances, with blocks that do not divide N."""

from __future__ import annotations

import numpy as np
import torch

from gan_eval.metrics.nearest import nearest_neighbours, smallest_within


def dense_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def test_nearest_across_two_sets_and_within_one() -> None:
    rng = np.random.default_rng(0)
    points, queries = rng.normal(size=(53, 7)), rng.normal(size=(41, 7))
    queries[:5] = points[[3, 9, 9, 20, 52]]  # exact copies: distance 0
    distance, index = nearest_neighbours(torch.from_numpy(queries), torch.from_numpy(points), block=8)
    dense = dense_distances(queries, points)
    np.testing.assert_array_equal(index.numpy(), dense.argmin(axis=1))
    np.testing.assert_allclose(distance.numpy(), dense.min(axis=1), rtol=1e-12, atol=0)
    assert (distance[:5] == 0).all()
    within = dense_distances(points, points)
    np.fill_diagonal(within, np.inf)
    distance, index = nearest_neighbours(torch.from_numpy(points), torch.from_numpy(points), block=8, exclude_self=True)
    np.testing.assert_array_equal(index.numpy(), within.argmin(axis=1))
    np.testing.assert_allclose(distance.numpy(), within.min(axis=1), rtol=1e-12)


def test_k_smallest_within_one_set_from_half_the_block_pairs() -> None:
    points = np.random.default_rng(1).normal(size=(67, 5))
    within = dense_distances(points, points)
    np.fill_diagonal(within, np.inf)
    for k, block in ((1, 10), (3, 16), (5, 67), (4, 1000)):
        found = smallest_within(torch.from_numpy(points), k, block=block).sqrt().numpy()
        np.testing.assert_allclose(found, np.sort(within, axis=1)[:, :k], rtol=1e-10)


def test_fewer_other_rows_than_k_leave_infinity() -> None:
    found = smallest_within(torch.tensor([[0.0], [3.0]], dtype=torch.float64), 2)
    assert found[:, 0].tolist() == [9.0, 9.0] and torch.isinf(found[:, 1]).all()
