"""Weights per feature space: `ExtractionOptions(weights=...)` and `--weights [NAME=]PATH`.

Two stand-in spaces are registered whose loaders record the weights path they are given, so each test
sees which file reached which extractor.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from cli_runner import one_error_line, run_cli
from stand_in import StandInExtractor

from gan_eval.errors import GanEvalError
from gan_eval.evaluation import evaluate_spaces
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors import registry
from gan_eval.extractors.base import ExtractorSpec
from gan_eval.feature_types import FEATURES

SPACES = ("space-a", "space-b")


class Named(StandInExtractor):
    """The stand-in under another name, so each space's result says which space made it."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name


@pytest.fixture
def loaded(monkeypatch: pytest.MonkeyPatch) -> dict[str, list[str | None]]:
    """Register `space-a` and `space-b`; returns the weights path each load of each space was given."""
    given: dict[str, list[str | None]] = {name: [] for name in SPACES}

    def loader(name: str):
        def load(weights, device, precision, progress):
            given[name].append(weights)
            return Named(name)

        return load

    for name in SPACES:
        spec = ExtractorSpec(
            name=name,
            title=name,
            extractor=name,
            kinds={FEATURES: "pool3"},
            dims={"pool3": 16},
            resize="adaptive-avg-8",
            load=loader(name),
        )
        monkeypatch.setitem(registry.EXTRACTORS, name, spec)
    return given


def _images(path: Path, seed: int) -> Path:
    np.save(path, np.random.default_rng(seed).integers(0, 256, (24, 8, 8, 3), dtype=np.uint8))
    return path


@pytest.fixture
def inputs(tmp_path: Path) -> tuple[str, str]:
    return str(_images(tmp_path / "real.npy", 0)), str(_images(tmp_path / "fake.npy", 1))


def test_a_lone_path_is_the_weights_of_the_options_space(loaded) -> None:
    options = ExtractionOptions(features="space-a", weights=Path("a.pth"))
    assert options.weights == {"space-a": "a.pth"}
    assert options.weights_path == "a.pth"
    assert options.with_changes(features="space-b").weights_path is None
    options.load_extractor()
    options.with_changes(features="space-b").load_extractor()
    assert loaded == {"space-a": ["a.pth"], "space-b": [None]}


def test_a_mapping_gives_each_space_its_own_file(loaded) -> None:
    options = ExtractionOptions(features="space-a", weights={"space-b": "b.pth"})
    assert options.weights_path is None
    assert options.with_changes(features="space-b").weights_path == "b.pth"
    assert hash(options) == hash(ExtractionOptions(features="space-a", weights={"space-b": "other.pth"}))
    assert options != ExtractionOptions(features="space-a", weights={"space-b": "other.pth"})
    assert ExtractionOptions().weights == {}


def test_evaluate_spaces_loads_each_space_with_its_own_weights(loaded, inputs: tuple[str, str]) -> None:
    extraction = ExtractionOptions(
        features="space-a", weights={"space-a": "a.pth", "space-b": "b.pth"}, cache=False, progress=False, workers=0
    )
    results = evaluate_spaces(*inputs, list(SPACES), "fid", extraction=extraction)
    assert loaded == {"space-a": ["a.pth"], "space-b": ["b.pth"]}
    assert [r.settings["extractor"] for r in results.values()] == list(SPACES)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        ({"no-such-space": "x.pth"}, r"^--weights no-such-space=x.pth: unknown feature space no-such-space; "),
        ({"space-b": 3}, r"^weights of space-b: 3 is not a path$"),
        (3, r"^weights=3: give a path, or a mapping feature space -> path$"),
    ],
)
def test_weights_of_an_unknown_space_or_of_no_path_are_refused_in_one_line(loaded, weights, message) -> None:
    with pytest.raises(GanEvalError, match=message) as refused:
        ExtractionOptions(features="space-a", weights=weights)
    assert "\n" not in str(refused.value)
    if "unknown feature space" in message:
        assert all(name in str(refused.value) for name in registry.EXTRACTORS)


@pytest.mark.parametrize(
    ("weights", "expected"),
    [
        (["space-b=b.pth"], {"space-a": [None], "space-b": ["b.pth"]}),
        (["a.pth"], {"space-a": ["a.pth"], "space-b": [None]}),
        (["a.pth", "space-b=b.pth"], {"space-a": ["a.pth"], "space-b": ["b.pth"]}),
        (["space-b=b.pth", "space-a=a.pth"], {"space-a": ["a.pth"], "space-b": ["b.pth"]}),
        (["./x=y.pth"], {"space-a": ["./x=y.pth"], "space-b": [None]}),
    ],
)
def test_report_gives_each_space_the_weights_named_for_it(
    capsys: pytest.CaptureFixture[str], loaded, inputs: tuple[str, str], weights: list[str], expected
) -> None:
    options = [arg for text in weights for arg in ("--weights", text)]
    args = ("report", *inputs, "--features", "space-a,space-b", "--metrics", "fid", "--no-cache", "--quiet")
    code, _, err = run_cli(capsys, *args, *options)
    assert code == 0, err
    assert loaded == expected


def test_a_bare_path_is_the_weights_of_a_single_space_command(
    capsys: pytest.CaptureFixture[str], loaded, inputs: tuple[str, str]
) -> None:
    code, _, err = run_cli(capsys, "fid", *inputs, "--features", "space-b", "--weights", "b.pth", "--no-cache")
    assert code == 0, err
    assert loaded == {"space-a": [], "space-b": ["b.pth"]}


@pytest.mark.parametrize(
    ("weights", "names"),
    [
        (["no-such-space=x.pth"], ("--weights no-such-space=x.pth", "unknown feature space", *SPACES)),
        (["space-b=b.pth"], ("--weights space-b=b.pth", "not among --features space-a")),
        (["a.pth", "space-a=other.pth"], ("--weights space-a=other.pth", "already has weights a.pth")),
        (["space-a="], ("--weights space-a=", "give the file")),
    ],
)
def test_wrong_weights_options_are_one_error_line(
    capsys: pytest.CaptureFixture[str], loaded, inputs: tuple[str, str], weights: list[str], names: tuple[str, ...]
) -> None:
    options = [arg for text in weights for arg in ("--weights", text)]
    code, _, err = run_cli(capsys, "report", *inputs, "--features", "space-a", *options, "--no-cache", "--quiet")
    one_error_line(code, err, *names)
    assert loaded == {"space-a": [], "space-b": []}
