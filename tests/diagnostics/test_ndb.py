"""NDB: the z-tests, the JS divergence and the threshold, against formulas written out here."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import binom

from gan_eval.diagnostics.ndb import ndb, ndb_threshold

Z_975 = 1.959963984540054  # the standard normal's 0.975 quantile


def clusters(counts, centres, rng):
    """`counts[k]` points around each of the well-separated `centres`."""
    return np.concatenate(
        [c + 0.01 * rng.standard_normal((n, centres.shape[1])) for c, n in zip(centres, counts, strict=True)]
    )


def naive_ndb(real_counts, fake_counts):
    n, m = sum(real_counts), sum(fake_counts)
    different = 0
    for a, b in zip(real_counts, fake_counts, strict=True):
        pooled = (a + b) / (n + m)
        se = math.sqrt(pooled * (1 - pooled) * (1 / n + 1 / m))
        if se > 0 and abs(a / n - b / m) / se > Z_975:
            different += 1
    js = 0.0
    for a, b in zip(real_counts, fake_counts, strict=True):
        p, q = a / n, b / m
        mid = (p + q) / 2
        js += 0.5 * (p * math.log(p / mid) if p else 0) + 0.5 * (q * math.log(q / mid) if q else 0)
    return different, js


def test_ndb_matches_the_written_out_z_test() -> None:
    rng = np.random.default_rng(0)
    centres = np.eye(6) * 10
    real_counts = [200, 200, 200, 200, 200, 200]
    fake_counts = [200, 170, 260, 120, 0, 250]
    real = clusters(real_counts, centres, rng)
    fake = clusters(fake_counts, centres, rng)
    result = ndb(real, fake, bins=6, seed=0)
    # The bins are the clusters (in k-means' own order): compare as multisets of (real, fake) count pairs.
    got = sorted(
        zip(
            (result.real_shares * 1200).round().astype(int).tolist(),
            (result.fake_shares * 1000).round().astype(int).tolist(),
            strict=True,
        )
    )
    assert got == sorted(zip(real_counts, fake_counts, strict=True))
    different, js = naive_ndb(real_counts, fake_counts)
    assert result.ndb == different == 5
    assert result.fraction == pytest.approx(5 / 6)
    assert result.js == pytest.approx(js, rel=1e-12)


def test_identical_histograms_have_no_different_bin() -> None:
    rng = np.random.default_rng(1)
    centres = np.eye(4) * 10
    real = clusters([100] * 4, centres, rng)
    result = ndb(real, clusters([50] * 4, centres, rng), bins=4)
    assert result.ndb == 0 and result.js == pytest.approx(0.0, abs=1e-15)


@pytest.mark.parametrize(("bins", "alpha"), [(100, 0.05), (50, 0.05), (100, 0.01)])
def test_threshold_is_the_binomial_quantile(bins: int, alpha: float) -> None:
    assert ndb_threshold(bins, alpha) == int(binom.ppf(0.999, bins, alpha))


def test_too_few_reference_samples() -> None:
    from gan_eval.errors import GanEvalError

    with pytest.raises(GanEvalError, match="100 bins"):
        ndb(np.zeros((50, 2)), np.zeros((50, 2)))
