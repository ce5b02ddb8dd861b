"""Shipped reference statistics: the manifest against the files, exactness of the compact storage,
name resolution, and the stored features and moments against fresh extractions with the real network."""

from __future__ import annotations

import json
import shutil
import warnings
from pathlib import Path

import numpy as np
import pytest
from naive_metrics import naive_fid_small_n
from torchscript_inception import torchscript_pool3

from gan_eval.datasets import BUILTIN_IMAGE_SETS
from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.extractors.inception.extractor import INCEPTION_NAME
from gan_eval.metrics.fid import fid_from_stats
from gan_eval.sources import open_input
from gan_eval.sources.references import (
    load_reference,
    pack_upper,
    read_manifest,
    rebuild_references,
    reference_dir,
    unpack_upper,
    verify_manifest,
)
from gan_eval.stats import FeatureStats

FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"


def stored_features(name: str) -> np.ndarray:
    entry = read_manifest()[name]
    with np.load(reference_dir() / entry.file, allow_pickle=False) as data:
        return data["features"][slice(*entry.rows)]


def test_manifest_agrees_with_the_files() -> None:
    entries = read_manifest()
    assert {"digits-train", "digits-test", "digits-all"} <= set(entries)
    assert verify_manifest() == []
    for entry in entries.values():
        assert entry.extractor == INCEPTION_NAME
        assert entry.weights_sha256 == FID_HELPER_SHA256
        assert entry.resize == "tf1-bilinear-299" and entry.precision == "exact"
        assert entry.command == "gan-eval stats --rebuild-reference"
        assert entry.n == len(BUILTIN_IMAGE_SETS[f"{entry.dataset}:{entry.split}"]())


def test_reference_folder_is_small() -> None:
    total = sum(p.stat().st_size for p in reference_dir().iterdir() if p.is_file())
    assert total < 40 * 2**20


def test_loaded_statistics_are_the_float64_moments_of_the_features() -> None:
    stats = load_reference("digits-test")
    features = stored_features("digits-test").astype(np.float64)
    assert stats.mean().dtype == np.float64 and stats.covariance().dtype == np.float64
    np.testing.assert_allclose(stats.mean(), features.mean(0), rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(stats.covariance(), np.cov(features, rowvar=False), rtol=1e-9, atol=1e-14)
    assert stats.features.shape == (899, 2048) and stats.features.dtype == np.float32


def test_fid_between_shipped_splits_matches_naive() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GanEvalWarning)
        value = fid_from_stats(load_reference("digits-train"), load_reference("digits-test"))
    naive = naive_fid_small_n(
        stored_features("digits-train").astype(np.float64), stored_features("digits-test").astype(np.float64)
    )
    assert value == pytest.approx(naive, rel=1e-9)


def test_names_resolve_where_inputs_are_accepted() -> None:
    stats = open_input("digits-test", expected_extractor=INCEPTION_NAME, expected_dim=2048)
    assert isinstance(stats, FeatureStats) and stats.count == 899
    with pytest.raises(GanEvalError, match="extractor inception-v3-tf-2015-12-05, not stand-in"):
        open_input("digits-test", expected_extractor="stand-in")
    with pytest.raises(GanEvalError, match=r"nor is it a built-in set, .*or a shipped reference: .*digits-test"):
        open_input("digits-tset")


def test_packed_upper_triangle_round_trip() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 7))
    sigma = np.cov(x, rowvar=False)
    assert pack_upper(sigma).shape == (28,)
    np.testing.assert_array_equal(unpack_upper(pack_upper(sigma), 7), (sigma + sigma.T) / 2)


def test_rebuild_writes_a_manifest_that_verifies(tmp_path: Path) -> None:
    def fake_extract(name: str) -> np.ndarray:
        n = len(BUILTIN_IMAGE_SETS[name]())
        return np.random.default_rng(len(name)).random((n, 6), dtype=np.float32)

    settings = {"extractor": "stand-in", "weights_sha256": "0" * 64, "resize": "none", "precision": "exact"}
    entries = rebuild_references(fake_extract, settings, tmp_path)
    names = {e.name for e in entries}
    assert {"digits-train", "digits-test", "digits-all"} <= names
    assert verify_manifest(tmp_path) == []
    manifest = json.loads((tmp_path / "manifest.json").read_text())
    assert {r["name"] for r in manifest["references"]} == names
    both = load_reference("digits-all", tmp_path)
    parts = load_reference("digits-train", tmp_path).merge(load_reference("digits-test", tmp_path))
    np.testing.assert_allclose(both.covariance(), parts.covariance(), rtol=1e-12)

    data = tmp_path / "digits-pool3.npz"
    shutil.copy(data, tmp_path / "saved.npz")
    data.write_bytes(data.read_bytes()[:-10])
    assert any("sha256 of digits-pool3.npz differs" in p for p in verify_manifest(tmp_path))
    data.unlink()
    assert any("digits-pool3.npz is missing" in p for p in verify_manifest(tmp_path))
    with pytest.raises(GanEvalError, match="reference digits-test: cannot read"):
        load_reference("digits-test", tmp_path)


