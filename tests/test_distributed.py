"""torchrun with 2 gloo processes on CPU gives the single-process numbers; shards, errors, writes.

The network runs per shard in the same batches as the single process (batch
size 4, shards of 8), so the features are the same and the numbers agree to
1e-9 relative; only the order of the float64 sums differs.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_eval.cli.main import main
from gan_eval.distributed import shard_bounds
from gan_eval.errors import GanEvalWarning
from gan_eval.stats import load_stats


@pytest.mark.parametrize(("n", "ranks"), [(10, 3), (2, 4), (16, 2), (0, 2)])
def test_shards_cover_the_input_once_in_order(n: int, ranks: int) -> None:
    bounds = [shard_bounds(n, ranks, r) for r in range(ranks)]
    covered = [i for start, stop in bounds for i in range(start, stop)]
    assert covered == list(range(n))
    assert max(stop - start for start, stop in bounds) - min(stop - start for start, stop in bounds) <= 1


def torchrun(*args: str | Path, cwd: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2"]
    command += ["-m", "gan_eval", *map(str, args)]
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


@pytest.mark.inception
def test_two_processes_equal_one(tmp_path: Path, real_weights: Path, capsys) -> None:
    rng = np.random.default_rng(3)
    np.save(tmp_path / "real.npy", rng.integers(0, 256, (16, 16, 16, 3), dtype=np.uint8))
    np.save(tmp_path / "fake.npy", (rng.integers(0, 256, (16, 16, 16, 3)) // 2 + 50).astype(np.uint8))
    common = ["--weights", str(real_weights), "--batch-size", "4", "--no-cache", "--quiet", "--device", "cpu"]
    report = ["report", "real.npy", "fake.npy", "--metrics", "fid,kid,pr,dc", "--kid-subset-size", "8", "--json"]

    done = torchrun(*report, *common, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, done.stdout  # rank 0 alone prints
    parallel = json.loads(lines[0])

    stats = torchrun("stats", "real.npy", "-o", "real_stats.npz", *common, cwd=tmp_path)
    assert stats.returncode == 0, stats.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.npy", "real.npy", "real_stats.npz"]

    cwd = Path.cwd()
    os.chdir(tmp_path)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", GanEvalWarning)
            assert main([*report, *common]) == 0
            single = json.loads(capsys.readouterr().out)
            assert main(["stats", "real.npy", "-o", "one.npz", *common]) == 0
    finally:
        os.chdir(cwd)
    for key in ("fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage"):
        assert parallel[key] == pytest.approx(single[key], rel=1e-9, abs=1e-12), key
    assert parallel["n_real"] == single["n_real"] == 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GanEvalWarning)
        both = load_stats(tmp_path / "real_stats.npz"), load_stats(tmp_path / "one.npz")
    np.testing.assert_allclose(both[0].mean(), both[1].mean(), rtol=1e-12)
    np.testing.assert_allclose(both[0].covariance(), both[1].covariance(), rtol=1e-9, atol=1e-15)
    assert both[0].count == 16


@pytest.mark.inception
def test_a_bad_file_in_one_shard_stops_every_rank(tmp_path: Path, real_weights: Path) -> None:
    folder = tmp_path / "images"
    folder.mkdir()
    for i in range(4):
        Image.new("RGB", (8, 8), (i * 40, 0, 0)).save(folder / f"{i}.png")
    (folder / "3.png").write_bytes(b"not a png")  # in rank 1's shard
    done = torchrun("stats", folder, "-o", "out.npz", "--weights", real_weights, "--quiet", cwd=tmp_path)
    assert done.returncode != 0
    errors = [line for line in done.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "3.png" in errors[0]
    assert not (tmp_path / "out.npz").exists()
