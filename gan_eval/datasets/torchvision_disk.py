"""MNIST and CIFAR-10 in torchvision's on-disk layout, read where they already are (never downloaded).

Named `mnist:SPLIT@ROOT` or `cifar10:SPLIT@ROOT`, SPLIT `train` or `test`, ROOT
the folder given to torchvision as `root`:

- MNIST: `ROOT/MNIST/raw/{train,t10k}-{images-idx3,labels-idx1}-ubyte`
  (or the same names with `.gz`), the IDX files of LeCun et al. The 28x28
  grey digits are padded with 2 black pixels on every side to 32x32 (the
  size the reference DCGAN nets take) and repeated over R, G and B.
- CIFAR-10: `ROOT/cifar-10-batches-py/{data_batch_1..5,test_batch}`, the
  "python version" of Krizhevsky's files: 32x32 RGB as they are.

The CIFAR-10 files are Python pickles. They are read by an unpickler that
builds nothing but dicts, lists, strings, bytes, numbers and NumPy arrays (a
subset of what `torch.load(weights_only=True)` allows): any other object
in the file is refused before it is created, so a planted file cannot run code.
"""

from __future__ import annotations

import codecs
import gzip
import pickle
import re
from pathlib import Path
from typing import Any

import numpy as np

from gan_eval.errors import GanEvalError

SPEC = re.compile(r"^(mnist|cifar10):(train|test)@(.+)$")
MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
CIFAR_FILES = {"train": tuple(f"data_batch_{i}" for i in range(1, 6)), "test": ("test_batch",)}
IDX_IMAGES, IDX_LABELS = 0x803, 0x801
MNIST_PAD = 2


def parse_spec(spec: str) -> tuple[str, str, Path] | None:
    """(`mnist` or `cifar10`, split, root) when `spec` names such a set, else None."""
    match = SPEC.match(spec)
    return None if match is None else (match[1], match[2], Path(match[3]).expanduser())


def torchvision_images(spec: str) -> tuple[np.ndarray, np.ndarray]:
    """Images `(N, 32, 32, 3)` uint8 and labels `(N,)` int64 of `mnist:SPLIT@ROOT` or `cifar10:SPLIT@ROOT`."""
    parsed = parse_spec(spec)
    if parsed is None:
        raise GanEvalError(f"{spec}: expected mnist:SPLIT@ROOT or cifar10:SPLIT@ROOT, SPLIT train or test")
    name, split, root = parsed
    if not root.is_dir():
        raise GanEvalError(f"{spec}: {root} is not a folder (torchvision's root: holds MNIST/ or cifar-10-batches-py/)")
    return _mnist(root, split) if name == "mnist" else _cifar10(root, split)


def _read_maybe_gz(folder: Path, name: str) -> tuple[bytes, Path]:
    for path in (folder / name, folder / f"{name}.gz"):
        if path.is_file():
            try:
                return (gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()), path
            except (OSError, EOFError) as exc:
                raise GanEvalError(f"{path}: unreadable ({exc})") from None
    raise GanEvalError(f"{folder / name}: no such file (nor .gz); is this torchvision's MNIST root?")


def _idx(data: bytes, path: Path, magic: int, dims: int) -> np.ndarray:
    """The uint8 array of an IDX file whose header is `magic` and `dims` big-endian int32 sizes."""
    header = 4 * (1 + dims)
    if len(data) < header or int.from_bytes(data[:4], "big") != magic:
        raise GanEvalError(f"{path}: not an IDX file of {dims}-d uint8 data (bad magic number)")
    shape = tuple(int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims))
    if len(data) != header + int(np.prod(shape)):
        raise GanEvalError(f"{path}: {len(data) - header} bytes of data for shape {shape}: truncated or damaged")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(shape)


def _mnist(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    folder = root / "MNIST" / "raw"
    images_name, labels_name = MNIST_FILES[split]
    images = _idx(*_read_maybe_gz(folder, images_name), IDX_IMAGES, 3)
    labels = _idx(*_read_maybe_gz(folder, labels_name), IDX_LABELS, 1)
    if images.shape[0] != labels.shape[0] or images.shape[1:] != (28, 28):
        raise GanEvalError(f"{folder}: {images.shape} images and {labels.shape[0]} labels: not MNIST")
    padded = np.pad(images, ((0, 0), (MNIST_PAD, MNIST_PAD), (MNIST_PAD, MNIST_PAD)))
    return np.repeat(padded[..., None], 3, axis=3), labels.astype(np.int64)


class _ArraysOnlyUnpickler(pickle.Unpickler):
    """Builds containers, scalars and NumPy arrays; refuses every other global before it is created."""

    def __init__(self, file: Any, path: Path) -> None:
        super().__init__(file, encoding="bytes")
        self.path = path

    def find_class(self, module: str, name: str) -> Any:
        if name == "_reconstruct" and module in ("numpy.core.multiarray", "numpy._core.multiarray"):
            return np.ndarray.__reduce__(np.zeros(0))[0]  # numpy's own array reconstructor, whatever its module
        if (module, name) in (("numpy", "ndarray"), ("numpy", "dtype")):
            return getattr(np, name)
        if (module, name) == ("_codecs", "encode"):  # how protocol 2 writes bytes from Python 3
            return codecs.encode
        raise GanEvalError(f"{self.path}: holds a {module}.{name} object; only plain data and arrays are read")


def _load_batch(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            batch = _ArraysOnlyUnpickler(file, path).load()
    except GanEvalError:
        raise
    except (OSError, EOFError, pickle.UnpicklingError, ValueError, TypeError, AttributeError) as exc:
        raise GanEvalError(f"{path}: not a CIFAR-10 batch file ({str(exc).splitlines()[0][:120]})") from None
    if not isinstance(batch, dict):
        raise GanEvalError(f"{path}: not a CIFAR-10 batch file (holds a {type(batch).__name__}, not a dict)")
    return {key.decode() if isinstance(key, bytes) else key: value for key, value in batch.items()}


def _cifar10(root: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    folder = root / "cifar-10-batches-py"
    images, labels = [], []
    for name in CIFAR_FILES[split]:
        path = folder / name
        if not path.is_file():
            raise GanEvalError(f"{path}: no such file; is this torchvision's CIFAR-10 root?")
        batch = _load_batch(path)
        data, targets = batch.get("data"), batch.get("labels")
        if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise GanEvalError(f"{path}: its 'data' is not an (N, 3072) uint8 array")
        if not isinstance(targets, list) or len(targets) != data.shape[0]:
            raise GanEvalError(f"{path}: its 'labels' do not match its {data.shape[0]} images")
        images.append(data.reshape(-1, 3, 32, 32).transpose(0, 2, 3, 1))
        labels.append(np.asarray(targets, dtype=np.int64))
    return np.ascontiguousarray(np.concatenate(images)), np.concatenate(labels)
