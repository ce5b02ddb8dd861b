"""`gan-eval conditional` and the unpaired-translation (CycleGAN) workflow through `gan-eval report`.

The feature space is the stand-in extractor (patched in for Inception); every printed number is checked
against a computation done here: naive float64 FID and KID on the stand-in's features of the images, and
the digit classifier's network run directly. Errors: one `error:` line naming the class, file or argument.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import one_error_line, run_cli
from naive_metrics import naive_fid, naive_kid
from PIL import Image
from stand_in import StandInExtractor

from gan_eval.datasets.digits import digits_images, digits_labels
from gan_eval.diagnostics.digit_classifier import digit_net


@pytest.fixture
def stand_in_network(monkeypatch: pytest.MonkeyPatch, stand_in: StandInExtractor) -> None:
    """Commands extract with the stand-in extractor instead of Inception."""
    monkeypatch.setattr("gan_eval.extraction.load_extractor", lambda *args, **kwargs: stand_in)


def write_images(folder: Path, images: np.ndarray) -> Path:
    """`folder/000.png, ...` from `(N, H, W, 3)` uint8 images."""
    folder.mkdir(parents=True)
    for i, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{i:03d}.png")
    return folder


def features(images: np.ndarray) -> np.ndarray:
    """The stand-in's features of `(N, H, W, 3)` uint8 images, float64."""
    batch = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
    return StandInExtractor().extract(batch)["pool3"].double().numpy()


@pytest.fixture(scope="module")
def digit_classes(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, dict, dict]:
    """REAL/CLASS/ (train split) and FAKE/CLASS/ (test split) folders of 24 digits each for classes 0 to 3."""
    root = tmp_path_factory.mktemp("classes")
    real, fake = {}, {}
    for split, side, store in (("train", "real", real), ("test", "fake", fake)):
        images, labels = digits_images(split), digits_labels(split)
        for c in range(4):
            store[str(c)] = images[labels == c][:24]
            write_images(root / side / str(c), store[str(c)])
    fake["2"] = digits_images("test")[digits_labels("test") == 7][:24]  # class 2 drawn as sevens
    for path in (root / "fake" / "2").iterdir():
        path.unlink()
    (root / "fake" / "2").rmdir()
    write_images(root / "fake" / "2", fake["2"])
    return root / "real", root / "fake", real, fake


@pytest.fixture(scope="module")
def classifier_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A state dict of the digit classifier's architecture with seeded random weights (the CLI's plumbing; the
    library tests use a trained one)."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("classifier") / "classifier.pt"
    torch.save(digit_net().state_dict(), path)
    return path


def predictions(classifier: Path, images: np.ndarray) -> np.ndarray:
    net = digit_net()
    net.load_state_dict(torch.load(classifier, weights_only=True))
    grey = np.rint(images.astype(np.float64).mean(axis=3)) / 255
    with torch.no_grad():
        return net.eval()(torch.tensor(grey, dtype=torch.float32)[:, None]).argmax(1).numpy()


def test_json_and_table(
    capsys: pytest.CaptureFixture[str], digit_classes, classifier_file: Path, stand_in_network
) -> None:
    real_dir, fake_dir, real, fake = digit_classes
    code, out, err = run_cli(capsys, "conditional", real_dir, fake_dir, "--classifier", classifier_file, "--json")
    assert code == 0, err
    payload = json.loads(out)
    fids = {c: naive_fid(features(real[c]), features(fake[c])) for c in real}
    accuracy = {c: float((predictions(classifier_file, fake[c]) == int(c)).mean()) for c in fake}
    real_hits = sum(int((predictions(classifier_file, real[c]) == int(c)).sum()) for c in real)
    assert payload["classes"] == ["0", "1", "2", "3"]
    assert payload["fid_per_class"] == pytest.approx(fids, rel=1e-6)
    assert payload["intra_fid"] == pytest.approx(np.mean(list(fids.values())), rel=1e-6)
    assert max(payload["fid_per_class"], key=payload["fid_per_class"].get) == "2"  # the class drawn as sevens
    assert payload["accuracy_per_class"] == pytest.approx(accuracy, abs=1e-12)
    assert payload["accuracy"] == pytest.approx(np.mean(list(accuracy.values())), abs=1e-12)
    assert payload["real_accuracy"] == pytest.approx(real_hits / 96, abs=1e-12)
    assert payload["n_real"] == payload["n_fake"] == {c: 24 for c in real}
    assert payload["settings"]["extractor"] == "stand-in"
    assert payload["settings"]["classifier"] == str(classifier_file)
    assert payload["settings"]["metrics"] == ["intra_fid", "accuracy"]

    code, out, err = run_cli(capsys, "conditional", real_dir, fake_dir, "--quiet")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["class", "n_real", "n_fake", "FID", "accuracy"]
    assert [line.split() for line in lines[1:5]] == [[c, "24", "24", f"{fids[c]:.4f}", "-"] for c in real]
    assert lines[5] == f"intra-FID: {payload['intra_fid']:.6f} (mean of 4 classes)"
    assert lines[6].startswith("extractor=stand-in ") and len(lines) == 7


