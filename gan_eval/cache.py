"""The feature cache: statistics and features of an input, reused across runs.

An entry holds one feature head of one input: the float64 accumulators of
its `FeatureStats` (count, sum, sum of outer products, so a cached result is
bit for bit the one a fresh pass gives), optionally the `(N, D)` float32
features themselves, and the metadata of the pass (settings, skipped files).

Entries are keyed by the sha256 of
- the input's content fingerprint (`source.fingerprint()`: the sha256 of every
  file's or zip member's bytes with its name, the bytes of an array; never
  sizes, times or CRC-32s, which a file can be made to state),
- every extractor setting that changes the features (extractor, weights
  sha256, resize, precision, device type),
- the head, and whether bad files were skipped,
- the entry format version.

An entry verifies itself on every read: it records its own key and the
sha256 of its arrays and metadata, and holds finite numbers only. An entry
that fails (copied over another's name, edited, damaged, NaN) is a miss with
one warning line; the caller recomputes and replaces it. Only files that carry
the cache's naming (`<2 hex>/<64 hex>.npz`) and header are counted or removed.

Each entry is one `.npz` file under `<cache home>/features/`, written with
`atomic_write`: two runs storing the same entry at once both succeed and the
file is always one of their two (identical) complete writes. Nothing is
unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan_eval.atomic import atomic_write_bytes
from gan_eval.errors import GanEvalError, GanEvalWarning, caller_stacklevel
from gan_eval.home import cache_home
from gan_eval.stats import FeatureStats

ENTRY_FORMAT = 2
# Written into every entry's metadata: with the file's name, what proves the cache wrote it.
ENTRY_HEADER = "gan-eval feature cache entry"
_KEY_NAME = re.compile(r"[0-9a-f]{64}")
_ARRAYS = ("dim", "count", "total", "outer", "features")


def feature_cache_dir() -> Path:
    """Folder of cached features: `<cache home>/features`."""
    return cache_home() / "features"


def entry_key(fingerprint: str, settings: dict[str, Any], head: str, skip_bad: bool) -> str:
    """The sha256 key of one head of one input under one set of extractor settings."""
    relevant = {k: v for k, v in settings.items() if k != "device"}
    relevant["device_type"] = str(settings.get("device", "cpu")).split(":")[0]
    payload = {
        "format": ENTRY_FORMAT,
        "input": fingerprint,
        "settings": relevant,
        "head": head,
        "skip_bad": bool(skip_bad),
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()


def _arrays_digest(arrays: dict[str, np.ndarray]) -> str:
    """sha256 of an entry's arrays (name, dtype, shape, bytes) and its metadata string, in a fixed order."""
    digest = hashlib.sha256()
    for name in (*_ARRAYS, "meta"):
        if name in arrays:
            value = np.ascontiguousarray(arrays[name])
            digest.update(f"{name}|{value.dtype.str}|{value.shape}\n".encode())
            digest.update(value.tobytes())
    return digest.hexdigest()


class EntryMismatch(Exception):
    """An entry file that exists but does not verify; the message says why."""


def _is_own_name(path: Path) -> bool:
    return bool(_KEY_NAME.fullmatch(path.stem)) and path.suffix == ".npz" and path.parent.name == path.stem[:2]


def _written_by_cache(path: Path) -> bool:
    """Whether `path` carries the cache's naming and an entry header (this format's, or format 1's arrays)."""
    if not _is_own_name(path):
        return False
    try:
        with np.load(path, allow_pickle=False) as data:
            meta = json.loads(str(data["meta"]))
            files = set(data.files)
    except Exception:  # any unreadable file: not provably an entry
        return False
    if not isinstance(meta, dict):
        return False
    if meta.get("header") == ENTRY_HEADER:
        return True
    return {"dim", "count", "total", "outer", "meta"} <= files <= {*_ARRAYS, "meta"} and "stats_meta" in meta


@dataclass
class CacheEntry:
    """One cached head: its statistics, its features if they were stored, and the pass's metadata."""

    stats: FeatureStats
    features: np.ndarray | None
    meta: dict[str, Any]


