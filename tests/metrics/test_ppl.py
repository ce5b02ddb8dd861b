"""PPL's trimmed mean of path lengths against a naive transcription of StyleGAN2-ADA's rule (1st percentile by
NumPy's `lower`, 99th by `higher`), and against torchmetrics' rule where the two coincide."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_eval.metrics.ppl import perceptual_path_length


def naive_trimmed(values: np.ndarray) -> tuple[float, int]:
    """Mean of the values between the sorted ones at floor(0.01 (n-1)) and ceil(0.99 (n-1)), with their count."""
    ordered = sorted(float(v) for v in values)
    low, high = ordered[math.floor(0.01 * (len(ordered) - 1))], ordered[math.ceil(0.99 * (len(ordered) - 1))]
    kept = [v for v in values if low <= v <= high]
    return sum(kept) / len(kept), len(kept)


@pytest.mark.parametrize("n", [2, 7, 100, 101, 1000, 1234])
def test_trimmed_mean_equals_the_naive_rule(n: int) -> None:
    values = np.random.default_rng(n).lognormal(1.0, 1.5, n)
    result = perceptual_path_length(values[:, None])
    mean, kept = naive_trimmed(values)
    assert result.mean == pytest.approx(mean, rel=1e-12)
    assert result.kept == kept
    kept_values = values[(values >= np.sort(values)[math.floor(0.01 * (n - 1))])]
    assert result.std == pytest.approx(np.std(kept_values[kept_values <= np.sort(values)[math.ceil(0.99 * (n - 1))]]))


@pytest.mark.parametrize("n", [101, 201, 1001])
def test_equals_torchmetrics_rule_when_its_99th_percentile_is_the_same(n: int) -> None:
    """torchmetrics takes both percentiles by `lower`; at N = 100 k + 1 the 99th is a whole rank either way."""
    values = torch.from_numpy(np.random.default_rng(n).lognormal(1.0, 1.5, n))
    low = torch.quantile(values, 0.01, interpolation="lower")
    high = torch.quantile(values, 0.99, interpolation="lower")
    expected = values[(values >= low) & (values <= high)].mean()
    assert perceptual_path_length(values.numpy()).mean == pytest.approx(float(expected), rel=1e-12)


def test_ties_are_kept_on_both_sides() -> None:
    values = np.array([1.0] * 50 + [2.0] * 51)
    result = perceptual_path_length(values)
    assert result.kept == 101 and result.mean == pytest.approx((50 * 1.0 + 51 * 2.0) / 101)
