"""Reproducibility with the real network: same inputs, same number; batches, workers and listing order do not matter.

Two sets of 8 small images of mixed sizes (so a batch holds images that are
resized in separate groups). On CPU in exact precision:
- the same command twice gives the same FID and KID bit for bit;
- batch sizes 1, 7 and 64, 0 or 2 decoding workers, and the order in which
  the file system lists the files change the statistics and the FID by at
  most 1e-6 relative (and the pipeline's float64 accumulation does not depend on batch
  boundaries: tests/test_pipeline.py);
- every saved artefact (statistics file and `stats --json`, report.json,
  baseline, cache entry) records the extractor, the weights sha256, the
  resize, the precision, the sample counts, the seed where one is used and
  the gan-eval version.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from gan_eval.cache import FeatureCache
from gan_eval.digest import file_sha256
from gan_eval.extractors.inception.extractor import INCEPTION_NAME, RESIZE_MODE
from gan_eval.gate import load_baseline
from gan_eval.stats import load_stats
from gan_eval.version import __version__

pytestmark = pytest.mark.inception

N_IMAGES = 8
SIZES = ((16, 16), (20, 12), (9, 23))
RELATIVE = 1e-6


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Folders `real` and `fake` of 8 PNGs each, in three sizes; `fake` has a narrower value range."""
    root = tmp_path_factory.mktemp("sets")
    for name, offset in (("real", 0), ("fake", 1000)):
        (root / name).mkdir()
        for i in range(N_IMAGES):
            height, width = SIZES[i % len(SIZES)]
            pixels = np.random.default_rng(offset + i).integers(0, 256, (height, width, 3), dtype=np.uint8)
            if name == "fake":
                pixels = (pixels // 2 + 64).astype(np.uint8)
            Image.fromarray(pixels).save(root / name / f"{i:02d}.png")
    return root / "real", root / "fake"


def assert_close(actual: np.ndarray | float, expected: np.ndarray | float) -> None:
    """At most `RELATIVE` of the largest magnitude apart."""
    actual, expected = np.asarray(actual, np.float64), np.asarray(expected, np.float64)
    assert np.abs(actual - expected).max() <= RELATIVE * np.abs(expected).max(), np.abs(actual - expected).max()


def report_json(cli, real_weights: Path, a: Path, b: Path) -> dict:
    run = cli("report", a, b, "--metrics", "fid,kid", "--json", "--no-cache", "--weights", real_weights, "--quiet")
    assert run.code == 0, run.err
    return json.loads(run.out)


def test_same_numbers_bit_for_bit_in_two_runs(cli, real_weights: Path, sets: tuple[Path, Path]) -> None:
    """Two runs of `report` (features extracted afresh each time): the same FID and KID to the last bit.

    A fresh process gives the same statistics bit for bit too: see
    test_faults.py::test_sigkill_during_extraction_with_the_real_network.
    """
    first = report_json(cli, real_weights, *sets)
    second = report_json(cli, real_weights, *sets)
    assert (second["fid"], second["kid_mean"], second["kid_std"]) == (first["fid"], first["kid_mean"], first["kid_std"])


@pytest.fixture
def reversed_listing(monkeypatch: pytest.MonkeyPatch) -> None:
    """`os.walk` that lists every folder's files in reverse order (as another file system might)."""
    walk = os.walk

    def reversed_walk(*args, **kwargs):
        for folder, subfolders, files in walk(*args, **kwargs):
            yield folder, subfolders, files[::-1]

    monkeypatch.setattr(os, "walk", reversed_walk)


@pytest.mark.parametrize(
    ("batch_size", "workers", "listing"), [("1", "2", "sorted"), ("7", "0", "reversed")], ids=["1-2", "7-0-reversed"]
)
def test_batch_size_workers_and_listing_order_do_not_change_statistics_or_fid(
    batch_size: str,
    workers: str,
    listing: str,
    cli,
    real_weights: Path,
    sets: tuple[Path, Path],
    tmp_path: Path,
    request: pytest.FixtureRequest,
) -> None:
    """Against batches of 64 with no workers: one batch of every image, decoded in this process."""

    def statistics(*options: str) -> tuple[np.ndarray, np.ndarray]:
        out = tmp_path / "stats.npz"
        run = cli("stats", sets[0], "-o", out, "--no-cache", "--weights", real_weights, "--quiet", *options)
        assert run.code == 0, run.err
        stats = load_stats(out)
        assert stats.count == N_IMAGES
        return stats.mean(), stats.covariance()

    def fid(*options: str) -> float:
        run = cli("fid", *sets, "--json", "--no-cache", "--weights", real_weights, "--quiet", *options)
        assert run.code == 0, run.err
        return json.loads(run.out)["fid"]

    baseline = ("--batch-size", "64", "--workers", "0")
    mu, sigma = statistics(*baseline)
    value = fid(*baseline)
    if listing == "reversed":
        request.getfixturevalue("reversed_listing")
    other = ("--batch-size", batch_size, "--workers", workers)
    other_mu, other_sigma = statistics(*other)
    assert_close(other_mu, mu)
    assert_close(other_sigma, sigma)
    assert_close(fid(*other), value)


# --- every saved number carries its settings -------------------------------------------------------------


def assert_settings(settings: dict, real_weights: Path) -> None:
    assert settings["extractor"] == INCEPTION_NAME
    assert settings["weights_sha256"] == file_sha256(real_weights)
    assert settings["resize"] == RESIZE_MODE
    assert settings["precision"] == "exact"
    assert settings["gan_eval_version"] == __version__


def test_every_saved_artefact_records_its_settings(
    cli, real_weights: Path, sets: tuple[Path, Path], tmp_path: Path, isolated_cache: Path
) -> None:
    real, fake = sets
    common = ("--weights", real_weights, "--quiet")

    run = cli("stats", real, "-o", tmp_path / "real.npz", "--json", *common)
    assert run.code == 0, run.err
    assert_settings(json.loads(run.out), real_weights)
    saved = load_stats(tmp_path / "real.npz")
    assert_settings(saved.meta, real_weights)
    assert saved.count == saved.meta["n"] == N_IMAGES

    entries = FeatureCache().entries()
    assert entries, "the stats run stored a cache entry"
    for entry in entries:
        cached = FeatureCache().load(entry.stem)
        assert_settings(cached.stats.meta, real_weights)
        assert cached.stats.count == N_IMAGES

    report_dir = tmp_path / "report"
    run = cli("report", real, fake, "--metrics", "fid,kid,pr", "--seed", "7", "--out", report_dir, *common)
    assert run.code == 0, run.err
    report = json.loads((report_dir / "report.json").read_text())
    assert_settings(report["settings"], real_weights)
    assert report["settings"]["metric_options"]["seed"] == 7
    assert (report["n_real"], report["n_fake"]) == (N_IMAGES, N_IMAGES)

    baseline_path = tmp_path / "baseline.json"
    run = cli("gate", "--real", real, "--fake", fake, "--baseline", baseline_path, "--update-baseline", *common)
    assert run.code == 0, run.err
    baseline = load_baseline(baseline_path)
    assert baseline["gan_eval_version"] == __version__
    assert_settings(baseline["result"]["settings"], real_weights)
    comparable = baseline["comparable"]
    assert comparable["extractor"] == INCEPTION_NAME and comparable["weights_sha256"] == file_sha256(real_weights)
    assert comparable["resize"] == RESIZE_MODE and comparable["precision"] == "exact"
    assert (comparable["n_real"], comparable["n_fake"]) == (N_IMAGES, N_IMAGES)
    assert comparable["metric_seed"] == baseline["result"]["settings"]["metric_options"]["seed"]
