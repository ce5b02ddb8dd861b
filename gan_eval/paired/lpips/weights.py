"""Finding, checking, importing and downloading LPIPS's weights: the v0.1 linear layers and the backbones.

LPIPS of one network needs two files:

- the linear layers, the `lpips` project's v0.1 `alex.pth` or `vgg.pth`
  (five `(1, C, 1, 1)` tensors `linN.model.1.weight`), from
  `https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1/`;
  the sha256 below are those of the files the `lpips` 0.1.4 package ships;
- the backbone, torchvision's `alexnet-owt-7be5be79.pth`
  (`https://download.pytorch.org/models/`, its name carrying its sha256's
  first 8 hex digits) or `vgg16-397923af.pth`, which the VGG-16 feature
  space already resolves (`gan_eval.extractors.vgg16.weights`).

Each file is read as data (`read_state_dict`) and must hold exactly its
architecture's tensors with finite float values. Each is resolved in the
order explicit path, environment variable (`GAN_EVAL_LPIPS_ALEX_WEIGHTS`,
`GAN_EVAL_LPIPS_VGG_WEIGHTS`, `GAN_EVAL_ALEXNET_WEIGHTS`, and
`GAN_EVAL_VGG16_WEIGHTS` for VGG-16), cache (`$GAN_EVAL_HOME/weights/lpips/`,
VGG-16 in `weights/vgg16/`), checked download. An imported or downloaded file
is recorded (`weights_records`), so `gan-eval weights info` lists it without
reading it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any

import torch

from gan_eval.errors import GanEvalError
from gan_eval.extractors.vgg16 import weights as vgg16_weights
from gan_eval.extractors.weights_files import (
    STATE_DICT,
    check_tensors,
    checked_weights_file,
    copy_into_cache,
    download_into_cache,
    read_state_dict,
    resolve_weights,
)
from gan_eval.extractors.weights_layouts import WeightsLayout, read_file_tensors
from gan_eval.extractors.weights_records import WeightsRecord, checked_record, described_entry, record_copy
from gan_eval.home import cache_home
from gan_eval.paired.lpips.network import NETS, linear_keys, meta_backbone

LINEAR_BASE_URL = "https://github.com/richzhang/PerceptualSimilarity/raw/master/lpips/weights/v0.1"
LINEAR_SHA256 = {
    "alex": "df73285e35b22355a2df87cdb6b70b343713b667eddbda73e1977e0c860835c0",
    "vgg": "a78928a0af1e5f0fcb1f3b9e8f8c3a2a5a3de244d830ad5c1feddc79b8432868",
}
LINEAR_ENV_VARIABLES = {"alex": "GAN_EVAL_LPIPS_ALEX_WEIGHTS", "vgg": "GAN_EVAL_LPIPS_VGG_WEIGHTS"}
ALEXNET_BASE_URL = "https://download.pytorch.org/models"
ALEXNET_FILE_NAME = "alexnet-owt-7be5be79.pth"
ALEXNET_SHA256_PREFIX = "7be5be79"  # the hash in the official file name
ALEXNET_ENV_VARIABLE = "GAN_EVAL_ALEXNET_WEIGHTS"
NETWORK = "lpips"  # as records and `gan-eval weights info` name it
ALEXNET_ARCH = "alexnet"


@dataclass(frozen=True)
class LpipsWeights:
    """The checked state dicts of LPIPS on `net`: backbone (torchvision names) and linear layers, float32."""

    net: str
    backbone_path: Path
    backbone_sha256: str
    backbone: dict[str, torch.Tensor]
    linear_path: Path
    linear_sha256: str
    linear: dict[str, torch.Tensor]


def weights_cache_dir() -> Path:
    """Folder of cached LPIPS files (linear layers, AlexNet): `weights/lpips/` under the cache home."""
    return cache_home() / "weights" / "lpips"


def linear_file_name(net: str) -> str:
    """The official name of the v0.1 linear layers of `net`: `alex.pth` or `vgg.pth`."""
    return f"{net}.pth"


def linear_url(net: str) -> str:
    """The official download URL of the v0.1 linear layers of `net`."""
    return f"{LINEAR_BASE_URL}/{linear_file_name(net)}"


def alexnet_url() -> str:
    """The official download URL of torchvision's AlexNet weights."""
    return f"{ALEXNET_BASE_URL}/{ALEXNET_FILE_NAME}"


def load_linear_weights(path: str | os.PathLike[str], net: str) -> tuple[Path, str, dict[str, torch.Tensor]]:
    """`(path, sha256, state)` of a checked v0.1 linear-layer file of `net`; one-line errors naming the file."""
    path, sha = checked_weights_file(path)
    state = read_state_dict(path)
    what = f"weights file {path} is not LPIPS v0.1's {linear_file_name(net)}"
    check_tensors(path, what, state, linear_keys(net))
    return path, sha, {k: v.float() for k, v in state.items()}


def load_alexnet_weights(path: str | os.PathLike[str]) -> tuple[Path, str, dict[str, torch.Tensor]]:
    """`(path, sha256, state)` of a checked torchvision AlexNet state dict; one-line errors naming the file."""
    path, sha = checked_weights_file(path)
    state = read_state_dict(path)
    expected = {k: tuple(v.shape) for k, v in meta_backbone("alex").state_dict().items()}
    check_tensors(path, f"weights file {path} is not torchvision's AlexNet", state, expected)
    return path, sha, {k: v.float() for k, v in state.items()}


def linear_arch(net: str) -> str:
    """The architecture name of the v0.1 linear layers of `net` in records: `lpips-v0.1-alex`."""
    return f"lpips-v0.1-{net}"


