"""End to end with the real weights: `gan_eval.fid` and the CLI against an independent FID.

The reference features come from torch-fidelity's Inception on the same
weights (converted to its state-dict format), the moments from np.mean and
np.cov, and the trace term from the singular values of the small product
of centred feature matrices: with n samples, the non-zero eigenvalues of
S1 S2 are the squared singular values of Xc1 Xc2^T / sqrt((n1-1)(n2-1)), a
route independent of the library's factorisation (and of sqrtm, which takes
minutes on singular 2048x2048 matrices).
The report test runs every metric, the Inception Score included, on weights
with a (random) classifier head, and compares each value with the naive
float64 formulas on torch-fidelity's features and logits.
Twenty plus twenty 32x32 images keep the real network's work small (FID∞
needs 20 generated images).
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from naive_metrics import naive_fid_inf, naive_fid_small_n, naive_inception_score, naive_kid, naive_prdc
from PIL import Image
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

import gan_eval
from gan_eval.errors import GanEvalWarning
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.inception.weights import load_weights
from gan_eval.metrics.registry import MetricOptions

pytestmark = pytest.mark.inception

N_PER_SET = 20
JSON_KEYS = {"fid", "n_a", "n_b", "extractor", "weights_sha256", "resize", "precision", "device", "seconds"}


def write_set(folder: Path, images: np.ndarray) -> Path:
    folder.mkdir(parents=True)
    for index, pixels in enumerate(images):
        Image.fromarray(pixels).save(folder / f"{index:02d}.png")
    return folder


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """Folder A of noise images and folder B of noisy colour gradients, 32x32 PNGs."""
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("sets")
    noise = rng.integers(0, 256, (N_PER_SET, 32, 32, 3), dtype=np.uint8)
    ramp = np.linspace(0, 1, 32)
    colours = rng.uniform(0, 255, (N_PER_SET, 1, 1, 3))
    gradients = colours * ramp[None, :, None, None] + rng.normal(0, 8, (N_PER_SET, 32, 32, 3))
    return write_set(root / "a", noise), write_set(root / "b", gradients.clip(0, 255).astype(np.uint8))


def reference_features(extractor: FeatureExtractorInceptionV3, folder: Path) -> dict[str, np.ndarray]:
    """torch-fidelity's pool3 features and unbiased logits of every PNG in `folder`, decoded with Pillow."""
    images = [np.asarray(Image.open(p).convert("RGB")) for p in sorted(folder.glob("*.png"))]
    batch = torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()
    with torch.no_grad():
        features, logits = extractor(batch)
    return {"pool3": features.double().numpy(), "logits": logits.double().numpy()}


