"""The percentile bootstrap interval of a mean: a naive loop of resamples, and its textbook width."""

from __future__ import annotations

import math

import numpy as np

from gan_eval.paired import bootstrap
from gan_eval.paired.bootstrap import bootstrap_mean_interval


def naive_interval(values: np.ndarray, resamples: int, confidence: float, seed: int) -> tuple[float, float]:
    """One resample at a time from the same seeded generator, the mean of each, then its percentiles."""
    rng = np.random.default_rng(seed)
    means = []
    for _ in range(resamples):
        drawn = rng.integers(0, len(values), size=len(values))
        means.append(sum(float(values[i]) for i in drawn) / len(values))
    tail = 100 * (1 - confidence) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return float(low), float(high)


def test_interval_equals_the_naive_loop(monkeypatch) -> None:
    values = np.random.default_rng(0).gamma(2.0, 3.0, size=37)
    monkeypatch.setattr(bootstrap, "_DRAWS_PER_CHUNK", 37 * 7)  # several chunks, a short last one
    ours = bootstrap_mean_interval(values, resamples=200, confidence=0.9, seed=11)
    np.testing.assert_allclose(ours, naive_interval(values, 200, 0.9, 11), rtol=0, atol=1e-12)


def test_width_matches_the_normal_approximation() -> None:
    values = np.random.default_rng(1).normal(5.0, 2.0, size=2000)
    low, high = bootstrap_mean_interval(values, resamples=2000, seed=3)
    half = 1.959964 * values.std() / math.sqrt(len(values))
    assert low < values.mean() < high
    assert abs((high - low) / 2 - half) < 0.08 * half


def test_seeded_single_and_infinite() -> None:
    values = np.arange(10.0)
    assert bootstrap_mean_interval(values, seed=4) == bootstrap_mean_interval(values, seed=4)
    assert bootstrap_mean_interval(values, seed=4) != bootstrap_mean_interval(values, seed=5)
    assert bootstrap_mean_interval(np.array([7.5])) == (7.5, 7.5)
    assert all(math.isnan(v) for v in bootstrap_mean_interval(np.array([30.0, math.inf])))
