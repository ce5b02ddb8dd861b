"""`gan-eval stats --keep-features`: per-sample features beside mu and sigma, and a gate that uses them for KID."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import run_cli


@pytest.mark.inception
def test_kept_features_feed_the_gate_kid_limit(capsys, tmp_path: Path, real_weights: Path) -> None:
    """The file keeps mu and sigma of its features; the gate's KID against it equals KID against the images."""
    rng = np.random.default_rng(0)
    real, fake = tmp_path / "real.npy", tmp_path / "fake.npy"
    np.save(real, rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8))
    np.save(fake, rng.integers(0, 256, (8, 16, 16, 3), dtype=np.uint8))
    common = ("--weights", real_weights, "--quiet", "--no-cache")
    stats = tmp_path / "real.npz"
    code, out, err = run_cli(capsys, "stats", real, "-o", stats, "--keep-features", "--json", *common)
    assert code == 0, err
    assert json.loads(out)["features"] is True
    with np.load(stats) as data:
        features = data["features"]
        mu, sigma = data["mu"], data["sigma"]
    assert features.dtype == np.float32 and features.shape == (8, 2048)
    np.testing.assert_allclose(mu, features.astype(np.float64).mean(0), rtol=1e-6, atol=1e-9)
    np.testing.assert_allclose(sigma, np.cov(features.astype(np.float64), rowvar=False), rtol=1e-6, atol=1e-9)

    gate = ("gate", "--fake", fake, "--max-kid", "1e6", "--ci-groups", "0", "--json", *common)
    code, out, err = run_cli(capsys, *gate, "--real", stats)
    assert code == 0, err
    from_stats = json.loads(out)["result"]
    code, out, err = run_cli(capsys, *gate, "--real", real)
    assert code == 0, err
    from_images = json.loads(out)["result"]
    assert from_stats["kid_mean"] == pytest.approx(from_images["kid_mean"], rel=1e-6, abs=1e-9)
    assert from_stats["fid"] == pytest.approx(from_images["fid"], rel=1e-6)


@pytest.mark.inception
def test_without_the_flag_the_file_has_no_features(capsys, tmp_path: Path, real_weights: Path) -> None:
    images = tmp_path / "real.npy"
    np.save(images, np.random.default_rng(1).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8))
    stats = tmp_path / "real.npz"
    code, _, err = run_cli(capsys, "stats", images, "-o", stats, "--weights", real_weights, "--quiet", "--no-cache")
    assert code == 0, err
    with np.load(stats) as data:
        assert {"mu", "sigma"} <= set(data.files) and "features" not in data.files
