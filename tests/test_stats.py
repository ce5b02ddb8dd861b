"""`FeatureStats` against np.mean/np.cov, and the statistics file format."""

from __future__ import annotations

import json
import re
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

import gan_eval
from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.extraction import ExtractionOptions
from gan_eval.stats import FeatureStats, check_moments, load_stats, save_stats

EXTRACTOR = "inception-v3-tf-2015-12-05"


@pytest.fixture
def features() -> np.ndarray:
    """(100, 12) float32 features with a non-zero mean and correlated dimensions."""
    rng = np.random.default_rng(0)
    return (rng.standard_normal((100, 12)) @ rng.standard_normal((12, 12)) + 5).astype(np.float32)


def stats_of(*chunks: np.ndarray) -> FeatureStats:
    stats = FeatureStats(chunks[0].shape[1])
    for chunk in chunks:
        stats.update(chunk)
    return stats


def assert_close(actual: np.ndarray, expected: np.ndarray, rel: float = 1e-12) -> None:
    assert np.abs(actual - expected).max() <= rel * np.abs(expected).max()


def test_mean_and_covariance_equal_numpy(features: np.ndarray) -> None:
    stats = stats_of(features)
    reference = features.astype(np.float64)
    assert stats.count == 100
    assert stats.mean().dtype == np.float64
    assert stats.covariance().dtype == np.float64
    assert_close(stats.mean(), np.mean(reference, axis=0))
    assert_close(stats.covariance(), np.cov(reference, rowvar=False))


@pytest.mark.parametrize("dim", [1, 255, 256, 600])
def test_covariance_is_exactly_symmetric_across_blocks(dim: int) -> None:
    """The block-wise symmetrisation covers every block, including a ragged last one."""
    data = np.random.default_rng(dim).normal(size=(dim + 40, dim)) * np.linspace(0.5, 2.0, dim) + 3.0
    covariance = stats_of(data).covariance()
    assert np.array_equal(covariance, covariance.T)
    assert_close(covariance, np.cov(data, rowvar=False))


def test_merged_shards_equal_the_whole(features: np.ndarray) -> None:
    merged = stats_of(features[:30]).merge(stats_of(features[30:31])).merge(stats_of(features[31:]))
    whole = stats_of(features)
    assert merged.count == whole.count
    assert_close(merged.mean(), whole.mean())
    assert_close(merged.covariance(), whole.covariance())
    assert merged.merge(FeatureStats(12)).count == 100
    assert FeatureStats(12).merge(merged).count == 100


def test_batch_splitting_does_not_matter(features: np.ndarray) -> None:
    reference = np.cov(features.astype(np.float64), rowvar=False)
    for size in (1, 7, 64):
        split = stats_of(*[features[i : i + size] for i in range(0, len(features), size)])
        assert_close(split.covariance(), reference)


def test_update_refuses_wrong_dimension() -> None:
    with pytest.raises(ValueError, match="shape"):
        FeatureStats(4).update(np.zeros((2, 5)))


def test_covariance_needs_two_samples() -> None:
    with pytest.raises(GanEvalError, match="at least 2"):
        stats_of(np.zeros((1, 3))).covariance()


def test_save_load_roundtrip(features: np.ndarray, tmp_path: Path) -> None:
    stats = stats_of(features)
    stats.meta.update(extractor=EXTRACTOR, precision="exact")
    path = tmp_path / "stats.npz"
    save_stats(stats, path)
    loaded = load_stats(path, expected_extractor=EXTRACTOR, expected_dim=12)
    assert loaded.count == 100
    assert loaded.meta["extractor"] == EXTRACTOR
    assert loaded.meta["precision"] == "exact"
    np.testing.assert_array_equal(loaded.mean(), stats.mean())
    np.testing.assert_array_equal(loaded.covariance(), stats.covariance())


