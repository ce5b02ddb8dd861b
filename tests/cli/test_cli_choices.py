"""Options that take a name from a registry list the registry's names, in `--help` and in the error for an
unknown name, read when the command runs: an entry registered here appears in both without other edits."""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path

import pytest
from cli_runner import one_error_line, run_cli

from gan_eval.conditional import CONDITIONAL_METRICS
from gan_eval.datasets import BUILTIN_IMAGE_SETS
from gan_eval.extractors.base import PRECISIONS
from gan_eval.extractors.registry import EXTRACTORS
from gan_eval.metrics.registry import METRICS
from gan_eval.models.registry import MODELS
from gan_eval.models.training import TRAINING_SETS
from gan_eval.paired.evaluation import METRICS as PAIRED_METRICS
from gan_eval.paired.lpips.network import NETS
from gan_eval.style.network import POOLINGS

NEW_SPACE = "test-space-vit99"
NEW_METRIC = "test_metric"
NEW_MODEL = "test-gan"
NEW_SET = "test-set"


@pytest.fixture
def new_entries(monkeypatch: pytest.MonkeyPatch) -> None:
    """One more feature space, metric, model and training set, each a copy of a registered one (removed after)."""
    monkeypatch.setitem(EXTRACTORS, NEW_SPACE, replace(EXTRACTORS["inception"], name=NEW_SPACE))
    monkeypatch.setitem(METRICS, NEW_METRIC, replace(METRICS["fid"], name=NEW_METRIC))
    monkeypatch.setitem(MODELS, NEW_MODEL, MODELS["gan"])
    monkeypatch.setitem(TRAINING_SETS, NEW_SET, TRAINING_SETS["ring8"])


def _help(capsys: pytest.CaptureFixture[str], *command: str) -> str:
    """`gan-eval COMMAND --help` with its lines joined by single spaces."""
    code, out, _ = run_cli(capsys, *command, "--help")
    assert code == 0
    return re.sub(r"\s+", " ", out)


def _option_help(text: str, option: str) -> str:
    """The help of `option` alone: from its entry in the option list to the next option's."""
    start = text.index(f" {option} ", text.index("options:") if option.startswith("-") else 0)
    end = text.find(" --", start + len(option) + 2)
    return text[start : end if end > 0 else None]


def test_report_help_names_every_registered_space_and_metric(capsys: pytest.CaptureFixture[str]) -> None:
    text = _help(capsys, "report")
    features, metrics = _option_help(text, "--features"), _option_help(text, "--metrics")
    assert "NAME[,NAME]" in features
    for name in EXTRACTORS:
        assert f" {name}," in features or f" {name} " in features, (name, features)
    for name in METRICS:
        assert f" {name}," in metrics or f" {name} " in metrics, (name, metrics)


def test_a_space_and_a_metric_registered_at_run_time_appear_in_help_and_errors(
    capsys: pytest.CaptureFixture[str], new_entries: None
) -> None:
    text = _help(capsys, "report")
    assert NEW_SPACE in _option_help(text, "--features")
    assert NEW_METRIC in _option_help(text, "--metrics")
    for command in ("fid", "stats", "modes", "conditional", "gate"):
        assert NEW_SPACE in _option_help(_help(capsys, command), "--features"), command
    code, _, err = run_cli(capsys, "report", "real", "fake", "--features", "no-such-space")
    one_error_line(code, err, "no-such-space", *EXTRACTORS)
    code, _, err = run_cli(capsys, "report", "real", "fake", "--metrics", "fid,no_such_metric")
    one_error_line(code, err, "no_such_metric", *METRICS)


@pytest.mark.parametrize(
    ("command", "option", "names"),
    [
        (("fid",), "--precision", PRECISIONS),
        (("paired",), "--metrics", PAIRED_METRICS),
        (("paired",), "--lpips-net", NETS),
        (("conditional",), "--metrics", CONDITIONAL_METRICS),
        (("style",), "--pooling", POOLINGS),
        (("train",), "--data", TRAINING_SETS),
        (("fid",), "a", BUILTIN_IMAGE_SETS),
        (("stats",), "path", BUILTIN_IMAGE_SETS),
    ],
)
def test_each_named_choice_is_listed_in_its_help(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...], option: str, names
) -> None:
    described = _option_help(_help(capsys, *command), option)
    for name in names:
        assert name in described, (name, described)


def test_models_and_training_sets_registered_at_run_time_appear_in_help_and_errors(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, new_entries: None
) -> None:
    monkeypatch.chdir(tmp_path)
    text = _help(capsys, "train")
    assert all(name in _option_help(text, "MODEL") for name in MODELS)
    assert NEW_SET in _option_help(text, "--data")
    code, _, err = run_cli(capsys, "train", "no-such-gan", "--data", "ring8", "--out", "out")
    one_error_line(code, err, "no-such-gan", *MODELS)
    code, _, err = run_cli(capsys, "train", "gan", "--data", "no-such-set", "--out", "out")
    one_error_line(code, err, "no-such-set", *TRAINING_SETS)


@pytest.mark.parametrize(
    ("command", "registry"),
    [
        (("paired", "pred", "target"), PAIRED_METRICS),
        (("conditional", "real", "fake"), CONDITIONAL_METRICS),
    ],
)
def test_an_unknown_metric_of_each_family_is_one_line_listing_the_family(
    capsys: pytest.CaptureFixture[str], command: tuple[str, ...], registry
) -> None:
    code, _, err = run_cli(capsys, *command, "--metrics", "no_such_metric")
    one_error_line(code, err, "no_such_metric", *registry)


def test_the_readme_report_row_shows_every_registered_feature_space() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text(encoding="utf-8")
    row = next(line for line in readme.splitlines() if line.startswith("| `gan-eval report "))
    assert "--features NAME[,NAME]" in row
    for name in EXTRACTORS:
        assert f"`{name}`" in row, name
