"""The 2-D mixtures: centres, σ and samples against the PacGAN definitions, computed here independently."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gan_eval.datasets.toy2d import TOY_2D, sample_grid25, sample_ring8


def test_ring8_centres_and_sigma() -> None:
    ring = TOY_2D["ring8"]
    expected = [(math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)) for k in range(8)]
    assert ring.centres.shape == (8, 2)
    np.testing.assert_allclose(ring.centres, expected, atol=1e-15)
    assert ring.sigma == 0.01
    assert ring.num_modes == 8


def test_grid25_centres_and_sigma() -> None:
    grid = TOY_2D["grid25"]
    expected = {(float(x), float(y)) for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)}
    assert {tuple(c) for c in grid.centres.tolist()} == expected
    assert grid.centres.shape == (25, 2)
    assert grid.sigma == 0.05


def test_centres_are_read_only() -> None:
    with pytest.raises(ValueError):
        TOY_2D["ring8"].centres[0, 0] = 5.0


@pytest.mark.parametrize("sampler", [sample_ring8, sample_grid25])
def test_samples_are_seeded_float32(sampler) -> None:
    a = sampler(100, seed=3)
    assert a.shape == (100, 2) and a.dtype == np.float32
    np.testing.assert_array_equal(a, sampler(100, seed=3))
    assert not np.array_equal(a, sampler(100, seed=4))


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_samples_follow_the_mixture(name: str) -> None:
    mixture = TOY_2D[name]
    x = mixture.sample(5000, seed=11).astype(np.float64)
    centres = mixture.centres.tolist()
    # Nearest centre by brute force per sample; modes are 2 (grid) or 0.77 (ring) apart, σ ≤ 0.05.
    counts = [0] * len(centres)
    residuals = []
    for px, py in x:
        dists = [math.hypot(px - cx, py - cy) for cx, cy in centres]
        k = dists.index(min(dists))
        counts[k] += 1
        residuals.append((px - centres[k][0], py - centres[k][1]))
    res = np.array(residuals)
    assert abs(res.mean()) < 4 * mixture.sigma / math.sqrt(len(res))
    assert res.std() == pytest.approx(mixture.sigma, rel=0.03)
    # Equal weights: Pearson's chi-square of the mode counts below its 0.999 quantile.
    expected = 5000 / len(centres)
    chi2 = sum((c - expected) ** 2 / expected for c in counts)
    dof = len(centres) - 1
    assert chi2 < dof + 3.1 * math.sqrt(2 * dof) + 5


def test_negative_count_refused() -> None:
    with pytest.raises(ValueError):
        sample_ring8(-1)
