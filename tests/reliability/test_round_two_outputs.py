"""Bad outputs and out-of-range values of "Reliability, round two", through the real command line.

Each refusal is exit 2 and one `error:` line naming the culprit, with nothing
written or changed: gate baselines and results holding values no estimator
can give, `plot` records with numbers out of range and damaged sample
pictures, `sample` checkpoints with nonsensical configs or counts beyond the
machine's memory, outputs that are one of the inputs, and long output names.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from cli_harness import assert_refused, files_under

from gan_eval.extractors.inception.extractor import INCEPTION_NAME


def unchanged_after(cli, args: tuple[str | Path, ...], root: Path, *culprits: str | Path, message: str) -> str:
    """Run `gan-eval ARGS`: refused in one line naming the culprits and `message`; no file under `root` changed."""
    before = {p: p.read_bytes() for p in files_under(root)}
    line = assert_refused(cli(*args), *culprits, message=message)
    assert {p: p.read_bytes() for p in files_under(root)} == before
    return line


# --- gate: values outside the range their metric declares ------------------------------------------------


def _result_file(folder: Path, **values: object) -> Path:
    path = folder / "result.json"
    path.write_text(json.dumps({"settings": {"extractor": INCEPTION_NAME}, "n_real": 10, "n_fake": 10, **values}))
    return path


IMPOSSIBLE_VALUES = {
    "negative-fid": ("fid", -2.5, ">= 0"),
    "negative-kid-std": ("kid_std", -0.001, ">= 0"),
    "precision-above-one": ("precision", 1.5, "[0, 1]"),
    "negative-recall": ("recall", -0.1, "[0, 1]"),
    "negative-density": ("density", -0.2, ">= 0"),
    "coverage-above-one": ("coverage", 1.01, "[0, 1]"),
    "negative-fid-noise": ("fid_std", -1.0, ">= 0"),
    "negative-legacy-fid-noise": ("fid_bootstrap_std", -1.0, ">= 0"),
}


@pytest.mark.parametrize("case", IMPOSSIBLE_VALUES)
def test_baseline_with_an_impossible_value_is_refused(cli, tmp_path: Path, case: str) -> None:
    key, value, span = IMPOSSIBLE_VALUES[case]
    result = _result_file(tmp_path, fid=3.0)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"gan_eval_baseline": 1, "values": {"fid": 2.0, key: value}, "comparable": {}}))
    args = ("gate", "--result", result, "--baseline", baseline, "--max-increase", "1")
    unchanged_after(cli, args, tmp_path, baseline, key, message=f"outside its valid range {span}")


@pytest.mark.parametrize("case", IMPOSSIBLE_VALUES)
def test_result_with_an_impossible_value_is_refused(cli, tmp_path: Path, case: str) -> None:
    key, value, span = IMPOSSIBLE_VALUES[case]
    result = _result_file(tmp_path, **{"fid": 3.0, key: value})
    args = ("gate", "--result", result, "--baseline", tmp_path / "new-baseline.json", "--update-baseline")
    unchanged_after(cli, args, tmp_path, result, key, message=f"outside its valid range {span}")
    assert not (tmp_path / "new-baseline.json").exists()


def test_values_at_the_ends_of_their_ranges_and_a_negative_kid_pass(cli, tmp_path: Path) -> None:
    """KID's unbiased estimate can be below 0, and 0 and 1 are values precision and coverage take."""
    values = {"fid": 0.0, "kid_mean": -0.0004, "kid_std": 0.0, "precision": 1.0, "recall": 0.0, "coverage": 1.0}
    result = _result_file(tmp_path, density=0.0, **values)
    run = cli("gate", "--result", result, "--max-fid", "1", "--max-kid", "1", "--min-precision", "0.5")
    assert run.code == 0, run.err
