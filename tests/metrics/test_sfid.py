"""sFID: the FID formula on Inception's `mixed_6_conv` head (the TF graph's `mixed_6/conv`, first 7 channels),
against a naive float64 FID on the same features; refused in one line where the kind is missing.

The head itself is checked against torch-fidelity's Inception in tests/extractors/test_inception.py. The real
network runs on six plus six 32x32 images here.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import one_error_line, run_cli
from naive_metrics import naive_fid_small_n

from gan_eval.errors import GanEvalError
from gan_eval.evaluation import evaluate
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.inception.extractor import INCEPTION_NAME, InceptionExtractor
from gan_eval.extractors.inception.weights import load_weights
from gan_eval.metrics.registry import METRICS
from gan_eval.stats import FeatureStats, save_stats

N = 6


@pytest.fixture(scope="module")
def sets() -> tuple[np.ndarray, np.ndarray]:
    """Noise images, and noisy colour gradients: `(N, 32, 32, 3)` uint8 each."""
    rng = np.random.default_rng(0)
    noise = rng.integers(0, 256, (N, 32, 32, 3), dtype=np.uint8)
    ramp = np.linspace(0, 1, 32)[None, :, None, None]
    gradients = rng.uniform(0, 255, (N, 1, 1, 3)) * ramp + rng.normal(0, 8, (N, 32, 32, 3))
    return noise, gradients.clip(0, 255).astype(np.uint8)


def spatial(extractor: InceptionExtractor, images: np.ndarray) -> np.ndarray:
    batch = torch.from_numpy(images).permute(0, 3, 1, 2).contiguous()
    return extractor.extract(batch, ("mixed_6_conv",))["mixed_6_conv"].double().numpy()


@pytest.mark.inception
def test_sfid_equals_naive_fid_on_the_spatial_features(real_weights: Path, sets, tmp_path: Path, capsys) -> None:
    extractor = InceptionExtractor(load_weights(real_weights), "cpu", "exact")
    result = evaluate(*sets, ["fid", "sfid"], extractor=extractor, extraction=ExtractionOptions(cache=False))
    real, fake = (spatial(extractor, images) for images in sets)
    assert real.shape == (N, 2023)
    expected = naive_fid_small_n(real, fake)
    assert result["sfid"] == pytest.approx(expected, rel=1e-6)
    assert result["sfid"] != pytest.approx(result["fid"], rel=1e-2)
    for name, images in zip(("real.npy", "fake.npy"), sets, strict=True):
        np.save(tmp_path / name, images)
    code, out, _ = run_cli(
        capsys, "report", tmp_path / "real.npy", tmp_path / "fake.npy", "--metrics", "sfid", "--json",
        "--weights", real_weights, "--quiet", "--no-cache",
    )  # fmt: skip
    assert code == 0
    printed = json.loads(out)
    assert printed["metrics"] == ["sfid"] and printed["sfid"] == pytest.approx(expected, rel=1e-6)
    assert printed["fid"] is None


def test_refused_in_a_space_without_spatial_features(stand_in, sets) -> None:
    refused = r"^sFID .*\(sfid\) cannot be computed: the extractor stand-in has no spatial head$"
    with pytest.raises(GanEvalError, match=refused):
        evaluate(*sets, ["fid", "sfid"], extractor=stand_in, progress=False)
    result = evaluate(*sets, extractor=stand_in, progress=False)  # not a default metric: never tried unasked
    assert "sfid" not in result.metrics and "sfid" not in result.unavailable
    assert not METRICS["sfid"].default


def test_refused_for_statistics_which_hold_pool3_only(stand_in, sets, tmp_path: Path, capsys) -> None:
    stats = FeatureStats(16)
    stats.update(np.random.default_rng(1).normal(size=(N, 16)))
    stats.meta.update(stand_in.settings())
    save_stats(stats, tmp_path / "stand-in.npz")
    refused = r"sfid\) cannot be computed: it needs the spatial statistics of .*stand-in\.npz"
    with pytest.raises(GanEvalError, match=refused):
        evaluate(str(tmp_path / "stand-in.npz"), sets[1], ["sfid"], extractor=stand_in, progress=False)
    pool3 = FeatureStats(2048, meta={"extractor": INCEPTION_NAME})
    pool3.update(np.random.default_rng(2).normal(size=(N, 2048)))
    save_stats(pool3, tmp_path / "real.npz")
    np.save(tmp_path / "fake.npy", sets[1])
    # refused before the network is loaded: no weights are needed to say so
    code, _, err = run_cli(capsys, "report", tmp_path / "real.npz", tmp_path / "fake.npy", "--metrics", "sfid")
    one_error_line(code, err, "sfid", "spatial statistics", "real.npz")
