"""Writing a generator's samples to disk: one `.npy` array, or a folder of PNG files.

Images arrive as the pipeline's uint8 `(N, C, H, W)` and are stored the way
image files and arrays are read back (`gan_eval.sources`): `.npy` holds uint8
`(N, H, W, C)`, a folder holds `000000.png`, `000001.png`, ... (grey for one
channel, RGB for three). 2-D points, float32 `(N, 2)`, go to `.npy` only.

Both writes are all or nothing: the array through `gan_eval.atomic`, the
folder filled under a hidden temporary name beside it and renamed at the end,
so a failure or a kill leaves no partial output under the requested name.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gan_eval.atomic import atomic_folder, atomic_write
from gan_eval.errors import GanEvalError

# Suffixes of single files that are not `.npy`: most likely a typo for one, never meant as a folder name.
_FILE_SUFFIXES = frozenset({".npz", ".png", ".jpg", ".jpeg", ".pt", ".pth", ".json", ".zip", ".txt"})


def check_sample_output(out: str | os.PathLike[str], images: bool) -> Path:
    """`out` as a Path when `write_samples` can write there; `GanEvalError` naming `-o` otherwise.

    `.npy`: a new file or one to replace (not a folder). Anything else: a new or
    empty folder, and only for images.
    """
    path = Path(out)
    if path.suffix.lower() == ".npy":
        if path.is_dir():
            raise GanEvalError(f"-o {path} is a folder; name a .npy file or a new folder")
        return path
    if path.suffix.lower() in _FILE_SUFFIXES:
        raise GanEvalError(f"-o {path}: write samples to a .npy file or to a new (or empty) folder")
    if not images:
        raise GanEvalError(f"-o {path}: 2-D points are written to a .npy file, not to a folder")
    if path.exists() and (not path.is_dir() or any(path.iterdir())):
        what = "is a file" if not path.is_dir() else "exists and is not empty"
        raise GanEvalError(f"-o {path} {what}; name a .npy file or a new (or empty) folder")
    return path


def samples_to_array(samples: torch.Tensor) -> np.ndarray:
    """uint8 images `(N, C, H, W)` -> uint8 `(N, H, W, C)`; float32 points `(N, 2)` unchanged (as numpy)."""
    if samples.dtype == torch.uint8:
        return np.ascontiguousarray(samples.permute(0, 2, 3, 1).numpy())
    return samples.numpy().astype(np.float32, copy=False)


def png_bytes(image: np.ndarray) -> bytes:
    """One uint8 `(H, W, C)` image (C = 1 or 3) as PNG bytes."""
    buffer = io.BytesIO()
    Image.fromarray(image[..., 0] if image.shape[-1] == 1 else image).save(buffer, format="PNG")
    return buffer.getvalue()


def write_samples(samples: torch.Tensor, out: str | os.PathLike[str]) -> Path:
    """Write `samples` (uint8 `(N, C, H, W)` images or float32 `(N, 2)` points) to `out`; returns the path."""
    images = samples.dtype == torch.uint8
    path = check_sample_output(out, images)
    array = samples_to_array(samples)
    if path.suffix.lower() == ".npy":
        with atomic_write(path) as handle:
            np.save(handle, array)
        return path
    return _write_png_folder(array, path)


def write_samples_by_class(samples: torch.Tensor, labels: torch.Tensor, out: str | os.PathLike[str]) -> Path:
    """Write uint8 images `(N, C, H, W)` into `out/LABEL/000000.png, ...`, each under its `(N,)` label.

    `out` is a new or empty folder; the whole tree appears at once (built under a temporary name), so
    `gan-eval conditional` can read it as a side of class subfolders.
    """
    path = check_sample_output(out, images=True)
    if path.suffix.lower() == ".npy":
        raise GanEvalError(f"-o {path}: --by-class writes a folder of class subfolders, not a .npy file")
    array = samples_to_array(samples)
    with atomic_folder(path) as staging:
        for label in sorted(set(labels.tolist())):
            images = array[(labels == label).numpy()]
            (staging / str(label)).mkdir()
            digits = max(6, len(str(len(images) - 1)))
            for index, image in enumerate(images):
                (staging / str(label) / f"{index:0{digits}d}.png").write_bytes(png_bytes(image))
    return path


def _write_png_folder(images: np.ndarray, folder: Path) -> Path:
    """`images: (N, H, W, C)` uint8 as `000000.png`... in a new folder, created under a temporary name first."""
    with atomic_folder(folder) as staging:
        digits = max(6, len(str(len(images) - 1)))
        for index, image in enumerate(images):
            (staging / f"{index:0{digits}d}.png").write_bytes(png_bytes(image))
    return folder
