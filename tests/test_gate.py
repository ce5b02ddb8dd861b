"""The gate's rules: ceilings, floors, the noise-aware increase rule, comparability and baselines.

The increase rule is checked at its boundary, with its quantile computed here
from SciPy (Student's t on Welch–Satterthwaite degrees of freedom written
out; the normal quantile for a noise taken as exact); its false-alarm rate
and power on simulations: values drawn from normal distributions of known σ,
handed to the gate with noise estimates drawn as a jackknife's would be
(σ² times χ²_{g−1}/(g−1)); and its false-alarm rate end to end, on Gaussian
features with FID and its jackknife standard error from the metric
functions, as `report --ci` computes them.
"""

from __future__ import annotations

import json
import math
import warnings

import numpy as np
import pytest
from scipy.stats import binom, norm
from scipy.stats import t as student_t

from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.gate import (
    Limits,
    check_comparable,
    compare,
    default_limits,
    evaluate_for_gate,
    load_baseline,
    load_result,
    make_baseline,
    markdown,
    save_baseline,
)
from gan_eval.metrics.fid import fid_from_features
from gan_eval.metrics.fid_interval import DEFAULT_GROUPS, fid_interval
from gan_eval.result import Result
from gan_eval.stats import FeatureStats

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
# A jackknife of this many groups: a noise estimate as good as known (t quantile = normal quantile to 1e-5).
EXACT_GROUPS = 10**7


def values(metric: str, value: float, std: float | None, groups: int | None = None) -> Result:
    """A result holding `metric` and, unless None, its noise estimate (FID's from `groups` jackknife groups)."""
    out = report(1.0)
    out[metric] = value
    if std is not None:
        out[NOISE[metric]] = std
    if groups is not None:
        out["fid_ci_groups"] = groups
    return Result.from_json(out)


def expected_quantile(alpha: float, s_now: float, s_base: float, dof_now: float, dof_base: float) -> float:
    """t_{nu, 1 - alpha}, nu = (s_now^2 + s_base^2)^2 / (s_now^4 / dof_now + s_base^4 / dof_base) (Welch)."""
    dof = (s_now**2 + s_base**2) ** 2 / (s_now**4 / dof_now + s_base**4 / dof_base)
    return float(student_t.isf(alpha, dof))


@pytest.mark.parametrize("metric", ["fid", "kid_mean"])
@pytest.mark.parametrize("alpha", [None, 0.001, 0.05])
def test_increase_rule_fails_exactly_beyond_the_quantile(metric: str, alpha: float | None) -> None:
    """Fail exactly when now - before - delta > q * sqrt(s_now^2 + s_base^2): q = t_{nu, 1 - alpha} for FID's
    jackknife (g - 1 degrees of freedom a side; the default 20 groups when the result does not say), the normal
    quantile for KID's subset spread (taken as exact)."""
    limits = Limits(max_increase={metric: 0.5}) if alpha is None else Limits(max_increase={metric: 0.5}, alpha=alpha)
    level = DOCUMENTED_ALPHA if alpha is None else alpha
    for s_now, s_base, g_now, g_base in [(0.3, 0.4, None, None), (0.3, 0.4, 5, 40), (0.9, 0.1, 3, 20)]:
        if metric == "fid":
            quantile = expected_quantile(level, s_now, s_base, (g_now or 20) - 1, (g_base or 20) - 1)
        else:
            quantile = norm.isf(level)
        baseline = make_baseline(values(metric, 20.0, s_base, g_base))
        margin = quantile * math.hypot(s_now, s_base)
        step = margin * 1e-9  # far above rounding (~1e-14 of the margin)
        below = compare(values(metric, 20.0 + 0.5 + margin - step, s_now, g_now), baseline, limits)
        above = compare(values(metric, 20.0 + 0.5 + margin + step, s_now, g_now), baseline, limits)
        assert below.passed and not above.passed, (s_now, s_base, g_now, g_base)
        check = above.checks[0]
        assert check.noise.margin == pytest.approx(margin, rel=1e-12)
        assert "noise" in check.reason and f"{margin:.3g}" in check.reason and f"{quantile:.3g}" in check.reason


