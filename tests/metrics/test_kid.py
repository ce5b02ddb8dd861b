"""KID against torch-fidelity on the same features and subsets, and against a naive loop."""

import numpy as np
import pytest
import torch
from torch_fidelity.metric_kid import kid_features_to_metric

from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.metrics.kid import kernel_inception_distance, polynomial_mmd2


def naive_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    m, d = x.shape
    k = lambda a, b: (a @ b / d + 1) ** 3  # noqa: E731
    xx = sum(k(x[i], x[j]) for i in range(m) for j in range(m) if i != j)
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m) if i != j)
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return (xx + yy) / (m * (m - 1)) - 2 * xy / (m * m)


def test_mmd2_matches_naive_double_loop():
    rng = np.random.default_rng(1)
    x, y = rng.normal(size=(12, 5)), rng.normal(0.3, 1.2, size=(12, 5))
    ours = polynomial_mmd2(torch.from_numpy(x), torch.from_numpy(y))
    assert ours == pytest.approx(naive_mmd2(x, y), rel=1e-12)


def test_kid_matches_torch_fidelity_same_subsets():
    rng = np.random.default_rng(2)
    a = rng.normal(size=(300, 64)) + 0.5
    b = rng.normal(size=(250, 64)) * 1.1 + 0.5
    ours = kernel_inception_distance(a, b, subsets=20, subset_size=100, seed=2020)
    ref = kid_features_to_metric(
        torch.from_numpy(a),
        torch.from_numpy(b),
        kid_subsets=20,
        kid_subset_size=100,
        rng_seed=2020,
        verbose=False,
        kid_kernel="poly",
        kid_kernel_poly_degree=3,
        kid_kernel_poly_gamma=None,
        kid_kernel_poly_coef0=1,
    )
    assert ours.mean == pytest.approx(ref["kernel_inception_distance_mean"], rel=1e-6)
    assert ours.std == pytest.approx(ref["kernel_inception_distance_std"], rel=1e-6)


def test_kid_near_zero_for_one_distribution_and_positive_for_shift():
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(600, 32)), rng.normal(size=(600, 32))
    same = kernel_inception_distance(a, b, subsets=30, subset_size=200)
    # Overlapping subsets are correlated, so the subset std (not std/sqrt(30)) bounds the noise.
    assert abs(same.mean) < 2 * same.std
    shifted = kernel_inception_distance(a, b + 0.5, subsets=30, subset_size=200)
    assert shifted.mean > 10 * same.std


def test_kid_clips_subset_size_with_warning_and_needs_two_samples():
    rng = np.random.default_rng(4)
    with pytest.warns(GanEvalWarning, match="clipped to 50"):
        res = kernel_inception_distance(rng.normal(size=(50, 4)), rng.normal(size=(80, 4)), subsets=3)
    assert res.subset_size == 50
    with pytest.raises(GanEvalError, match="at least 2"):
        kernel_inception_distance(np.zeros((1, 4)), np.zeros((5, 4)))


def test_one_subset_has_no_spread():
    rng = np.random.default_rng(3)
    res = kernel_inception_distance(rng.normal(size=(40, 4)), rng.normal(size=(40, 4)), subsets=1, subset_size=30)
    assert res.std is None and np.isfinite(res.mean)


def test_subsets_that_are_the_whole_sets_give_exactly_zero_spread_and_the_full_set_value():
    """Subset size = both set sizes: every subset is a permutation of both sets, so the spread is exactly 0
    (it used to print ± 2.98e-16), and the mean is the naive MMD² of the whole sets."""
    rng = np.random.default_rng(5)
    a, b = rng.normal(size=(30, 6)), rng.normal(0.2, 1.0, size=(30, 6))
    res = kernel_inception_distance(a, b, subsets=100, subset_size=30)
    assert res.std == 0.0 and res.whole_sets
    assert res.mean == pytest.approx(naive_mmd2(a, b), rel=1e-12)
    with pytest.warns(GanEvalWarning, match="clipped to 30"):
        clipped = kernel_inception_distance(a, b, subsets=10, subset_size=1000)
    assert clipped.std == 0.0
    partial = kernel_inception_distance(a, b[:29], subsets=10, subset_size=29)
    assert not partial.whole_sets and partial.std > 0


def test_the_report_says_why_kid_spread_is_zero():
    from gan_eval.cli.report import format_table
    from gan_eval.evaluation import evaluate
    from gan_eval.metrics.registry import MetricOptions

    rng = np.random.default_rng(6)
    real = rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    fake = rng.integers(0, 256, (12, 8, 8, 3), dtype=np.uint8)
    from stand_in import StandInExtractor

    result = evaluate(
        real, fake, "kid", extractor=StandInExtractor(), options=MetricOptions(kid_subset_size=12), progress=False
    )
    assert result["kid_std"] == 0.0
    assert "every subset is the whole of both sets: std 0" in format_table(result)


def test_an_absurd_number_of_subsets_is_refused_before_allocating():
    with pytest.raises(GanEvalError, match=r"KID subsets 10000000000: at most 1000000 are allowed"):
        kernel_inception_distance(np.zeros((5, 4)), np.ones((5, 4)), subsets=10_000_000_000, subset_size=3)
