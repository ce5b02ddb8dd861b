"""Finding, checking, importing and downloading OpenAI's CLIP weights (archives or state dicts, read as data).

The official files are TorchScript archives of the whole CLIP model (image and
text towers, float16 weights): `https://openaipublic.azureedge.net/clip/models/<sha256>/ViT-B-32.pt`
(and `ViT-L-14.pt`, `ViT-L-14-336px.pt`), where `<sha256>` is the file's own
sha256 (openai/CLIP `clip/clip.py` checks it after a download; so do we).
`torch.jit.load` would run the archive's code, so the file is read with
`read_torchscript_tensors` (tensors only) and the image tower is rebuilt from
its `visual.*` tensors (`network.build_network`), converted to float32 as
`clip.load` does on the CPU. A plain state dict of the same model, what
`torch.save(model.state_dict())` writes for OpenAI's model or open_clip's
(whose OpenAI towers keep OpenAI's names), is read with `read_state_dict`
(weights_only) and gives the same tensors. Every `visual.*` key must be there
with its shape, and no other `visual.*` key; the text tower is not used and
not checked.

Weights are resolved in this order: an explicit path, the environment
variable (`GAN_EVAL_CLIP_VITB32_WEIGHTS`, `..._VITL14_...`,
`..._VITL14_336_...`), the cache folder (`$GAN_EVAL_HOME/weights/clip/`: the
archive under the official file name, a state dict as `ViT-B-32.pth`), and
last a download from the official URL, checked against the sha256 in it. A
file with another sha256 is accepted when its tensors are right (a re-saved
copy, a state dict); its sha256 travels with every number computed from it,
and `weights info` says whether it is the official file. What a checked file
is is recorded when it is imported, downloaded or first used
(`recorded_weights`), so a later run reads it only to extract.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from gan_eval.extractors.clip.network import ARCHS, ClipArch, official_visual_shapes
from gan_eval.extractors.torchscript_archive import read_torchscript_tensors
from gan_eval.extractors.weights_files import (
    STATE_DICT,
    TORCHSCRIPT,
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
from gan_eval.tensor_files import is_torchscript_archive

BASE_URL = "https://openaipublic.azureedge.net/clip/models"
HEAD_EMBEDDING = "embedding"  # the one head: `encode_image`'s projection


@dataclass(frozen=True)
class ClipWeights:
    """The checked `visual.*` tensors (float32) of a CLIP file, with the file's path, sha256 and format."""

    path: Path
    sha256: str
    arch: ClipArch
    visual: dict[str, torch.Tensor]
    file_format: str = TORCHSCRIPT

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


def network_name(arch: ClipArch) -> str:
    """The feature space of `arch`, as records and `weights info` name it: `clip-vitl14-336`."""
    return f"clip-{arch.key}"


def arch_name(arch: ClipArch) -> str:
    """OpenAI's name of the model, as its file has it: `ViT-L-14-336px`."""
    return arch.file_name.removesuffix(".pt")


def weights_arch(weights: ClipWeights | WeightsRecord) -> ClipArch:
    """The tower checked weights, or a record, are of."""
    if isinstance(weights, ClipWeights):
        return weights.arch
    return next(arch for arch in ARCHS.values() if arch_name(arch) == weights.arch)


def weights_cache_dir() -> Path:
    """Folder of cached CLIP weights: `weights/clip/` under the cache home."""
    return cache_home() / "weights" / "clip"


def cached_file(arch: ClipArch, file_format: str) -> Path:
    """Where a file of `arch` in `file_format` is cached: the archive under its official name, a state dict
    as `<name>.pth`."""
    name = arch.file_name if file_format == TORCHSCRIPT else f"{arch_name(arch)}.pth"
    return weights_cache_dir() / name


