"""Bootstrap interval against explicit resampled copies with the same draws."""

import numpy as np
import pytest
import scipy.linalg
from naive_metrics import naive_fid_small_n

from gan_eval.errors import GanEvalError
from gan_eval.metrics.fid_bootstrap import fid_bootstrap
from gan_eval.stats import FeatureStats


@pytest.mark.parametrize(("n_fake", "dim"), [(300, 5), (40, 64)], ids=["n>D", "n<D"])
def test_matches_explicit_resampling(n_fake: int, dim: int):
    rng = np.random.default_rng(0)
    real, fake = rng.normal(size=(800, dim)), rng.normal(0.3, 1.2, size=(n_fake, dim))
    ref = FeatureStats(dim)
    ref.update(real)
    res = fid_bootstrap(ref, fake, replicates=40, level=0.9, seed=3)
    draw = np.random.RandomState(3)
    mu2, s2 = real.mean(0), np.cov(real, rowvar=False)
    values = []
    for _ in range(40):
        counts = draw.multinomial(n_fake, np.full(n_fake, 1 / n_fake))
        sample = np.repeat(fake, counts, axis=0)
        if n_fake < dim:  # sqrtm is inaccurate (~1e-8) on the singular product: use the small-matrix route
            values.append(naive_fid_small_n(sample, real))
            continue
        mu1, s1 = sample.mean(0), np.cov(sample, rowvar=False)
        values.append(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2) - 2 * np.trace(scipy.linalg.sqrtm(s1 @ s2).real))
    low, high = np.quantile(values, [0.05, 0.95])
    assert res.low == pytest.approx(low, rel=1e-8)
    assert res.high == pytest.approx(high, rel=1e-8)
    assert res.std == pytest.approx(np.std(values, ddof=1), rel=1e-8)


def test_rejects_bad_settings():
    ref = FeatureStats(2)
    ref.update(np.random.default_rng(1).normal(size=(10, 2)))
    with pytest.raises(GanEvalError, match="replicates"):
        fid_bootstrap(ref, np.zeros((5, 2)), replicates=1)
