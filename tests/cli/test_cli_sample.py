"""`gan-eval sample` in-process: the .npy and PNG outputs equal `sample()` exactly; bad inputs leave nothing behind."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import one_error_line, run_cli
from PIL import Image

from gan_eval.cli.main import main
from gan_eval.models.checkpoint import load_generator
from gan_eval.models.sampling import sample

DIGITS = Path(__file__).resolve().parents[2] / "reference_models" / "dcgan-digits"


@pytest.fixture(autouse=True)
def restore_threads() -> Iterator[None]:
    """`gan-eval train --threads` sets torch's thread count for the process; put it back after each test."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def ring_checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 5-step hinge run on ring8: a real point generator, trained through the CLI."""
    out = tmp_path_factory.mktemp("ring") / "ckpt"
    before = torch.get_num_threads()
    try:
        assert main(["train", "hinge", "--data", "ring8", "--steps", "5", "--out", str(out), "--quiet"]) == 0
    finally:
        torch.set_num_threads(before)
    return out


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, str]:
    return run_cli(capsys, "sample", *args)


def expected_samples(folder: Path, n: int, seed: int) -> torch.Tensor:
    generator, config = load_generator(folder)
    return sample(generator, config, n, latent_seed=seed)


def test_images_npy_is_sample_in_nhwc(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "fake.npy"
    code, stdout, err = run(capsys, DIGITS, "-n", "7", "-o", out, "--seed", "4")
    assert code == 0, err
    assert str(out) in stdout
    array = np.load(out)
    assert array.dtype == np.uint8 and array.shape == (7, 32, 32, 3)
    expected = expected_samples(DIGITS, 7, 4).numpy()  # (N, C, H, W)
    np.testing.assert_array_equal(array.transpose(0, 3, 1, 2), expected)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["fake.npy"]


def test_png_folder_decodes_to_the_same_pixels(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "pngs"
    code, _, err = run(capsys, DIGITS, "-n", "5", "-o", out)
    assert code == 0, err
    names = sorted(p.name for p in out.iterdir())
    assert names == [f"{i:06d}.png" for i in range(5)]
    decoded = np.stack([np.asarray(Image.open(out / name).convert("RGB")) for name in names])
    expected = expected_samples(DIGITS, 5, 0).numpy()
    np.testing.assert_array_equal(decoded, expected.transpose(0, 2, 3, 1))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pngs"]  # no staging folder left


def test_empty_folder_is_filled(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "empty"
    out.mkdir()
    code, _, err = run(capsys, DIGITS, "-n", "2", "-o", out)
    assert code == 0, err
    assert sorted(p.name for p in out.iterdir()) == ["000000.png", "000001.png"]


def test_points_npy_is_sample_exactly(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, ring_checkpoint: Path
) -> None:
    out = tmp_path / "points.npy"
    code, stdout, err = run(capsys, ring_checkpoint, "-n", "600", "-o", out, "--seed", "2")
    assert code == 0, err
    assert "points" in stdout
    array = np.load(out)
    assert array.dtype == np.float32 and array.shape == (600, 2)
    np.testing.assert_array_equal(array, expected_samples(ring_checkpoint, 600, 2).numpy())
    code, _, err = run(capsys, ring_checkpoint, "-n", "600", "-o", tmp_path / "other.npy", "--seed", "3")
    assert code == 0, err
    assert not np.array_equal(np.load(tmp_path / "other.npy"), array)  # the seed matters


@pytest.mark.parametrize(
    ("make", "args", "names"),
    [
        (lambda tmp: None, ["{missing}", "-n", "3", "-o", "{tmp}/a.npy"], ["does not exist"]),
        (lambda tmp: (tmp / "file").write_text("x"), ["{tmp}/file", "-n", "3", "-o", "{tmp}/a.npy"], ["file"]),
        (lambda tmp: (tmp / "ck").mkdir(), ["{tmp}/ck", "-n", "3", "-o", "{tmp}/a.npy"], ["config.json"]),
        (lambda tmp: None, ["{digits}", "-n", "0", "-o", "{tmp}/a.npy"], ["-n"]),
        (lambda tmp: None, ["{digits}", "-n", "x", "-o", "{tmp}/a.npy"], ["-n"]),
        (lambda tmp: None, ["{digits}", "-n", "3", "-o", "{tmp}/a.npy", "--seed", "-1"], ["--seed"]),
        (lambda tmp: None, ["{digits}", "-n", "3", "-o", "{tmp}/a.npz"], ["-o", "a.npz"]),
        (lambda tmp: (tmp / "d.npy").mkdir(), ["{digits}", "-n", "3", "-o", "{tmp}/d.npy"], ["-o", "folder"]),
        (
            lambda tmp: (tmp / "full").mkdir() or (tmp / "full" / "x").write_text("x"),
            ["{digits}", "-n", "3", "-o", "{tmp}/full"],
            ["-o", "not empty"],
        ),
        (lambda tmp: (tmp / "f").write_text("x"), ["{digits}", "-n", "3", "-o", "{tmp}/f"], ["-o", "is a file"]),
    ],
)
def test_bad_inputs_are_one_line_and_leave_nothing(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, make, args: list[str], names: list[str]
) -> None:
    make(tmp_path)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    filled = [a.format(tmp=tmp_path, digits=DIGITS, missing=tmp_path / "missing") for a in args]
    code, stdout, err = run(capsys, *filled)
    one_error_line(code, err, *names)
    assert stdout == ""
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before


def test_points_refuse_a_folder(capsys: pytest.CaptureFixture[str], tmp_path: Path, ring_checkpoint: Path) -> None:
    code, _, err = run(capsys, ring_checkpoint, "-n", "3", "-o", tmp_path / "pts")
    one_error_line(code, err, "-o", ".npy")
    assert list(tmp_path.iterdir()) == []


def test_a_failing_png_write_leaves_no_folder(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A failure after some PNGs are written (here the third) leaves neither the folder nor its staging copy."""
    import gan_eval.models.sample_files as sample_files

    written = []
    real = sample_files.png_bytes

    def failing(image: np.ndarray) -> bytes:
        written.append(1)
        if len(written) == 3:
            raise OSError(28, "No space left on device")
        return real(image)

    monkeypatch.setattr(sample_files, "png_bytes", failing)
    code, _, err = run(capsys, DIGITS, "-n", "5", "-o", tmp_path / "out")
    one_error_line(code, err, "out", "No space left")
    assert list(tmp_path.iterdir()) == []


def test_by_class_writes_the_class_folders_conditional_reads(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    from naive_metrics import naive_fid
    from stand_in import StandInExtractor

    from gan_eval.conditional import intra_fid
    from gan_eval.datasets.digits import digits_images, digits_labels
    from gan_eval.extraction import ExtractionOptions

    checkpoint = tmp_path / "cgan"
    before = torch.get_num_threads()
    try:
        train = ["train", "cgan", "--data", "digits", "--steps", "2", "--out", str(checkpoint), "--quiet"]
        assert main(train) == 0
    finally:
        torch.set_num_threads(before)
    out = tmp_path / "fake"
    code, _, err = run(capsys, checkpoint, "-n", "53", "-o", out, "--by-class", "--latent-seed", "3")
    assert code == 0, err
    expected = expected_samples(checkpoint, 53, 3).numpy().transpose(0, 2, 3, 1)  # labels 0..9 in turn
    assert sorted(p.name for p in out.iterdir()) == [str(k) for k in range(10)]
    for k in range(10):
        names = sorted(p.name for p in (out / str(k)).iterdir())
        decoded = np.stack([np.asarray(Image.open(out / str(k) / name).convert("RGB")) for name in names])
        np.testing.assert_array_equal(decoded, expected[k::10])

    # The folders are a FAKE side for intra-FID against the built-in digits by label.
    def features(images: np.ndarray) -> np.ndarray:
        batch = torch.from_numpy(np.ascontiguousarray(images.transpose(0, 3, 1, 2)))
        return StandInExtractor().extract(batch)["pool3"].double().numpy()

    result = intra_fid("digits:test", out, extractor=StandInExtractor(), extraction=ExtractionOptions(progress=False))
    real, labels = digits_images("test"), digits_labels("test")
    naive = {str(k): naive_fid(features(real[labels == k]), features(expected[k::10])) for k in range(10)}
    assert result.fid_per_class == pytest.approx(naive, rel=1e-6)
    assert result.n_real == {str(k): int((labels == k).sum()) for k in range(10)}


def test_by_class_needs_a_conditional_checkpoint(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    code, out, err = run(capsys, DIGITS, "-n", "5", "-o", tmp_path / "fake", "--by-class")
    assert out == ""
    one_error_line(code, err, f"--by-class: {DIGITS} holds an unconditional dcgan (no labels)")
    assert list(tmp_path.iterdir()) == []
