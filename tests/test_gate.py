"""The gate's rules: ceilings, floors, the noise-aware increase rule, comparability and baselines.

The increase rule is checked against the formula written out by hand, and
its false-alarm rate against a simulation: two independent samples of one
Gaussian "generator" judged against each other must fail about α of the
time, and a real shift must fail nearly always.
"""

from __future__ import annotations

import json
import math
from statistics import NormalDist

import numpy as np
import pytest

from gan_eval.errors import GanEvalError
from gan_eval.gate import (
    Limits,
    check_comparable,
    compare,
    load_baseline,
    load_result,
    make_baseline,
    markdown,
    save_baseline,
)
from gan_eval.metrics.fid import fid_from_stats
from gan_eval.metrics.fid_bootstrap import fid_bootstrap
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


def result(fid: float, std: float | None = None, **extra: object) -> dict:
    out = {"fid": fid, "n_real": 1000, "n_fake": 500, "settings": json.loads(json.dumps(SETTINGS))}
    if std is not None:
        out["fid_bootstrap_std"] = std
    out.update(extra)
    return out


def test_ceiling_and_floor() -> None:
    limits = Limits(maximum={"fid": 10.0}, minimum={"precision": 0.5})
    assert compare(result(9.99, precision=0.5), None, limits).passed
    verdict = compare(result(10.01, precision=0.49), None, limits)
    assert not verdict.passed
    assert [c.metric for c in verdict.checks if c.failed] == ["fid", "precision"]
    assert "above the ceiling 10" in verdict.summary() and "below the floor 0.5" in verdict.summary()


def test_increase_rule_matches_the_formula() -> None:
    """Fail exactly when now - before - delta > z * sqrt(s_now^2 + s_base^2)."""
    alpha, delta, s_now, s_base = 0.01, 0.5, 0.3, 0.4
    margin = NormalDist().inv_cdf(1 - alpha) * math.hypot(s_now, s_base)
    baseline = make_baseline(result(20.0, s_base))
    limits = Limits(max_increase={"fid": delta}, alpha=alpha)
    below = compare(result(20.0 + delta + margin - 1e-9, s_now), baseline, limits)
    above = compare(result(20.0 + delta + margin + 1e-9, s_now), baseline, limits)
    assert below.passed and not above.passed
    assert "noise" in above.checks[0].reason and f"{margin:.3g}" in above.checks[0].reason
    # without a noise estimate on either side, delta is a plain threshold
    plain = make_baseline(result(20.0))
    assert compare(result(20.5), plain, limits).passed
    assert not compare(result(20.5 + 1e-9), plain, limits).passed
    # one side's noise alone counts
    assert compare(result(20.5 + 0.9 * 2.3263 * s_now, s_now), plain, limits).passed


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
    now = result(10.0)
    target = now
    for key in path[:-1]:
        target = target[key]
    target[path[-1]] = value
    with pytest.raises(GanEvalError, match=f"{path[-1]}=.*not comparable"):
        check_comparable(now, baseline, "base.json")
    check_comparable(result(10.0), baseline, "base.json")


def test_generator_identity_is_not_a_setting() -> None:
    """A new checkpoint must stay comparable with the baseline of the old one."""
    old = result(10.0)
    old["settings"].update(latent_seed=0, generator_sha256="a" * 64)
    new = result(11.0)
    new["settings"].update(latent_seed=0, generator_sha256="b" * 64)
    check_comparable(new, make_baseline(old), "base.json")


def test_baseline_round_trip_and_bad_files(tmp_path) -> None:
    path = tmp_path / "baseline.json"
    baseline = make_baseline(result(12.5, 0.2, kid_mean=0.01, kid_std=0.002))
    save_baseline(baseline, path)
    loaded = load_baseline(path)
    assert loaded["values"] == {"fid": 12.5, "fid_bootstrap_std": 0.2, "kid_mean": 0.01, "kid_std": 0.002}
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


def _gate_trials(shift: float, trials: int, rng: np.random.Generator) -> float:
    """Share of baseline/now pairs of independent samples, `shift` apart in mean, that the rule fails."""
    dim, n = 8, 200
    scale = np.linspace(0.5, 2.0, dim)
    reference = FeatureStats(dim)
    reference.update(rng.normal(size=(20_000, dim)) * scale)
    limits = Limits(max_increase={"fid": 0.0}, alpha=0.01)

    def evaluation(offset: float, seed: int) -> dict:
        fake = rng.normal(size=(n, dim)) * scale + np.r_[offset, np.zeros(dim - 1)] + 0.3
        stats = FeatureStats(dim)
        stats.update(fake)
        value = fid_from_stats(reference, stats)
        return result(value, fid_bootstrap(reference, fake, 40, seed=seed).std)

    failures = 0
    for trial in range(trials):
        baseline = make_baseline(evaluation(0.0, 2 * trial))
        failures += not compare(evaluation(shift, 2 * trial + 1), baseline, limits).passed
    return failures / trials


def test_sampling_noise_rarely_fails_and_a_real_shift_fails() -> None:
    rng = np.random.default_rng(7)
    # alpha = 0.01: more than 3 failures in 50 null trials has probability 0.002 under Binomial(50, 0.01)
    assert _gate_trials(0.0, 50, rng) <= 3 / 50
    assert _gate_trials(1.0, 12, rng) >= 0.9
