"""Birthday-paradox support against all pair distances computed with loops, and known answers."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gan_eval.datasets.toy2d import TOY_2D
from gan_eval.diagnostics.birthday import birthday_support, support_from_pair_rate


def pair_distances(points):
    rows = points.tolist()
    return [math.dist(rows[i], rows[j]) for i in range(len(rows)) for j in range(i + 1, len(rows))]


def half_probability_batch(rate):
    """The real s at which 1 - (1 - rate)^(s (s - 1) / 2) = 1/2, by bisection."""
    lo, hi = 1.0, 1e9
    for _ in range(200):
        mid = (lo + hi) / 2
        if 1 - (1 - rate) ** (mid * (mid - 1) / 2) < 0.5:
            lo = mid
        else:
            hi = mid
    return lo


def test_support_matches_loops() -> None:
    rng = np.random.default_rng(0)
    real = rng.standard_normal((90, 5))
    fake = np.concatenate([rng.standard_normal((40, 5)), rng.standard_normal((20, 5)) * 0.3])
    result = birthday_support(real, fake, block=16)

    n, m = 90, 60
    real_d = sorted(pair_distances(real))
    s_ref = math.sqrt(n)
    k = round(math.log(2) / (s_ref * (s_ref - 1) / 2) * (n * (n - 1) / 2))
    tau = real_d[k - 1]
    assert result.threshold_distance == pytest.approx(tau, rel=1e-12)
    real_rate = sum(d <= tau for d in real_d) / len(real_d)
    fake_rate = sum(d <= tau for d in pair_distances(fake)) / (m * (m - 1) / 2)
    assert result.real_pair_rate == pytest.approx(real_rate)
    assert result.fake_pair_rate == pytest.approx(fake_rate)
    assert result.support_fake == pytest.approx(half_probability_batch(fake_rate) ** 2, rel=1e-6)
    assert result.support_real == pytest.approx(half_probability_batch(real_rate) ** 2, rel=1e-6)
    # The calibration: the reference's own support comes out as its size.
    assert result.support_real == pytest.approx(n, rel=0.05)


def test_support_from_pair_rate_edges() -> None:
    assert support_from_pair_rate(0.0) == math.inf
    assert support_from_pair_rate(1.0) == 1.0
    assert support_from_pair_rate(1e-4) == pytest.approx(half_probability_batch(1e-4) ** 2, rel=1e-6)


def test_fresh_sample_keeps_the_support_and_two_modes_quarter_it() -> None:
    ring = TOY_2D["ring8"]
    real = ring.sample(1500, seed=1)
    fresh = birthday_support(real, ring.sample(1500, seed=2))
    assert 0.7 < fresh.ratio < 1.4
    x = ring.sample(3000, seed=3)
    angle = np.arctan2(x[:, 1], x[:, 0])
    two = x[np.abs(angle) < 0.3][:750]
    two = np.concatenate([two, -two])  # modes 0 and 4
    collapsed = birthday_support(real, two)
    assert collapsed.ratio == pytest.approx(0.25, rel=0.3)


def test_exact_duplicates_in_the_generated_set() -> None:
    rng = np.random.default_rng(4)
    real = rng.standard_normal((200, 3))
    fake = np.repeat(rng.standard_normal((10, 3)), 20, axis=0)
    result = birthday_support(real, fake)
    # 10 atoms of 20 copies: 10 * C(20, 2) of the C(200, 2) pairs are at distance 0.
    assert result.fake_pair_rate >= 10 * 190 / (200 * 199 / 2)
    assert result.ratio < 0.5
