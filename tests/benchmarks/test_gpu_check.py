"""`benchmarks/gpu_check.py --small` on CPU: every section runs, and its figures hold what a GPU run must show."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).parents[2] / "benchmarks" / "gpu_check.py"


def test_small_check_runs_every_section_and_agrees(tmp_path: Path, real_weights: Path) -> None:
    out = tmp_path / "out"
    env = dict(os.environ, GAN_EVAL_WEIGHTS=str(real_weights), GAN_EVAL_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [sys.executable, str(SCRIPT), str(out), "--small", "--device", "cpu"],
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert (out / "log.txt").read_text().rstrip().endswith("] done")

    same_device = results["a_device_vs_cpu"]  # CPU against CPU here: the same code
    assert same_device["max_relative_feature_difference"] == 0.0
    assert same_device["fid_relative_difference"] < 1e-9  # batch sizes differ: float32 sums may differ in order

    precisions = results["b_precisions"]
    assert set(precisions) == {"exact", "bf16"}  # tf32 needs CUDA
    assert all(row["images_per_second"] > 0 for row in precisions.values())
    assert precisions["exact"]["fid_relative_deviation_from_exact"] == 0.0
    assert 0 < precisions["bf16"]["fid_relative_deviation_from_exact"] < 0.05

    for section in ("c_end_to_end_32", "d_end_to_end_256"):
        row = results[section]["exact"]
        assert row["seconds"] > 0 and row["peer_seconds"] > 0
        assert row["fid_relative_difference"] < 1e-5  # torch-fidelity on the same weights and folders

    knn = results["e_knn_metrics"]["values"]
    assert {"fid", "kid_mean", "precision", "recall", "density", "coverage"} <= set(knn)
    assert abs(knn["fid"] - results["c_end_to_end_32"]["exact"]["fid"]) < 1e-12 * knn["fid"]
    assert results["f_torchrun"]["equal"] is True
