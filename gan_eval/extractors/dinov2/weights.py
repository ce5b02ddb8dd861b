"""Finding, checking, importing and downloading the official DINOv2 weights.

The files are the plain state dicts Meta publishes and the hub code loads
(`torch.hub.load_state_dict_from_url`, no hash check):
`https://dl.fbaipublicfiles.com/dinov2/dinov2_vitl14/dinov2_vitl14_pretrain.pth`
(and `dinov2_vits14/dinov2_vits14_pretrain.pth`). No checksum is published
and the file names carry none, so a download is accepted when it is a state
dict of exactly the architecture's keys and shapes with finite values; its
sha256 travels with every number computed from it (the extractor's
settings), and a caller who knows the expected sha256 can pass it to
`download_weights`.

Weights are resolved in this order: an explicit path, the environment
variable `GAN_EVAL_DINOV2_VITL14_WEIGHTS` (`..._VITS14_...` for ViT-S/14),
the cache folder (`$GAN_EVAL_HOME/weights/dinov2/`, kept apart from the
Inception files beside it), and last a download from the official URL. What
a checked file is (its sha256) is recorded when it is imported, downloaded or
first used (`recorded_weights`), so a later run reads the 1.2 GB file only to
extract.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from gan_eval.extractors.dinov2.network import ARCHS, Dinov2Arch, official_shapes
from gan_eval.extractors.weights_files import (
    STATE_DICT,
    check_tensors,
    checked_weights_file,
    copy_into_cache,
    download_into_cache,
    read_state_dict,
    resolve_weights,
)
from gan_eval.extractors.weights_layouts import WeightsLayout
from gan_eval.extractors.weights_records import (
    WeightsRecord,
    checked_record,
    described_entry,
    record_copy,
    recorded,
)
from gan_eval.home import cache_home

BASE_URL = "https://dl.fbaipublicfiles.com/dinov2"
HEAD_CLS = "cls"  # the one head: the class token after the final LayerNorm


@dataclass(frozen=True)
class Dinov2Weights:
    """A checked official DINOv2 state dict (518-px position embedding, `mask_token` included)."""

    path: Path
    sha256: str
    arch: Dinov2Arch
    state_dict: dict[str, torch.Tensor]


def file_name(arch: Dinov2Arch) -> str:
    """The official file name, `dinov2_vitl14_pretrain.pth`."""
    return f"{arch.official_name}_pretrain.pth"


def weights_url(arch: Dinov2Arch) -> str:
    """The official download URL of `arch`'s weights."""
    return f"{BASE_URL}/{arch.official_name}/{file_name(arch)}"


def env_variable(arch: Dinov2Arch) -> str:
    """The environment variable that names `arch`'s weights file: `GAN_EVAL_DINOV2_VITL14_WEIGHTS`."""
    return f"GAN_EVAL_{arch.official_name.upper()}_WEIGHTS"


def weights_cache_dir() -> Path:
    """Folder of cached DINOv2 weights: `weights/dinov2/` under the cache home."""
    return cache_home() / "weights" / "dinov2"


def _check_architecture(path: Path, arch: Dinov2Arch, state: dict[str, torch.Tensor]) -> None:
    """Every official key with its shape, finite values, nothing else; else a one-line error naming the key."""
    check_tensors(path, f"weights file {path} is not the official {arch.official_name}", state, official_shapes(arch))


def load_weights(path: str | os.PathLike[str], arch: Dinov2Arch) -> Dinov2Weights:
    """Read an official DINOv2 state dict as data and check it against `arch`."""
    path, sha = checked_weights_file(path)
    state = read_state_dict(path)
    _check_architecture(path, arch, state)
    return Dinov2Weights(path=path, sha256=sha, arch=arch, state_dict={k: v.float() for k, v in state.items()})


def network_name(arch: Dinov2Arch) -> str:
    """The feature space of `arch`, as records and `weights info` name it: `dinov2-vitl14`."""
    return arch.official_name.replace("_", "-")


def weights_arch(weights: Dinov2Weights | WeightsRecord) -> Dinov2Arch:
    """The size checked weights, or a record, are of."""
    if isinstance(weights, Dinov2Weights):
        return weights.arch
    return next(arch for arch in ARCHS.values() if arch.official_name == weights.arch)


def weights_layouts(arch: Dinov2Arch) -> tuple[WeightsLayout, ...]:
    """The one layout of `arch`'s weights: the hub's state dict."""
    title = f"DINOv2 {arch.official_name}, the hub's {file_name(arch)}"
    return (WeightsLayout(title, STATE_DICT, official_shapes(arch)),)


def weights_record(weights: Dinov2Weights) -> WeightsRecord:
    """What a checked file is; `official` unknown: Meta publishes no checksum."""
    arch = weights.arch
    return WeightsRecord(
        weights.path, network_name(arch), arch.official_name, STATE_DICT, weights.sha256, None, (HEAD_CLS,)
    )


def _check(path: Path, arch: Dinov2Arch) -> WeightsRecord:
    return weights_record(load_weights(path, arch))


def recorded_weights(path: str | os.PathLike[str], arch: Dinov2Arch) -> WeightsRecord:
    """What a DINOv2 weights file is, from its record, or checked (read whole) once and recorded."""
    return recorded(path, network_name(arch), arch.official_name, partial(_check, arch=arch))


def import_weights(path: str | os.PathLike[str], arch: Dinov2Arch) -> Path:
    """Check a DINOv2 weights file of `arch`, copy it into the cache under its official name (atomically) and
    record it."""
    weights = load_weights(path, arch)
    dest = copy_into_cache(weights.path, weights.sha256, weights_cache_dir() / file_name(arch))
    return record_copy(weights_record(weights), dest)


def download_weights(
    arch: Dinov2Arch,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download `arch`'s weights into the cache and return the path.

    `url` defaults to the official URL; `sha256` (a full digest or a prefix),
    when given, must match what was received. Nothing is left in the cache
    when the server is unreachable, the transfer is cut short, the checksum
    does not match, or the file is not `arch`'s weights.
    """
    dest = weights_cache_dir() / file_name(arch)
    check = partial(checked_record, check=partial(_check, arch=arch))
    return download_into_cache(url or weights_url(arch), dest, sha256, check, progress, timeout)


def resolve_weights_path(
    arch: Dinov2Arch, explicit: str | os.PathLike[str] | None = None, progress: bool = True
) -> Path:
    """The weights file to use: explicit path, the environment variable, the cache, else a download."""
    cached = weights_cache_dir() / file_name(arch)
    download = partial(download_weights, arch, progress=progress)
    return resolve_weights(explicit, env_variable(arch), cached, download, weights_url(arch))


def describe_cached_weights(arch: Dinov2Arch, verify: bool = False) -> list[dict[str, Any]]:
    """The cached file of `arch`, if any, as a JSON-ready entry from its record: path, arch, format, sha256
    (with `verify`, from a fresh check, and whether it still matches), or the error."""
    path = weights_cache_dir() / file_name(arch)
    if not path.is_file():
        return []
    return [described_entry(path, network_name(arch), arch.official_name, partial(_check, arch=arch), verify)]
