"""`Result`'s JSON round trip: `from_json` reads back what `to_json` wrote, from this version and older ones.

The gate judges a `Result` read from a `report --json` file and prints and
saves its `to_json()`, so the round trip must keep every value, count and
setting, in the same order (the printed JSON stays byte for byte the same).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from stand_in import StandInExtractor

from gan_eval import MetricOptions, evaluate
from gan_eval.extraction import ExtractionOptions
from gan_eval.result import RESULT_KEYS, Result

# `report --json` of gan-eval 0.1.0 with `--bootstrap 200`: the bootstrap's interval and spread, and
# `metric_options.bootstrap` where today's reports hold `ci_groups`.
REPORT_0_1_0 = {
    "fid": 31.5,
    "fid_inf": None,
    "fid_inf_slope": None,
    "is_mean": None,
    "is_std": None,
    "kid_mean": 0.012,
    "kid_std": 0.003,
    "precision": None,
    "recall": None,
    "density": None,
    "coverage": None,
    "fid_ci_low": 29.0,
    "fid_ci_high": 34.25,
    "fid_ci_level": 0.95,
    "fid_bootstrap_std": 1.25,
    "fid_bootstrap_replicates": 200,
    "kid_subset_size": 1000,
    "n_real": 10000,
    "n_fake": 5000,
    "metrics": ["fid", "kid"],
    "unavailable": {"is": "the weights have no classifier head"},
    "settings": {
        "extractor": "inception-v3-tf-2015-12-05",
        "weights_sha256": "7ff4a85c",
        "resize": "tf1-bilinear-299",
        "precision": "exact",
        "device": "cpu",
        "gan_eval_version": "0.1.0",
        "metric_options": {"kid_subsets": 100, "kid_subset_size": 1000, "bootstrap": 200, "seed": 2020},
    },
    "seconds": 81.5,
    "skipped": {"real": 0, "fake": 2},
    "cached": {"real": True, "fake": False},
}


def _evaluated() -> Result:
    """A `Result` of `evaluate` on small arrays with the stand-in extractor: every metric it can compute, IS not."""
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (40, 3, 8, 8), dtype=np.uint8)
    fake = rng.integers(0, 256, (40, 3, 8, 8), dtype=np.uint8)
    return evaluate(
        real,
        fake,
        options=MetricOptions(ci_groups=4, kid_subset_size=16, kid_subsets=5),
        extractor=StandInExtractor(),
        progress=False,
        extraction=ExtractionOptions(cache=False),
    )


def test_an_evaluated_result_survives_the_round_trip_through_a_file(tmp_path: Path) -> None:
    result = _evaluated()
    assert result.unavailable and result.values["fid_inf_sizes"]  # details and an unavailable metric travel too
    path = tmp_path / "report.json"
    path.write_text(json.dumps(result.to_json()))
    again = Result.from_json(json.loads(path.read_text()))
    assert again == result
    assert json.dumps(again.to_json()) == json.dumps(result.to_json())
    assert Result.from_json(result.to_json()).to_json() == result.to_json()


def test_a_report_of_0_1_0_reads_back_whole(tmp_path: Path) -> None:
    path = tmp_path / "report.json"
    path.write_text(json.dumps(REPORT_0_1_0, indent=2))
    result = Result.from_json(json.loads(path.read_text()))
    assert result["fid"] == 31.5 and result["fid_bootstrap_std"] == 1.25 and result["fid_bootstrap_replicates"] == 200
    assert "fid_inf" not in result.values  # a null headline number is "not computed"
    assert result.metrics == ("fid", "kid")
    assert (result.n_real, result.n_fake, result.seconds) == (10000, 5000, 81.5)
    assert result.settings == REPORT_0_1_0["settings"]
    assert result.unavailable == REPORT_0_1_0["unavailable"]
    assert (result.skipped, result.cached) == (REPORT_0_1_0["skipped"], REPORT_0_1_0["cached"])
    # headline keys added since (cmmd) are written as null, in registration order
    assert json.dumps(result.to_json()) == json.dumps({**dict.fromkeys(RESULT_KEYS), **REPORT_0_1_0})


def test_a_report_without_bookkeeping_gets_defaults_and_then_round_trips() -> None:
    """Another tool's file, or a hand-written one: values, counts and settings; the rest defaults to empty."""
    data = {"fid": 12.0, "fid_std": 0.5, "kid_mean": None, "n_real": 500, "n_fake": 500, "settings": {"resize": "x"}}
    result = Result.from_json(data)
    assert result.values == {"fid": 12.0, "fid_std": 0.5}
    assert result.metrics == ("fid",)
    assert (result.unavailable, result.skipped, result.cached, result.seconds) == ({}, {}, {}, 0.0)
    assert Result.from_json(result.to_json()).to_json() == result.to_json()
