"""FID∞ against an independent refit with NumPy and a SciPy sqrtm FID on the same subsets."""

import warnings

import numpy as np
import pytest
import scipy.linalg

from gan_eval.errors import GanEvalWarning
from gan_eval.metrics.fid_inf import fid_infinity, sample_sizes
from gan_eval.stats import FeatureStats


def naive_fid(a: np.ndarray, mu2: np.ndarray, s2: np.ndarray) -> float:
    mu1, s1 = a.mean(0), np.cov(a, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def test_sample_sizes_follow_the_protocol():
    sizes = sample_sizes(50000)
    assert sizes[0] == 5000 and sizes[-1] == 50000 and len(sizes) == 15
    assert sample_sizes(2000)[0] == 200


def test_matches_independent_fit():
    rng = np.random.default_rng(0)
    real = rng.normal(size=(4000, 6))
    fake = rng.normal(0.2, 1.1, size=(1500, 6))
    ref = FeatureStats(6)
    ref.update(real)
    res = fid_infinity(ref, fake, seed=7)
    draw = np.random.RandomState(7)
    sizes = sample_sizes(1500)
    fids = [
        naive_fid(fake[draw.choice(1500, n, replace=False)], real.mean(0), np.cov(real, rowvar=False)) for n in sizes
    ]
    slope, intercept = np.polyfit(1.0 / np.asarray(sizes), fids, 1)
    assert list(res.sizes) == sizes
    np.testing.assert_allclose(res.fids, fids, rtol=1e-8)
    assert res.fid_inf == pytest.approx(intercept, rel=1e-6)
    assert res.slope == pytest.approx(slope, rel=1e-6)


def test_warns_below_its_minimum_sample_size():
    rng = np.random.default_rng(1)
    ref = FeatureStats(4)
    ref.update(rng.normal(size=(500, 4)))
    with pytest.warns(GanEvalWarning, match="1000 generated samples: below 5000 its fit is noisy"):
        fid_infinity(ref, rng.normal(size=(1000, 4)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", GanEvalWarning)
        fid_infinity(ref, rng.normal(size=(5000, 4)))
