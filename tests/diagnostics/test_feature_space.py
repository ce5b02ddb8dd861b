"""Feature-space verdict: thresholds against formulas written here, known answers on Gaussian mixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest

from gan_eval.diagnostics.feature_space import baseline_threshold, expected_coverage, feature_collapse
from gan_eval.errors import GanEvalError

DIMS, MODES = 12, 20
CENTRES = np.random.default_rng(123).standard_normal((MODES, DIMS)) * 3


def mixture(n: int, modes: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return CENTRES[rng.integers(0, modes, size=n)] + rng.standard_normal((n, DIMS))


@pytest.fixture(scope="module")
def real() -> np.ndarray:
    return mixture(1200, MODES, 1)


def test_fresh_sample_passes(real: np.ndarray) -> None:
    verdict = feature_collapse(real, mixture(1200, MODES, 2))
    assert not verdict.collapsed, verdict.to_json()
    names = ["precision", "ndb", "support", "coverage", "recall", "authenticity"]
    assert [d.name for d in verdict.detectors] == names
    assert verdict.values["low_fidelity"] is False
    assert all(d.decides for d in verdict.detectors if d.name != "precision")


def test_poor_samples_of_every_mode_are_low_fidelity_not_collapse(real: np.ndarray) -> None:
    """Every mode, but each sample blurred far off the reference's manifold: precision fires, collapse does not.

    The neighbourhood detectors fire too (the samples leave the reference's
    balls empty), but they cannot tell this from missing modes, so they are
    inconclusive; support (duplicates within the set) stays high.
    """
    rng = np.random.default_rng(7)
    poor = CENTRES[rng.integers(0, MODES, size=1200)] + 3.0 * rng.standard_normal((1200, DIMS))
    verdict = feature_collapse(real, poor)
    payload = verdict.to_json()
    assert payload["low_fidelity"] is True
    assert not verdict.collapsed, payload
    assert {"precision", "coverage"} <= set(verdict.inconclusive)
    assert payload["fired"] == []
    by_name = {d["name"]: d for d in payload["detectors"]}
    assert by_name["coverage"]["decides"] is False and "low fidelity" in by_name["coverage"]["note"]
    assert by_name["support"]["threshold"] == 0.1


def test_few_poor_samples_repeated_are_collapsed_despite_low_fidelity(real: np.ndarray) -> None:
    """Five off-manifold points repeated: low fidelity, and support (within-set duplicates) still decides."""
    rng = np.random.default_rng(8)
    few = CENTRES[:5] + 3.0 * rng.standard_normal((5, DIMS))
    repeated = few[rng.integers(0, 5, size=1200)] + 1e-3 * rng.standard_normal((1200, DIMS))
    verdict = feature_collapse(real, repeated)
    assert verdict.values["low_fidelity"] is True
    assert verdict.collapsed
    assert "support" in verdict.fired
    assert verdict.values["support_ratio"] < 0.1


def test_a_quarter_of_the_modes_is_collapsed(real: np.ndarray) -> None:
    verdict = feature_collapse(real, mixture(1200, MODES // 4, 3))
    assert verdict.collapsed
    assert {"ndb", "coverage", "recall", "support"} <= set(verdict.fired)
    assert "authenticity" not in verdict.fired


def test_copies_of_the_reference_fire_authenticity(real: np.ndarray) -> None:
    copies = real[np.random.default_rng(4).permutation(1200)[:800]] + 1e-4
    verdict = feature_collapse(real, copies)
    assert verdict.fired == ("authenticity",)
    assert verdict.values["authenticity"] == 0.0


def test_coverage_expectation_by_simulation() -> None:
    # Coverage of identical distributions with naive dense distances, averaged over repetitions.
    rng = np.random.default_rng(5)
    n, m, k, reps = 30, 20, 5, 400
    covered = []
    for _ in range(reps):
        x, y = rng.random((n, 1)), rng.random((m, 1))
        dx = np.abs(x - x.T)
        radius = np.sort(dx, axis=1)[:, k]  # column 0 is the point itself
        covered.append((np.abs(x - y.T) <= radius[:, None]).any(axis=1).mean())
    product = math.prod((n - i) / (m + n - i) for i in range(1, k + 1))
    assert expected_coverage(n, m, k) == pytest.approx(1 - product, rel=1e-14)
    assert np.mean(covered) == pytest.approx(1 - product, abs=3 * np.std(covered) / math.sqrt(reps) + 0.005)


def test_baseline_threshold() -> None:
    # Large sets: 4 SE = 4 √(0.21 (1/4000 + 1/2000)) ≈ 0.050 < 0.1, so the margin is 0.1.
    assert baseline_threshold(0.7, 4000, 2000) == pytest.approx(0.6)
    se = math.sqrt(0.5 * 0.5 * (1 / 20 + 1 / 20))
    assert baseline_threshold(0.5, 20, 20) == pytest.approx(0.5 - 4 * se)


def test_values_are_the_detectors_numbers(real: np.ndarray) -> None:
    verdict = feature_collapse(real, mixture(600, MODES, 6), max_samples=900)
    by_name = {d.name: d for d in verdict.detectors}
    for name in ("precision", "ndb", "coverage", "recall", "authenticity"):
        assert verdict.values[name] == by_name[name].value
    assert verdict.values["support_ratio"] == by_name["support"].value
    assert verdict.settings["n_real_features"] == 900
    assert verdict.settings["n_fake_features"] == 600
    payload = verdict.to_json()
    assert payload["collapsed"] is False and payload["fired"] == [] and payload["inconclusive"] == []


@pytest.mark.parametrize(
    ("real_shape", "fake_shape", "message"),
    [((50, 3), (50, 4), "dimensions"), ((50,), (50, 3), r"\(N, D\)"), ((5, 3), (50, 3), "at least")],
)
def test_bad_inputs(real_shape, fake_shape, message) -> None:
    with pytest.raises(GanEvalError, match=message):
        feature_collapse(np.zeros(real_shape), np.ones(fake_shape), ndb_bins=2)


def test_nan_refused() -> None:
    fake = np.ones((20, 3))
    fake[3, 1] = np.nan
    with pytest.raises(GanEvalError, match="NaN"):
        feature_collapse(np.zeros((20, 3)), fake, ndb_bins=2)
