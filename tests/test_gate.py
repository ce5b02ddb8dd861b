"""The gate's rules: ceilings, floors, the noise-aware increase rule, comparability and baselines.

The increase rule is checked at its boundary, with z = Φ⁻¹(1 − α) taken from
SciPy (the gate uses `statistics.NormalDist`), and its false-alarm rate and
power on a simulation: values drawn from normal distributions of known σ,
passed to the gate as their noise estimates. That keeps these tests
independent of how σ is estimated (`gan_eval.metrics.fid_interval` and its
tests own that).
"""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import binom, norm

from gan_eval.errors import GanEvalError
from gan_eval.gate import (
    Limits,
    check_comparable,
    compare,
    evaluate_for_gate,
    load_baseline,
    load_result,
    make_baseline,
    markdown,
    save_baseline,
)
from gan_eval.result import Result

SETTINGS = {
    "extractor": "inception-v3-tf-2015-12-05",
    "weights_sha256": "7ff4a85c",
    "resize": "tf1-bilinear",
    "precision": "exact",
    "device": "cpu",
    "metric_options": {
        "kid_subsets": 100,
        "kid_subset_size": 1000,
        "pr_k": 3,
        "dc_k": 5,
        "is_splits": 10,
        "seed": 2020,
    },
}


def report(fid: float, std: float | None = None, **extra: object) -> dict:
    """A result's JSON as `report --json` writes it, reduced to what the gate reads."""
    out = {"fid": fid, "n_real": 1000, "n_fake": 500, "settings": json.loads(json.dumps(SETTINGS))}
    if std is not None:
        out["fid_std"] = std
    out.update(extra)
    return out


def result(fid: float, std: float | None = None, **extra: object) -> Result:
    """The `Result` of `report(fid, std, **extra)`."""
    return Result.from_json(report(fid, std, **extra))


def test_ceiling_and_floor() -> None:
    limits = Limits(maximum={"fid": 10.0}, minimum={"precision": 0.5})
    assert compare(result(9.99, precision=0.5), None, limits).passed
    verdict = compare(result(10.01, precision=0.49), None, limits)
    assert not verdict.passed
    assert [c.metric for c in verdict.checks if c.failed] == ["fid", "precision"]
    assert "above the ceiling 10" in verdict.summary() and "below the floor 0.5" in verdict.summary()


# The false-alarm rate docs/ci-gate.md states for the default rule.
DOCUMENTED_ALPHA = 0.01
NOISE = {"fid": "fid_std", "kid_mean": "kid_std"}


def values(metric: str, value: float, std: float | None) -> Result:
    """A result holding `metric` and, unless None, its noise estimate."""
    out = report(1.0)
    out[metric] = value
    if std is not None:
        out[NOISE[metric]] = std
    return Result.from_json(out)


@pytest.mark.parametrize("metric", ["fid", "kid_mean"])
@pytest.mark.parametrize("alpha", [None, 0.001, 0.05])
def test_increase_rule_fails_exactly_beyond_the_quantile(metric: str, alpha: float | None) -> None:
    """Fail exactly when now - before - delta > z * sqrt(s_now^2 + s_base^2), z = Phi^-1(1 - alpha)."""
    limits = Limits(max_increase={metric: 0.5}) if alpha is None else Limits(max_increase={metric: 0.5}, alpha=alpha)
    z = norm.isf(DOCUMENTED_ALPHA if alpha is None else alpha)
    for s_now, s_base in [(0.3, 0.4), (0.3, None), (None, 0.4), (None, None)]:
        baseline = make_baseline(values(metric, 20.0, s_base))
        margin = z * math.hypot(s_now or 0.0, s_base or 0.0)
        # 1e-9 relative to the margin, or absolute when there is no noise: far above rounding (~1e-14)
        step = margin * 1e-9 or 1e-9
        below = compare(values(metric, 20.0 + 0.5 + margin - step, s_now), baseline, limits)
        above = compare(values(metric, 20.0 + 0.5 + margin + step, s_now), baseline, limits)
        assert below.passed and not above.passed, (s_now, s_base)
        if margin:
            assert "noise" in above.checks[0].reason and f"{margin:.3g}" in above.checks[0].reason


def _failure_count(metric: str, increase_in_sigmas: float, trials: int, seed: int) -> int:
    """Failed pairs among `trials`, each a baseline and a "now" drawn independently with known noise.

    Each pair gets its own sigmas (so the two sides' noise differ): the baseline is N(20, s_base^2),
    "now" N(20 + delta + k * s_delta, s_now^2) with s_delta = sqrt(s_now^2 + s_base^2) and
    k = `increase_in_sigmas`; the sigmas are passed to the gate as the noise estimates.
    """
    rng = np.random.default_rng(seed)
    delta = 0.5
    limits = Limits(max_increase={metric: delta})
    s_now, s_base = rng.uniform(0.1, 2.0, size=(2, trials))
    shift = delta + increase_in_sigmas * np.hypot(s_now, s_base)
    before = 20.0 + s_base * rng.standard_normal(trials)
    now = 20.0 + shift + s_now * rng.standard_normal(trials)
    failures = 0
    for i in range(trials):
        baseline = make_baseline(values(metric, float(before[i]), float(s_base[i])))
        failures += not compare(values(metric, float(now[i]), float(s_now[i])), baseline, limits).passed
    return failures