@pytest.mark.parametrize("metric", ["fid", "kid_mean"])
def test_without_noise_a_positive_increase_is_a_plain_threshold(metric: str) -> None:
    """A side without a noise estimate: an explicit allowed increase > 0 is a plain threshold, and says so."""
    limits = Limits(max_increase={metric: 0.5})
    for s_now, s_base in [(0.3, None), (None, 0.4), (None, None)]:
        baseline = make_baseline(values(metric, 20.0, s_base))
        below = compare(values(metric, 20.5 - 1e-9, s_now), baseline, limits)
        above = compare(values(metric, 20.5 + 1e-9, s_now), baseline, limits)
        assert below.passed and not above.passed, (s_now, s_base)
        assert above.checks[0].noise is None
        assert "plain threshold 0.5" in above.summary() and "no noise estimate" in above.summary()
        assert "plain threshold 0.5" in below.summary()


@pytest.mark.parametrize("rule", ["default", "explicit 0"])
@pytest.mark.parametrize(("s_now", "s_base", "lacking"), [(None, 0.4, "the result"), (0.3, None, "the baseline")])
def test_a_rule_of_no_increase_never_judges_without_noise(
    rule: str, s_now: float | None, s_base: float | None, lacking: str
) -> None:
    """The default rule, and an explicit allowed increase of 0, refuse a side without a noise estimate: with
    noise 0 they would fail a generator against itself about half the time."""
    limits = default_limits() if rule == "default" else Limits(max_increase={"fid": 0.0})
    baseline = make_baseline(values("fid", 20.0, s_base))
    with pytest.raises(GanEvalError, match=f"^{lacking} carries no noise estimate for fid") as error:
        compare(values("fid", 20.0, s_now), baseline, limits)
    assert ("the default rule" if rule == "default" else "--max-increase 0") in str(error.value)
    assert "--ci --json" in str(error.value) and "\n" not in str(error.value)


def _failure_count(metric: str, increase_in_sigmas: float, trials: int, seed: int, groups: bool = True) -> int:
    """Failed pairs among `trials`, each a baseline and a "now" drawn independently with known noise.

    Each pair gets its own sigmas (so the two sides' noise differ): the baseline is N(20, s_base^2),
    "now" N(20 + delta + k * s_delta, s_now^2) with s_delta = sqrt(s_now^2 + s_base^2) and
    k = `increase_in_sigmas`. For FID with `groups`, each side's noise estimate is drawn as a jackknife of
    g groups gives it (g from 3 to 40 per side: s^2 chi^2_{g-1} / (g - 1)); otherwise (KID, or FID without
    `groups`) the sigmas themselves are the noise estimates.
    """
    rng = np.random.default_rng(seed)
    delta = 0.5
    limits = Limits(max_increase={metric: delta})
    s_now, s_base = rng.uniform(0.1, 2.0, size=(2, trials))
    shift = delta + increase_in_sigmas * np.hypot(s_now, s_base)
    before = 20.0 + s_base * rng.standard_normal(trials)
    now = 20.0 + shift + s_now * rng.standard_normal(trials)
    if metric == "fid" and groups:
        g_now, g_base = rng.integers(3, 41, size=(2, trials)).tolist()
        e_now = s_now * np.sqrt(rng.chisquare(np.subtract(g_now, 1)) / np.subtract(g_now, 1))
        e_base = s_base * np.sqrt(rng.chisquare(np.subtract(g_base, 1)) / np.subtract(g_base, 1))
    else:
        g_now = g_base = [EXACT_GROUPS if metric == "fid" else None] * trials
        e_now, e_base = s_now, s_base
    failures = 0
    for i in range(trials):
        baseline = make_baseline(values(metric, float(before[i]), float(e_base[i]), g_base[i]))
        judged = values(metric, float(now[i]), float(e_now[i]), g_now[i])
        failures += not compare(judged, baseline, limits).passed
    return failures


