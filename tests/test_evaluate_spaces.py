"""Several feature spaces from one decode pass: `evaluate_spaces` and `report --features a,b`."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import run_cli
from PIL import Image
from stand_in import StandInExtractor

import gan_eval
from gan_eval.errors import GanEvalError
from gan_eval.evaluation import evaluate_spaces
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors import registry
from gan_eval.extractors.base import ExtractorSpec
from gan_eval.feature_types import FEATURES
from gan_eval.metrics.registry import MetricOptions
from gan_eval.sources import ImageFolderSource

OPTIONS = MetricOptions(kid_subsets=5, kid_subset_size=20)


class Projection(StandInExtractor):
    """The stand-in with another fixed projection (a second feature space), counting the images it sees."""

    def __init__(self, name: str, seed: int) -> None:
        super().__init__()
        self.name = name
        self.projection = torch.randn(3 * 8 * 8, 16, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
        self.images = 0

    def settings(self) -> dict[str, str]:
        return dict(super().settings(), extractor=self.name)

    def extract(self, images, heads=("pool3",)):
        self.images += len(images)
        return super().extract(images, heads)


@pytest.fixture
def two_spaces(monkeypatch: pytest.MonkeyPatch) -> dict[str, Projection]:
    """Two registered stand-in spaces, `space-a` and `space-b`; each load returns the same object."""
    made = {"space-a": Projection("space-a", 1), "space-b": Projection("space-b", 2)}
    for name, extractor in made.items():
        spec = ExtractorSpec(
            name=name,
            title=name,
            extractor=name,
            kinds={FEATURES: "pool3"},
            dims={"pool3": 16},
            resize="adaptive-avg-8",
            load=lambda weights, device, precision, progress, e=extractor: e,
        )
        monkeypatch.setitem(registry.EXTRACTORS, name, spec)
    return made


class CountingFolder(ImageFolderSource):
    """A folder source that counts its decodes."""

    loads = 0

    def load(self, index: int) -> np.ndarray:
        CountingFolder.loads += 1
        return super().load(index)


def _folder(path: Path, seed: int, n: int = 24) -> Path:
    path.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (12, 12, 3), dtype=np.uint8)).save(path / f"{i:02d}.png")
    return path


def test_each_space_equals_its_own_evaluation_from_one_decode_pass(tmp_path: Path, two_spaces) -> None:
    real, fake = _folder(tmp_path / "real", 0), _folder(tmp_path / "fake", 1)
    extraction = ExtractionOptions(progress=False, cache=False, workers=0)
    CountingFolder.loads = 0
    both = evaluate_spaces(
        CountingFolder(real),
        CountingFolder(fake),
        ["space-a", "space-b"],
        "fid,kid,pr",
        extraction=extraction,
        options=OPTIONS,
    )
    assert CountingFolder.loads == 48  # every image decoded once for both spaces
    assert [e.images for e in two_spaces.values()] == [48, 48]
    assert list(both) == ["space-a", "space-b"]
    for name in both:
        alone = gan_eval.evaluate(
            str(real), str(fake), "fid,kid,pr", extraction=extraction.with_changes(features=name), options=OPTIONS
        )
        assert both[name].values == alone.values
        assert both[name].settings["extractor"] == name
    assert both["space-a"]["fid"] != both["space-b"]["fid"]


def test_statistics_inputs_and_repeated_spaces_are_refused(tmp_path: Path, two_spaces) -> None:
    real = _folder(tmp_path / "real", 0)
    with pytest.raises(GanEvalError, match="name each feature space once"):
        evaluate_spaces(str(real), str(real), ["space-a", "space-a"])
    with pytest.raises(GanEvalError, match="unknown feature space"):
        evaluate_spaces(str(real), str(real), ["space-a", "no-such-space"])
    with pytest.raises(GanEvalError, match="statistics file, which holds one feature space"):
        evaluate_spaces("digits-test", str(real), ["space-a", "space-b"])


def test_report_prints_each_space_and_nests_the_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], two_spaces
) -> None:
    real, fake = _folder(tmp_path / "real", 0), _folder(tmp_path / "fake", 1)
    args = [str(real), str(fake), "--metrics", "fid,pr", "--features", "space-a,space-b", "--no-cache", "--quiet"]
    code, out, _ = run_cli(capsys, "report", *args, "--json")
    assert code == 0
    printed = json.loads(out)
    assert list(printed["spaces"]) == ["space-a", "space-b"]
    alone = gan_eval.evaluate(
        str(real), str(fake), "fid,pr", extraction=ExtractionOptions(features="space-b", cache=False, progress=False)
    )
    assert printed["spaces"]["space-b"]["fid"] == alone["fid"]
    code, out, _ = run_cli(capsys, "report", *args)
    assert code == 0 and "space-a" in out and "space-b" in out