def test_file_reads_like_pytorch_fid_and_clean_fid(features: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "stats.npz"
    save_stats(stats_of(features), path)
    with np.load(path) as data:
        mu, sigma = data["mu"], data["sigma"]
        meta = json.loads(str(data["gan_eval_meta"]))
    assert mu.dtype == sigma.dtype == np.float64
    assert_close(mu, np.mean(features.astype(np.float64), axis=0))
    assert_close(sigma, np.cov(features.astype(np.float64), rowvar=False))
    assert meta["n"] == 100


def test_kept_features_round_trip_beside_mu_and_sigma(features: np.ndarray, tmp_path: Path) -> None:
    """Per-sample features travel in the same file; mu and sigma stay what peers read."""
    stats = stats_of(features)
    stats.meta.update(extractor=EXTRACTOR)
    stats.features = features
    path = tmp_path / "stats.npz"
    save_stats(stats, path)
    with np.load(path) as data:
        assert data["features"].dtype == np.float32 and data["features"].shape == (100, 12)
        assert_close(data["mu"], np.mean(features.astype(np.float64), axis=0))
        assert_close(data["sigma"], np.cov(features.astype(np.float64), rowvar=False))
    loaded = load_stats(path, expected_extractor=EXTRACTOR, expected_dim=12)
    np.testing.assert_array_equal(loaded.features, features)
    stats.features = None
    save_stats(stats, tmp_path / "plain.npz")
    assert load_stats(tmp_path / "plain.npz").features is None


def test_load_refuses_features_that_do_not_match(features: np.ndarray, tmp_path: Path) -> None:
    path = tmp_path / "stats.npz"
    stats = stats_of(features)
    np.savez(path, mu=stats.mean(), sigma=stats.covariance(), n=np.int64(100), features=features[:-1])
    with warnings.catch_warnings(), pytest.raises(GanEvalError, match=r"features of shape \(99, 12\); expected"):
        warnings.simplefilter("ignore", GanEvalWarning)  # a file without gan_eval_meta, like a peer's
        load_stats(path)


def test_foreign_file_without_metadata_loads_with_a_warning(tmp_path: Path) -> None:
    path = tmp_path / "foreign.npz"
    np.savez(path, mu=np.zeros(3), sigma=np.eye(3))
    with pytest.warns(GanEvalWarning, match=re.escape("foreign.npz")):
        loaded = load_stats(path, expected_extractor=EXTRACTOR, expected_dim=3)
    np.testing.assert_array_equal(loaded.covariance(), np.eye(3))


def write_npz(path: Path, **arrays: np.ndarray) -> Path:
    np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("arrays", "message"),
    [
        ({"mu": np.zeros(3)}, "no 'sigma'"),
        ({"sigma": np.eye(3)}, "no 'mu'"),
        ({"mu": np.zeros(3), "sigma": np.eye(4)}, "shape"),
        ({"mu": np.zeros((3, 1)), "sigma": np.eye(3)}, "shape"),
        ({"mu": np.zeros(3), "sigma": np.full((3, 3), np.nan)}, "non-finite"),
        ({"mu": np.array([0.0, np.inf, 0.0]), "sigma": np.eye(3)}, "non-finite"),
        ({"mu": np.zeros(3), "sigma": np.eye(3), "extra": np.array([{"a": 1}], dtype=object)}, "pickle"),
        ({"mu": np.array([1, 2, 3], dtype=object), "sigma": np.eye(3)}, "pickle"),
        ({"mu": np.array(["a", "b", "c"]), "sigma": np.eye(3)}, "non-float"),
    ],
)
def test_load_refuses_bad_files(tmp_path: Path, arrays: dict[str, np.ndarray], message: str) -> None:
    path = write_npz(tmp_path / "bad-stats.npz", **arrays)
    with pytest.raises(GanEvalError, match=message) as caught, warnings.catch_warnings():
        warnings.simplefilter("ignore", GanEvalWarning)
        load_stats(path, expected_extractor=EXTRACTOR)
    assert "bad-stats.npz" in str(caught.value)


def test_load_refuses_a_file_that_is_not_npz(tmp_path: Path) -> None:
    path = tmp_path / "garbage.npz"
    path.write_bytes(b"not a zip archive")
    with pytest.raises(GanEvalError, match=re.escape("garbage.npz is not a readable .npz archive")):
        load_stats(path)


def test_load_refuses_another_extractor(features: np.ndarray, tmp_path: Path) -> None:
    stats = stats_of(features)
    stats.meta["extractor"] = "clip-vit-b-32"
    path = tmp_path / "other-extractor.npz"
    save_stats(stats, path)
    with pytest.raises(GanEvalError, match="clip-vit-b-32") as caught:
        load_stats(path, expected_extractor=EXTRACTOR)
    assert "other-extractor.npz" in str(caught.value)


