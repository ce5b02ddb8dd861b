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
What a checked file is is recorded when it is imported, downloaded or first
used (`recorded_weights`), so a later run reads it only to extract.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gan_eval.extractors.vgg16.network import official_shapes
from gan_eval.extractors.weights_files import (
    STATE_DICT,
    PublishedWeightsFile,
    check_tensors,
    checked_weights_file,
    read_state_dict,
)
from gan_eval.extractors.weights_layouts import WeightsLayout
from gan_eval.extractors.weights_records import WeightsRecord

NETWORK = "vgg16-torchfidelity"  # the feature space, as results, records and `weights info` name it
BASE_URL = "https://download.pytorch.org/models"
HEAD_FC2_RELU = "fc2_relu"  # the features torch-fidelity's prc takes
HEAD_FC2 = "fc2"  # the same before the ReLU
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


def weights_layouts() -> tuple[WeightsLayout, ...]:
    """The one layout of the weights: torchvision's state dict."""
    return (WeightsLayout(f"VGG-16, torchvision's {FILE_NAME}", STATE_DICT, official_shapes()),)


PUBLISHED = PublishedWeightsFile(
    weights_url(), SHA256_PREFIX, ENV_VARIABLE, "vgg16", load_weights, NETWORK, "vgg16", (HEAD_FC2_RELU, HEAD_FC2)
)


def weights_cache_dir() -> Path:
    """Folder of cached VGG-16 weights: `weights/vgg16/` under the cache home."""
    return PUBLISHED.cache_dir()


def recorded_weights(path: str | os.PathLike[str]) -> WeightsRecord:
    """What a VGG-16 weights file is, from its record, or checked (read whole) once and recorded."""
    return PUBLISHED.recorded(path)


def import_weights(path: str | os.PathLike[str]) -> Path:
    """Check a VGG-16 weights file, copy it into the cache under the official name (atomically) and record it."""
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


def describe_cached_weights(verify: bool = False) -> list[dict[str, Any]]:
    """One JSON-ready entry for the cached VGG-16 weights file, if any, from its record (see
    `PublishedWeightsFile.describe`)."""
    return PUBLISHED.describe(verify)
