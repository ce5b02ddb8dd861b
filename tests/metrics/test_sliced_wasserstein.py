"""Sliced Wasserstein against POT's `ot.sliced_wasserstein_distance` with the same directions, and
dgm-eval's `sw_approx` against a NumPy transcription of its definition (layer6ai-labs/dgm-eval, commit
74c79f7, `dgm_eval/metrics/sw.py`)."""

from __future__ import annotations

import numpy as np
import ot
import pytest

from gan_eval.errors import GanEvalError
from gan_eval.metrics.sliced_wasserstein import random_directions, sliced_wasserstein, sliced_wasserstein_approx


def dgm_eval_sw_approx(x: np.ndarray, y: np.ndarray) -> float:
    """dgm-eval's `sw_approx`, line by line in NumPy."""
    d = x.shape[1]
    mean_x, mean_y = x.mean(axis=0), y.mean(axis=0)
    mean_term = np.linalg.norm(mean_x - mean_y) ** 2 / d
    m2_xc = (np.linalg.norm(x - mean_x, axis=1) ** 2).mean() / d
    m2_yc = (np.linalg.norm(y - mean_y, axis=1) ** 2).mean() / d
    return float((mean_term + (m2_xc**0.5 - m2_yc**0.5) ** 2) ** 0.5)


@pytest.mark.parametrize(("n", "m"), [(80, 80), (37, 61), (150, 9)])
@pytest.mark.parametrize("p", [2, 1])
def test_equals_pot_with_the_same_directions(n: int, m: int, p: int) -> None:
    rng = np.random.default_rng(n * m + p)
    x = rng.normal(size=(n, 24))
    y = rng.normal(0.4, 1.7, size=(m, 24))
    directions = random_directions(24, 300, seed=5)
    expected = ot.sliced_wasserstein_distance(x, y, n_projections=300, p=p, projections=directions)
    assert sliced_wasserstein(x, y, directions, p=p) == pytest.approx(expected, rel=1e-9)


def test_directions_are_unit_columns_reproducible_from_the_seed() -> None:
    directions = random_directions(32, 500, seed=11)
    assert directions.shape == (32, 500)
    np.testing.assert_allclose(np.linalg.norm(directions, axis=0), 1.0, rtol=1e-12)
    np.testing.assert_array_equal(directions, random_directions(32, 500, seed=11))
    assert not np.array_equal(directions, random_directions(32, 500, seed=12))


def test_identical_sets_are_at_distance_zero() -> None:
    x = np.random.default_rng(0).normal(size=(40, 8))
    assert sliced_wasserstein(x, x[::-1].copy(), random_directions(8, 50, 0)) == 0.0


@pytest.mark.parametrize(("n", "m"), [(100, 100), (70, 130)])
def test_approx_equals_dgm_eval_transcription(n: int, m: int) -> None:
    rng = np.random.default_rng(n + m)
    x, y = rng.gamma(2.0, size=(n, 48)), rng.gamma(2.5, 1.2, size=(m, 48))
    assert sliced_wasserstein_approx(x.astype(np.float32), y.astype(np.float32)) == pytest.approx(
        dgm_eval_sw_approx(x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)),
        rel=1e-12,
    )


def test_approx_is_close_to_monte_carlo_in_high_dimension() -> None:
    """Nadjahi et al.'s approximation of SW_2 is within a few percent for near-Gaussian projections."""
    rng = np.random.default_rng(3)
    x, y = rng.normal(size=(1500, 256)), rng.normal(0.1, 1.3, size=(1500, 256))
    monte_carlo = sliced_wasserstein(x, y, random_directions(256, 2000, seed=1))
    assert sliced_wasserstein_approx(x, y) == pytest.approx(monte_carlo, rel=0.05)


def test_mismatched_shapes_are_refused_in_one_line() -> None:
    with pytest.raises(GanEvalError, match="sliced Wasserstein needs"):
        sliced_wasserstein(np.ones((3, 4)), np.ones((3, 5)), random_directions(4, 2, 0))