def weights_layouts(arch: ClipArch) -> tuple[WeightsLayout, ...]:
    """The layouts of `arch`'s weights: OpenAI's TorchScript archive, and a state dict with the same names."""
    shapes = official_visual_shapes(arch)
    return (
        WeightsLayout(f"CLIP {arch_name(arch)}, OpenAI's TorchScript {arch.file_name}", TORCHSCRIPT, shapes),
        WeightsLayout(f"CLIP {arch_name(arch)}, a state dict of OpenAI's or open_clip's model", STATE_DICT, shapes),
    )


def _check_architecture(path: Path, arch: ClipArch, tensors: dict[str, torch.Tensor], finite: bool) -> None:
    """Every official `visual.*` key with its shape and a floating dtype, no other `visual.*` key."""
    what = f"weights file {path} is not the official CLIP {arch.file_name}"
    check_tensors(path, what, tensors, official_visual_shapes(arch), scope="visual.", finite=finite)


def load_weights(path: str | os.PathLike[str], arch: ClipArch) -> ClipWeights:
    """Read a CLIP TorchScript archive or state dict as data (no code runs) and check its image tower against
    `arch`."""
    path, sha = checked_weights_file(path)
    if is_torchscript_archive(path):  # the archive reader refuses NaN and Inf itself
        tensors, file_format = read_torchscript_tensors(path), TORCHSCRIPT
    else:
        tensors, file_format = read_state_dict(path), STATE_DICT
    _check_architecture(path, arch, tensors, finite=file_format == STATE_DICT)
    visual = {k: tensors[k].float() for k in official_visual_shapes(arch)}
    return ClipWeights(path=path, sha256=sha, arch=arch, visual=visual, file_format=file_format)


def weights_record(weights: ClipWeights) -> WeightsRecord:
    """What a checked file is: format, sha256, whether it is OpenAI's file."""
    arch = weights.arch
    return WeightsRecord(
        weights.path,
        network_name(arch),
        arch_name(arch),
        weights.file_format,
        weights.sha256,
        weights.official,
        (HEAD_EMBEDDING,),
    )


def _check(path: Path, arch: ClipArch) -> WeightsRecord:
    return weights_record(load_weights(path, arch))


def recorded_weights(path: str | os.PathLike[str], arch: ClipArch) -> WeightsRecord:
    """What a CLIP weights file is, from its record, or checked (read whole) once and recorded."""
    return recorded(path, network_name(arch), arch_name(arch), partial(_check, arch=arch))


def import_weights(path: str | os.PathLike[str], arch: ClipArch) -> Path:
    """Check a CLIP file of `arch`, copy it into the cache (`cached_file`, atomically) and record it."""
    weights = load_weights(path, arch)
    dest = copy_into_cache(weights.path, weights.sha256, cached_file(arch, weights.file_format))
    return record_copy(weights_record(weights), dest)


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
    dest = cached_file(arch, TORCHSCRIPT)
    check = partial(checked_record, check=partial(_check, arch=arch))
    return download_into_cache(url or weights_url(arch), dest, sha256 or arch.sha256, check, progress, timeout)


def resolve_weights_path(arch: ClipArch, explicit: str | os.PathLike[str] | None = None, progress: bool = True) -> Path:
    """The weights file to use: explicit path, the environment variable, the cache (the archive, then a state
    dict), else a download."""
    cached = next((p for p in _cached_files(arch) if p.is_file()), cached_file(arch, TORCHSCRIPT))
    download = partial(download_weights, arch, progress=progress)
    return resolve_weights(explicit, env_variable(arch), cached, download, weights_url(arch))


def _cached_files(arch: ClipArch) -> tuple[Path, ...]:
    return cached_file(arch, TORCHSCRIPT), cached_file(arch, STATE_DICT)


def describe_cached_weights(arch: ClipArch, verify: bool = False) -> list[dict[str, Any]]:
    """The cached files of `arch` as JSON-ready entries from their records: path, arch, format, sha256, whether
    official (with `verify`, from a fresh check, and whether each still matches), or the error."""
    check = partial(_check, arch=arch)
    return [
        described_entry(path, network_name(arch), arch_name(arch), check, verify)
        for path in _cached_files(arch)
        if path.is_file()
    ]
