"""Mode counts, high-quality share, reverse KL and their null thresholds, against naive float64 code."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.stats import chi2

from gan_eval.datasets.toy2d import TOY_2D
from gan_eval.diagnostics.modes import allowed_missing, kl_threshold, label_collapse, mixture_collapse, reverse_kl
from gan_eval.errors import GanEvalError


def naive_mixture_numbers(centres, sigma, samples, min_count=1):
    """Modes covered, high-quality share and KL(p_fake ‖ uniform) with Python loops."""
    counts = [0] * len(centres)
    good = 0
    for px, py in samples.tolist():
        dists = [math.sqrt((px - cx) ** 2 + (py - cy) ** 2) for cx, cy in centres.tolist()]
        k = min(range(len(dists)), key=dists.__getitem__)
        if dists[k] <= 3 * sigma:
            good += 1
            counts[k] += 1
    covered = sum(1 for c in counts if c >= min_count)
    kl = sum((c / good) * math.log((c / good) * len(centres)) for c in counts if c > 0) if good else float("nan")
    return covered, good / len(samples), kl, counts


def only_modes(mixture, keep, n, seed):
    """Samples of `mixture` restricted to the modes listed in `keep`."""
    rng = np.random.default_rng(seed)
    modes = rng.choice(np.array(keep), size=n)
    return (mixture.centres[modes] + rng.standard_normal((n, 2)) * mixture.sigma).astype(np.float32)


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_numbers_match_naive_loops(name: str) -> None:
    mixture = TOY_2D[name]
    rng = np.random.default_rng(5)
    # A mix of on-mode samples, blurred ones and uniform junk so every branch counts.
    samples = np.concatenate(
        [
            only_modes(mixture, [0, 1, 2], 600, 1),
            mixture.sample(300, seed=2) + rng.standard_normal((300, 2)).astype(np.float32) * mixture.sigma * 3,
            rng.uniform(-5, 5, size=(100, 2)).astype(np.float32),
        ]
    )
    for min_count in (1, 20):
        verdict = mixture_collapse(mixture, samples, min_count=min_count)
        covered, hq, kl, counts = naive_mixture_numbers(mixture.centres, mixture.sigma, samples, min_count)
        assert verdict.values["modes_covered"] == covered
        assert verdict.values["modes_total"] == mixture.num_modes
        assert verdict.values["high_quality"] == pytest.approx(hq, abs=1e-12)
        assert verdict.values["mode_kl"] == pytest.approx(kl, rel=1e-12)
        assert verdict.values["mode_counts"] == counts


@pytest.mark.parametrize("name", ["ring8", "grid25"])
@pytest.mark.parametrize("seed", [101, 202, 303])
def test_fresh_reference_sample_passes(name: str, seed: int) -> None:
    mixture = TOY_2D[name]
    verdict = mixture_collapse(mixture, mixture.sample(2500, seed=seed))
    assert not verdict.collapsed, verdict.to_json()
    assert verdict.severity == "none"
    assert verdict.values["modes_covered"] == mixture.num_modes
    # Binomial(2500, 1 - e^-4.5): 4.5 standard deviations either side.
    p = 1 - math.exp(-4.5)
    assert abs(verdict.values["high_quality"] - p) < 4.5 * math.sqrt(p * (1 - p) / 2500)


def test_two_of_eight_modes_is_collapsed() -> None:
    ring = TOY_2D["ring8"]
    verdict = mixture_collapse(ring, only_modes(ring, [0, 4], 2500, 7))
    assert verdict.collapsed
    assert "modes" in verdict.fired
    assert verdict.values["modes_covered"] == 2
    # Half the mass on each of two modes: KL to uniform = log(8 / 2), up to sampling noise.
    assert verdict.values["mode_kl"] == pytest.approx(math.log(4), abs=2e-3)
    assert verdict.severity == "severe" and verdict.to_json()["severity"] == "severe"


def test_six_of_eight_modes_is_a_partial_collapse() -> None:
    """Six modes of eight, evenly: KL log(8/6) < ln 2 and more than half covered."""
    ring = TOY_2D["ring8"]
    verdict = mixture_collapse(ring, only_modes(ring, [0, 1, 2, 3, 4, 5], 2500, 10))
    assert verdict.collapsed and verdict.values["modes_covered"] == 6
    assert verdict.values["mode_kl"] == pytest.approx(math.log(8 / 6), abs=5e-3)
    assert verdict.severity == "partial"


def test_unbalanced_modes_fire_the_kl_detector_only() -> None:
    ring = TOY_2D["ring8"]
    samples = np.concatenate([only_modes(ring, [0], 1500, 8), only_modes(ring, list(range(8)), 1000, 9)])
    verdict = mixture_collapse(ring, samples)
    assert verdict.fired == ("mode_kl",)
    assert verdict.values["modes_covered"] == 8


def test_blurred_but_diverse_samples_are_low_quality_not_collapsed() -> None:
    ring = TOY_2D["ring8"]
    blurred = ring.centres[np.arange(2500) % 8] + np.random.default_rng(3).standard_normal((2500, 2)) * 0.1
    verdict = mixture_collapse(ring, blurred)
    # High quality within 3σ = 0.03 of a centre when the noise is 0.1: P = 1 - exp(-0.045).
    p = 1 - math.exp(-(0.03**2) / (2 * 0.1**2))
    assert abs(verdict.values["high_quality"] - p) < 4.5 * math.sqrt(p * (1 - p) / 2500)
    assert not verdict.collapsed


def test_nothing_near_any_mode() -> None:
    verdict = mixture_collapse(TOY_2D["grid25"], np.full((10, 2), 1.0))
    assert verdict.values["modes_covered"] == 0
    assert verdict.values["high_quality"] == 0.0
    assert math.isnan(verdict.values["mode_kl"])
    assert verdict.fired == ("modes",)
    assert verdict.to_json()["mode_kl"] is None


def test_reverse_kl_against_formula() -> None:
    counts = np.array([3, 0, 5, 2])
    q = np.array([0.1, 0.2, 0.3, 0.4])
    expected = sum((c / 10) * math.log((c / 10) / qi) for c, qi in zip(counts.tolist(), q.tolist(), strict=True) if c)
    assert reverse_kl(counts, q) == pytest.approx(expected, rel=1e-14)
    assert math.isnan(reverse_kl(np.zeros(4, dtype=int), q))


def test_kl_threshold_agrees_with_the_g_test() -> None:
    # 2 n KL(p̂ ‖ p) is the G statistic, asymptotically chi-square with K - 1 degrees of freedom.
    assert kl_threshold(np.full(8, 1 / 8), 2500) == pytest.approx(chi2.ppf(0.999, 7) / (2 * 2500), rel=0.12)
    assert allowed_missing(np.full(8, 1 / 8), 2500) == 0


def test_allowed_missing_agrees_with_a_binomial_tail() -> None:
    # 5,000 draws over 1,000 equal modes: each mode is empty with q = (1 - 1/1000)^5000; treating modes as
    # independent, the missing count is Binomial(1000, q) (slightly wider than the truth).
    k, n = 1000, 5000
    q = (1 - 1 / k) ** n
    cdf, m = 0.0, 0
    while True:
        cdf += math.comb(k, m) * q**m * (1 - q) ** (k - m)
        if cdf >= 0.999:
            break
        m += 1
    assert m - 3 <= allowed_missing(np.full(k, 1 / k), n) <= m


def naive_label_numbers(real, fake):
    ref_counts: dict[int, int] = {}
    for r in real.tolist():
        ref_counts[r] = ref_counts.get(r, 0) + 1
    fake_counts = {k: 0 for k in ref_counts}
    for f in fake.tolist():
        if f in fake_counts:
            fake_counts[f] += 1
    on = sum(fake_counts.values())
    kl = sum((c / on) * math.log((c / on) / (ref_counts[k] / len(real))) for k, c in fake_counts.items() if c)
    covered = sum(1 for c in fake_counts.values() if c)
    return covered, len(ref_counts), kl, 1 - on / len(fake)


def test_label_numbers_match_naive_loops() -> None:
    rng = np.random.default_rng(0)
    real = rng.integers(0, 50, size=3000)
    real = real[real != 7]
    fake = np.concatenate([rng.integers(0, 30, size=900), np.full(100, 7)])
    verdict = label_collapse(real, fake)
    covered, total, kl, off = naive_label_numbers(real, fake)
    assert verdict.values["modes_covered"] == covered
    assert verdict.values["modes_total"] == total
    assert verdict.values["mode_kl"] == pytest.approx(kl, rel=1e-12)
    assert verdict.values["off_mode"] == pytest.approx(off, abs=1e-12)
    assert verdict.collapsed and "modes" in verdict.fired


def test_fresh_labelled_sample_passes_and_collapse_fires() -> None:
    rng = np.random.default_rng(1)
    real = np.repeat(np.arange(1000), 5)
    assert not label_collapse(real, rng.integers(0, 1000, size=5000)).collapsed
    few = label_collapse(real, rng.integers(0, 100, size=5000))
    assert few.collapsed and few.values["modes_covered"] == 100


@pytest.mark.parametrize(
    "samples",
    [np.zeros((5, 3)), np.zeros((0, 2)), np.zeros(10), np.array([[0.0, float("nan")]])],
)
def test_bad_samples_refused(samples) -> None:
    with pytest.raises(GanEvalError):
        mixture_collapse(TOY_2D["ring8"], samples)


def test_bad_min_count_and_labels_refused() -> None:
    with pytest.raises(GanEvalError, match="min-count"):
        mixture_collapse(TOY_2D["ring8"], np.zeros((3, 2)), min_count=0)
    with pytest.raises(GanEvalError):
        label_collapse(np.array([0, 1]), np.array([-1, 0]))
    with pytest.raises(GanEvalError):
        label_collapse(np.array([0.5, 1.0]), np.array([0, 1]))