@pytest.fixture(scope="module")
def classifier_weights(real_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real weights as a torch-fidelity state dict, plus a random 1008-way classifier (for IS plumbing)."""
    state = dict(load_weights(real_weights).state_dict)
    generator = torch.Generator().manual_seed(0)
    state["fc.weight"] = torch.randn(1008, 2048, generator=generator) * 0.05
    state["fc.bias"] = torch.randn(1008, generator=generator)
    path = tmp_path_factory.mktemp("weights") / "fidelity.pth"
    torch.save(state, path)
    return path


@pytest.fixture(scope="module")
def reference(classifier_weights: Path, sets: tuple[Path, Path]) -> tuple[dict, dict]:
    extractor = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(classifier_weights)
    )
    return reference_features(extractor, sets[0]), reference_features(extractor, sets[1])


@pytest.fixture(scope="module")
def expected_fid(reference: tuple[dict, dict]) -> float:
    return naive_fid_small_n(reference[0]["pool3"], reference[1]["pool3"])


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "gan_eval", *args], capture_output=True, text=True, timeout=300, check=False
    )


def test_library_fid_equals_independent_fid(real_weights: Path, sets: tuple[Path, Path], expected_fid: float) -> None:
    with pytest.warns(GanEvalWarning, match="rank-deficient"):
        result = gan_eval.fid(
            str(sets[0]),
            str(sets[1]),
            device="cpu",
            progress=False,
            extraction=ExtractionOptions(weights=str(real_weights)),
        )
    assert result.fid == pytest.approx(expected_fid, rel=1e-6)
    assert (result.n_a, result.n_b) == (N_PER_SET, N_PER_SET)
    assert result.weights_sha256 == hashlib.sha256(real_weights.read_bytes()).hexdigest()
    assert result.precision == "exact"
    assert result.device == "cpu"


def test_cli_fid_json_equals_independent_fid(real_weights: Path, sets: tuple[Path, Path], expected_fid: float) -> None:
    done = run_cli("fid", str(sets[0]), str(sets[1]), "--json", "--weights", str(real_weights), "--quiet")
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert set(result) >= JSON_KEYS
    assert result["fid"] == pytest.approx(expected_fid, rel=1e-6)
    assert (result["n_a"], result["n_b"]) == (N_PER_SET, N_PER_SET)
    assert result["extractor"] == "inception-v3-tf-2015-12-05"
    assert result["weights_sha256"] == hashlib.sha256(real_weights.read_bytes()).hexdigest()
    assert result["resize"] == "tf1-bilinear-299"
    assert result["precision"] == "exact"
    assert result["device"] == "cpu"
    assert "rank-deficient" in done.stderr


def test_cli_stats_file_then_fid_equals_folder_vs_folder(
    real_weights: Path, sets: tuple[Path, Path], expected_fid: float, tmp_path: Path
) -> None:
    stats_path = tmp_path / "a-stats.npz"
    done = run_cli("stats", str(sets[0]), "-o", str(stats_path), "--weights", str(real_weights), "--quiet")
    assert done.returncode == 0, done.stderr
    with np.load(stats_path) as data:
        assert data["mu"].shape == (2048,)
        assert data["sigma"].shape == (2048, 2048)
    done = run_cli("fid", str(stats_path), str(sets[1]), "--json", "--weights", str(real_weights), "--quiet")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["fid"] == pytest.approx(expected_fid, rel=1e-6)


def test_report_equals_naive_metrics_on_torch_fidelity_features(
    classifier_weights: Path, sets: tuple[Path, Path], reference: tuple[dict, dict]
) -> None:
    options = MetricOptions(kid_subsets=10, kid_subset_size=15, ci_groups=10)
    with pytest.warns(GanEvalWarning, match="rank-deficient"):
        result = gan_eval.evaluate(
            str(sets[0]),
            str(sets[1]),
            device="cpu",
            options=options,
            progress=False,
            extraction=ExtractionOptions(weights=str(classifier_weights)),
        )
    real, fake = reference
    assert result.metrics == ("fid", "fid_inf", "is", "kid", "pr", "dc") and not result.unavailable
    assert result["fid"] == pytest.approx(naive_fid_small_n(real["pool3"], fake["pool3"]), rel=1e-6)
    is_mean, is_std = naive_inception_score(fake["logits"], 10, 2020)
    assert result["is_mean"] == pytest.approx(is_mean, rel=1e-6)
    assert result["is_std"] == pytest.approx(is_std, rel=1e-5, abs=1e-9)
    kid_mean, kid_std = naive_kid(real["pool3"], fake["pool3"], 10, 15, 2020)
    assert result["kid_mean"] == pytest.approx(kid_mean, rel=1e-6)
    assert result["kid_std"] == pytest.approx(kid_std, rel=1e-5)
    fid_inf, slope = naive_fid_inf(real["pool3"], fake["pool3"], 2020, 15, fid=naive_fid_small_n)
    assert result["fid_inf"] == pytest.approx(fid_inf, rel=1e-6)
    # The slope is a difference quotient of FIDs that agree to ~1e-6, so it agrees less tightly
    # (on the very same features it matches to 1e-6: tests/metrics/test_registry.py).
    assert result["fid_inf_slope"] == pytest.approx(slope, rel=1e-4)
    naive = naive_prdc(real["pool3"], fake["pool3"], 3, 5)
    # Features agree to ~1e-6, so a ball boundary could in principle flip; at these sizes none does.
    assert {k: result[k] for k in naive} == naive
    assert result["fid_ci_low"] < result["fid_ci_high"]


def test_value_range_is_a_keyword_of_the_python_functions(stand_in) -> None:
    """`value_range=(-1, 1)` as docs/inputs.md shows it (it raised TypeError): tanh images equal their uint8."""
    import inspect

    import gan_eval

    rng = np.random.default_rng(11)
    real = rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    fake = rng.integers(0, 256, (20, 8, 8, 3), dtype=np.uint8)
    tanh = fake.astype(np.float32) / 127.5 - 1.0
    expected = gan_eval.evaluate(real, fake, "fid", extractor=stand_in, progress=False)["fid"]
    got = gan_eval.evaluate(real, tanh, "fid", extractor=stand_in, progress=False, value_range=(-1, 1))["fid"]
    assert got == pytest.approx(expected, rel=1e-12)
    from gan_eval.evaluation import evaluate_spaces

    for function in (gan_eval.fid, evaluate_spaces, gan_eval.compute_statistics):
        assert "value_range" in inspect.signature(function).parameters, function.__name__
