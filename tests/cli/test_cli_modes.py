"""`gan-eval modes` in-process: reference samples pass, collapsed ones fire the right detectors, JSON keys, errors.

2-D sets use real mixture samples; image sets use the stand-in extractor
(the detectors' numbers are checked against naive code in tests/diagnostics),
except one small smoke test through the real Inception network.
"""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import one_error_line, run_cli
from naive_metrics import naive_prdc
from torchscript_inception import torchscript_pool3

from gan_eval.datasets.digits import digits_images, digits_labels
from gan_eval.datasets.stacked_digits import mode_digits, stacked_digits_images, stacked_digits_modes
from gan_eval.datasets.toy2d import TOY_2D
from gan_eval.models.training import training_data

VERDICT_KEYS = {"collapsed", "severity", "fired", "inconclusive", "reference", "detectors", "settings", "version"}
MIXTURE_KEYS = {"modes_covered", "modes_total", "high_quality", "mode_kl", "mode_counts"}
FEATURE_KEYS = {
    "precision",
    "low_fidelity",
    "ndb",
    "ndb_fraction",
    "ndb_js",
    "support",
    "support_ratio",
    "coverage",
    "recall",
    "authenticity",
}
DETECTOR_KEYS = {"name", "value", "threshold", "fires_when", "fired", "description", "decides"}


def run_json(capsys: pytest.CaptureFixture[str], *args: str | Path) -> dict:
    code, out, err = run_cli(capsys, "modes", *args, "--json", "--quiet")
    assert code == 0, err
    return json.loads(out)


def naive_mixture(name: str, points: np.ndarray) -> tuple[int, float]:
    """Modes covered and high-quality share with loops over samples and centres."""
    mixture = TOY_2D[name]
    covered: set[int] = set()
    good = 0
    for px, py in points.tolist():
        dists = [math.hypot(px - cx, py - cy) for cx, cy in mixture.centres.tolist()]
        k = min(range(len(dists)), key=dists.__getitem__)
        if dists[k] <= 3 * mixture.sigma:
            good += 1
            covered.add(k)
    return len(covered), good / len(points)


def only_modes(name: str, keep: list[int], n: int, seed: int) -> np.ndarray:
    mixture = TOY_2D[name]
    rng = np.random.default_rng(seed)
    modes = rng.choice(np.array(keep), size=n)
    return mixture.centres[modes] + rng.standard_normal((n, 2)) * mixture.sigma


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_a_reference_sample_passes(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str) -> None:
    points = TOY_2D[name].sample(2500, seed=11)
    np.save(tmp_path / "fake.npy", points)
    payload = run_json(capsys, name, tmp_path / "fake.npy")
    assert set(payload) >= VERDICT_KEYS | MIXTURE_KEYS
    assert payload["collapsed"] is False and payload["fired"] == []
    covered, high_quality = naive_mixture(name, points)
    assert payload["modes_covered"] == covered == TOY_2D[name].num_modes
    assert payload["modes_total"] == TOY_2D[name].num_modes
    assert payload["high_quality"] == pytest.approx(high_quality, abs=1e-12)
    assert isinstance(payload["modes_covered"], int) and isinstance(payload["high_quality"], float)
    for detector in payload["detectors"]:
        assert set(detector) == DETECTOR_KEYS and detector["fired"] is False


@pytest.mark.parametrize(("name", "keep"), [("ring8", [0, 4]), ("grid25", list(range(0, 25, 2)))])
def test_a_collapsed_sample_fires(capsys: pytest.CaptureFixture[str], tmp_path: Path, name: str, keep) -> None:
    points = only_modes(name, keep, 2500, seed=3)
    np.save(tmp_path / "fake.npy", points.astype(np.float32))
    payload = run_json(capsys, name, tmp_path / "fake.npy")
    assert payload["collapsed"] is True
    assert set(payload["fired"]) == {"modes", "mode_kl"}
    assert payload["modes_covered"] == naive_mixture(name, points.astype(np.float32))[0] == len(keep)
    fired = {d["name"]: d for d in payload["detectors"] if d["fired"]}
    assert fired["modes"]["value"] < fired["modes"]["threshold"]
    assert fired["mode_kl"]["value"] > fired["mode_kl"]["threshold"]
    # The reverse KL of a uniform histogram on len(keep) of K modes is log(K / len(keep)), up to sampling noise.
    assert payload["mode_kl"] == pytest.approx(math.log(TOY_2D[name].num_modes / len(keep)), abs=0.02)


