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
Inception files beside it), and last a download from the official URL.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from gan_eval.errors import GanEvalError
from gan_eval.extractors.dinov2.network import ARCHS, Dinov2Arch, official_shapes
from gan_eval.extractors.weights_files import (
    check_tensors,
    checked_weights_file,
    copy_into_cache,
    download_into_cache,
    read_state_dict,
    resolve_weights,
)
from gan_eval.home import cache_home

BASE_URL = "https://dl.fbaipublicfiles.com/dinov2"


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


def arch_of_file(path: str | os.PathLike[str]) -> Dinov2Arch | None:
    """The DINOv2 size a state dict's `cls_token` width names, or None when it is not a DINOv2 file of ours."""
    try:
        state = read_state_dict(Path(path))
    except GanEvalError:
        return None
    width = state.get("cls_token", torch.empty(0)).shape[-1:] if "mask_token" in state else ()
    return next((a for a in ARCHS.values() if (a.embed_dim,) == tuple(width)), None)


def import_weights(path: str | os.PathLike[str], arch: Dinov2Arch | None = None) -> Path:
    """Check a DINOv2 weights file and copy it into the cache under its official name (atomically).

    `arch` defaults to the size the file's `cls_token` names.
    """
    arch = arch or arch_of_file(path)
    if arch is None:
        raise GanEvalError(f"weights file {path} is not an official DINOv2 state dict (ViT-S/14 or ViT-L/14)")
    weights = load_weights(path, arch)
    return copy_into_cache(weights.path, weights.sha256, weights_cache_dir() / file_name(arch))


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
    return download_into_cache(
        url or weights_url(arch), dest, sha256, lambda p: load_weights(p, arch), progress, timeout
    )


def resolve_weights_path(
    arch: Dinov2Arch, explicit: str | os.PathLike[str] | None = None, progress: bool = True
) -> Path:
    """The weights file to use: explicit path, the environment variable, the cache, else a download."""
    cached = weights_cache_dir() / file_name(arch)
    download = partial(download_weights, arch, progress=progress)
    return resolve_weights(explicit, env_variable(arch), cached, download, weights_url(arch))


def describe_cached_weights() -> list[dict[str, Any]]:
    """One JSON-ready entry per cached DINOv2 weights file: path, sha256, architecture (or the error)."""
    entries: list[dict[str, Any]] = []
    for arch in ARCHS.values():
        path = weights_cache_dir() / file_name(arch)
        if not path.is_file():
            continue
        try:
            weights = load_weights(path, arch)
        except GanEvalError as exc:
            entries.append({"path": str(path), "error": str(exc)})
            continue
        entries.append(
            {"path": str(path), "sha256": weights.sha256, "format": "state-dict", "arch": arch.official_name}
        )
    return entries
