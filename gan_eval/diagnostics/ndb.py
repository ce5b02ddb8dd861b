"""Number of statistically different bins (Richardson & Weiss 2018, "On GANs and GMMs").

The reference features are clustered by k-means into K bins (K = 100 in the
paper); generated features go to their nearest centroid. For every bin, a
two-proportion z-test with pooled proportion p̄ = (n_ref,k + n_fake,k) / (N + M)
and standard error √(p̄ (1 - p̄) (1/N + 1/M)) compares the reference's share of
the bin with the generated share; the bin is statistically different when
|z| > z_{1-α/2} (two-sided, α = 0.05). NDB is the number of such bins, NDB/K
its share (about α for a perfect generator), and the Jensen-Shannon
divergence of the two bin histograms (natural log, at most ln 2) is reported
beside them.

k-means is scikit-learn's `KMeans` (k-means++ initialisation, one run,
Lloyd iterations) with a fixed `random_state`; bin shares of both sets are read
from `predict`, so both go through the same nearest-centroid rule.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

from gan_eval.errors import GanEvalError


@dataclass(frozen=True)
class NdbResult:
    """NDB with its parts: `real_shares, fake_shares: (K,)`, `significant: (K,)` bool."""

    ndb: int
    bins: int
    alpha: float
    js: float
    real_shares: np.ndarray
    fake_shares: np.ndarray
    significant: np.ndarray

    @property
    def fraction(self) -> float:
        """NDB / K."""
        return self.ndb / self.bins


def two_proportion_z(count_a: np.ndarray, n_a: int, count_b: np.ndarray, n_b: int) -> np.ndarray:
    """Pooled two-proportion z statistics per bin, `(K,)`; 0 where both counts are 0."""
    p_a = count_a / n_a
    p_b = count_b / n_b
    pooled = (count_a + count_b) / (n_a + n_b)
    se = np.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    return np.divide(p_a - p_b, se, out=np.zeros_like(se), where=se > 0)


def jensen_shannon(p: np.ndarray, q: np.ndarray) -> float:
    """JS divergence of two histograms `(K,)` that each sum to 1, in nats."""
    m = (p + q) / 2

    def kl_to_m(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

    return 0.5 * kl_to_m(p) + 0.5 * kl_to_m(q)


def ndb(real: np.ndarray, fake: np.ndarray, bins: int = 100, alpha: float = 0.05, seed: int = 0) -> NdbResult:
    """NDB of `fake: (M, D)` against `real: (N, D)` with `bins` k-means bins fitted on `real`."""
    from sklearn.cluster import KMeans

    x = np.asarray(real, dtype=np.float64)
    y = np.asarray(fake, dtype=np.float64)
    if x.shape[0] < bins:
        raise GanEvalError(f"NDB with {bins} bins needs at least {bins} reference samples; got {x.shape[0]}")
    kmeans = KMeans(n_clusters=bins, n_init=1, random_state=seed).fit(x)
    real_counts = np.bincount(kmeans.predict(x), minlength=bins).astype(np.float64)
    fake_counts = np.bincount(kmeans.predict(y), minlength=bins).astype(np.float64)
    z = two_proportion_z(real_counts, x.shape[0], fake_counts, y.shape[0])
    significant = np.abs(z) > NormalDist().inv_cdf(1 - alpha / 2)
    real_shares = real_counts / x.shape[0]
    fake_shares = fake_counts / y.shape[0]
    return NdbResult(
        ndb=int(significant.sum()),
        bins=bins,
        alpha=alpha,
        js=jensen_shannon(real_shares, fake_shares),
        real_shares=real_shares,
        fake_shares=fake_shares,
        significant=significant,
    )


def ndb_threshold(bins: int, alpha: float, level: float = 0.001) -> int:
    """The largest NDB a perfect generator exceeds with probability at most `level`.

    Bins are treated as independent tests, so NDB ~ Binomial(`bins`, `alpha`).
    """
    tail = 1.0
    for c in range(bins + 1):
        tail -= math.comb(bins, c) * alpha**c * (1 - alpha) ** (bins - c)
        if tail <= level:
            return c
    return bins
