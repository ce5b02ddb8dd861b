"""Intra-FID and conditional accuracy (gan_eval/conditional.py) against independent computations.

Intra-FID: each class's FID by the naive float64 formula on stand-in features computed here, then their
mean. Accuracy: the digit classifier's network run here on the grey images, its argmax compared with the
labels. A conditional "generator" whose samples are the held-out digits of the right class scores far better
than the same samples with their labels shuffled.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from naive_metrics import naive_fid
from PIL import Image
from stand_in import StandInExtractor

from gan_eval.conditional import (
    DigitClassifier,
    conditional_accuracy,
    evaluate_conditional,
    intra_fid,
    load_classifier,
)
from gan_eval.datasets.digits import digits_images, digits_labels
from gan_eval.diagnostics import digit_classifier
from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.evaluation import compute_statistics
from gan_eval.extraction import ExtractionOptions
from gan_eval.stats import FeatureStats, save_stats

QUIET = ExtractionOptions(progress=False)


def write_classes(root: Path, classes: dict[str, np.ndarray]) -> Path:
    """`root/CLASS/000.png, ...` from `(N, H, W, 3)` uint8 images per class."""
    for name, images in classes.items():
        (root / name).mkdir(parents=True)
        for i, image in enumerate(images):
            Image.fromarray(image).save(root / name / f"{i:03d}.png")
    return root


def by_label(images: np.ndarray, labels: np.ndarray, classes: range, limit: int | None = None) -> dict[str, np.ndarray]:
    return {str(c): images[labels == c][:limit] for c in classes}


def stand_in_features(images: np.ndarray) -> np.ndarray:
    """The stand-in's features of `(N, H, W, 3)` uint8 images, in float64."""
    batch = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    return StandInExtractor().extract(batch)["pool3"].double().numpy()


@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The digit classifier's architecture trained briefly here (3 epochs, no jitter: about 90% held out)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(0)
            net = digit_classifier.digit_net()
            images = torch.from_numpy(digits_images("train")[..., 0].copy()).float().div(255)[:, None]
            labels = torch.from_numpy(digits_labels("train"))
            optimiser = torch.optim.Adam(net.parameters(), lr=3e-3)
            for _ in range(3):
                for index in torch.randperm(len(images)).split(64):
                    loss = F.cross_entropy(net(images[index]), labels[index])
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
    finally:
        torch.set_num_threads(before)
    path = tmp_path_factory.mktemp("classifier") / "digits.pt"
    torch.save(net.eval().state_dict(), path)
    return path


def direct_predictions(path: Path, images: np.ndarray) -> np.ndarray:
    """The classifier's labels of RGB `(N, 32, 32, 3)` uint8 images: grey = rounded channel mean, in [0, 1]."""
    net = digit_classifier.digit_net()
    net.load_state_dict(torch.load(path, weights_only=True))
    grey = np.rint(images.astype(np.float64).mean(axis=3)) / 255
    with torch.no_grad():
        return net.eval()(torch.tensor(grey, dtype=torch.float32)[:, None]).argmax(1).numpy()