def test_load_refuses_another_dimension(features: np.ndarray, tmp_path: Path) -> None:
    stats = stats_of(features)
    stats.meta["extractor"] = EXTRACTOR
    path = tmp_path / "twelve.npz"
    save_stats(stats, path)
    with pytest.raises(GanEvalError, match="12-d") as caught:
        load_stats(path, expected_extractor=EXTRACTOR, expected_dim=2048)
    assert "twelve.npz" in str(caught.value)


def test_warnings_through_the_api_point_at_the_callers_line(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    sets = []
    for name in ("a", "b"):  # fewer samples than dimensions: FID warns, KID clips its subset size
        x = rng.normal(size=(10, 16))
        sets.append(FeatureStats(16, meta={"source": name}, features=x.astype(np.float32)))
        sets[-1].update(x)
    foreign = write_npz(tmp_path / "foreign.npz", mu=np.zeros(16), sigma=np.eye(16))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gan_eval.fid(sets[0], sets[1], progress=False, extraction=ExtractionOptions(cache=False))
        gan_eval.evaluate(sets[0], sets[1], ("kid",), progress=False, extraction=ExtractionOptions(cache=False))
        gan_eval.load_stats(foreign)
    messages = [str(w.message) for w in caught]
    for expected in ("rank-deficient", "KID subset size", "does not say which extractor"):
        assert any(expected in m for m in messages), messages
    assert [w.filename for w in caught] == [__file__] * len(caught)


def _rotated(eigenvalues: np.ndarray, seed: int = 0) -> np.ndarray:
    """A symmetric `(D, D)` matrix with the given eigenvalues, in a random orthonormal basis."""
    basis, _ = np.linalg.qr(np.random.default_rng(seed).standard_normal((len(eigenvalues),) * 2))
    matrix = (basis * eigenvalues) @ basis.T
    return (matrix + matrix.T) / 2


def _nudged_off_symmetric(relative: float) -> np.ndarray:
    sigma = _rotated(np.linspace(1.0, 2.0, 8))
    sigma[0, 1] += relative * np.abs(sigma).max()
    return sigma


@pytest.mark.parametrize(
    ("mu", "sigma", "message"),
    [
        (np.zeros(8), _nudged_off_symmetric(1e-3), "not symmetric"),
        (np.zeros(8), _rotated(np.array([-1e-4, *np.linspace(0.5, 1.0, 7)])), "not positive semi-definite"),
        (np.zeros(8), np.diag([-1.0, *np.ones(7)]), "not positive semi-definite"),
        (np.zeros(8), np.eye(8) * 1e200, re.escape("values up to 1e+200")),
        (np.full(8, 1e160), np.eye(8), re.escape("values up to 1e+160")),
    ],
    ids=["asymmetric", "slightly-negative-eigenvalue", "negative-variance", "huge-sigma", "mu-whose-square-overflows"],
)
def test_load_refuses_moments_no_features_have(tmp_path: Path, mu: np.ndarray, sigma: np.ndarray, message: str) -> None:
    path = write_npz(tmp_path / "bad-sigma.npz", mu=mu, sigma=sigma)
    with pytest.raises(GanEvalError, match=message) as caught, warnings.catch_warnings():
        warnings.simplefilter("ignore", GanEvalWarning)
        load_stats(path)
    assert str(path) in str(caught.value)


@pytest.mark.parametrize(
    "sigma",
    [
        _nudged_off_symmetric(1e-9),
        _rotated(np.array([-1e-8, *np.linspace(0.5, 1.0, 7)])),
        _rotated(np.array([0.0, 0.0, *np.linspace(0.5, 1.0, 6)])),
        np.zeros((8, 8)),
        np.eye(8) * 1e140,
    ],
    ids=["rounding-asymmetry", "rounding-negative-eigenvalue", "rank-deficient", "all-zero", "large-but-carried"],
)
def test_load_accepts_covariances_within_rounding(tmp_path: Path, sigma: np.ndarray) -> None:
    path = write_npz(tmp_path / "stats.npz", mu=np.ones(8), sigma=sigma)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GanEvalWarning)
        np.testing.assert_array_equal(load_stats(path).covariance(), sigma)


