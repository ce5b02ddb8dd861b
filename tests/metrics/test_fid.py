"""`frechet_distance` and `fid_from_stats` against the naive formula with `scipy.linalg.sqrtm`."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch
from scipy import linalg

from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.metrics.fid import checked_distance, fid_from_stats, frechet_distance
from gan_eval.stats import FeatureStats


def naive_frechet(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr(sqrtm(S1 S2)), float64, as TTUR and pytorch-fid write it."""
    diff = mu1 - mu2
    root = linalg.sqrtm(sigma1 @ sigma2)
    return float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * np.trace(root).real)


def random_gaussian(rng: np.random.Generator, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A random mean `(D,)` and a positive definite covariance `(D, D)`."""
    factor = rng.standard_normal((dim, 2 * dim))
    return rng.standard_normal(dim), factor @ factor.T / (2 * dim)


@pytest.mark.parametrize("dim", [8, 64, 512])
def test_matches_naive_formula(dim: int) -> None:
    rng = np.random.default_rng(dim)
    mu1, sigma1 = random_gaussian(rng, dim)
    mu2, sigma2 = random_gaussian(rng, dim)
    expected = naive_frechet(mu1, sigma1, mu2, sigma2)
    assert frechet_distance(mu1, sigma1, mu2, sigma2) == pytest.approx(expected, rel=1e-9)


def test_identical_statistics_give_zero() -> None:
    mu, sigma = random_gaussian(np.random.default_rng(0), 64)
    scale = np.trace(sigma)
    assert 0.0 <= frechet_distance(mu, sigma, mu, sigma) < 1e-9 * scale


def test_rank_deficient_covariances() -> None:
    rng = np.random.default_rng(3)
    dim = 64
    a = rng.standard_normal((20, dim))
    b = rng.standard_normal((30, dim)) + 0.5
    mu1, sigma1 = a.mean(0), np.cov(a, rowvar=False)
    mu2, sigma2 = b.mean(0), np.cov(b, rowvar=False)
    value = frechet_distance(mu1, sigma1, mu2, sigma2)
    assert np.isfinite(value)
    assert value >= 0
    assert value == pytest.approx(naive_frechet(mu1, sigma1, mu2, sigma2), rel=1e-6)


@pytest.mark.parametrize(("m1", "s1", "m2", "s2"), [(0.0, 1.0, 0.0, 1.0), (1.5, 2.0, -0.5, 0.5), (3.0, 0.1, 3.0, 4.0)])
def test_one_dimensional_known_answer(m1: float, s1: float, m2: float, s2: float) -> None:
    value = frechet_distance(np.array([m1]), np.array([[s1**2]]), np.array([m2]), np.array([[s2**2]]))
    assert value == pytest.approx((m1 - m2) ** 2 + (s1 - s2) ** 2, rel=1e-12, abs=1e-12)


def test_refuses_mismatched_shapes() -> None:
    with pytest.raises(ValueError, match="shapes"):
        frechet_distance(np.zeros(3), np.eye(3), np.zeros(4), np.eye(4))


def stats_of(features: np.ndarray) -> FeatureStats:
    stats = FeatureStats(features.shape[1])
    stats.update(features)
    return stats


def test_fid_from_stats_needs_two_samples() -> None:
    rng = np.random.default_rng(0)
    with pytest.raises(GanEvalError, match="at least 2"):
        fid_from_stats(stats_of(rng.standard_normal((1, 4))), stats_of(rng.standard_normal((10, 4))))


def test_fid_from_stats_warns_when_rank_deficient() -> None:
    rng = np.random.default_rng(0)
    few, many = rng.standard_normal((8, 8)), rng.standard_normal((50, 8))
    with pytest.warns(GanEvalWarning, match="rank-deficient"):
        fid_from_stats(stats_of(few), stats_of(many))
    with warnings.catch_warnings():
        warnings.simplefilter("error", GanEvalWarning)
        value = fid_from_stats(stats_of(rng.standard_normal((9, 8))), stats_of(many))
    assert np.isfinite(value)


def test_fid_from_stats_equals_naive_formula_on_sample_moments() -> None:
    rng = np.random.default_rng(11)
    a = rng.standard_normal((200, 16))
    b = rng.standard_normal((150, 16)) * 1.3 + 0.2
    expected = naive_frechet(a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False))
    assert fid_from_stats(stats_of(a), stats_of(b)) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize(("n_ref", "n"), [(30, 12), (200, 40), (200, 64), (25, 100)])
def test_fid_from_features_matches_moments_and_naive(n_ref: int, n: int) -> None:
    """The n x n route (n <= D) and the moments route (n > D) agree with independent float64 formulas."""
    from gan_eval.metrics.fid import fid_from_features

    rng = np.random.default_rng(n_ref + n)
    dim = 64
    real = rng.normal(size=(n_ref, dim)) * np.linspace(0.2, 3, dim)
    fake = rng.normal(size=(n, dim)) + 0.4
    reference = FeatureStats(dim)
    reference.update(real)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GanEvalWarning)
        value = fid_from_features(reference, fake)
    s1, s2 = np.cov(real, rowvar=False), np.cov(fake, rowvar=False)
    eigvals = linalg.eigvals(s1 @ s2).real  # general (non-symmetric) eigensolver: an independent route
    trace_sqrt = np.sqrt(np.clip(eigvals, 0, None)).sum()
    diff = real.mean(0) - fake.mean(0)
    expected = diff @ diff + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt
    assert value == pytest.approx(expected, rel=1e-7)


@pytest.mark.parametrize(("n1", "n2"), [(300, 100), (100, 300), (40, 60), (300, 200)])
def test_trace_term_equals_nuclear_norm_of_cross_product(n1: int, n2: int) -> None:
    """Every route of the trace term (either side rank-deficient, both, neither) against an SVD formula.

    With S_i = X_i^T X_i / (n_i - 1) for centred X_i, Tr((S1 S2)^(1/2)) is the
    sum of the singular values of X1 X2^T / sqrt((n1 - 1)(n2 - 1)).
    """
    from gan_eval.metrics.fid import _trace_sqrt_factored, trace_sqrt_product

    rng = np.random.default_rng(n1 * n2)
    dim = 128
    scale = np.exp(rng.uniform(-4, 1, dim))  # a wide spectrum, as pool3 features have
    x1 = rng.standard_normal((n1, dim)) * scale
    x2 = rng.standard_normal((n2, dim)) * scale * rng.uniform(0.5, 1.5, dim)
    x1, x2 = x1 - x1.mean(0), x2 - x2.mean(0)
    expected = linalg.svdvals(x1 @ x2.T).sum() / np.sqrt((n1 - 1) * (n2 - 1))
    s1, s2 = x1.T @ x1 / (n1 - 1), x2.T @ x2 / (n2 - 1)
    ranks = (min(n1 - 1, dim), min(n2 - 1, dim))
    assert trace_sqrt_product(s1, s2, ranks=ranks) == pytest.approx(expected, rel=1e-10)
    # unknown ranks (statistics files without a sample count): rounding noise is kept, as every peer keeps it
    assert trace_sqrt_product(s1, s2) == pytest.approx(expected, rel=1e-6)
    # the factored route (GPU, and CPU when neither side is positive definite), here on CPU
    factored = _trace_sqrt_factored(torch.from_numpy(s1), torch.from_numpy(s2), ranks)
    assert factored == pytest.approx(expected, rel=1e-10)


def test_negative_fid_beyond_rounding_is_an_error_naming_both_sets() -> None:
    """Naively ||0||^2 + Tr(I) + Tr(diag(4, -3)) - 2 (sqrt(4) + 0) = 3 - 4 = -1: sigma2 is no covariance."""
    a = FeatureStats.from_moments(np.zeros(2), np.eye(2), None, {"file": "a.npz"})
    b = FeatureStats.from_moments(np.zeros(2), np.diag([4.0, -3.0]), None, {"file": "b.npz"})
    with pytest.raises(GanEvalError, match=r"FID of a\.npz and b\.npz is -1, negative beyond rounding"):
        fid_from_stats(a, b)


@pytest.mark.parametrize(
    ("excess", "expected"),
    [(0.0, 0.0), (1e-12, 0.0), (0.9e-10, 0.0), (1.1e-10, None), (1e-6, None)],
)
def test_negative_fid_within_rounding_is_zero(excess: float, expected: float | None) -> None:
    """terms - 2 * trace_sqrt = -excess * terms: 0 up to NEGATIVE_FID_TOLERANCE (1e-10) of the terms, else refused."""
    terms = 4096.0
    trace_sqrt = terms * (1 + excess) / 2
    if expected is None:
        with pytest.raises(GanEvalError, match="negative beyond rounding"):
            checked_distance(terms, trace_sqrt, ("a", "b"))
    else:
        assert checked_distance(terms, trace_sqrt, ("a", "b")) == expected


def test_overflowing_fid_is_an_error() -> None:
    with pytest.raises(GanEvalError, match="FID of a and b is inf: their statistics overflow float64"):
        checked_distance(float("inf"), 1.0, ("a", "b"))


def test_identical_rank_deficient_statistics_round_to_zero_not_to_an_error() -> None:
    """Equal moments of 100 samples in 512 dimensions, count unknown: the rounding left is far inside the bound."""
    rng = np.random.default_rng(3)
    features = rng.standard_normal((100, 512)) * np.exp(rng.uniform(-4, 1, 512))
    mu, sigma = features.mean(0), np.cov(features, rowvar=False)
    value = frechet_distance(mu, sigma, mu, sigma)
    assert 0.0 <= value < 1e-10 * 2 * np.trace(sigma)
