"""Finding, checking, importing and downloading torchvision's VGG-19 weights (`vgg19-dcbb9e9d.pth`).

The file is the plain state dict torchvision publishes for
`VGG19_Weights.IMAGENET1K_V1`: `https://download.pytorch.org/models/vgg19-dcbb9e9d.pth`.
Its name carries the first 8 hex digits of its sha256 (torchvision's
`check_hash` compares exactly that prefix), so a download must match
`dcbb9e9d`; the full sha256 travels with every number computed from it. A
file is read as data (`read_state_dict`, weights_only) and must hold exactly
the architecture's 38 float tensors with their shapes; the convolutions (the
only layers style and content distances run) must be finite, and the
classifier is dropped once its keys, shapes and dtypes are checked.

Weights are resolved in this order: an explicit path, the environment
variable `GAN_EVAL_VGG19_WEIGHTS`, the cache folder
(`$GAN_EVAL_HOME/weights/vgg19/`), and last a download from the official URL.
An imported or downloaded file is recorded (`weights_records`), so `gan-eval
weights info` lists it without reading it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gan_eval.extractors.weights_files import (
    STATE_DICT,
    PublishedWeightsFile,
    check_tensors,
    checked_weights_file,
    read_state_dict,
)
from gan_eval.extractors.weights_layouts import WeightsLayout
from gan_eval.style.network import official_shapes

NAME = "vgg19"  # the network's name in `gan-eval weights` listings
BASE_URL = "https://download.pytorch.org/models"
FILE_NAME = "vgg19-dcbb9e9d.pth"
SHA256_PREFIX = "dcbb9e9d"  # the hash in the official file name
ENV_VARIABLE = "GAN_EVAL_VGG19_WEIGHTS"


@dataclass(frozen=True)
class Vgg19Weights:
    """A checked torchvision VGG-19 file: its path, full sha256, and the `features.*` tensors (float32)."""

    path: Path
    sha256: str
    features: dict[str, torch.Tensor]


def weights_url() -> str:
    """The official download URL."""
    return f"{BASE_URL}/{FILE_NAME}"


def load_weights(path: str | os.PathLike[str]) -> Vgg19Weights:
    """Read a torchvision VGG-19 state dict as data and check every key and shape; one-line errors naming the file."""
    path, sha = checked_weights_file(path)
    state = read_state_dict(path)
    what = f"weights file {path} is not torchvision's VGG-19"
    shapes = official_shapes()
    check_tensors(path, what, state, shapes, finite=False)
    # Only the convolutions ever run: their values must be finite; the classifier is checked, then dropped.
    features = {k: v.float() for k, v in state.items() if k.startswith("features.")}
    check_tensors(path, what, features, {k: shapes[k] for k in features}, scope="features.")
    return Vgg19Weights(path=path, sha256=sha, features=features)


def weights_layouts() -> tuple[WeightsLayout, ...]:
    """The one layout of the weights: torchvision's state dict."""
    return (WeightsLayout(f"VGG-19, torchvision's {FILE_NAME}", STATE_DICT, official_shapes()),)


PUBLISHED = PublishedWeightsFile(weights_url(), SHA256_PREFIX, ENV_VARIABLE, "vgg19", load_weights, NAME, "vgg19")


def weights_cache_dir() -> Path:
    """Folder of cached VGG-19 weights: `weights/vgg19/` under the cache home."""
    return PUBLISHED.cache_dir()


def import_weights(path: str | os.PathLike[str]) -> Path:
    """Check a VGG-19 weights file, copy it into the cache under the official name (atomically) and record it."""
    return PUBLISHED.import_file(path)


def download_weights(
    url: str | None = None, sha256: str | None = None, progress: bool = True, timeout: float = 60.0
) -> Path:
    """Download the weights into the cache and return the path (`url`, `sha256`: the official ones by
    default); nothing is left when the download fails or the file is not VGG-19's weights."""
    return PUBLISHED.download(url, sha256, progress, timeout)


def resolve_weights_path(explicit: str | os.PathLike[str] | None = None, progress: bool = True) -> Path:
    """The weights file to use: explicit path, the environment variable, the cache, else a download."""
    return PUBLISHED.resolve(explicit, progress)


def describe_cached_weights(verify: bool = False) -> list[dict[str, Any]]:
    """One JSON-ready entry for the cached VGG-19 weights file, if any, from its record (see
    `PublishedWeightsFile.describe`)."""
    return PUBLISHED.describe(verify)
