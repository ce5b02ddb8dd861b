"""Finding, checking, importing and downloading torchvision's VGG-16 weights (`vgg16-397923af.pth`).

The file is the plain state dict torchvision publishes for
`VGG16_Weights.IMAGENET1K_V1`, the weights torch-fidelity's `vgg16` feature
extractor loads: `https://download.pytorch.org/models/vgg16-397923af.pth`.
Its name carries the first 8 hex digits of its sha256 (torchvision's
`check_hash` compares exactly that prefix), so a download must match
`397923af`; the full sha256 travels with every number computed from it (the
extractor's settings). A file is read as data (`read_state_dict`,
weights_only) and must hold exactly the architecture's 32 tensors with their
shapes and finite float values.

Weights are resolved in this order: an explicit path, the environment
variable `GAN_EVAL_VGG16_WEIGHTS`, the cache folder
(`$GAN_EVAL_HOME/weights/vgg16/`), and last a download from the official URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gan_eval.errors import GanEvalError
from gan_eval.extractors.vgg16.network import official_shapes
from gan_eval.extractors.weights_files import (
    PublishedWeightsFile,
    check_tensors,
    checked_weights_file,
    read_state_dict,
)

BASE_URL = "https://download.pytorch.org/models"
FILE_NAME = "vgg16-397923af.pth"
SHA256_PREFIX = "397923af"  # the hash in the official file name
ENV_VARIABLE = "GAN_EVAL_VGG16_WEIGHTS"


@dataclass(frozen=True)
class Vgg16Weights:
    """A checked torchvision VGG-16 state dict (float32, every key of `official_shapes`)."""

    path: Path
    sha256: str
    state_dict: dict[str, torch.Tensor]


def weights_url() -> str:
    """The official download URL."""
    return f"{BASE_URL}/{FILE_NAME}"


def _check_architecture(path: Path, state: dict[str, torch.Tensor]) -> None:
    """Every official key with its shape, finite float values, nothing else; else a one-line error naming the key."""
    check_tensors(path, f"weights file {path} is not torchvision's VGG-16", state, official_shapes())


def load_weights(path: str | os.PathLike[str]) -> Vgg16Weights:
    """Read a torchvision VGG-16 state dict as data and check every key and shape."""
    path, sha = checked_weights_file(path)
    state = read_state_dict(path)
    _check_architecture(path, state)
    return Vgg16Weights(path=path, sha256=sha, state_dict={k: v.float() for k, v in state.items()})


def is_vgg16_file(path: str | os.PathLike[str]) -> bool:
    """Whether a file is a state dict with VGG-16's first convolution, conv4_1 and fc2 (the rest is checked later)."""
    try:
        state = read_state_dict(Path(path))
    except GanEvalError:
        return False
    shapes = {k: tuple(v.shape) for k, v in state.items()}
    return (
        shapes.get("features.0.weight") == (64, 3, 3, 3)
        and shapes.get("features.17.weight") == (512, 256, 3, 3)  # conv4_1; a ReLU in VGG-19
        and shapes.get("classifier.3.weight") == (4096, 4096)
    )


PUBLISHED = PublishedWeightsFile(weights_url(), SHA256_PREFIX, ENV_VARIABLE, "vgg16", load_weights, "vgg16")


def weights_cache_dir() -> Path:
    """Folder of cached VGG-16 weights: `weights/vgg16/` under the cache home."""
    return PUBLISHED.cache_dir()


def import_weights(path: str | os.PathLike[str]) -> Path:
    """Check a VGG-16 weights file and copy it into the cache under the official name (atomically)."""
    return PUBLISHED.import_file(path)


def download_weights(
    url: str | None = None, sha256: str | None = None, progress: bool = True, timeout: float = 60.0
) -> Path:
    """Download the weights into the cache and return the path (`url`, `sha256`: the official ones by
    default); nothing is left when the download fails or the file is not VGG-16's weights."""
    return PUBLISHED.download(url, sha256, progress, timeout)


def resolve_weights_path(
    explicit: str | os.PathLike[str] | None = None, progress: bool = True, flag: str = "--weights"
) -> Path:
    """The weights file to use: explicit path, the environment variable, the cache, else a download."""
    return PUBLISHED.resolve(explicit, progress, flag)


def describe_cached_weights() -> list[dict[str, Any]]:
    """One JSON-ready entry for the cached VGG-16 weights file, if any: path, sha256, format (or the error)."""
    return PUBLISHED.describe()
