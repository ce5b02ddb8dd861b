"""Finding, checking, importing and downloading OpenAI's CLIP weights (TorchScript archives, read as data).

The official files are TorchScript archives of the whole CLIP model (image and
text towers, float16 weights): `https://openaipublic.azureedge.net/clip/models/<sha256>/ViT-B-32.pt`
(and `ViT-L-14.pt`, `ViT-L-14-336px.pt`), where `<sha256>` is the file's own
sha256 (openai/CLIP `clip/clip.py` checks it after a download; so do we).
`torch.jit.load` would run the archive's code, so the file is read with
`read_torchscript_tensors` (tensors only) and the image tower is rebuilt from
its `visual.*` tensors (`network.build_network`), converted to float32 as
`clip.load` does on the CPU. Every `visual.*` key must be there with its
shape, and no other `visual.*` key; the text tower is not used and not checked.

Weights are resolved in this order: an explicit path, the environment
variable (`GAN_EVAL_CLIP_VITB32_WEIGHTS`, `..._VITL14_...`,
`..._VITL14_336_...`), the cache folder (`$GAN_EVAL_HOME/weights/clip/`, under
the official file name), and last a download from the official URL, checked
against the sha256 in it. A file with another sha256 is accepted when its
tensors are right (a re-saved copy); its sha256 travels with every number
computed from it, and `weights info` says whether it is the official file.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from gan_eval.errors import GanEvalError
from gan_eval.extractors.clip.network import ARCHS, ClipArch, official_visual_shapes
from gan_eval.extractors.torchscript_archive import read_torchscript_tensors
from gan_eval.extractors.weights_files import (
    check_tensors,
    checked_weights_file,
    copy_into_cache,
    download_into_cache,
    resolve_weights,
)
from gan_eval.home import cache_home

BASE_URL = "https://openaipublic.azureedge.net/clip/models"


@dataclass(frozen=True)
class ClipWeights:
    """The checked `visual.*` tensors (float32) of a CLIP archive, with the file's path and sha256."""

    path: Path
    sha256: str
    arch: ClipArch
    visual: dict[str, torch.Tensor]

    @property
    def official(self) -> bool:
        """Whether the file is byte for byte the one OpenAI publishes."""
        return self.sha256 == self.arch.sha256


def weights_url(arch: ClipArch) -> str:
    """The official download URL: `.../clip/models/<sha256>/ViT-B-32.pt`."""
    return f"{BASE_URL}/{arch.sha256}/{arch.file_name}"


def env_variable(arch: ClipArch) -> str:
    """The environment variable naming `arch`'s weights file: `GAN_EVAL_CLIP_VITL14_336_WEIGHTS`."""
    return f"GAN_EVAL_CLIP_{arch.key.upper().replace('-', '_')}_WEIGHTS"


def weights_cache_dir() -> Path:
    """Folder of cached CLIP weights: `weights/clip/` under the cache home."""
    return cache_home() / "weights" / "clip"


def _check_architecture(path: Path, arch: ClipArch, tensors: dict[str, torch.Tensor]) -> None:
    """Every official `visual.*` key with its shape and a floating dtype, no other `visual.*` key."""
    what = f"weights file {path} is not the official CLIP {arch.file_name}"
    check_tensors(path, what, tensors, official_visual_shapes(arch), scope="visual.", finite=False)


def load_weights(path: str | os.PathLike[str], arch: ClipArch) -> ClipWeights:
    """Read a CLIP TorchScript archive as data (no code runs) and check its image tower against `arch`."""
    path, sha = checked_weights_file(path)
    tensors = read_torchscript_tensors(path)
    _check_architecture(path, arch, tensors)
    visual = {k: tensors[k].float() for k in official_visual_shapes(arch)}
    return ClipWeights(path=path, sha256=sha, arch=arch, visual=visual)


def arch_of_file(path: str | os.PathLike[str]) -> ClipArch | None:
    """The CLIP tower a TorchScript archive's patch convolution and position embedding name, else None."""
    try:
        stat = os.stat(path)
    except OSError:
        return None
    return _arch_of_file(str(path), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _arch_of_file(path: str, size: int, mtime_ns: int) -> ClipArch | None:
    # cached by size and time: `weights import` asks each of the three CLIP spaces about the same file
    try:
        tensors = read_torchscript_tensors(path)
    except GanEvalError:
        return None
    conv, positions = tensors.get("visual.conv1.weight"), tensors.get("visual.positional_embedding")
    if conv is None or positions is None:
        return None
    shapes = (tuple(conv.shape), tuple(positions.shape))
    return next(
        (a for a in ARCHS.values() if shapes == ((a.width, 3, a.patch_size, a.patch_size), (a.tokens, a.width))),
        None,
    )


def import_weights(path: str | os.PathLike[str], arch: ClipArch | None = None) -> Path:
    """Check a CLIP archive and copy it into the cache under its official name (atomically).

    `arch` defaults to the tower the file's tensors name.
    """
    arch = arch or arch_of_file(path)
    if arch is None:
        raise GanEvalError(f"weights file {path} is not an OpenAI CLIP archive (ViT-B/32, ViT-L/14 or ViT-L/14@336px)")
    weights = load_weights(path, arch)
    return copy_into_cache(weights.path, weights.sha256, weights_cache_dir() / arch.file_name)


def download_weights(
    arch: ClipArch,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
    timeout: float = 60.0,
) -> Path:
    """Download `arch`'s archive into the cache and return the path.

    `url` defaults to the official URL and `sha256` (a full digest or a
    prefix) to the official file's. Nothing is left in the cache when the
    server is unreachable, the transfer is cut short, the checksum does not
    match, or the file is not `arch`'s archive.
    """
    dest = weights_cache_dir() / arch.file_name
    return download_into_cache(
        url or weights_url(arch), dest, sha256 or arch.sha256, lambda p: load_weights(p, arch), progress, timeout
    )


def resolve_weights_path(arch: ClipArch, explicit: str | os.PathLike[str] | None = None, progress: bool = True) -> Path:
    """The weights file to use: explicit path, the environment variable, the cache, else a download."""
    cached = weights_cache_dir() / arch.file_name
    download = partial(download_weights, arch, progress=progress)
    return resolve_weights(explicit, env_variable(arch), cached, download, weights_url(arch))


def describe_cached_weights(arch: ClipArch) -> list[dict[str, Any]]:
    """The cached archive of `arch`, if any, as a JSON-ready entry: path, sha256, whether official (or the error)."""
    path = weights_cache_dir() / arch.file_name
    if not path.is_file():
        return []
    try:
        weights = load_weights(path, arch)
    except GanEvalError as exc:
        return [{"path": str(path), "error": str(exc)}]
    return [
        {
            "path": str(path),
            "sha256": weights.sha256,
            "format": "torchscript",
            "arch": arch.file_name.removesuffix(".pt"),
            "official": weights.official,
        }
    ]