def test_intra_fid_is_the_mean_of_naive_per_class_fids(tmp_path: Path) -> None:
    train, test = (digits_images(s) for s in ("train", "test"))
    real = by_label(train, digits_labels("train"), range(3), 40)
    fake = by_label(test, digits_labels("test"), range(3), 30)
    result = intra_fid(
        write_classes(tmp_path / "real", real),
        write_classes(tmp_path / "fake", fake),
        extractor=StandInExtractor(),
        extraction=QUIET,
    )
    expected = {c: naive_fid(stand_in_features(real[c]), stand_in_features(fake[c])) for c in real}
    assert result.classes == ("0", "1", "2")
    assert result.fid_per_class == pytest.approx(expected, rel=1e-6)
    assert result.intra_fid == pytest.approx(np.mean(list(expected.values())), rel=1e-6)
    assert result.n_real == {c: 40 for c in real} and result.n_fake == {c: 30 for c in real}
    assert result.accuracy is None and result.settings["extractor"] == "stand-in"
    # A folder of per-class statistics files (CLASS.npz) as the real side gives the same numbers.
    extraction = ExtractionOptions(progress=False, cache=False)
    (tmp_path / "stats").mkdir()
    for c in real:
        stats = compute_statistics(tmp_path / "real" / c, StandInExtractor(), extraction=extraction)
        save_stats(stats, tmp_path / "stats" / f"{c}.npz")
    from_files = intra_fid(tmp_path / "stats", tmp_path / "fake", extractor=StandInExtractor(), extraction=QUIET)
    assert from_files.fid_per_class == pytest.approx(expected, rel=1e-6)
    assert from_files.n_real == result.n_real
    stats.meta["extractor"] = "another-network"  # class 2's statistics from another feature space are refused
    save_stats(stats, tmp_path / "stats" / "2.npz")
    with pytest.raises(GanEvalError, match=r"^statistics file .*2.npz was made with extractor another-network, not"):
        intra_fid(tmp_path / "stats", tmp_path / "fake", extractor=StandInExtractor(), extraction=QUIET)


def test_accuracy_is_the_classifier_s_own_predictions(tmp_path: Path, classifier_file: Path) -> None:
    images, labels = digits_images("test"), digits_labels("test")
    real = by_label(digits_images("train"), digits_labels("train"), range(10), 20)
    fake = by_label(images, labels, range(10), 20)
    fake["3"] = images[labels == 8][:20]  # a class drawn wrongly
    result = conditional_accuracy(
        write_classes(tmp_path / "real", real), write_classes(tmp_path / "fake", fake), classifier_file
    )
    per_class = {c: float((direct_predictions(classifier_file, fake[c]) == int(c)).mean()) for c in fake}
    real_hits = sum(int((direct_predictions(classifier_file, real[c]) == int(c)).sum()) for c in real)
    assert result.accuracy_per_class == pytest.approx(per_class, abs=1e-12)
    assert result.accuracy == pytest.approx(np.mean(list(per_class.values())), abs=1e-12)  # 20 images per class
    assert result.real_accuracy == pytest.approx(real_hits / 200, abs=1e-12)
    assert result.n_real == result.n_fake == {c: 20 for c in fake}
    assert result.accuracy_per_class["3"] < 0.2 and result.intra_fid is None and result.fid_per_class == {}
    assert result.settings["classifier"] == str(classifier_file)


def test_unequal_classes_intra_fid_is_the_plain_mean_over_classes() -> None:
    """Classes of 40/25/60 real and 20/50/30 generated images: each class counts once, whatever its size."""
    train, test = (digits_images(s) for s in ("train", "test"))
    n_real, n_fake = {"0": 40, "1": 25, "2": 60}, {"0": 20, "1": 50, "2": 30}
    real = {c: x[: n_real[c]] for c, x in by_label(train, digits_labels("train"), range(3)).items()}
    fake = {c: x[: n_fake[c]] for c, x in by_label(test, digits_labels("test"), range(3)).items()}
    result = intra_fid(real, fake, extractor=StandInExtractor(), extraction=QUIET)
    per_class = [naive_fid(stand_in_features(real[c]), stand_in_features(fake[c])) for c in real]
    assert result.intra_fid == pytest.approx(np.mean(per_class), rel=1e-6)
    for sizes in (n_real, n_fake):  # a mean weighted by either side's sizes is another number
        assert np.average(per_class, weights=list(sizes.values())) != pytest.approx(np.mean(per_class), rel=1e-3)
    assert result.n_real == n_real and result.n_fake == n_fake