def test_shipped_references_pass_the_covariance_checks() -> None:
    from gan_eval.sources.references import load_reference, reference_names

    for name in reference_names():
        stats = load_reference(name)
        check_moments(stats.mean(), stats.covariance(), name)


def test_load_refuses_a_link_to_a_device(tmp_path: Path) -> None:
    path = tmp_path / "stats.npz"
    path.symlink_to("/dev/urandom")
    expected = f"statistics file {path}: not a regular file (a character device, /dev/urandom)"
    with pytest.raises(GanEvalError, match=re.escape(expected)):
        load_stats(path)


def test_device_moments_are_the_bits_of_feature_stats_update() -> None:
    """The pipeline's on-device accumulator adds what `FeatureStats.update` adds, in the same order."""
    from gan_eval.stats import DeviceMoments

    rng = np.random.default_rng(4)
    batches = [torch.from_numpy(rng.normal(size=(n, 6)).astype(np.float32)) for n in (5, 1, 9, 3)]
    plain, moments = FeatureStats(6), DeviceMoments(6)
    for batch in batches:
        plain.update(batch)
        moments.update(batch)
    into = FeatureStats(6)
    moments.into(into)
    assert into.count == plain.count == 18
    assert np.array_equal(into.total, plain.total) and np.array_equal(into.outer, plain.outer)
    DeviceMoments(6).into(into)  # nothing accumulated: unchanged
    assert into.count == 18


# --- how errors name a statistics file: the path given, then the set it records as its source -------------


def stats_recording_another_source(path: Path, dim: int, count: int, **meta: str) -> Path:
    """A statistics file at `path` whose metadata says it was made from the folder `/data/real`."""
    path.parent.mkdir(parents=True, exist_ok=True)
    save_stats(FeatureStats.from_moments(np.zeros(dim), np.eye(dim), count, dict(meta, source="/data/real")), path)
    return path


def test_statistics_are_named_by_their_file_with_the_recorded_source_beside(tmp_path: Path) -> None:
    path = stats_recording_another_source(tmp_path / "stats" / "ref.npz", 4, 10)
    assert load_stats(path).name == f"{path} (statistics of /data/real)"
    np.savez(tmp_path / "peer.npz", mu=np.zeros(4), sigma=np.eye(4))  # pytorch-fid's: no source recorded
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", GanEvalWarning)
        assert load_stats(tmp_path / "peer.npz").name == str(tmp_path / "peer.npz")
    assert stats_of(np.zeros((3, 2))).name == "statistics"
    assert FeatureStats(2, meta={"source": "ndarray (3, 2)"}).name == "ndarray (3, 2)"


def test_errors_about_a_statistics_input_name_the_file_given(tmp_path: Path, capsys, real_weights: Path) -> None:
    """They used to name `/data/real`, the folder recorded inside the file, which the user never typed."""
    from cli_runner import one_error_line, run_cli
    from stand_in import StandInExtractor

    from gan_eval.evaluation import evaluate_spaces

    one = stats_recording_another_source(tmp_path / "stats" / "one.npz", 16, 1, extractor="stand-in")
    fake = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
    quiet = ExtractionOptions(cache=False, progress=False)
    named = re.escape(f"{one} (statistics of /data/real)")
    with pytest.raises(GanEvalError, match=f"at least 2 images per set; {named} has 1$"):
        gan_eval.evaluate(one, fake, "fid", extractor=StandInExtractor(), extraction=quiet)
    with pytest.raises(GanEvalError, match=f"needs per-sample features of {named}, a statistics file"):
        gan_eval.evaluate(one, fake, "kid", extractor=StandInExtractor(), extraction=quiet)
    with pytest.raises(GanEvalError, match=f"^real input {named} is a statistics file, which holds one"):
        evaluate_spaces(one, fake, ("inception", "clip-vitb32"), "fid", extraction=quiet)
    # Through the command line: one line, exit 2, the file as typed; refused before any weights are needed.
    ref = stats_recording_another_source(tmp_path / "stats" / "ref.npz", 2048, 100, extractor=EXTRACTOR)
    np.save(tmp_path / "fake.npy", fake)
    code, _, err = run_cli(capsys, "report", ref, tmp_path / "fake.npy", "--metrics", "kid", "--weights", real_weights)
    one_error_line(code, err, f"per-sample features of {ref} (statistics of /data/real), a statistics file")
