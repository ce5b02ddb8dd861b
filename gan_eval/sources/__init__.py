"""Image sources: folders, zip archives, arrays, tensors, built-in data sets and the user's own generator.

`open_input` turns what a user names (a path, a built-in data set name, an
array, a tensor, a statistics file, a callable `(n, seed) -> images`, an
`nn.Module` generator, or an iterable of image batches) into an
`ImageSource` or, for statistics, into `FeatureStats`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.datasets import BUILTIN_IMAGE_SETS
from gan_eval.datasets.torchvision_disk import parse_spec, torchvision_images
from gan_eval.errors import GanEvalError
from gan_eval.regular_files import require_regular_file
from gan_eval.sources.arrays import ArraySource, load_array_file
from gan_eval.sources.base import ImageSource
from gan_eval.sources.folder import ImageFolderSource
from gan_eval.sources.generated import MODULE_VALUE_RANGE, BatchIterableSource, CallableSource, ModuleSource
from gan_eval.sources.zipped import ZipSource
from gan_eval.stats import FeatureStats, is_stats_file, load_stats

__all__ = [
    "ArraySource",
    "BatchIterableSource",
    "CallableSource",
    "ImageFolderSource",
    "ImageSource",
    "ModuleSource",
    "ZipSource",
    "is_generated",
    "load_32x32_images",
    "open_input",
]

Input = (
    str
    | os.PathLike[str]
    | np.ndarray
    | torch.Tensor
    | FeatureStats
    | ImageSource
    | torch.nn.Module
    | Callable[[int, int], Any]
    | Iterable[Any]
)
ACCEPTED = (
    "a path, a built-in set name, an array or tensor, statistics, a callable (n, seed) -> images, "
    "an nn.Module generator, or an iterable of image batches"
)


def is_generated(spec: Input) -> bool:
    """True for inputs whose number of images is chosen by `n=`: a generator module or a callable."""
    return isinstance(spec, torch.nn.Module) or (callable(spec) and not isinstance(spec, (FeatureStats, type)))


def open_input(
    spec: Input,
    value_range: tuple[float, float] | None = None,
    expected_extractor: str | None = None,
    expected_dim: int | None = None,
    *,
    n: int | None = None,
    latent_seed: int = 0,
    latent_dim: int | None = None,
) -> ImageSource | FeatureStats:
    """Open what `spec` names: images to extract, or statistics already computed.

    `value_range`: of float images; default (0, 1), and (-1, 1) for an
    `nn.Module` generator. `n`: the images to draw from a generator or
    callable (required for them), or to read from an iterable of batches
    (default: all a DataLoader holds). `latent_seed`, `latent_dim`: see
    `gan_eval.sources.generated`.
    """
    if isinstance(spec, FeatureStats):
        return spec
    if hasattr(spec, "load") and hasattr(spec, "describe"):
        return spec
    if isinstance(spec, (np.ndarray, torch.Tensor)):
        return ArraySource(
            spec, name=f"{type(spec).__name__} {tuple(spec.shape)}", value_range=value_range or (0.0, 1.0)
        )
    if is_generated(spec):
        if n is None:
            raise GanEvalError(f"{type(spec).__name__} generator: give n=, the number of images to draw")
        if isinstance(spec, torch.nn.Module):
            return ModuleSource(spec, n, latent_seed, latent_dim, value_range or MODULE_VALUE_RANGE)
        return CallableSource(spec, n, latent_seed, value_range or (0.0, 1.0))
    if not isinstance(spec, (str, os.PathLike)):
        if isinstance(spec, Iterable) and not isinstance(spec, (bytes, dict)):
            return BatchIterableSource(spec, n, value_range or (0.0, 1.0))
        raise GanEvalError(f"an input is a {type(spec).__name__}; accepted: {ACCEPTED}")
    value_range = value_range or (0.0, 1.0)
    path = Path(spec)
    if not path.exists():
        if str(spec) in BUILTIN_IMAGE_SETS:
            return ArraySource(BUILTIN_IMAGE_SETS[str(spec)](), name=str(spec))
        if parse_spec(str(spec)) is not None:
            return ArraySource(torchvision_images(str(spec))[0], name=str(spec))
        from gan_eval.sources.references import load_reference, reference_names

        references = reference_names()
        if str(spec) in references:
            stats = load_reference(str(spec))
            made = stats.meta.get("extractor")
            if expected_extractor is not None and made != expected_extractor:
                raise GanEvalError(f"reference {spec} was made with extractor {made}, not {expected_extractor}")
            if expected_dim is not None and stats.dim != expected_dim:
                raise GanEvalError(
                    f"reference {spec} has {stats.dim}-d features; this extractor gives {expected_dim}-d"
                )
            return stats
        known = ", ".join([*BUILTIN_IMAGE_SETS, *references])
        raise GanEvalError(
            f"{spec} does not exist (nor is it a built-in set, mnist:SPLIT@ROOT, cifar10:SPLIT@ROOT, "
            f"or a shipped reference: {known})"
        )
    if not os.access(path, os.R_OK):
        raise GanEvalError(f"{path}: permission denied")
    if path.is_dir():
        return ImageFolderSource(path)
    require_regular_file(path)
    suffix = path.suffix.lower()
    if suffix == ".npz" and is_stats_file(path):
        return load_stats(path, expected_extractor, expected_dim)
    if suffix in (".npy", ".npz"):
        return load_array_file(path, value_range)
    if suffix == ".zip":
        return ZipSource(path)
    raise GanEvalError(f"{path}: not a folder, .zip, .npy or .npz (images are read from folders and archives)")


def load_32x32_images(source: ImageSource, what: str) -> np.ndarray:
    """Every image of `source` as `(N, 32, 32, 3)` uint8; another size is an error naming the file and `what`."""
    images = np.empty((len(source), 32, 32, 3), dtype=np.uint8)
    for index in range(len(source)):
        image = source.load(index)
        if image.shape != (32, 32, 3):
            raise GanEvalError(f"{source.describe(index)}: {what} need 32x32 RGB images, got {image.shape[:2]}")
        images[index] = image
    return images
