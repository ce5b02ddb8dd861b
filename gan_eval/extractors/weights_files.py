"""Weights files read as data and downloaded safely: the parts every feature space's weights code shares.

`read_state_dict` loads a PyTorch state dict with `weights_only=True` and
refuses anything but a dict of tensors, so no code in a weights file runs.
`download_to` streams a URL into an open (atomic) file with a progress bar,
and reports transfers cut short; the caller checks the sha256 it returns.
`checked_weights_file`, `copy_into_cache`, `download_into_cache` and
`resolve_weights` are a space's file handling: look-up order (explicit path,
environment variable, cache, download), import and checked download;
`PublishedWeightsFile` bundles them, with the file's record
(`weights_records`), for a network whose weights are one published file
(torchvision's VGG-16 and VGG-19).
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import urllib.error
import urllib.request
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, BinaryIO, Protocol

import torch

from gan_eval.atomic import atomic_write
from gan_eval.digest import file_sha256
from gan_eval.errors import GanEvalError
from gan_eval.extractors.weights_records import (
    WeightsRecord,
    checked_record,
    described_entry,
    record_copy,
    recorded,
)
from gan_eval.home import cache_home
from gan_eval.tensor_files import is_torchscript_archive

STATE_DICT = "state-dict"  # a pickled dict of tensors (`torch.save(model.state_dict())`)
TORCHSCRIPT = "torchscript"  # a `torch.jit.save` archive


def read_state_dict(path: Path, mmap: bool = False) -> dict[str, torch.Tensor]:
    """A `.pth` state dict read as data (`weights_only`): a dict of tensors, batch-norm counters dropped.

    A TorchScript archive is refused before `torch.load` sees it (which would hand it to `torch.jit.load`).
    With `mmap`, a file in PyTorch's zip format is memory-mapped: names and shapes come without reading the
    values (an older, pickle-only file is read whole).
    """
    if is_torchscript_archive(path):
        raise GanEvalError(f"weights file {path} is a TorchScript archive, not a PyTorch state dict")
    try:
        mapped = mmap and zipfile.is_zipfile(path)
        loaded = torch.load(path, map_location="cpu", weights_only=True, mmap=mapped)
    except Exception as exc:  # torch raises many types for a bad file
        raise GanEvalError(f"weights file {path} is not a readable PyTorch state dict ({type(exc).__name__})") from None
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise GanEvalError(f"weights file {path} does not hold a state dict of tensors")
    return {k: v for k, v in loaded.items() if not k.endswith("num_batches_tracked")}


def download_to(url: str, out: BinaryIO, name: str, progress: bool, timeout: float) -> str:
    """Stream `url` into `out`; return the hex sha256 of what was received."""
    from tqdm import tqdm

    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise GanEvalError(f"cannot download weights from {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise GanEvalError(f"cannot download weights from {url}: {reason}") from None
    digest = hashlib.sha256()
    received = 0
    with response:
        length = response.headers.get("Content-Length", "")
        total = int(length) if length.isdigit() else None
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {name}", disable=not progress) as bar:
            while True:
                try:
                    block = response.read(1 << 20)
                except (http.client.HTTPException, OSError) as exc:
                    raise GanEvalError(
                        f"download of {url} was cut short after {received} bytes ({type(exc).__name__})"
                    ) from None
                if not block:
                    break
                out.write(block)
                digest.update(block)
                received += len(block)
                bar.update(len(block))
    if total is not None and received != total:
        raise GanEvalError(f"download of {url} was cut short ({received} of {total} bytes)")
    return digest.hexdigest()


def existing_weights_file(path: str | os.PathLike[str]) -> Path:
    """`path`, when it exists and is a file; one-line errors otherwise."""
    path = Path(path)
    if not path.exists():
        raise GanEvalError(f"weights file {path} does not exist")
    if not path.is_file():
        raise GanEvalError(f"weights file {path} is not a file")
    return path


def checked_weights_file(path: str | os.PathLike[str]) -> tuple[Path, str]:
    """`(path, sha256)` of a weights file that exists and is a file; one-line errors otherwise."""
    path = existing_weights_file(path)
    try:
        return path, file_sha256(path)
    except OSError as exc:
        raise GanEvalError(f"cannot read weights file {path}: {exc.strerror}") from None


def copy_into_cache(source: Path, sha256: str, dest: Path) -> Path:
    """Copy a checked weights file to `dest` in the cache (atomically), unless `dest` already holds it."""
    if not dest.exists() or file_sha256(dest) != sha256:
        with atomic_write(dest) as out, open(source, "rb") as src:
            shutil.copyfileobj(src, out, 1 << 20)
    return dest


def download_into_cache(
    url: str, dest: Path, sha256: str | None, check: Callable[[Path], object], progress: bool, timeout: float
) -> Path:
    """Download `url` to `dest`: kept only when its sha256 starts with `sha256` (if given) and `check(dest)`
    accepts it; nothing is left when the server is unreachable, the transfer is cut short or a check fails."""
    # The temporary file is removed by atomic_write when any error leaves the block.
    with atomic_write(dest) as out:
        received = download_to(url, out, dest.name, progress, timeout)
        if sha256 is not None and not received.startswith(sha256.lower()):
            raise GanEvalError(f"download of {url} has sha256 {received[:16]}..., expected {sha256[:16]}...")
    try:
        check(dest)
    except GanEvalError as exc:
        dest.unlink(missing_ok=True)
        raise GanEvalError(f"weights downloaded from {url} are not usable: {exc}") from None
    return dest


def resolve_weights(
    explicit: str | os.PathLike[str] | None,
    variable: str,
    cached: Path,
    download: Callable[[], Path],
    url: str,
    flag: str = "--weights",
) -> Path:
    """The weights file to use: `explicit`, else `$variable`, else `cached`, else `download()`; a failed
    download says every way to provide the file (`flag`: the option that takes a path)."""
    if explicit:
        return Path(explicit)
    env = os.environ.get(variable)
    if env:
        if not Path(env).is_file():
            raise GanEvalError(f"{variable}={env} is not a file")
        return Path(env)
    if cached.is_file():
        return cached
    try:
        return download()
    except GanEvalError as exc:
        raise GanEvalError(
            f"{exc} (no {cached.name} in {cached.parent}: pass {flag} PATH, set {variable}, "
            f"or run 'gan-eval weights import PATH' on the file from {url})"
        ) from None


def check_tensors(
    path: Path,
    what: str,
    tensors: dict[str, torch.Tensor],
    expected: dict[str, tuple[int, ...]],
    scope: str = "",
    finite: bool = True,
) -> None:
    """Refuse, naming `path` and the first key at fault, tensors that are not the expected architecture.

    Every key of `expected` with its shape; no other key starting with `scope`; every key in scope a
    floating tensor, and with `finite` free of NaN and Inf. `what` begins each message
    (`weights file F is not the official ...`).
    """
    for key, shape in expected.items():
        if key not in tensors:
            raise GanEvalError(f"{what} (missing {key})")
        if tuple(tensors[key].shape) != shape:
            raise GanEvalError(f"{what} ({key} has shape {tuple(tensors[key].shape)}, expected {shape})")
    extra = next((k for k in tensors if k.startswith(scope) and k not in expected), None)
    if extra is not None:
        raise GanEvalError(f"{what} (unexpected key {extra})")
    for key in expected:
        if not tensors[key].is_floating_point():
            raise GanEvalError(f"{what} ({key} has dtype {tensors[key].dtype})")
        if finite and not torch.isfinite(tensors[key]).all():
            raise GanEvalError(f"weights file {path} has non-finite values in {key}")


class CheckedWeights(Protocol):
    """What a weights loader returns: the file it read and its full sha256."""

    path: Path
    sha256: str


@dataclass(frozen=True)
class PublishedWeightsFile:
    """One published weights file: where it comes from, where it is cached, and how it is checked.

    `url` is the official download URL (its last part is the file name in the cache); a download must
    have a sha256 starting with `sha256` (a full digest, or the prefix in torchvision's file names);
    `variable` names the environment variable that may point at the file; the cache folder is
    `weights/<cache_folder>/` under the cache home; `load(path)` reads and checks a file, with one-line
    errors naming it; `network` (the feature space or network) and `arch` are what its record and
    `gan-eval weights info` name it, and `heads` the feature heads it gives (a feature space's).
    """

    url: str
    sha256: str
    variable: str
    cache_folder: str
    load: Callable[[Path], CheckedWeights]
    network: str
    arch: str
    heads: tuple[str, ...] = ()

    @property
    def file_name(self) -> str:
        """The official file name (the URL's last part)."""
        return self.url.rsplit("/", 1)[1]

    def cache_dir(self) -> Path:
        """Folder of the cached file: `weights/<cache_folder>/` under the cache home."""
        return cache_home() / "weights" / self.cache_folder

    def cached_path(self) -> Path:
        """Where the file is cached under its official name."""
        return self.cache_dir() / self.file_name

    def record(self, weights: CheckedWeights) -> WeightsRecord:
        """What a checked file is: a state dict, its sha256, and whether it is the published file (by the
        sha256 prefix in the file's name, as torchvision checks it)."""
        official = weights.sha256.startswith(self.sha256)
        return WeightsRecord(weights.path, self.network, self.arch, STATE_DICT, weights.sha256, official, self.heads)

    def check(self, path: Path) -> WeightsRecord:
        """Read and check a file whole: its record."""
        return self.record(self.load(path))

    def recorded(self, path: str | os.PathLike[str]) -> WeightsRecord:
        """What a file is, from its record, or checked (read whole) once and recorded."""
        return recorded(path, self.network, self.arch, self.check)

    def import_file(self, path: str | os.PathLike[str]) -> Path:
        """Check a file, copy it into the cache under the official name (atomically) and record it."""
        checked = self.load(Path(path))
        return record_copy(self.record(checked), copy_into_cache(checked.path, checked.sha256, self.cached_path()))

    def download(
        self, url: str | None = None, sha256: str | None = None, progress: bool = True, timeout: float = 60.0
    ) -> Path:
        """Download into the cache (`url` and `sha256` default to the official ones) and return the path;
        nothing is left when the transfer fails, the checksum differs or the file does not load."""
        dest = self.cached_path()
        check = partial(checked_record, check=self.check)
        return download_into_cache(url or self.url, dest, sha256 or self.sha256, check, progress, timeout)

    def resolve(
        self, explicit: str | os.PathLike[str] | None = None, progress: bool = True, flag: str = "--weights"
    ) -> Path:
        """The file to use: explicit path, the environment variable, the cache, else a download."""
        download = partial(self.download, progress=progress)
        return resolve_weights(explicit, self.variable, self.cached_path(), download, self.url, flag)

    def describe(self, verify: bool = False) -> list[dict[str, Any]]:
        """The cached file, if any, as a JSON-ready entry from its record: path, arch, format, sha256, official
        (with `verify`, from a fresh check, and whether it still matches), or the error."""
        path = self.cached_path()
        return [described_entry(path, self.network, self.arch, self.check, verify)] if path.is_file() else []