def _cached_names() -> dict[str, str]:
    """Each LPIPS file kind (its architecture name) and its name in the cache."""
    return {**{linear_arch(net): linear_file_name(net) for net in NETS}, ALEXNET_ARCH: ALEXNET_FILE_NAME}


def _layouts() -> dict[str, WeightsLayout]:
    backbone = {k: tuple(v.shape) for k, v in meta_backbone("alex").state_dict().items()}
    return {
        **{
            linear_arch(net): WeightsLayout(
                f"LPIPS v0.1 linear layers on {net} ({linear_file_name(net)})", STATE_DICT, linear_keys(net)
            )
            for net in NETS
        },
        ALEXNET_ARCH: WeightsLayout(f"AlexNet, torchvision's {ALEXNET_FILE_NAME}", STATE_DICT, backbone),
    }


def weights_layouts() -> tuple[WeightsLayout, ...]:
    """The layouts of LPIPS's own files: the v0.1 linear layers of each network, and torchvision's AlexNet."""
    return tuple(_layouts().values())


def _check(path: Path, arch: str) -> WeightsRecord:
    """Read and check a file of kind `arch` whole: its record (official: the published sha256, or AlexNet's
    prefix)."""
    if arch == ALEXNET_ARCH:
        path, sha, _ = load_alexnet_weights(path)
        official = sha.startswith(ALEXNET_SHA256_PREFIX)
    else:
        net = arch.removeprefix(linear_arch(""))
        path, sha, _ = load_linear_weights(path, net)
        official = sha == LINEAR_SHA256[net]
    return WeightsRecord(path, NETWORK, arch, STATE_DICT, sha, official)


def import_weights(path: str | os.PathLike[str]) -> Path:
    """Check an LPIPS file (linear layers or AlexNet), copy it into the cache under its official name and
    record it."""
    found = read_file_tensors(path)
    arch = next((arch for arch, layout in _layouts().items() if layout.fit(found).complete), None)
    if arch is None:
        raise GanEvalError(f"weights file {path} is neither LPIPS v0.1 linear layers nor torchvision's AlexNet")
    record = _check(Path(path), arch)
    return record_copy(record, copy_into_cache(record.path, record.sha256, weights_cache_dir() / _cached_names()[arch]))


def download_linear_weights(
    net: str, url: str | None = None, sha256: str | None = None, progress: bool = True, timeout: float = 60.0
) -> Path:
    """Download the v0.1 linear layers of `net` into the cache (checked against `LINEAR_SHA256` by default)."""
    dest = weights_cache_dir() / linear_file_name(net)
    check = partial(checked_record, check=partial(_check, arch=linear_arch(net)))
    return download_into_cache(url or linear_url(net), dest, sha256 or LINEAR_SHA256[net], check, progress, timeout)


def download_alexnet_weights(
    url: str | None = None, sha256: str | None = None, progress: bool = True, timeout: float = 60.0
) -> Path:
    """Download torchvision's AlexNet weights into the cache (checked against the name's sha256 prefix)."""
    dest = weights_cache_dir() / ALEXNET_FILE_NAME
    sha256 = sha256 or ALEXNET_SHA256_PREFIX
    check = partial(checked_record, check=partial(_check, arch=ALEXNET_ARCH))
    return download_into_cache(url or alexnet_url(), dest, sha256, check, progress, timeout)


def resolve_linear_path(net: str, explicit: str | os.PathLike[str] | None = None, progress: bool = True) -> Path:
    """The linear-layer file of `net` to use: explicit path, its environment variable, the cache, else a download."""
    cached = weights_cache_dir() / linear_file_name(net)
    download = partial(download_linear_weights, net, progress=progress)
    return resolve_weights(explicit, LINEAR_ENV_VARIABLES[net], cached, download, linear_url(net), "--lpips-weights")


def resolve_alexnet_path(explicit: str | os.PathLike[str] | None = None, progress: bool = True) -> Path:
    """The AlexNet file to use: explicit path, `GAN_EVAL_ALEXNET_WEIGHTS`, the cache, else a download."""
    cached = weights_cache_dir() / ALEXNET_FILE_NAME
    download = partial(download_alexnet_weights, progress=progress)
    return resolve_weights(explicit, ALEXNET_ENV_VARIABLE, cached, download, alexnet_url(), "--lpips-backbone")


def load_lpips_weights(
    net: str,
    linear: str | os.PathLike[str] | None = None,
    backbone: str | os.PathLike[str] | None = None,
    progress: bool = True,
) -> LpipsWeights:
    """Resolve, read and check both files of LPIPS on `net` (`alex` or `vgg`)."""
    if net not in NETS:
        raise GanEvalError(f"--lpips-net {net}: choose from {', '.join(NETS)}")
    linear_path, linear_sha, linear_state = load_linear_weights(resolve_linear_path(net, linear, progress), net)
    if net == "alex":
        backbone_path, backbone_sha, backbone_state = load_alexnet_weights(resolve_alexnet_path(backbone, progress))
    else:
        vgg_path = vgg16_weights.resolve_weights_path(backbone, progress, flag="--lpips-backbone")
        vgg = vgg16_weights.load_weights(vgg_path)
        backbone_path, backbone_sha, backbone_state = vgg.path, vgg.sha256, vgg.state_dict
    return LpipsWeights(net, backbone_path, backbone_sha, backbone_state, linear_path, linear_sha, linear_state)


def describe_cached_weights(verify: bool = False) -> list[dict[str, Any]]:
    """JSON-ready entries for the cached LPIPS files (linear layers, AlexNet) from their records: path, arch,
    format, sha256, official (with `verify`, from a fresh check, and whether each still matches), or the error."""
    entries = []
    for arch, name in _cached_names().items():
        path = weights_cache_dir() / name
        if path.is_file():
            entries.append(described_entry(path, NETWORK, arch, partial(_check, arch=arch), verify))
    return entries