def test_table_and_min_count(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    # Mode 0 holds 20 samples, the others about 300 each.
    points = np.concatenate(
        [only_modes("ring8", [0], 20, seed=1), only_modes("ring8", list(range(1, 8)), 2100, seed=2)]
    )
    np.save(tmp_path / "fake.npy", points)
    code, out, err = run_cli(capsys, "modes", "ring8", tmp_path / "fake.npy")
    assert code == 0, err
    assert "modes covered: 8 of 8" in out
    assert out.splitlines()[0].split() == ["detector", "value", "threshold", "fires", "when", "fired", "what"]
    # A perfect generator of 2,120 samples puts about 265 in every mode, so 50 is never missed by chance.
    code, out, err = run_cli(capsys, "modes", "ring8", tmp_path / "fake.npy", "--min-count", "50")
    assert code == 0, err
    assert "modes covered: 7 of 8" in out and "collapsed: yes, partial (fired: modes" in out


def test_point_input_errors(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, _, err = run_cli(capsys, "modes", "ring8", tmp_path / "missing.npy")
    one_error_line(code, err, "missing.npy")
    np.save(tmp_path / "three.npy", np.zeros((10, 3)))
    code, _, err = run_cli(capsys, "modes", "ring8", tmp_path / "three.npy")
    one_error_line(code, err, "three.npy", "(N, 2)")
    np.save(tmp_path / "objects.npy", np.array([{"a": 1}, None], dtype=object), allow_pickle=True)
    code, _, err = run_cli(capsys, "modes", "ring8", tmp_path / "objects.npy")
    one_error_line(code, err, "objects.npy")
    (tmp_path / "junk.npy").write_bytes(b"junk")
    code, _, err = run_cli(capsys, "modes", "grid25", tmp_path / "junk.npy")
    one_error_line(code, err, "junk.npy")
    np.savez(tmp_path / "two.npz", a=np.zeros((4, 2)), b=np.zeros((4, 2)))
    code, _, err = run_cli(capsys, "modes", "grid25", tmp_path / "two.npz")
    one_error_line(code, err, "two.npz")
    nan = TOY_2D["ring8"].sample(10)
    nan[3, 0] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    code, _, err = run_cli(capsys, "modes", "ring8", tmp_path / "nan.npy")
    one_error_line(code, err, "nan.npy", "NaN")
    code, _, err = run_cli(capsys, "modes", "ring8", tmp_path / "nan.npy", "--min-count", "0")
    one_error_line(code, err, "--min-count")


@pytest.fixture
def stand_in_network(monkeypatch: pytest.MonkeyPatch, stand_in) -> None:
    """`gan-eval modes` on images uses the stand-in extractor instead of Inception."""
    monkeypatch.setattr("gan_eval.extraction.load_extractor", lambda *args, **kwargs: stand_in)


def nchw(images: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(images.transpose(0, 3, 1, 2))


@pytest.fixture
def digit_halves(tmp_path: Path) -> tuple[Path, Path, np.ndarray]:
    """Two random halves of the 1,797 digits as .npy (898 and 899 images), and the second half's labels.

    Random halves, not the train/test split: those come from different writers, a real difference
    that raw-pixel stand-in features (unlike Inception's) show.
    """
    order = np.random.default_rng(0).permutation(1797)
    images, labels = digits_images("all"), digits_labels("all")
    np.save(tmp_path / "real.npy", nchw(images[order[:898]]))
    np.save(tmp_path / "sample.npy", nchw(images[order[898:]]))
    return tmp_path / "real.npy", tmp_path / "sample.npy", labels[order[898:]]


def test_images_reference_sample_passes(capsys: pytest.CaptureFixture[str], digit_halves, stand_in_network) -> None:
    real, sample, _ = digit_halves
    payload = run_json(capsys, real, sample)
    assert set(payload) >= VERDICT_KEYS | FEATURE_KEYS
    assert payload["collapsed"] is False, payload["detectors"]
    assert [d["name"] for d in payload["detectors"]] == [
        "precision",
        "ndb",
        "support",
        "coverage",
        "recall",
        "authenticity",
    ]
    assert payload["settings"]["extractor"] == "stand-in"
    assert payload["settings"]["n_real_features"] == 898 and payload["settings"]["n_fake_features"] == 899
    by_name = {d["name"]: d for d in payload["detectors"]}
    assert payload["ndb"] == by_name["ndb"]["value"] and payload["support_ratio"] == by_name["support"]["value"]


def test_images_two_classes_fire(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, digit_halves, stand_in_network
) -> None:
    real, sample, labels = digit_halves
    np.save(tmp_path / "two.npy", np.load(sample)[labels < 2])
    payload = run_json(capsys, real, tmp_path / "two.npy")
    assert payload["collapsed"] is True
    # About 180 samples: coverage and recall see the missing classes; NDB has little power at this size.
    assert {"coverage", "recall"} <= set(payload["fired"])
    assert "authenticity" not in payload["fired"]


def test_copies_of_the_reference_fire_authenticity(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, stand_in_network, cached_classifier
) -> None:
    np.save(tmp_path / "copies.npy", nchw(digits_images("train")[::2]))
    payload = run_json(capsys, "digits:train", tmp_path / "copies.npy")
    assert "authenticity" in payload["fired"]
    assert payload["authenticity"] == 0.0


@pytest.fixture
def cached_classifier(digit_classifier_cached: Path) -> None:
    """The digit classifier trained once for the session (tests/conftest.py), in this test's cache."""


def test_stacked_digits_sample_passes_and_few_modes_fire(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, stand_in_network, cached_classifier
) -> None:
    # A reference sample: 3,000 fresh draws of the distribution stacked-digits:train is a stratified sample of.
    images, _ = training_data("stacked-digits").draw(3000, torch.Generator().manual_seed(0))
    np.save(tmp_path / "sample.npy", ((images + 1) * 127.5).round().to(torch.uint8).numpy())
    payload = run_json(capsys, "stacked-digits:train", tmp_path / "sample.npy", "--max-samples", "3000")
    assert payload["collapsed"] is False, payload["detectors"]
    assert payload["modes_total"] == 1000 and payload["modes_covered"] > 900
    assert [d["name"] for d in payload["detectors"]][:2] == ["modes", "mode_kl"]

    # A collapsed generator: only the digits 0, 1 and 2 in each channel (27 modes).
    modes = stacked_digits_modes("test")
    few = np.flatnonzero((mode_digits(modes) < 3).all(axis=1))
    images = stacked_digits_images("test")[few]
    np.save(tmp_path / "few.npy", nchw(np.concatenate([images] * 10)[:3000]))
    payload = run_json(capsys, "stacked-digits:train", tmp_path / "few.npy", "--max-samples", "3000")
    assert payload["collapsed"] is True
    assert {"modes", "mode_kl"} <= set(payload["fired"])
    # 27 modes, plus the few that misread test-split digits land in.
    assert payload["modes_covered"] < 60
    assert payload["detectors"][0]["threshold"] > 900


def test_digits_reference_adds_ten_labelled_modes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, stand_in_network, cached_classifier
) -> None:
    images, labels = digits_images("test"), digits_labels("test")
    np.save(tmp_path / "test.npy", nchw(images))
    payload = run_json(capsys, "digits:train", tmp_path / "test.npy")
    assert [d["name"] for d in payload["detectors"]][:2] == ["modes", "mode_kl"]
    assert (payload["modes_covered"], payload["modes_total"]) == (10, 10)
    assert not {"modes", "mode_kl"} & set(payload["fired"])

    np.save(tmp_path / "two.npy", nchw(images[labels < 2]))
    payload = run_json(capsys, "digits:train", tmp_path / "two.npy")
    assert {"modes", "mode_kl"} <= set(payload["fired"])
    # The classifier misreads a few of the 179 test-split 0s and 1s; --min-count 10 ignores such strays.
    assert payload["modes_covered"] < 10
    payload = run_json(capsys, "digits:train", tmp_path / "two.npy", "--min-count", "10")
    assert payload["modes_covered"] == 2 and "modes" in payload["fired"]


def test_stacked_digits_needs_32x32(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, stand_in_network, cached_classifier
) -> None:
    np.save(tmp_path / "small.npy", np.zeros((20, 3, 16, 16), dtype=np.uint8))
    code, _, err = run_cli(capsys, "modes", "stacked-digits:train", tmp_path / "small.npy", "--quiet")
    one_error_line(code, err, "32x32")


def test_statistics_are_refused(capsys: pytest.CaptureFixture[str], tmp_path: Path, stand_in_network) -> None:
    from gan_eval.stats import FeatureStats, save_stats

    stats = FeatureStats(dim=16, meta={"extractor": "stand-in"})
    stats.update(np.random.default_rng(0).standard_normal((40, 16)))
    save_stats(stats, tmp_path / "stats.npz")
    code, _, err = run_cli(capsys, "modes", "digits:train", tmp_path / "stats.npz", "--quiet")
    one_error_line(code, err, "stats.npz", "per-sample")


def naive_authenticity(real: np.ndarray, fake: np.ndarray) -> float:
    """Share of `fake` rows farther from their nearest `real` row x* than x* is from its nearest other real row."""
    to_real = np.sqrt(((fake[:, None, :] - real[None, :, :]) ** 2).sum(-1))
    within = np.sqrt(((real[:, None, :] - real[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(within, np.inf)
    nearest = to_real.argmin(1)
    return float((to_real.min(1) > within.min(1)[nearest]).mean())


@pytest.mark.inception
def test_real_inception_smoke(capsys: pytest.CaptureFixture[str], tmp_path: Path, real_weights: Path) -> None:
    """24 + 24 real digits through the real network (4 NDB bins so so few samples suffice).

    Two halves of one data set are what a perfect generator would give, so nothing may fire; the
    neighbourhood numbers must equal the naive ones on features from the TorchScript network (a tie
    within float32 noise would be needed to change a share). In a copy of the reference every generated
    sample sits on a reference sample, so precision, recall and coverage are 1, authenticity and NDB 0,
    and the support ratio 1, whatever the network (its features come from the cache).
    """
    images = digits_images("all")
    np.save(tmp_path / "real.npy", nchw(images[:24]))
    np.save(tmp_path / "fake.npy", nchw(images[24:48]))
    options = ("--weights", real_weights, "--ndb-bins", "4")
    payload = run_json(capsys, tmp_path / "real.npy", tmp_path / "fake.npy", *options)
    assert set(payload) >= VERDICT_KEYS | FEATURE_KEYS
    assert payload["settings"]["extractor"] == "inception-v3-tf-2015-12-05"
    assert payload["settings"]["feature_dims"] == 2048
    assert (payload["settings"]["n_real_features"], payload["settings"]["n_fake_features"]) == (24, 24)
    assert payload["collapsed"] is False and payload["fired"] == [] and payload["inconclusive"] == []

    real = torchscript_pool3(nchw(images[:24]), real_weights)
    fake = torchscript_pool3(nchw(images[24:48]), real_weights)
    expected = naive_prdc(real, fake, k_pr=3, k_dc=5)
    for key in ("precision", "recall", "coverage"):
        assert payload[key] == pytest.approx(expected[key], abs=1e-12), key
    assert payload["authenticity"] == pytest.approx(naive_authenticity(real, fake), abs=1e-12)
    # Naeem et al. (2020): coverage of one distribution by itself, 1 - prod_{i=1..5} (N - i) / (M + N - i)
    assert payload["coverage_expected"] == pytest.approx(1 - math.prod((24 - i) / (48 - i) for i in range(1, 6)))

    shutil.copyfile(tmp_path / "real.npy", tmp_path / "copies.npy")
    payload = run_json(capsys, tmp_path / "real.npy", tmp_path / "copies.npy", *options)
    numbers = ("precision", "recall", "coverage", "authenticity", "ndb", "support_ratio")
    assert [payload[key] for key in numbers] == [1, 1, 1, 0, 0, 1]
    # Authenticity cannot fire at 24 samples: its threshold, b - max(0.1, 4 SE) with the held-out baseline b
    # of 12 reference samples and SE = sqrt(b (1 - b) (1/24 + 1/12)), is below 0 (the stand-in test above
    # sees 449 copies fire it).
    b = payload["authenticity_baseline"]
    threshold = b - max(0.1, 4 * math.sqrt(b * (1 - b) * (1 / 24 + 1 / 12)))
    detector = next(d for d in payload["detectors"] if d["name"] == "authenticity")
    assert detector["threshold"] == pytest.approx(threshold, abs=1e-12) and threshold < 0
