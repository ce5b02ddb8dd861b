"""Settings that change a number are never mixed silently: statistics made with other weights, files that
do not say how they were made, a device asked for where no network runs."""

from __future__ import annotations

import json
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import run_cli
from stand_in import StandInExtractor

import gan_eval
from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.extraction import ExtractionOptions
from gan_eval.stats import FeatureStats, save_stats

OTHER_SHA = "ab" * 32


def images(seed: int, n: int = 12) -> np.ndarray:
    """`(n, 16, 16, 3)` uint8 noise."""
    return np.random.default_rng(seed).integers(0, 256, (n, 16, 16, 3), dtype=np.uint8)


def stats_file(path: Path, dim: int, **meta: str) -> Path:
    """A statistics file of `dim`-d features (mean 0, identity covariance, n=100) with `meta` as its settings."""
    save_stats(FeatureStats.from_moments(np.zeros(dim), np.eye(dim), 100, meta), path)
    return path


def stand_in_stats(path: Path, **changes: str) -> Path:
    """Statistics of the stand-in's features of noise, with `changes` to the settings it records."""
    extractor = StandInExtractor()
    stats = gan_eval.compute_statistics(images(1), extractor, progress=False, extraction=ExtractionOptions(cache=False))
    stats.meta.update(extractor.settings(), **changes)
    save_stats(stats, path)
    return path


# --- statistics made with other weights ------------------------------------------------------------------


def test_statistics_of_other_weights_are_refused_by_the_library(tmp_path: Path) -> None:
    path = stand_in_stats(tmp_path / "real_stats.npz", weights_sha256=OTHER_SHA)
    with pytest.raises(GanEvalError, match=f"statistics file {path} were made with weights_sha256 abababab") as caught:
        gan_eval.evaluate(
            path,
            images(2),
            "fid",
            extractor=StandInExtractor(),
            progress=False,
            extraction=ExtractionOptions(cache=False),
        )
    assert "\n" not in str(caught.value)


def test_statistics_of_another_precision_warn_once(tmp_path: Path) -> None:
    path = stand_in_stats(tmp_path / "real_stats.npz", precision="tf32")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gan_eval.evaluate(
            path,
            images(2),
            "fid",
            extractor=StandInExtractor(),
            progress=False,
            extraction=ExtractionOptions(cache=False),
        )
    mixed = [str(w.message) for w in caught if issubclass(w.category, GanEvalWarning) and "precision" in str(w.message)]
    assert mixed == [
        f"statistics file {path} were made with precision tf32, not exact as the other side; "
        "the numbers differ by rounding"
    ]


def test_cli_refuses_two_statistics_files_of_different_weights(tmp_path: Path, capsys) -> None:
    settings = {"extractor": "inception-v3-tf-2015-12-05", "resize": "tf1-bilinear-299", "precision": "exact"}
    a = stats_file(tmp_path / "a.npz", 2048, weights_sha256="cd" * 32, **settings)
    b = stats_file(tmp_path / "b.npz", 2048, weights_sha256=OTHER_SHA, **settings)
    code, _, err = run_cli(capsys, "fid", a, b)
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: statistics file {b} were made with weights_sha256 abababab..., not cdcdcdcd...")


@pytest.mark.inception
def test_cli_report_refuses_statistics_of_other_weights(tmp_path: Path, capsys, real_weights: Path) -> None:
    settings = {"extractor": "inception-v3-tf-2015-12-05", "resize": "tf1-bilinear-299", "precision": "exact"}
    real = stats_file(tmp_path / "real_stats.npz", 2048, weights_sha256=OTHER_SHA, **settings)
    fake = tmp_path / "fake.npy"
    np.save(fake, images(3, 2))
    code, _, err = run_cli(
        capsys, "report", real, fake, "--metrics", "fid", "--weights", real_weights, "--device", "cpu"
    )
    assert code == 2 and err.count("\n") == 1, err
    assert err.startswith(f"error: statistics file {real} were made with weights_sha256 abababab..., not ")


# --- statistics files that do not say how they were made (pytorch-fid's, TTUR's) -------------------------


def peer_file(path: Path, dim: int) -> Path:
    """A pytorch-fid style statistics file: `mu` and `sigma` only."""
    np.savez(path, mu=np.zeros(dim), sigma=np.eye(dim))
    return path


def test_peer_file_count_is_unknown_with_one_warning(tmp_path: Path) -> None:
    path = peer_file(tmp_path / "pytorch_fid.npz", 16)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = gan_eval.evaluate(
            path,
            images(2, 20),
            "fid",
            extractor=StandInExtractor(),
            progress=False,
            extraction=ExtractionOptions(cache=False),
        )
    messages = [str(w.message) for w in caught if issubclass(w.category, GanEvalWarning)]
    assert messages == [
        f"statistics file {path} does not say which extractor made it, nor its weights, resize, sample count; "
        "assuming stand-in's settings; its sample count is reported as unknown"
    ]
    assert (result.n_real, result.n_fake) == (None, 20)
    assert result.to_json()["n_real"] is None


def test_cli_two_peer_files_report_unknown_counts_and_settings(tmp_path: Path, capsys) -> None:
    a, b = peer_file(tmp_path / "a.npz", 2048), peer_file(tmp_path / "b.npz", 2048)
    code, out, err = run_cli(capsys, "fid", a, b, "--json")
    assert code == 0, err
    printed = json.loads(out)
    assert (printed["n_a"], printed["n_b"]) == (None, None)
    assert (printed["extractor"], printed["resize"], printed["weights_sha256"]) == ("unknown",) * 3
    code, out, err = run_cli(capsys, "report", a, b, "--metrics", "fid")
    assert code == 0, err
    assert "n_real=unknown n_fake=unknown extractor=unknown weights=unknown resize=unknown" in out


# --- a device asked for where no network runs ------------------------------------------------------------


def small_stats(seed: int) -> FeatureStats:
    stats = FeatureStats(16, meta={"source": f"set {seed}"})
    stats.update(np.random.default_rng(seed).normal(size=(40, 16)))
    return stats


def test_gpu_device_with_two_statistics_inputs_says_where_the_math_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)  # parse_device's check only: nothing runs there
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 1)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = gan_eval.evaluate(small_stats(0), small_stats(1), "fid", device="cuda", progress=False)
    messages = [str(w.message) for w in caught if issubclass(w.category, GanEvalWarning)]
    assert messages == ["--device cuda: both inputs are statistics, so no network runs; the FID math runs on cpu"]
    assert result.settings["device"] == "cpu"


def test_cpu_device_with_two_statistics_inputs_is_silent() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error", GanEvalWarning)
        gan_eval.evaluate(small_stats(0), small_stats(1), "fid", device="cpu", progress=False)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message of a machine without CUDA")
def test_cli_cuda_with_two_statistics_files_and_no_cuda_is_an_error(tmp_path: Path, capsys) -> None:
    a, b = peer_file(tmp_path / "a.npz", 2048), peer_file(tmp_path / "b.npz", 2048)
    code, _, err = run_cli(capsys, "fid", a, b, "--device", "cuda")
    assert (code, err) == (2, "error: --device cuda: CUDA is not available on this machine\n")