class FeatureCache:
    """Statistics and features on disk, keyed by `entry_key` (see the module docstring)."""

    def __init__(self, root: str | Path | None = None) -> None:
        self.root = Path(root) if root is not None else feature_cache_dir()

    def path(self, key: str) -> Path:
        """Where the entry `key` lives."""
        return self.root / key[:2] / f"{key}.npz"

    def load(self, key: str, need_features: bool = False) -> CacheEntry | None:
        """The entry, or None if absent, without the features asked for, or failing its check (with a warning)."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            entry = self._read_verified(path, key)
        except EntryMismatch as exc:
            warnings.warn(
                f"cache entry {path} does not verify ({exc}); recomputing it",
                GanEvalWarning,
                stacklevel=caller_stacklevel(),
            )
            return None
        if need_features and entry.features is None:
            return None
        return entry

    def holds(self, key: str, need_features: bool = False) -> bool:
        """Whether an entry named `key` (with per-sample features, if asked) is there, without reading its arrays.

        For deciding what a pass should add to the cache; `load` verifies an entry when it is used.
        """
        try:
            with np.load(self.path(key), allow_pickle=False) as data:
                meta = json.loads(str(data["meta"]))
                return (
                    isinstance(meta, dict)
                    and meta.get("key") == key
                    and (not need_features or "features" in data.files)
                )
        except Exception:  # absent or unreadable: not held
            return False

    @staticmethod
    def _read_verified(path: Path, key: str) -> CacheEntry:
        try:
            with np.load(path, allow_pickle=False) as data:
                arrays = {name: data[name] for name in data.files}
        # A damaged entry: unreadable, or a member np.load hands back as raw bytes (AttributeError, TypeError).
        except (OSError, ValueError, KeyError, EOFError, AttributeError, TypeError, zipfile.BadZipFile) as exc:
            raise EntryMismatch(f"unreadable: {type(exc).__name__}") from None
        try:
            meta = json.loads(str(arrays["meta"]))
            recorded = str(arrays["digest"])
        except (KeyError, ValueError):
            raise EntryMismatch("no header") from None
        if not isinstance(meta, dict) or meta.get("header") != ENTRY_HEADER or meta.get("format") != ENTRY_FORMAT:
            raise EntryMismatch("no header of this format")
        if meta.get("key") != key:
            raise EntryMismatch(f"it records the key {str(meta.get('key'))[:12]}..., not its own name's")
        if _arrays_digest(arrays) != recorded:
            raise EntryMismatch("its arrays or metadata differ from the digest it records")
        try:
            stats = FeatureStats(
                dim=int(arrays["dim"]),
                count=int(arrays["count"]),
                total=arrays["total"].astype(np.float64),
                outer=arrays["outer"].astype(np.float64),
                meta=dict(meta.get("stats_meta", {})),
            )
        except (KeyError, TypeError, ValueError):
            raise EntryMismatch("missing arrays") from None
        features = arrays.get("features")
        if stats.total.shape != (stats.dim,) or stats.outer.shape != (stats.dim, stats.dim):
            raise EntryMismatch("arrays of the wrong shape")
        if features is not None and features.shape != (stats.count, stats.dim):
            raise EntryMismatch("features of the wrong shape")
        if not (np.isfinite(stats.total).all() and np.isfinite(stats.outer).all()):
            raise EntryMismatch("non-finite statistics")
        if features is not None and not np.isfinite(features).all():
            raise EntryMismatch("non-finite features")
        return CacheEntry(stats, features, meta)

    def store(
        self, key: str, stats: FeatureStats, features: np.ndarray | None = None, meta: dict[str, Any] | None = None
    ) -> None:
        """Write one entry atomically (replacing an older one with the same key), with its key and digest."""
        if stats.total is None or stats.outer is None:
            raise ValueError("only accumulated statistics (not loaded mean and covariance) can be cached")
        record = dict(meta or {}, stats_meta=stats.meta, header=ENTRY_HEADER, format=ENTRY_FORMAT, key=key)
        arrays: dict[str, np.ndarray] = {
            "dim": np.asarray(np.int64(stats.dim)),
            "count": np.asarray(np.int64(stats.count)),
            "total": np.asarray(stats.total, dtype=np.float64),
            "outer": np.asarray(stats.outer, dtype=np.float64),
            "meta": np.array(json.dumps(record, sort_keys=True)),
        }
        if features is not None:
            arrays["features"] = np.ascontiguousarray(features, dtype=np.float32)
        arrays["digest"] = np.array(_arrays_digest(arrays))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(self.path(key), buffer.getvalue())

    def scan(self) -> tuple[list[Path], list[Path]]:
        """(entries the cache can prove it wrote, other files found under its folder), each sorted."""
        if not self.root.is_dir():
            return [], []
        own, foreign = [], []
        for path in sorted(p for p in self.root.rglob("*") if p.is_file() or p.is_symlink()):
            is_own = path.is_file() and not path.is_symlink() and _written_by_cache(path)
            (own if is_own else foreign).append(path)
        return own, foreign

    def entries(self) -> list[Path]:
        """Every entry file the cache can prove it wrote, sorted."""
        return self.scan()[0]

    def clear(self) -> tuple[int, int, list[Path]]:
        """Delete every entry the cache wrote; returns (files removed, bytes freed, other files left in place)."""
        own, foreign = self.scan()
        removed, freed = 0, 0
        for path in own:
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise GanEvalError(f"cannot remove cache entry {path}: {exc.strerror}") from None
            removed, freed = removed + 1, freed + size
        return removed, freed, foreign