def test_unequal_classes_accuracy_is_over_all_samples(classifier_file: Path) -> None:
    """A well drawn class of 40 images beside a wrongly drawn one of 10 (and real classes of 15 and 35): the
    accuracy is hits over all 50 images, not the mean of the two classes' accuracies."""
    images, labels = digits_images("test"), digits_labels("test")
    fake = {"1": images[labels == 1][:40], "3": images[labels == 8][:10]}
    real = {"1": images[labels == 1][40:55], "3": images[labels == 3][:35]}
    result = conditional_accuracy(real, fake, classifier_file)
    hits = {c: int((direct_predictions(classifier_file, x) == int(c)).sum()) for c, x in fake.items()}
    real_hits = sum(int((direct_predictions(classifier_file, x) == int(c)).sum()) for c, x in real.items())
    assert result.accuracy == pytest.approx(sum(hits.values()) / 50, abs=1e-12)
    assert result.accuracy_per_class == pytest.approx({"1": hits["1"] / 40, "3": hits["3"] / 10}, abs=1e-12)
    assert result.real_accuracy == pytest.approx(real_hits / 50, abs=1e-12)
    assert abs(result.accuracy - np.mean(list(result.accuracy_per_class.values()))) > 0.1  # the test can tell


def test_rank_warning_names_the_classes_whose_covariance_is_singular() -> None:
    """16-d stand-in features: 16 images on a side give a covariance of rank 15 at most (warned), 17 can give
    full rank (not warned). The classes named are those whose naive covariance is singular on either side."""
    images, labels = digits_images("test"), digits_labels("test")
    sizes = {"0": (16, 17), "1": (17, 17), "2": (40, 16), "3": (17, 30)}
    real = {c: images[labels == int(c)][:n] for c, (n, _) in sizes.items()}
    fake = {c: images[labels == int(c)][-m:] for c, (_, m) in sizes.items()}

    def singular(x: np.ndarray) -> bool:
        return np.linalg.matrix_rank(np.cov(stand_in_features(x), rowvar=False)) < 16

    expected = [c for c in sizes if singular(real[c]) or singular(fake[c])]
    assert expected == ["0", "2"]
    with pytest.warns(GanEvalWarning, match=r"^class\(es\) 0, 2 have no more images than the 16-d features"):
        intra_fid(real, fake, extractor=StandInExtractor(), extraction=QUIET)
    full = {c: real[c] for c in ("1", "3")}
    with warnings.catch_warnings():
        warnings.simplefilter("error", GanEvalWarning)
        intra_fid(full, {c: fake[c] for c in full}, extractor=StandInExtractor(), extraction=QUIET)


def test_shuffled_labels_score_far_worse(classifier_file: Path) -> None:
    """Held-out digits under their own labels (a good conditional generator) against the same images with
    their labels permuted: accuracy near chance and a much higher intra-FID."""
    real = by_label(digits_images("train"), digits_labels("train"), range(10))
    images, labels = digits_images("test"), digits_labels("test")
    shuffled = np.random.default_rng(0).permutation(labels)
    to_inputs = {c: np.ascontiguousarray(x.transpose(0, 3, 1, 2)) for c, x in real.items()}
    results = {
        name: evaluate_conditional(
            to_inputs,
            {c: np.ascontiguousarray(x.transpose(0, 3, 1, 2)) for c, x in by_label(images, given, range(10)).items()},
            classifier=load_classifier(classifier_file),
            extractor=StandInExtractor(),
            extraction=QUIET,
        )
        for name, given in (("labelled", labels), ("shuffled", shuffled))
    }
    good, bad = results["labelled"], results["shuffled"]
    assert good.accuracy >= 0.85 and bad.accuracy <= 0.2
    assert good.real_accuracy == bad.real_accuracy >= 0.85
    assert bad.intra_fid > 3 * good.intra_fid
    assert all(bad.fid_per_class[c] > good.fid_per_class[c] for c in good.classes)


def test_the_built_in_classifier_is_read_from_its_cache(tmp_path: Path, classifier_file: Path) -> None:
    digit_classifier.classifier_path().parent.mkdir(parents=True)
    digit_classifier.classifier_path().write_bytes(classifier_file.read_bytes())
    built_in = load_classifier("digits")
    assert isinstance(built_in, DigitClassifier) and built_in.source == "digits (digits-cnn-v1.pt)"
    assert built_in.sha256 == load_classifier(classifier_file).sha256
    images = digits_images("test")[:50]
    assert np.array_equal(built_in.predict(images), direct_predictions(classifier_file, images))