def test_large_sets_are_stored_as_float64_moments(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import gan_eval.sources.references as references

    def fake_extract(name: str) -> np.ndarray:
        n = len(BUILTIN_IMAGE_SETS[name]())
        return np.random.default_rng(len(name)).random((n, 6), dtype=np.float32)

    settings = {"extractor": "stand-in", "weights_sha256": "0" * 64, "resize": "none", "precision": "exact"}
    monkeypatch.setattr(references, "FEATURES_BUDGET", 1000)
    entries = rebuild_references(fake_extract, settings, tmp_path)
    assert {e.storage for e in entries} == {"moments"}
    assert "digits-all" not in {e.name for e in entries}
    assert verify_manifest(tmp_path) == []
    features = fake_extract("digits:test").astype(np.float64)
    loaded = load_reference("digits-test", tmp_path)
    assert loaded.features is None and loaded.count == len(features)
    np.testing.assert_allclose(loaded.mean(), features.mean(0), rtol=1e-12)
    np.testing.assert_allclose(loaded.covariance(), np.cov(features, rowvar=False), rtol=1e-10)


@pytest.mark.inception
def test_stored_features_equal_a_fresh_extraction(real_weights: Path) -> None:
    from gan_eval.extractors.inception.weights import HEAD_POOL3
    from gan_eval.extractors.registry import load_extractor

    images = BUILTIN_IMAGE_SETS["digits:test"]()[:6]
    extractor = load_extractor(str(real_weights), "cpu", "exact", progress=False)
    fresh = extractor.extract(_batch(images))[HEAD_POOL3]
    stored = stored_features("digits-test")[:6]
    scale = np.abs(stored).max()
    assert np.abs(fresh.numpy() - stored).max() / scale < 1e-5


def _batch(images: np.ndarray):
    import torch

    return torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).contiguous()


STACKED_SAMPLE = 48


@pytest.mark.inception
def test_stacked_digits_test_moments_fit_a_fresh_sample(real_weights: Path) -> None:
    """The stored moments are those of the stacked-digits:test images through this network and resize.

    A full extraction (10,000 images) takes minutes; instead 48 seeded images of the set go through the
    TorchScript network with TF1's resize (not gan-eval's code), whitened by the stored moments
    (w = Λ^-1/2 Vᵀ (x − μ), Σ = V Λ Vᵀ). Two checks, each with a null distribution that does not depend
    on the features' heavy tails:

    - mean: C = Σ_{j≠k} w_jᵀ w_k / m has mean ≈ 0 and variance 2 D (m − 1) / m for rows drawn from the
      population μ and Σ describe; a shift δ of the mean adds (m − 1) |δ|². |z| <= 4.5.
    - membership: over the D/2 directions of least variance, the squared distance of each of the N images
      averages exactly (D/2)(N − 1)/N (Σ's divisor is N − 1), so the sample's mean, with its own standard
      error, is a t statistic. Images outside the N (another split, another resize) are farther: the
      covariance of N = 5 D images underestimates its smallest variances. |t| <= 3.5.

    Measured (seed 0, and two other seeds): z = −0.7 (−0.8, 1.0), t = 0.2 (−0.8, 0.7). Moments from the
    same images resized by PyTorch's half-pixel bilinear: z = 17, t = 5.0; by PIL's bicubic: z ≈ 3300.
    Images of stacked-digits:train: t = 6.6 (4.5, 5.1). digits-test's moments: singular, z is NaN.
    """
    stats = load_reference("stacked-digits-test")
    images = BUILTIN_IMAGE_SETS["stacked-digits:test"]()
    m, population = STACKED_SAMPLE, stats.count
    rows = np.random.default_rng(0).choice(len(images), m, replace=False)
    features = torchscript_pool3(images[rows].transpose(0, 3, 1, 2), real_weights)
    variances, directions = np.linalg.eigh(stats.covariance())
    w = (features - stats.mean()) @ directions / np.sqrt(variances)
    dim = w.shape[1]

    total = w.sum(0)
    cross = (total @ total - (w * w).sum()) / m
    z = (cross + (m - 1) * dim / population) / np.sqrt(2 * dim * (m - 1) / m)
    assert abs(z) <= 4.5

    distances = (w[:, : dim // 2] ** 2).sum(1)
    expected = dim // 2 * (population - 1) / population
    standard_error = distances.std(ddof=1) / np.sqrt(m) * np.sqrt(1 - m / population)
    t = (distances.mean() - expected) / standard_error
    assert abs(t) <= 3.5
