"""MNIST and CIFAR-10 files in torchvision's layout, written here byte by byte, read back; planted pickles refused."""

from __future__ import annotations

import gzip
import os
import pickle
from pathlib import Path

import numpy as np
import pytest

from gan_eval.cli.main import main
from gan_eval.datasets.torchvision_disk import parse_spec, torchvision_images
from gan_eval.errors import GanEvalError
from gan_eval.models.training import training_data
from gan_eval.sources import open_input


def write_idx(path: Path, array: np.ndarray, magic: int, compress: bool) -> None:
    """An IDX file as LeCun et al. describe it: big-endian magic, big-endian int32 sizes, then the bytes."""
    data = magic.to_bytes(4, "big") + b"".join(n.to_bytes(4, "big") for n in array.shape) + array.tobytes()
    if compress:
        path.with_name(path.name + ".gz").write_bytes(gzip.compress(data))
    else:
        path.write_bytes(data)


@pytest.fixture
def mnist_root(tmp_path: Path) -> tuple[Path, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    raw = tmp_path / "MNIST" / "raw"
    raw.mkdir(parents=True)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 7, dtype=np.uint8)
    write_idx(raw / "t10k-images-idx3-ubyte", images, 0x803, compress=False)
    write_idx(raw / "t10k-labels-idx1-ubyte", labels, 0x801, compress=True)  # torchvision keeps both forms
    return tmp_path, images, labels


def test_mnist_is_padded_to_32_and_repeated_over_rgb(mnist_root: tuple[Path, np.ndarray, np.ndarray]) -> None:
    root, images, labels = mnist_root
    read, read_labels = torchvision_images(f"mnist:test@{root}")
    assert read.shape == (7, 32, 32, 3) and read.dtype == np.uint8
    for i in range(7):
        for channel in range(3):
            assert np.array_equal(read[i, 2:30, 2:30, channel], images[i])
        assert read[i, :2].max() == read[i, 30:].max() == read[i, :, :2].max() == read[i, :, 30:].max() == 0
    assert read_labels.tolist() == labels.tolist()


def test_damaged_mnist_files_are_named(mnist_root: tuple[Path, np.ndarray, np.ndarray]) -> None:
    root, _, _ = mnist_root
    images = root / "MNIST" / "raw" / "t10k-images-idx3-ubyte"
    images.write_bytes(images.read_bytes()[:-5])
    with pytest.raises(GanEvalError, match=r"t10k-images-idx3-ubyte.*truncated"):
        torchvision_images(f"mnist:test@{root}")
    images.write_bytes(b"\x00\x00\x08\x01" + bytes(100))
    with pytest.raises(GanEvalError, match="bad magic"):
        torchvision_images(f"mnist:test@{root}")
    with pytest.raises(GanEvalError, match="train-images-idx3-ubyte: no such file"):
        torchvision_images(f"mnist:train@{root}")


def write_cifar(folder: Path, name: str, images: np.ndarray, labels: list[int]) -> None:
    """A batch file as Krizhevsky's Python version holds it: a dict with bytes keys, rows of R, G, B planes."""
    rows = images.transpose(0, 3, 1, 2).reshape(len(images), 3072)
    batch = {b"batch_label": b"testing batch", b"labels": labels, b"data": rows, b"filenames": [b"x.png"] * len(labels)}
    (folder / name).write_bytes(pickle.dumps(batch, protocol=2))


@pytest.fixture
def cifar_root(tmp_path: Path) -> tuple[Path, np.ndarray, list[int]]:
    folder = tmp_path / "cifar-10-batches-py"
    folder.mkdir()
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (5, 32, 32, 3), dtype=np.uint8)
    labels = rng.integers(0, 10, 5).tolist()
    write_cifar(folder, "test_batch", images, labels)
    return tmp_path, images, labels


def test_cifar10_reads_the_python_batches(cifar_root: tuple[Path, np.ndarray, list[int]]) -> None:
    root, images, labels = cifar_root
    read, read_labels = torchvision_images(f"cifar10:test@{root}")
    assert np.array_equal(read, images)
    assert read_labels.tolist() == labels


class Planted:
    """Runs a shell command when unpickled."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


def test_a_planted_pickle_is_refused_before_it_runs(cifar_root: tuple[Path, np.ndarray, list[int]]) -> None:
    root, _, _ = cifar_root
    marker = root / "ran"
    batch = root / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(pickle.dumps({b"data": Planted(marker), b"labels": [1]}, protocol=2))
    with pytest.raises(GanEvalError, match=r"test_batch: holds a (posix|os|nt)\.system object"):
        torchvision_images(f"cifar10:test@{root}")
    assert not marker.exists()


def test_a_batch_that_is_not_a_dict_or_not_pickle(cifar_root: tuple[Path, np.ndarray, list[int]]) -> None:
    root, _, _ = cifar_root
    batch = root / "cifar-10-batches-py" / "test_batch"
    batch.write_bytes(pickle.dumps([1, 2, 3], protocol=2))
    with pytest.raises(GanEvalError, match="not a CIFAR-10 batch file"):
        torchvision_images(f"cifar10:test@{root}")
    batch.write_bytes(b"not a pickle at all")
    with pytest.raises(GanEvalError, match="test_batch: not a CIFAR-10 batch file"):
        torchvision_images(f"cifar10:test@{root}")


def test_specs_are_parsed_and_bad_roots_named(tmp_path: Path) -> None:
    assert parse_spec(f"cifar10:train@{tmp_path}") == ("cifar10", "train", tmp_path)
    assert parse_spec("mnist:valid@/x") is None and parse_spec("digits:train") is None
    with pytest.raises(GanEvalError, match="is not a folder"):
        torchvision_images(f"mnist:train@{tmp_path / 'missing'}")


def test_an_input_and_a_training_set(cifar_root: tuple[Path, np.ndarray, list[int]]) -> None:
    """The same name works wherever an image input goes, and as `gan-eval train --data`."""
    root, images, _ = cifar_root
    source = open_input(f"cifar10:test@{root}")
    assert len(source) == 5 and np.array_equal(source.load(3), images[3])
    data = training_data(f"cifar10:test@{root}")
    assert (data.kind, data.shape, data.n_classes) == ("images", (3, 32, 32), 10)


def test_cli_train_refuses_a_missing_root_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "ckpt"
    code = main(["train", "dcgan", "--data", f"mnist:train@{tmp_path / 'nowhere'}", "--steps", "1", "--out", str(out)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "nowhere is not a folder" in err[0]
    assert not out.exists()
    code = main(["train", "dcgan", "--data", "imagenet", "--steps", "1", "--out", str(out)])
    assert code == 2 and "unknown data set" in capsys.readouterr().err