def test_errors(
    capsys: pytest.CaptureFixture[str], digit_classes, classifier_file: Path, stand_in_network, tmp_path: Path
) -> None:
    real_dir, fake_dir, real, _ = digit_classes
    write_images(tmp_path / "fake" / "0", real["0"][:3])
    code, out, err = run_cli(capsys, "conditional", real_dir, tmp_path / "fake", "--json")
    one_error_line(code, err, "class 1 is in REAL but not in FAKE")
    assert json.loads(out) == {"error": err.strip().removeprefix("error: ")}
    code, out, err = run_cli(capsys, "conditional", real_dir, fake_dir, "--metrics", "accuracy")
    one_error_line(code, err, "--metrics accuracy needs --classifier")
    assert out == ""
    code, out, err = run_cli(capsys, "conditional", real_dir, fake_dir, "--metrics", "fid")
    one_error_line(code, err, "--metrics fid", "intra_fid,accuracy")
    scripted = tmp_path / "scripted.pt"
    torch.jit.script(digit_net()).save(str(scripted))
    code, out, err = run_cli(capsys, "conditional", real_dir, fake_dir, "--classifier", scripted)
    one_error_line(code, err, "scripted.pt", "TorchScript")
    assert out == ""
    code, out, err = run_cli(capsys, "conditional", real_dir, fake_dir, "--classifier", tmp_path / "absent.pt")
    one_error_line(code, err, "absent.pt")
    code, out, err = run_cli(capsys, "conditional", real_dir, real_dir / "0", "--features", "inception")
    one_error_line(code, err, "holds 000.png outside its class subfolders")


def test_cyclegan_domain_fid_and_kid(capsys: pytest.CaptureFixture[str], tmp_path: Path, stand_in_network) -> None:
    """Unpaired translation: the A->B outputs judged against real domain-B images with `report` (FID and KID),
    numbers equal to the naive float64 formulas on the features of the two folders."""
    rng = np.random.default_rng(0)
    domain_b = rng.integers(0, 256, (40, 24, 24, 3), dtype=np.uint8)
    translated = (rng.integers(0, 256, (36, 24, 24, 3)) * 0.7 + 40).astype(np.uint8)
    real_dir = write_images(tmp_path / "domainB_real", domain_b)
    fake_dir = write_images(tmp_path / "A2B_fake", translated)
    args = ("report", real_dir, fake_dir, "--metrics", "fid,kid", "--kid-subsets", "20", "--kid-subset-size", "30")
    code, out, err = run_cli(capsys, *args, "--json", "--quiet")
    assert code == 0, err
    payload = json.loads(out)
    a, b = features(domain_b), features(translated)
    kid_mean, kid_std = naive_kid(a, b, subsets=20, size=30, seed=2020)
    assert payload["fid"] == pytest.approx(naive_fid(a, b), rel=1e-6)
    assert payload["kid_mean"] == pytest.approx(kid_mean, rel=1e-6, abs=1e-12)
    assert payload["kid_std"] == pytest.approx(kid_std, rel=1e-6, abs=1e-12)
    assert payload["n_real"] == 40 and payload["n_fake"] == 36