@pytest.mark.parametrize("metric", ["fid", "kid_mean"])
def test_false_alarm_rate_is_the_documented_alpha(metric: str) -> None:
    """With a true increase of exactly delta, the rule fails 1% of the time: not 0.5%, 2%, 5% or 10%.

    FID's noise estimates are drawn with the spread of a jackknife's (3 to 40 groups), which the t quantile
    absorbs (the normal quantile would fail 1.6% of such pairs); KID's noise is taken as exact."""
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
    """A true increase of delta + k * s_delta fails with probability Phi(k - z) (0.09 at k = 1, 0.75 at k = 3)
    when the noise is known (a jackknife of so many groups that t is the normal quantile)."""
    trials, tail = 4_000, 1e-6
    expected = norm.cdf(increase_in_sigmas - norm.isf(DOCUMENTED_ALPHA))
    low, high = binom.ppf(tail, trials, expected), binom.isf(tail, trials, expected)
    assert low <= _failure_count("fid", increase_in_sigmas, trials, seed=2, groups=False) <= high


def gaussian_evaluation(reference: FeatureStats, features: np.ndarray) -> Result:
    """FID of `features` and its jackknife standard error as `report --ci --json` computes them (20 groups)."""
    fid = fid_from_features(reference, features)
    interval = fid_interval(reference, features, DEFAULT_GROUPS, estimate=fid)
    return result(fid, interval.std, fid_ci_groups=interval.groups, n_fake=len(features))


def test_false_alarm_rate_end_to_end_with_the_jackknife_spread(one_thread: None) -> None:
    """The default rule on null pairs (two independent samples of one generator), each side's noise the
    grouped-jackknife standard error of its FID: about 1% of pairs fail, as documented.

    16-d Gaussian features: reference statistics of 20,000 draws of N(0, I), a generator N(m, I) with
    |m| = 3 (FID about 9; a generator equal to the reference leaves FID's first-order term at zero, where
    the jackknife overstates the spread and almost no pair fails), 250 samples a side. Measured on 10,000
    pairs (docs/ci-gate.md): 0.98% +- 0.10% with the rule's t quantile, 1.24% +- 0.11% with the normal one.
    1,000 pairs here: the band [1, 24] failures holds Binomial(1000, 0.01) but for 2e-4. A rule without
    noise (half the pairs fail) or with a spread overstated enough to never fail is far outside it; at this
    size it cannot tell the t quantile from the normal one (the boundary test pins the quantile).
    """
    pairs, dim, n = 1_000, 16, 250
    low, high = binom.ppf(1e-4, pairs, DOCUMENTED_ALPHA), binom.isf(1e-4, pairs, DOCUMENTED_ALPHA)
    assert (low, high) == (1, 24)
    rng = np.random.default_rng(5)
    reference = FeatureStats(dim)
    reference.update(rng.standard_normal((20_000, dim)))
    shift = np.full(dim, 3.0 / np.sqrt(dim))
    failures = 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GanEvalWarning)
        for _ in range(pairs):
            base, now = (gaussian_evaluation(reference, shift + rng.standard_normal((n, dim))) for _ in range(2))
            failures += not compare(now, make_baseline(base), default_limits()).passed
    assert low <= failures <= high


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


def test_every_recorded_metric_option_must_match_and_an_older_baseline_compares_what_it_records() -> None:
    """The newer metrics' options (rarity_k, sw_projections, ...) keep results apart like KID's; a baseline made
    before an option existed is compared on what it records, and the interval's options are not compared."""
    with_options = json.loads(json.dumps(SETTINGS))
    with_options["metric_options"].update(rarity_k=3, confidence=0.95)
    baseline = make_baseline(result(10.0, settings=with_options))
    other = json.loads(json.dumps(with_options))
    other["metric_options"]["rarity_k"] = 5
    with pytest.raises(GanEvalError, match=r"metric_rarity_k=3, this evaluation has 5"):
        check_comparable(result(10.0, settings=other), baseline, "base.json")
    level = json.loads(json.dumps(with_options))
    level["metric_options"]["confidence"] = 0.9
    check_comparable(result(10.0, settings=level), baseline, "base.json")
    check_comparable(result(10.0, settings=with_options), make_baseline(result(10.0)), "base.json")
