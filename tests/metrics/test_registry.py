"""`evaluate` through the registry, on a stand-in extractor: every value equals a naive float64
computation on the same features, each input is read once, and unavailable metrics say why."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from naive_metrics import naive_fid, naive_fid_inf, naive_kid, naive_prdc

from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.evaluation import evaluate, parse_metrics
from gan_eval.extraction import ExtractionOptions
from gan_eval.feature_types import FEATURES, LOGITS, PATH_LENGTHS, SPATIAL, InputFeatures
from gan_eval.metrics.registry import FAKE, HIGHER, LOWER, METRICS, REAL, MetricOptions
from gan_eval.result import RESULT_KEYS
from gan_eval.stats import FeatureStats, save_stats

N_REAL, N_FAKE = 60, 50


@pytest.fixture(scope="module")
def sets() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (N_REAL, 16, 16, 3), dtype=np.uint8)
    fake = np.clip(rng.integers(0, 256, (N_FAKE, 16, 16, 3)) * 0.7 + 30, 0, 255).astype(np.uint8)
    return real, fake


def features_of(extractor, images: np.ndarray) -> np.ndarray:
    return extractor.extract(torch.from_numpy(images).permute(0, 3, 1, 2))["pool3"].double().numpy()


def test_every_value_equals_naive_float64_on_the_same_features(stand_in, sets) -> None:
    real, fake = sets
    options = MetricOptions(kid_subsets=20, kid_subset_size=40, seed=7)
    result = evaluate(
        real, fake, extractor=stand_in, options=options, progress=False, extraction=ExtractionOptions(cache=False)
    )
    fr, ff = features_of(stand_in, real), features_of(stand_in, fake)
    assert result.metrics == ("fid", "fid_inf", "kid", "pr", "dc")
    assert set(result.unavailable) == {"is"}
    assert result["fid"] == pytest.approx(naive_fid(fr, ff), rel=1e-6)
    kid_mean, kid_std = naive_kid(fr, ff, 20, 40, 7)
    assert result["kid_mean"] == pytest.approx(kid_mean, rel=1e-6)
    assert result["kid_std"] == pytest.approx(kid_std, rel=1e-6)
    for key, value in naive_prdc(fr, ff, 3, 5).items():
        assert result[key] == value, key
    fid_inf, slope = naive_fid_inf(fr, ff, 7, 15)
    assert result["fid_inf"] == pytest.approx(fid_inf, rel=1e-6)
    assert result["fid_inf_slope"] == pytest.approx(slope, rel=1e-6)
    assert (result.n_real, result.n_fake) == (N_REAL, N_FAKE)


def test_json_has_every_documented_key_and_the_settings(stand_in, sets) -> None:
    result = evaluate(
        *sets, ("fid", "pr"), extractor=stand_in, progress=False, extraction=ExtractionOptions(cache=False)
    )
    out = result.to_json()
    assert set(RESULT_KEYS) | {"n_real", "n_fake", "settings", "unavailable", "metrics"} <= set(out)
    assert out["kid_mean"] is None and out["fid"] == result["fid"]
    assert out["settings"]["extractor"] == "stand-in"
    assert out["settings"]["metric_options"]["pr_k"] == 3
    assert out["metrics"] == ["fid", "pr"]


def test_identical_sets_known_answers(stand_in, sets) -> None:
    real, _ = sets
    options = MetricOptions(kid_subsets=10, kid_subset_size=30)
    result = evaluate(real, real.copy(), ("fid", "pr", "kid"), extractor=stand_in, options=options, progress=False)
    assert result["fid"] == pytest.approx(0.0, abs=1e-9)
    assert (result["precision"], result["recall"]) == (1.0, 1.0)


def test_confidence_interval_brackets_the_fid(stand_in, sets) -> None:
    """The interval holds the FID it reports; its coverage is tested in tests/metrics/test_fid_interval.py."""
    options = MetricOptions(ci_groups=10, confidence=0.9)
    result = evaluate(
        *sets, ("fid",), extractor=stand_in, options=options, progress=False, extraction=ExtractionOptions(cache=False)
    )
    assert result["fid_ci_low"] < result["fid"] < result["fid_ci_high"]
    assert result["fid_ci_high"] - result["fid"] == pytest.approx(result["fid"] - result["fid_ci_low"])
    assert result["fid_ci_level"] == 0.9 and result["fid_ci_groups"] == 10
    assert result["fid_ci_method"] == "grouped jackknife" and result["fid_std"] > 0


def test_statistics_input_limits_the_default_set_and_refuses_explicit_requests(stand_in, sets, tmp_path) -> None:
    real, fake = sets
    stats = FeatureStats(16)
    stats.update(features_of(stand_in, real))
    stats.meta.update(stand_in.settings())
    path = tmp_path / "real.npz"
    save_stats(stats, path)
    result = evaluate(str(path), fake, extractor=stand_in, progress=False, extraction=ExtractionOptions(cache=False))
    assert result.metrics == ("fid", "fid_inf")
    assert "statistics file" in result.unavailable["kid"]
    assert result["fid"] == pytest.approx(naive_fid(features_of(stand_in, real), features_of(stand_in, fake)), rel=1e-6)
    with pytest.raises(GanEvalError, match=r"kid.*real\.npz, a statistics file"):
        evaluate(str(path), fake, "fid,kid", extractor=stand_in, progress=False)


def test_inception_score_unavailable_without_logits_head(stand_in, sets) -> None:
    with pytest.raises(GanEvalError, match=r"Inception Score.*no classifier head"):
        evaluate(*sets, ["is"], extractor=stand_in, progress=False)


def test_too_few_images_named_with_the_number_needed(stand_in, sets) -> None:
    real, fake = sets
    with pytest.raises(GanEvalError, match=r"at least 4 images per set; .* has 3"):
        evaluate(real, fake[:3], "pr", extractor=stand_in, progress=False)
    with pytest.warns(GanEvalWarning, match="rank-deficient"):
        options = MetricOptions(kid_subset_size=12)
        result = evaluate(real, fake[:12], extractor=stand_in, progress=False, options=options)
    assert "fid_inf" in result.unavailable and "at least 20" in result.unavailable["fid_inf"]


def test_parse_metrics() -> None:
    assert parse_metrics(None) == (("fid", "fid_inf", "is", "kid", "pr", "dc"), False)
    assert parse_metrics("kid, fid") == (("fid", "kid"), True)
    assert {"fid", "fid_inf", "is", "kid", "pr", "dc", "cmmd", "sfid", "ppl"} <= set(METRICS)
    assert parse_metrics("cmmd,fid") == (("fid", "cmmd"), True)  # a metric outside the default set, by name
    for bad in ("fid,foo", "", ","):
        with pytest.raises(GanEvalError, match="--metrics"):
            parse_metrics(bad)


def test_each_input_is_extracted_once_for_all_metrics(stand_in, sets, tmp_path: Path) -> None:
    calls = []

    class Spy:
        name, heads, kinds, dims = stand_in.name, stand_in.heads, stand_in.kinds, stand_in.dims
        device = stand_in.device

        def settings(self):
            return stand_in.settings()

        def extract(self, images, heads=("pool3",)):
            calls.append(len(images))
            return stand_in.extract(images, heads)

    options = MetricOptions(kid_subset_size=N_FAKE)
    evaluate(
        *sets,
        extractor=Spy(),
        options=options,
        progress=False,
        extraction=ExtractionOptions(cache=False, batch_size=1000),
    )
    assert calls == [N_REAL, N_FAKE]


def test_every_key_is_declared_once_and_every_gate_rule_is_whole() -> None:
    declared = [key for metric in METRICS.values() for key in metric.returned_keys]
    assert len(declared) == len(set(declared)), sorted({k for k in declared if declared.count(k) > 1})
    flags = []
    for metric in METRICS.values():
        for key in metric.keys:
            assert (key.better is None) == (key.flag is None), key
            if key.better is not None:
                assert key.better in (LOWER, HIGHER), key
                assert key.flag.startswith("--max-" if key.better == LOWER else "--min-"), key
            if key.increase_flag is not None:
                assert key.better == LOWER and key.increase_flag.startswith("--max-"), key
            assert key.noise is None or (key.increase_flag and key.noise in metric.returned_keys), key
            flags += [f for f in (key.flag, key.increase_flag) if f]
    assert len(flags) == len(set(flags)), flags


def _input(name: str, features: dict[str, np.ndarray]) -> InputFeatures:
    stats = {}
    for head, x in features.items():
        stats[head] = FeatureStats(x.shape[1])
        stats[head].update(x)
    return InputFeatures(name, stats, features)


@pytest.mark.filterwarnings("ignore:FID∞ from 50 generated samples")
def test_each_metric_returns_exactly_the_keys_it_declares() -> None:
    rng = np.random.default_rng(0)
    real = _input("real", {FEATURES: rng.normal(size=(60, 8)), SPATIAL: rng.normal(size=(60, 6))})
    fake = _input(
        "fake",
        {
            FEATURES: rng.normal(size=(50, 8)),
            LOGITS: rng.normal(size=(50, 10)),
            SPATIAL: rng.normal(size=(50, 6)),
            PATH_LENGTHS: rng.lognormal(size=(50, 1)),
        },
    )
    train = _input("train", {FEATURES: rng.normal(size=(80, 8))})
    plain = MetricOptions(kid_subsets=5, kid_subset_size=40)
    with_interval = MetricOptions(kid_subsets=5, kid_subset_size=40, ci_groups=5)
    for metric in METRICS.values():
        extra = {n.side: train for n in metric.needs(plain) if n.side not in (REAL, FAKE)}
        returned = [set(metric.compute(real, fake, options, "cpu", **extra)) for options in (plain, with_interval)]
        for keys in returned:
            assert set(metric.headline_keys) <= keys <= set(metric.returned_keys), metric.name
        assert set.union(*returned) == set(metric.returned_keys), metric.name
