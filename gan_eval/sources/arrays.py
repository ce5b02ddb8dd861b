"""Images held in an array: `.npy`/`.npz` files, NumPy arrays and torch tensors.

Accepted shapes: `(N, H, W, C)` or `(N, C, H, W)` with C in {1, 3}, or
`(N, H, W)` grayscale. The layout is read from where the channel axis is:
last axis of size 1 or 3 means NHWC, otherwise axis 1 of size 1 or 3 means
NCHW. Accepted dtypes: uint8 as it is, and floats in [0, 1] (or [-1, 1] with
`value_range=(-1, 1)`), mapped to uint8 as `round((x - lo) / (hi - lo) * 255)`.
Values outside the declared range, NaN and Inf are refused.
"""

from __future__ import annotations

import hashlib
import os
import zipfile
from pathlib import Path

import numpy as np
import torch

from gan_eval.errors import GanEvalError
from gan_eval.regular_files import require_regular_file

_CHUNK = 4096
_HASH_CHUNK_BYTES = 64 << 20
_NPY_MAGIC = b"\x93NUMPY"


def _to_nhwc(array: np.ndarray, name: str) -> np.ndarray:
    if array.ndim == 3:
        return array[..., None]
    if array.ndim != 4:
        raise GanEvalError(
            f"{name}: array of shape {array.shape} is not images; expected (N, H, W, C), (N, C, H, W) or (N, H, W)"
        )
    if array.shape[-1] in (1, 3):
        return array
    if array.shape[1] in (1, 3):
        return array.transpose(0, 2, 3, 1)
    raise GanEvalError(f"{name}: array of shape {array.shape} has no channel axis of size 1 or 3")


def _check_values(array: np.ndarray, name: str, value_range: tuple[float, float]) -> None:
    lo, hi = value_range
    for start in range(0, array.shape[0], _CHUNK):
        chunk = np.asarray(array[start : start + _CHUNK])
        if not np.isfinite(chunk).all():
            raise GanEvalError(f"{name}: array holds NaN or Inf values")
        if chunk.size and (chunk.min() < lo or chunk.max() > hi):
            # A generator's tanh output is the usual cause: say how to declare it.
            hint = (
                "; for images in [-1, 1] pass value_range=(-1, 1) (CLI: --float-range -1,1)"
                if lo == 0 and chunk.min() >= -1 and chunk.max() <= 1
                else ""
            )
            raise GanEvalError(
                f"{name}: float values span [{chunk.min():.4g}, {chunk.max():.4g}], "
                f"outside the declared range [{lo:g}, {hi:g}]{hint}"
            )


class ArraySource:
    """Images from an in-memory or memory-mapped array (see module docstring)."""

    def __init__(
        self,
        array: np.ndarray | torch.Tensor,
        name: str = "array",
        value_range: tuple[float, float] = (0.0, 1.0),
    ) -> None:
        if isinstance(array, torch.Tensor):
            array = array.detach().cpu().numpy()
        self.name = name
        floating = np.issubdtype(array.dtype, np.floating)
        if array.dtype != np.uint8 and not floating:
            raise GanEvalError(
                f"{name}: arrays of dtype {array.dtype} are not supported; use uint8, or float in [0, 1]"
            )
        if floating and value_range not in ((0.0, 1.0), (-1.0, 1.0)):
            raise GanEvalError(f"value range {value_range} is not supported; use (0, 1) or (-1, 1)")
        self.array = _to_nhwc(array, name)  # the rank first: the value check reads images along axis 0
        if floating:
            _check_values(self.array, name, value_range)
        self.value_range = value_range
        if self.array.shape[0] == 0:
            raise GanEvalError(f"{name}: array holds no images")
        if self.array.shape[1] == 0 or self.array.shape[2] == 0:
            raise GanEvalError(f"{name}: images of shape {self.array.shape[1:]} have no pixels")

    def __len__(self) -> int:
        return self.array.shape[0]

    def describe(self, index: int) -> str:
        return f"{self.name}[{index}]"

    def fingerprint(self) -> str:
        """sha256 of the array's bytes, shape, dtype and declared value range."""
        digest = hashlib.sha256(b"array\0")
        header = f"{self.array.shape}|{self.array.dtype.str}|{self.value_range}\n"
        digest.update(header.encode())
        per_image = max(1, self.array[0].nbytes)
        rows = max(1, _HASH_CHUNK_BYTES // per_image)
        for start in range(0, self.array.shape[0], rows):
            digest.update(np.ascontiguousarray(self.array[start : start + rows]).data)
        return digest.hexdigest()

    def load_range(self, start: int, stop: int) -> np.ndarray:
        """Images `start:stop` as `(B, H, W, 3)` uint8."""
        chunk = np.asarray(self.array[start:stop])
        if chunk.dtype != np.uint8:
            lo, hi = self.value_range
            chunk = np.rint((chunk.astype(np.float64) - lo) * (255.0 / (hi - lo))).astype(np.uint8)
        if chunk.shape[-1] == 1:
            chunk = np.repeat(chunk, 3, axis=-1)
        # Memory-mapped files are read-only; torch wants writable memory.
        return chunk if chunk.flags.writeable else chunk.copy()

    def load(self, index: int) -> np.ndarray:
        return self.load_range(index, index + 1)[0]


def _has_numpy_magic(path: Path) -> bool:
    """True if the file starts as a .npy or a zip (.npz) does; np.load would unpickle anything else."""
    with open(path, "rb") as handle:
        head = handle.read(len(_NPY_MAGIC))
    return head == _NPY_MAGIC or zipfile.is_zipfile(path)


def load_array_file(path: str | os.PathLike[str], value_range: tuple[float, float] = (0.0, 1.0)) -> ArraySource:
    """An `ArraySource` over a `.npy` file (memory-mapped) or a `.npz` archive, read without pickle.

    A `.npz` must hold a single array or one named `images`.
    """
    path = Path(path)
    require_regular_file(path)
    try:
        if not _has_numpy_magic(path):
            raise GanEvalError(f"{path}: not a readable NumPy array (neither .npy nor .npz data)")
        if path.suffix.lower() == ".npy":
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        else:
            with np.load(path, allow_pickle=False) as data:
                keys = data.files
                if "images" in keys:
                    key = "images"
                elif len(keys) == 1:
                    key = keys[0]
                else:
                    raise GanEvalError(
                        f"{path}: .npz holds {len(keys)} arrays ({', '.join(keys[:5])}); "
                        "store one array, or name it 'images'"
                    )
                array = data[key]
                if not isinstance(array, np.ndarray):  # np.load hands back raw bytes for a member that is not .npy
                    raise GanEvalError(f"{path}: member {key!r} is not NumPy array data")
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise GanEvalError(f"{path}: array holds pickled objects; refusing to load it") from None
        raise GanEvalError(f"{path}: not a readable NumPy array ({exc})") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise GanEvalError(f"{path}: not a readable NumPy array ({exc})") from None
    return ArraySource(array, name=str(path), value_range=value_range)
