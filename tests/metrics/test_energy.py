"""The energy distance against a NumPy transcription of dgm-eval's `energy` (layer6ai-labs/dgm-eval pull
request 9, commit 064a94e, `dgm_eval/metrics/energy.py`, `energy_distance_naive`), against SciPy's 1-D
`energy_distance`, and against the dense formula for sets of different sizes."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import energy_distance as scipy_energy_distance

from gan_eval.errors import GanEvalError
from gan_eval.metrics.energy import energy_distance


def dgm_eval_energy(x: np.ndarray, y: np.ndarray) -> float:
    """dgm-eval's `energy_distance_naive` (sums over all pairs, one row at a time), in NumPy."""

    def pair_sum(a: np.ndarray, b: np.ndarray) -> float:
        return float(sum(np.linalg.norm(a[i : i + 1, None, :] - b, axis=-1).sum() for i in range(len(a))))

    d_xy, d_xx, d_yy = pair_sum(x, y), pair_sum(x, x), pair_sum(y, y)
    return (2 * d_xy - d_xx - d_yy) / (2 * d_xy)


def dense_energy(x: np.ndarray, y: np.ndarray) -> float:
    def mean_distance(a: np.ndarray, b: np.ndarray) -> float:
        return float(np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)).mean())

    return 2 * mean_distance(x, y) - mean_distance(x, x) - mean_distance(y, y)


def test_normalised_form_equals_dgm_eval_on_sets_of_equal_size() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(90, 32)), rng.normal(0.3, 1.2, size=(90, 32))
    assert energy_distance(x, y).coefficient == pytest.approx(dgm_eval_energy(x, y), rel=1e-9)


def test_distance_equals_the_dense_formula_on_sets_of_different_sizes() -> None:
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(70, 20)), rng.uniform(-1, 2, size=(45, 20))
    result = energy_distance(x.astype(np.float32), y.astype(np.float32))
    x64, y64 = x.astype(np.float32).astype(np.float64), y.astype(np.float32).astype(np.float64)
    assert result.distance == pytest.approx(dense_energy(x64, y64), rel=1e-9)
    cross = float(np.sqrt(((x64[:, None] - y64[None]) ** 2).sum(-1)).mean())
    assert result.coefficient == pytest.approx(dense_energy(x64, y64) / (2 * cross), rel=1e-9)


def test_one_dimensional_distance_is_the_square_of_scipys() -> None:
    """SciPy's `energy_distance` is the square root of 2A - B - C for 1-D samples."""
    rng = np.random.default_rng(2)
    u, v = rng.normal(size=60), rng.exponential(size=35)
    assert energy_distance(u[:, None], v[:, None]).distance == pytest.approx(scipy_energy_distance(u, v) ** 2, 1e-9)


def test_identical_sets_give_zero() -> None:
    x = np.random.default_rng(3).normal(size=(50, 16))
    result = energy_distance(x, x[::-1].copy())
    assert result.distance == pytest.approx(0.0, abs=1e-9)
    assert result.coefficient == pytest.approx(0.0, abs=1e-9)


def test_empty_set_is_refused_in_one_line() -> None:
    with pytest.raises(GanEvalError, match="at least 1 sample per set"):
        energy_distance(np.zeros((0, 3)), np.ones((2, 3)))