@pytest.mark.parametrize("metric", ["fid", "kid_mean"])
def test_false_alarm_rate_is_the_documented_alpha(metric: str) -> None:
    """With a true increase of exactly delta, the default rule fails 1% of the time: not 0.5%, 2%, 5% or 10%."""
    trials, tail = 20_000, 1e-6
    low, high = binom.ppf(tail, trials, DOCUMENTED_ALPHA), binom.isf(tail, trials, DOCUMENTED_ALPHA)
    # The acceptance band [low, high] (0.69% to 1.35%) is the 1 - 2e-6 range of Binomial(20000, 0.01);
    # a rule with a 2%, 5% or 10% (or 0.5%) rate lands inside it with probability below 1e-3.
    for wrong in (0.02, 0.05, 0.10):
        assert binom.cdf(high, trials, wrong) < 1e-6
    assert binom.sf(low - 1, trials, 0.005) < 1e-3
    assert low <= _failure_count(metric, 0.0, trials, seed=1) <= high


@pytest.mark.parametrize("increase_in_sigmas", [1.0, 3.0])
def test_power_against_a_real_increase(increase_in_sigmas: float) -> None:
    """A true increase of delta + k * s_delta fails with probability Phi(k - z) (0.09 at k = 1, 0.75 at k = 3)."""
    trials, tail = 4_000, 1e-6
    expected = norm.cdf(increase_in_sigmas - norm.isf(DOCUMENTED_ALPHA))
    low, high = binom.ppf(tail, trials, expected), binom.isf(tail, trials, expected)
    assert low <= _failure_count("fid", increase_in_sigmas, trials, seed=2) <= high


def test_improvement_never_fails() -> None:
    baseline = make_baseline(result(20.0, 0.01))
    assert compare(result(5.0, 0.01), baseline, Limits(max_increase={"fid": 0.0})).passed


def test_missing_metric_or_baseline_is_an_error() -> None:
    with pytest.raises(GanEvalError, match="has no kid_mean"):
        compare(result(1.0), None, Limits(maximum={"kid_mean": 0.1}))
    with pytest.raises(GanEvalError, match="needs a baseline"):
        compare(result(1.0), None, Limits(max_increase={"fid": 1.0}))


@pytest.mark.parametrize(
    ("path", "value"),
    [
        (("settings", "weights_sha256"), "other"),
        (("settings", "resize"), "pil-bicubic"),
        (("settings", "precision"), "bf16"),
        (("settings", "metric_options", "seed"), 1),
        (("n_fake",), 499),
        (("settings", "latent_seed"), 3),
    ],
)
def test_baseline_with_other_settings_is_refused(path: tuple[str, ...], value: object) -> None:
    baseline = make_baseline(result(10.0))
    changed = report(10.0)
    target = changed
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    now = Result.from_json(changed)
    with pytest.raises(GanEvalError, match=f"{path[-1]}=.*not comparable"):
        check_comparable(now, baseline, "base.json")
    check_comparable(result(10.0), baseline, "base.json")


def test_generator_identity_is_not_a_setting() -> None:
    """A new checkpoint must stay comparable with the baseline of the old one."""
    old = result(10.0, settings={**SETTINGS, "latent_seed": 0, "generator_sha256": "a" * 64})
    new = result(11.0, settings={**SETTINGS, "latent_seed": 0, "generator_sha256": "b" * 64})
    check_comparable(new, make_baseline(old), "base.json")


def test_baseline_round_trip_and_bad_files(tmp_path) -> None:
    path = tmp_path / "baseline.json"
    baseline = make_baseline(result(12.5, 0.2, kid_mean=0.01, kid_std=0.002))
    save_baseline(baseline, path)
    loaded = load_baseline(path)
    assert loaded["values"] == {"fid": 12.5, "fid_std": 0.2, "kid_mean": 0.01, "kid_std": 0.002}
    assert loaded["comparable"] == baseline["comparable"]
    assert [p.name for p in tmp_path.iterdir()] == ["baseline.json"]
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(GanEvalError, match=r"bad\.json is not JSON"):
        load_baseline(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"fid": 1}')
    with pytest.raises(GanEvalError, match="not a gan-eval baseline"):
        load_baseline(tmp_path / "other.json")
    with pytest.raises(GanEvalError, match="not a gan-eval report"):
        load_result(tmp_path / "other.json")
    with pytest.raises(GanEvalError, match=r"missing\.json does not exist"):
        load_baseline(tmp_path / "missing.json")


def test_markdown_table() -> None:
    verdict = compare(result(30.0, 0.1), make_baseline(result(20.0, 0.1)), Limits(max_increase={"fid": 1.0}))
    text = markdown(verdict)
    assert "regression" in text
    assert "| fid | 20 | 30 | +10 |" in text


def test_a_baseline_from_0_1_0_lends_its_bootstrap_std_as_the_noise() -> None:
    """gan-eval 0.1.0 wrote FID's noise as `fid_bootstrap_std`; such a baseline still gates with its σ."""
    baseline = make_baseline(result(10.0))
    baseline["values"]["fid_bootstrap_std"] = 1.0
    z = norm.ppf(0.99)
    limits = Limits(max_increase={"fid": 0.0})
    now = result(10.0, 0.0)
    assert compare(result(10.0 + 0.99 * z, 0.0), baseline, limits).passed
    assert not compare(result(10.0 + 1.01 * z, 0.0), baseline, limits).passed
    baseline["values"]["fid_bootstrap_std"] = float("nan")
    with pytest.raises(GanEvalError, match="fid_bootstrap_std"):
        compare(now, baseline, limits)


def test_evaluate_for_gate_takes_images_or_a_generator_with_a_count() -> None:
    limits = Limits(maximum={"fid": 1.0})
    with pytest.raises(GanEvalError, match="exactly one of fake and generator"):
        evaluate_for_gate("digits-test", limits=limits)
    with pytest.raises(GanEvalError, match="exactly one of fake and generator"):
        evaluate_for_gate("digits-test", "fake.npy", generator="g.pt", n=2, limits=limits)
    with pytest.raises(GanEvalError, match="needs n"):
        evaluate_for_gate("digits-test", generator="g.pt", limits=limits)
