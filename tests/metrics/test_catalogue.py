"""The catalogue's metrics through `evaluate` and `gan-eval report`: each reads the sides it declares
(the training set for C_T and FLS), runs in a feature space of any width, reports the keys it declares
in the table, the JSON, the report folder and the gate's flags, and a metric that needs a training set
is refused in one line, before any extraction, when none is given.

The values themselves are checked against the reference implementations in the metrics' own tests
(test_vendi.py, test_sliced_wasserstein.py, ...); here each equals its pure function on the features
the stand-in extractor gives for the side it should read, which catches a metric wired to the wrong set.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from cli_runner import one_error_line, run_cli
from stand_in import StandInExtractor

from gan_eval.cli.report import format_table
from gan_eval.errors import GanEvalError
from gan_eval.evaluation import evaluate
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors import registry
from gan_eval.extractors.base import ExtractorSpec
from gan_eval.feature_types import FEATURES
from gan_eval.metrics.authpct import authpct
from gan_eval.metrics.catalogue import TRAIN
from gan_eval.metrics.data_copying import data_copying_ct
from gan_eval.metrics.energy import energy_distance
from gan_eval.metrics.feature_likelihood import feature_likelihood_score, fls_subsets
from gan_eval.metrics.mifid import mifid
from gan_eval.metrics.rarity import rarity_scores
from gan_eval.metrics.registry import METRICS, MetricOptions, gated_keys
from gan_eval.metrics.sliced_wasserstein import random_directions, sliced_wasserstein, sliced_wasserstein_approx
from gan_eval.metrics.vendi import vendi_score
from gan_eval.report_files import report_files
from gan_eval.result import RESULT_KEYS, Result
from gan_eval.stats import FeatureStats

CATALOGUE = ("vendi", "sw", "energy", "authpct", "fls", "ct", "rarity", "mifid")
FLAGS = {
    "--min-vendi",
    "--max-sw",
    "--max-sw-approx",
    "--max-energy",
    "--min-authpct",
    "--min-fls",
    "--min-ct",
    "--max-mifid",
}
OPTIONS = MetricOptions(sw_projections=64, seed=3)
NO_CACHE = ExtractionOptions(cache=False)


class WideStandIn(StandInExtractor):
    """The stand-in with another width, as DINOv2 ViT-L/14 (1024) or CLIP ViT-B/32 (512) give."""

    dims: ClassVar[dict[str, int]] = {"pool3": 1024}

    def __init__(self, width: int) -> None:
        super().__init__()
        self.name = f"stand-in-{width}"
        self.dims = {"pool3": width}
        self.projection = torch.randn(3 * 8 * 8, width, generator=torch.Generator().manual_seed(1), dtype=torch.float64)


class RefusingStandIn(StandInExtractor):
    """A stand-in that fails the test if anything is extracted."""

    def extract(self, images, heads=("pool3",)):
        raise AssertionError("extracted before refusing")


@pytest.fixture(scope="module")
def three_sets() -> dict[str, np.ndarray]:
    """Training, held-out (REAL) and generated images; a third of the generated ones copy training images."""
    rng = np.random.default_rng(0)
    train = rng.integers(0, 256, (80, 16, 16, 3), dtype=np.uint8)
    real = rng.integers(0, 256, (60, 16, 16, 3), dtype=np.uint8)
    fake = np.concatenate((rng.integers(20, 230, (60, 16, 16, 3)).astype(np.uint8), train[:30]))
    return {"train": train, "real": real, "fake": fake}


def features_of(extractor: StandInExtractor, images: np.ndarray) -> np.ndarray:
    return extractor.extract(torch.from_numpy(images).permute(0, 3, 1, 2))["pool3"].numpy()


def stats_of(features: np.ndarray) -> FeatureStats:
    stats = FeatureStats(features.shape[1])
    stats.update(torch.from_numpy(features))
    return stats


def test_each_metric_reads_the_sets_it_declares(stand_in, three_sets) -> None:
    result = evaluate(
        three_sets["real"],
        three_sets["fake"],
        CATALOGUE,
        train=three_sets["train"],
        extractor=stand_in,
        options=OPTIONS,
        progress=False,
        extraction=NO_CACHE,
    )
    t, r, f = (features_of(stand_in, three_sets[side]) for side in ("train", "real", "fake"))
    assert result.metrics == CATALOGUE
    assert result["vendi"] == pytest.approx(vendi_score(f), rel=1e-12)
    assert result["sw"] == pytest.approx(sliced_wasserstein(r, f, random_directions(16, 64, 3)), rel=1e-12)
    assert result["sw_approx"] == pytest.approx(sliced_wasserstein_approx(r, f), rel=1e-12)
    assert result["energy"] == pytest.approx(energy_distance(r, f).coefficient, rel=1e-12)
    assert result["authpct"] == authpct(r, f)
    half, baseline, test, generated = fls_subsets(80, 60, 90, OPTIONS.fls_samples, 3)
    assert result["fls"] == pytest.approx(feature_likelihood_score(t[half], t[baseline], r[test], f[generated]), 1e-12)
    assert result["fls_n"] == 40
    assert result["ct"] == pytest.approx(data_copying_ct(t, r, f, seed=3).ct, rel=1e-12)
    assert result["rarity_mean"] == pytest.approx(rarity_scores(r, f).mean(), rel=1e-12)
    assert result["mifid"] == pytest.approx(mifid(stats_of(r), stats_of(f), r, f).mifid, rel=1e-9)
    assert result.settings["train"] == {"source": result.settings["train"]["source"], "n": 80}
    assert result.settings["metric_options"]["sw_projections"] == 64


def test_copies_of_the_training_set_move_the_memorisation_metrics(stand_in, three_sets) -> None:
    """REAL as the training set: copies are not authentic; against held-out REAL, C_T sees the copying."""
    copies = three_sets["train"][:60]
    as_train = evaluate(
        three_sets["train"], copies, ("authpct",), extractor=stand_in, progress=False, extraction=NO_CACHE
    )
    assert as_train["authpct"] == 0.0
    copying = evaluate(
        three_sets["real"],
        np.concatenate((copies, copies[:30])),
        ("ct",),
        train=three_sets["train"],
        extractor=stand_in,
        progress=False,
        extraction=NO_CACHE,
    )
    assert copying["ct"] < -3


@pytest.mark.filterwarnings("ignore:.*rank-deficient")  # MiFID's FID from fewer samples than dimensions
@pytest.mark.parametrize("width", [1024, 512])
def test_every_metric_runs_in_a_space_of_another_width(three_sets, width: int) -> None:
    result = evaluate(
        three_sets["real"],
        three_sets["fake"],
        CATALOGUE,
        train=three_sets["train"],
        extractor=WideStandIn(width),
        options=OPTIONS,
        progress=False,
        extraction=NO_CACHE,
    )
    assert result.settings["extractor"] == f"stand-in-{width}"
    for name in CATALOGUE:
        for key in METRICS[name].headline_keys:
            assert np.isfinite(result[key]), key


@pytest.mark.parametrize("metric", ["ct", "fls"])
def test_a_metric_needing_a_training_set_is_refused_before_any_extraction(three_sets, metric: str) -> None:
    with pytest.raises(GanEvalError, match=f"\\({metric}\\) cannot be computed: it needs a {TRAIN} input") as caught:
        evaluate(three_sets["real"], three_sets["fake"], ("fid", metric), extractor=RefusingStandIn(), progress=False)
    assert "\n" not in str(caught.value) and "--train PATH" in str(caught.value)


def test_a_training_set_no_metric_reads_is_not_extracted(stand_in, three_sets) -> None:
    result = evaluate(
        three_sets["real"],
        three_sets["fake"],
        ("sw",),
        train=RefusingSource(),
        extractor=stand_in,
        progress=False,
        extraction=NO_CACHE,
    )
    assert "train" not in result.settings


class RefusingSource:
    """An image source that fails the test when read."""

    name = "unread training set"

    def __len__(self) -> int:
        return 100

    def load(self, index: int) -> np.ndarray:
        raise AssertionError("the training set was read")

    def describe(self) -> str:
        return self.name


def test_keys_reach_the_json_the_table_the_report_folder_and_the_gate(stand_in, three_sets) -> None:
    result = evaluate(
        three_sets["real"],
        three_sets["fake"],
        CATALOGUE,
        train=three_sets["train"],
        extractor=stand_in,
        options=OPTIONS,
        progress=False,
        extraction=NO_CACHE,
    )
    headline = {key for name in CATALOGUE for key in METRICS[name].headline_keys}
    assert headline <= set(RESULT_KEYS)
    out = result.to_json()
    assert all(out[key] == result[key] for key in headline)
    assert Result.from_json(json.loads(json.dumps(out))).values == result.values
    table = format_table(result)
    labels = [key.label for name in CATALOGUE for key in METRICS[name].keys] + ["C_T cells"]
    assert all(label in table for label in labels)
    assert json.loads(report_files(result)["report.json"])["ct"] == result["ct"]
    assert {key.flag for _, key in gated_keys()} >= FLAGS


def test_report_refuses_ct_without_train_in_one_line_and_lists_the_flag(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    images = np.random.default_rng(0).integers(0, 256, (30, 16, 16, 3), dtype=np.uint8)
    np.save(tmp_path / "real.npy", images)
    np.save(tmp_path / "fake.npy", images[::-1])
    code, _, err = run_cli(capsys, "report", tmp_path / "real.npy", tmp_path / "fake.npy", "--metrics", "ct")
    one_error_line(code, err, "(ct)", "train")
    code, out, _ = run_cli(capsys, "report", "--help")
    assert code == 0 and "--train PATH" in out and "fls,ct" in " ".join(out.split())
    code, out, _ = run_cli(capsys, "gate", "--help")
    assert code == 0 and all(flag in out for flag in FLAGS)


@pytest.fixture
def wide_spaces(monkeypatch: pytest.MonkeyPatch) -> tuple[str, str]:
    """Two registered stand-in spaces as wide as DINOv2 ViT-L/14 (1024) and CLIP ViT-B/32 (512)."""
    for width in (1024, 512):
        extractor = WideStandIn(width)
        spec = ExtractorSpec(
            name=extractor.name,
            title=extractor.name,
            extractor=extractor.name,
            kinds={FEATURES: "pool3"},
            dims={"pool3": width},
            resize="adaptive-avg-8",
            load=lambda weights, device, precision, progress, e=extractor: e,
        )
        monkeypatch.setitem(registry.EXTRACTORS, extractor.name, spec)
    return "stand-in-1024", "stand-in-512"


@pytest.mark.filterwarnings("ignore:.*rank-deficient")
def test_report_with_train_in_two_wide_spaces(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, three_sets, wide_spaces: tuple[str, str]
) -> None:
    for side, images in three_sets.items():
        np.save(tmp_path / f"{side}.npy", images)
    paths = [tmp_path / f"{side}.npy" for side in ("real", "fake")]
    spaces = ",".join(wide_spaces)
    metrics = ",".join(CATALOGUE)
    common = ("--metrics", metrics, "--features", spaces, "--quiet", "--no-cache", "--seed", "3")
    code, out, err = run_cli(capsys, "report", *paths, "--train", tmp_path / "train.npy", "--json", *common)
    assert code == 0, err
    for space in wide_spaces:
        result = json.loads(out)["spaces"][space]
        assert result["metrics"] == list(CATALOGUE)
        assert result["settings"]["train"]["n"] == 80
        assert all(result[key] is not None for name in CATALOGUE for key in METRICS[name].headline_keys)
    code, out, err = run_cli(capsys, "report", *paths, "--train", tmp_path / "train.npy", *common)
    assert code == 0, err
    assert all(key.label in out for name in CATALOGUE for key in METRICS[name].keys)
