"""Pairs of images for paired metrics: PRED and TARGET folders matched file by file on their relative paths.

Both folders are read as the other commands read folders (`ImageFolderSource`:
recursive, hidden entries skipped, decoded to 8-bit RGB, so a grayscale file
is compared as its RGB conversion). The two folders must hold the same
relative paths (extensions included); the first path on one side only is
named in the error. The two images of a pair must have one size, unless
`resize_to_target`, which resizes the prediction to the target's size with
Pillow's bicubic filter on 8 bits (`Image.resize(size, Image.BICUBIC)`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
from PIL import Image

from gan_eval.errors import GanEvalError
from gan_eval.sources.folder import ImageFolderSource


@dataclass(frozen=True)
class ImagePair:
    """One prediction and its target, `(H, W, 3)` uint8 each, of one size; `name` is their relative path."""

    name: str
    pred: np.ndarray
    target: np.ndarray


class PairedFolders:
    """PRED and TARGET folders with the same relative paths, in sorted order; `load(i)` gives an `ImagePair`."""

    def __init__(
        self, pred: str | os.PathLike[str], target: str | os.PathLike[str], resize_to_target: bool = False
    ) -> None:
        self.pred = _folder("PRED", pred)
        self.target = _folder("TARGET", target)
        self.resize_to_target = resize_to_target
        pred_names = {p.relative_to(self.pred.root).as_posix(): i for i, p in enumerate(self.pred.files)}
        target_names = {p.relative_to(self.target.root).as_posix(): i for i, p in enumerate(self.target.files)}
        extra = next((name for name in pred_names if name not in target_names), None)
        if extra is not None:
            raise GanEvalError(f"PRED {self.pred.root / extra} has no counterpart in TARGET {self.target.root}")
        missing = next((name for name in target_names if name not in pred_names), None)
        if missing is not None:
            raise GanEvalError(f"TARGET {self.target.root / missing} has no counterpart in PRED {self.pred.root}")
        self.names = list(target_names)
        self._pred_index = [pred_names[name] for name in self.names]

    def __len__(self) -> int:
        return len(self.names)

    def load(self, index: int) -> ImagePair:
        """The pair at `index`, decoded; a size mismatch (without `resize_to_target`) names both files."""
        target = self.target.load(index)
        pred_index = self._pred_index[index]
        pred = self.pred.load(pred_index)
        if pred.shape != target.shape:
            if not self.resize_to_target:
                raise GanEvalError(
                    f"PRED {self.pred.files[pred_index]} is {pred.shape[1]}x{pred.shape[0]} but TARGET "
                    f"{self.target.files[index]} is {target.shape[1]}x{target.shape[0]} (or pass --resize-to-target)"
                )
            pred = resize_bicubic(pred, target.shape[1], target.shape[0])
        return ImagePair(self.names[index], pred, target)


def _folder(flag: str, path: str | os.PathLike[str]) -> ImageFolderSource:
    if not os.path.isdir(path):
        raise GanEvalError(f"{flag} {path} is not a folder")
    return ImageFolderSource(path)


def resize_bicubic(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """`(H, W, 3)` uint8 resized to `(height, width, 3)` uint8 with Pillow's bicubic filter."""
    resized = Image.fromarray(image).resize((width, height), Image.BICUBIC)
    return np.asarray(resized, dtype=np.uint8)