def test_classes_must_match(tmp_path: Path) -> None:
    images = digits_images("test")[:12]
    real = write_classes(tmp_path / "real", {"a": images[:4], "b": images[4:8], "c": images[8:]})
    fake = write_classes(tmp_path / "fake", {"a": images[:4], "c": images[8:]})
    with pytest.raises(GanEvalError, match=r"^class b is in REAL but not in FAKE$"):
        intra_fid(real, fake, extractor=StandInExtractor(), extraction=QUIET)
    with pytest.raises(GanEvalError, match=r"^class b is in FAKE but not in REAL$"):
        intra_fid(fake, real, extractor=StandInExtractor(), extraction=QUIET)
    (tmp_path / "fake" / "stray.png").write_bytes((real / "a" / "000.png").read_bytes())
    with pytest.raises(GanEvalError, match=r"holds stray.png outside its class subfolders"):
        intra_fid(real, fake, extractor=StandInExtractor(), extraction=QUIET)
    np.save(tmp_path / "real" / "a.npy", images[:4])
    with pytest.raises(GanEvalError, match=r"^REAL .*real gives class a twice \(a, a.npy\)$"):
        intra_fid(real, fake, extractor=StandInExtractor(), extraction=QUIET)
    (tmp_path / "empty").mkdir()
    with pytest.raises(GanEvalError, match=r"has no class subfolders"):
        intra_fid(tmp_path / "empty", real, extractor=StandInExtractor(), extraction=QUIET)
    with pytest.raises(GanEvalError, match=r"is not a folder of class subfolders"):
        intra_fid(tmp_path / "missing", real, extractor=StandInExtractor(), extraction=QUIET)


def test_classes_with_too_few_images(tmp_path: Path, classifier_file: Path) -> None:
    images = digits_images("test")[:20]
    real = write_classes(tmp_path / "real", {"0": images[:10], "1": images[10:19]})
    one = write_classes(tmp_path / "one", {"0": images[:10], "1": images[19:]})
    with pytest.raises(GanEvalError, match=r"^FAKE class 1 \(.*one/1\) has 1 image; FID needs at least 2$"):
        intra_fid(real, one, extractor=StandInExtractor(), extraction=QUIET)
    (tmp_path / "real" / "2").mkdir()
    (tmp_path / "one" / "2").mkdir()
    with pytest.raises(GanEvalError, match=r"real/2 holds no images"):
        intra_fid(real, one, extractor=StandInExtractor(), extraction=QUIET)
    one_image = {"0": images[:1]}
    assert conditional_accuracy(one_image, one_image, classifier_file).n_fake == {"0": 1}  # accuracy needs one
    # 9 or 10 images for 16-d features: the FID is computed, and one warning names the classes.
    ok = {c: np.ascontiguousarray(images[:10].transpose(0, 3, 1, 2)) for c in ("0", "1")}
    with pytest.warns(GanEvalWarning, match=r"class\(es\) 0, 1 have no more images than the 16-d features") as seen:
        intra_fid(ok, ok, extractor=StandInExtractor(), extraction=QUIET)
    assert len(seen) == 1


def test_accuracy_input_errors(tmp_path: Path, classifier_file: Path) -> None:
    images = digits_images("test")[:8]
    named = {"zero": images[:4], "one": images[4:]}
    with pytest.raises(GanEvalError, match=r"^class one: accuracy needs classes named by the classifier's label"):
        conditional_accuracy(named, named, classifier_file)
    with pytest.raises(GanEvalError, match=r"^--metrics accuracy needs --classifier"):
        evaluate_conditional(named, named, "accuracy")
    with pytest.raises(GanEvalError, match=r"^--metrics fid: unknown metric fid; choose from intra_fid,accuracy$"):
        evaluate_conditional(named, named, "fid")
    large = {"0": np.zeros((2, 3, 40, 40), np.uint8)}
    with pytest.raises(GanEvalError, match=r"the digit classifier's inputs need 32x32 RGB images"):
        conditional_accuracy(large, large, classifier_file)
    scripted = tmp_path / "scripted.pt"
    torch.jit.save(torch.jit.script(digit_classifier.digit_net()), scripted)
    with pytest.raises(GanEvalError, match=r"scripted.pt is a TorchScript archive, not a PyTorch state dict"):
        load_classifier(scripted)
    other = tmp_path / "other.pt"
    torch.save({"weight": torch.zeros(3)}, other)
    with pytest.raises(GanEvalError, match=r"^--classifier .*other.pt is not a state dict of the digit classifier"):
        load_classifier(other)
    with pytest.raises(GanEvalError, match=r"weights file .*absent.pt does not exist"):
        load_classifier(tmp_path / "absent.pt")


