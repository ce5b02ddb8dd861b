"""What a checked weights file is, recorded once: later runs and `gan-eval weights info` read the record.

Checking a weights file reads all of it, its sha256 and every tensor: tens of
seconds for DINOv2 ViT-L/14's 1.2 GB on a laptop's CPU. The outcome, a
`WeightsRecord` (network, architecture, format, sha256, heads, whether it is
the published file), is written when a file is imported or first used, as one
small JSON file under `<cache home>/weights/records/`, named by the sha256 of
the weights file's resolved path, beside the file's size, modification time,
change time and inode. A record is trusted while `stat` of the file gives
those four again; when any differs (the file was replaced, rewritten, or
copied over with its old time kept), the file is checked again and the
record rewritten. `verified_entry` checks the file whatever the record says
(`weights info --verify`): no `stat` sees bytes that rot in place.

One record per weights file rather than one index of them all: each is
written atomically by the run that checked its file, so two runs never lose
each other's records (an index would need a lock), and a file outside the
cache (`--weights PATH`, an environment variable) gets a record without
anything written beside it. A record that cannot be written (a read-only
cache) is skipped: that file is then checked on every use, as it was before
records.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, TypeVar

from gan_eval.atomic import atomic_write_bytes
from gan_eval.errors import GanEvalError
from gan_eval.home import cache_home

RECORD_FORMAT = 1  # bumped when a check changes what it accepts: older records are then checked again


@dataclass(frozen=True)
class WeightsRecord:
    """A checked weights file: what `gan-eval weights info` lists and what an extractor's settings need.

    `network` is the feature space or network the file was checked as (`inception`, `dinov2-vitl14`,
    `lpips`), `arch` the architecture within it (`ViT-B-32`, `alexnet`), `file_format` how the file
    holds it (`state-dict`, `torchscript`), `heads` the outputs the network gives with it (feature
    spaces only) and `unusable_heads` the reason for each head the file has but cannot give.
    `official`: whether the file is the one published (its sha256, or the prefix torchvision and
    torch.hub check); None where no checksum is published.
    """

    path: Path
    network: str
    arch: str
    file_format: str
    sha256: str
    official: bool | None
    heads: tuple[str, ...] = ()
    unusable_heads: dict[str, str] = field(default_factory=dict)

    def entry(self) -> dict[str, Any]:
        """The JSON-ready entry of `gan-eval weights info`: path, arch, format, sha256, official, heads."""
        entry: dict[str, Any] = {
            "path": str(self.path),
            "arch": self.arch,
            "format": self.file_format,
            "sha256": self.sha256,
            "official": self.official,
        }
        if self.heads:
            entry["heads"] = list(self.heads)
        if self.unusable_heads:
            entry["unusable_heads"] = dict(self.unusable_heads)
        return entry


class _Checked(Protocol):
    sha256: str


Loaded = TypeVar("Loaded", bound=_Checked)


def records_dir() -> Path:
    """Folder of the records: `weights/records/` under the cache home."""
    return cache_home() / "weights" / "records"


def _record_file(path: Path) -> Path:
    return records_dir() / f"{hashlib.sha256(str(path.resolve()).encode()).hexdigest()}.json"


def _stat(path: Path) -> list[int]:
    """What a record is trusted by: size, modification and change times (ns), inode."""
    st = os.stat(path)
    return [st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_ino]


def _read(path: Path) -> tuple[WeightsRecord, list[int]] | None:
    """The record stored for `path` and the `stat` it was made under, or None (none, unreadable, older format)."""
    try:
        data = json.loads(_record_file(path).read_text())
        if data["format"] != RECORD_FORMAT or data["path"] != str(path.resolve()):
            return None
        record = WeightsRecord(
            path=path,
            network=str(data["network"]),
            arch=str(data["arch"]),
            file_format=str(data["file_format"]),
            sha256=str(data["sha256"]),
            official=data["official"] if data["official"] in (True, False, None) else None,
            heads=tuple(str(h) for h in data["heads"]),
            unusable_heads={str(k): str(v) for k, v in data["unusable_heads"].items()},
        )
        return record, [int(v) for v in data["stat"]]
    except (OSError, ValueError, KeyError, TypeError, AttributeError):
        return None


def store_record(record: WeightsRecord, stat: list[int] | None = None) -> None:
    """Write the record of `record.path` (under `stat`, default the file's now); a failed write is skipped."""
    path = Path(record.path)
    try:
        stat = stat or _stat(path)
        data = dict(
            dataclasses.asdict(record),
            format=RECORD_FORMAT,
            path=str(path.resolve()),
            heads=list(record.heads),
            stat=stat,
        )
        atomic_write_bytes(_record_file(path), json.dumps(data, indent=1).encode())
    except (OSError, GanEvalError):
        return  # a read-only cache: the file is checked again on its next use


def stored_record(path: str | os.PathLike[str], network: str, arch: str) -> WeightsRecord | None:
    """The record of `path` as `network`'s `arch`, when there is one and the file's `stat` still matches it."""
    path = Path(path)
    found = _read(path)
    if found is None:
        return None
    record, stat = found
    try:
        unchanged = _stat(path) == stat
    except OSError:
        return None
    return record if unchanged and (record.network, record.arch) == (network, arch) else None


# Records of files outside the weights cache, checked but not yet written: written when the network is first
# built from them (`in_memory`), so a command refused before any image reaches the network writes nothing.
_PENDING: dict[str, tuple[WeightsRecord, list[int]]] = {}


def _in_weights_cache(path: Path) -> bool:
    return path.resolve().is_relative_to((cache_home() / "weights").resolve())


def checked_record(path: str | os.PathLike[str], check: Callable[[Path], WeightsRecord]) -> WeightsRecord:
    """`check(path)`, a full read of the file, recorded when the file did not change while it was read: at once
    for a file in the weights cache, and on the network's first use for any other (`--weights PATH`)."""
    path = Path(path)
    try:
        before = _stat(path)
    except OSError:
        return check(path)  # its one-line error: missing, not a file, unreadable
    record = check(path)
    with contextlib.suppress(OSError):
        if _stat(path) == before:
            if _in_weights_cache(path):
                store_record(record, before)
            else:
                _PENDING[record.sha256] = (record, before)
    return record


def recorded(
    path: str | os.PathLike[str], network: str, arch: str, check: Callable[[Path], WeightsRecord]
) -> WeightsRecord:
    """What `path` is as `network`'s `arch`: its record, else `check(path)` once (a full read), then recorded."""
    return stored_record(path, network, arch) or checked_record(path, check)


def record_copy(record: WeightsRecord, copy: Path) -> Path:
    """Record `copy`, a byte-for-byte copy of the checked `record.path` (an import into the cache); `copy`."""
    store_record(dataclasses.replace(record, path=copy))
    return copy


def read_recorded(record: WeightsRecord, load: Callable[[Path], Loaded]) -> Loaded:
    """`load(record.path)`: the file's tensors, to build the network; refused when the file is not the one recorded.

    The record's sha256 already keys the feature cache and travels with the numbers: features from
    other bytes must not be filed under it.
    """
    loaded = load(Path(record.path))
    if loaded.sha256 != record.sha256:
        raise GanEvalError(
            f"weights file {record.path} changed while in use (sha256 {loaded.sha256[:16]}..., "
            f"checked as {record.sha256[:16]}...); run the command again"
        )
    return loaded


def in_memory(weights: Loaded | WeightsRecord, load: Callable[[Path], Loaded]) -> Loaded:
    """Weights to build a network from: checked weights already read, as they are; a record's file, read now
    (`read_recorded`)."""
    loaded = read_recorded(weights, load) if isinstance(weights, WeightsRecord) else weights
    pending = _PENDING.pop(loaded.sha256, None)
    if pending is not None:
        with contextlib.suppress(OSError):
            if _stat(Path(pending[0].path)) == pending[1]:
                store_record(*pending)
    return loaded


def described_entry(
    path: Path, network: str, arch: str, check: Callable[[Path], WeightsRecord], verify: bool = False
) -> dict[str, Any]:
    """The `weights info` entry of a cached file: from its record (checked once if it has none), or with
    `verify` from a fresh check, `verified` saying whether the bytes are still those recorded."""
    previous = _read(path)
    try:
        record = checked_record(path, check) if verify else recorded(path, network, arch, check)
    except GanEvalError as exc:
        return {"path": str(path), "error": str(exc)} | ({"verified": False} if verify else {})
    entry = record.entry()
    if verify:
        before = previous[0].sha256 if previous is not None else None
        entry["verified"] = before in (None, record.sha256)
        if not entry["verified"]:
            entry["recorded_sha256"] = before
    return entry
