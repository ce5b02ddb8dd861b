"""`benchmarks/gpu_check.py --small` on CPU: every section runs, and its figures hold what a GPU run must show.

The sections run in three separate invocations (`--sections`) of 25-40 s of CPU each, so each passes
within its 900 s timeout at a tenth of that speed on a busy machine. Most of a small run's cost does not
shrink with the image count (imports, building the network, two 2048 x 2048 eigendecompositions per FID,
ours and torch-fidelity's), so the sections are split rather than shrunk further.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "gpu_check.py"


def run_sections(sections: str, tmp_path: Path, real_weights: Path) -> dict[str, Any]:
    """`gpu_check.py --small --device cpu --sections SECTIONS`, its `results.json` once it succeeded."""
    out = tmp_path / "out"
    env = dict(os.environ, GAN_EVAL_WEIGHTS=str(real_weights), GAN_EVAL_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), "--small", "--device", "cpu", "--sections", sections],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    assert (out / "log.txt").read_text().rstrip().endswith("] done")
    return json.loads((out / "results.json").read_text())


def check_a(results: dict[str, Any]) -> None:
    same_device = results["a_device_vs_cpu"]  # CPU against CPU here: the same code
    assert same_device["max_relative_feature_difference"] == 0.0
    assert same_device["fid_relative_difference"] < 1e-9  # batch sizes differ: float32 sums may differ in order


def check_b(results: dict[str, Any]) -> None:
    precisions = results["b_precisions"]
    assert set(precisions) == {"exact", "bf16"}  # tf32 needs CUDA
    assert all(row["images_per_second"] > 0 for row in precisions.values())
    assert precisions["exact"]["fid_relative_deviation_from_exact"] == 0.0
    assert 0 < precisions["bf16"]["fid_relative_deviation_from_exact"] < 0.05


def check_end_to_end(results: dict[str, Any], section: str) -> None:
    row = results[section]["exact"]
    assert row["seconds"] > 0 and row["peer_seconds"] > 0
    assert row["fid_relative_difference"] < 1e-5  # torch-fidelity on the same weights and folders


def check_e(results: dict[str, Any]) -> None:
    knn = results["e_knn_metrics"]["values"]
    assert {"fid", "kid_mean", "precision", "recall", "density", "coverage"} <= set(knn)
    assert abs(knn["fid"] - results["c_end_to_end_32"]["exact"]["fid"]) < 1e-12 * knn["fid"]  # the same folders


def check_f(results: dict[str, Any]) -> None:
    assert results["f_torchrun"]["equal"] is True


CHECKS = {
    "a": check_a,
    "b": check_b,
    "c": lambda results: check_end_to_end(results, "c_end_to_end_32"),
    "d": lambda results: check_end_to_end(results, "d_end_to_end_256"),
    "e": check_e,
    "f": check_f,
}


@pytest.mark.parametrize("sections", ["ab", "ce", "df"])  # e reads c's folders: one run
def test_small_check_runs_every_section_and_agrees(sections: str, tmp_path: Path, real_weights: Path) -> None:
    results = run_sections(sections, tmp_path, real_weights)
    for letter in sections:
        CHECKS[letter](results)