def test_built_in_digits_by_label_and_an_unknown_split(tmp_path: Path) -> None:
    from gan_eval.conditional import class_inputs

    classes = class_inputs("digits:train", "REAL")
    labels = digits_labels("train")
    assert list(classes) == [str(k) for k in range(10)]
    for k in range(10):
        np.testing.assert_array_equal(classes[str(k)], digits_images("train")[labels == k])
    with pytest.raises(GanEvalError, match=r"^REAL digits:nope: unknown split; choose from digits:train, digits:test"):
        class_inputs("digits:nope", "REAL")


# --- per-class statistics are checked like any statistics file ---------------------------------------------


def test_per_class_statistics_of_another_dimension_are_refused_by_name(tmp_path: Path) -> None:
    """A 12-d statistics file among the classes of 16-d stand-in features used to end in `ValueError: shapes
    do not match`; now it is refused, before any image is read, in one line naming the file."""
    images = digits_images("test")[:20]
    fake = write_classes(tmp_path / "fake", {"0": images[:10], "1": images[10:]})
    real = write_classes(tmp_path / "real", {"0": images[10:]})
    twelve = FeatureStats.from_moments(np.zeros(12), np.eye(12), 10, {"extractor": "stand-in", "source": "x"})
    for settings in ({"extractor": "stand-in", "source": "/data/real"}, {}):  # recorded, and pytorch-fid's
        save_stats(FeatureStats.from_moments(np.zeros(12), np.eye(12), 10, settings), real / "1.npz")
        with pytest.raises(GanEvalError, match=r"^statistics file .*real/1.npz has 12-d features; this extractor"):
            intra_fid(real, fake, extractor=StandInExtractor(), extraction=QUIET)
    given = {"0": images[10:], "1": twelve}  # statistics given in a mapping are checked too
    with pytest.raises(GanEvalError, match=r"^REAL class 1: statistics x have 12-d features; stand-in gives 16-d$"):
        intra_fid(given, {"0": images[:10], "1": images[10:]}, extractor=StandInExtractor(), extraction=QUIET)


@pytest.mark.inception
def test_cli_refuses_per_class_statistics_of_another_dimension_in_one_line(
    tmp_path: Path, capsys, real_weights: Path
) -> None:
    """A 16-d REAL/0.npz beside a 2048-d REAL/1.npz, and in place of the class folder REAL/0/."""
    from cli_runner import one_error_line, run_cli

    images = digits_images("test")[:8]
    fake = write_classes(tmp_path / "fake", {"0": images[:4], "1": images[4:]})
    real = tmp_path / "real"
    real.mkdir()
    inception = {"extractor": "inception-v3-tf-2015-12-05", "source": "/data/real"}
    save_stats(FeatureStats.from_moments(np.zeros(2048), np.eye(2048), 100, inception), real / "1.npz")
    save_stats(FeatureStats.from_moments(np.zeros(16), np.eye(16), 100, {"source": "/data/real/0"}), real / "0.npz")
    code, _, err = run_cli(capsys, "conditional", real, fake, "--weights", real_weights, "--device", "cpu")
    one_error_line(code, err, f"statistics file {real / '0.npz'} has 16-d features; this extractor gives 2048-d")
    assert "Traceback" not in err
