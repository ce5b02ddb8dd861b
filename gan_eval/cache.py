"""The feature cache: statistics and features of an input, reused across runs.

An entry holds one feature head of one input: the float64 accumulators of
its `FeatureStats` (count, sum, sum of outer products, so a cached result is
bit for bit the one a fresh pass gives), optionally the `(N, D)` float32
features themselves, and the metadata of the pass (settings, skipped files).

Entries are keyed by the sha256 of
- the input's content fingerprint (`source.fingerprint()`: file names, sizes
  and modification times for folders, member CRCs for zip archives, bytes for
  arrays),
- every extractor setting that changes the features (extractor, weights
  sha256, resize, precision, device type),
- the head, and whether bad files were skipped,
- the entry format version.

Each entry is one `.npz` file under `<cache home>/features/`, written with
`atomic_write`: two runs storing the same entry at once both succeed and the
file is always one of their two (identical) complete writes. A file that
cannot be read is treated as absent and rewritten. Nothing is unpickled.
"""

from __future__ import annotations

import hashlib
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan_eval.atomic import atomic_write_bytes
from gan_eval.errors import GanEvalError
from gan_eval.home import cache_home
from gan_eval.stats import FeatureStats

ENTRY_FORMAT = 1


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
        """The entry, or None if absent, unreadable, or without the features asked for."""
        path = self.path(key)
        if not path.is_file():
            return None
        try:
            with np.load(path, allow_pickle=False) as data:
                if need_features and "features" not in data.files:
                    return None
                meta = json.loads(str(data["meta"]))
                stats = FeatureStats(
                    dim=int(data["dim"]),
                    count=int(data["count"]),
                    total=data["total"].astype(np.float64),
                    outer=data["outer"].astype(np.float64),
                    meta=dict(meta.get("stats_meta", {})),
                )
                features = data["features"] if "features" in data.files else None
        # A damaged entry: unreadable, or a member np.load hands back as raw bytes (AttributeError, TypeError).
        except (OSError, ValueError, KeyError, EOFError, AttributeError, TypeError, zipfile.BadZipFile):
            return None
        if stats.total is None or stats.total.shape != (stats.dim,) or stats.outer.shape != (stats.dim, stats.dim):
            return None
        if features is not None and features.shape != (stats.count, stats.dim):
            return None
        return CacheEntry(stats, features, meta)

    def store(
        self, key: str, stats: FeatureStats, features: np.ndarray | None = None, meta: dict[str, Any] | None = None
    ) -> None:
        """Write one entry atomically (replacing an older one with the same key)."""
        if stats.total is None or stats.outer is None:
            raise ValueError("only accumulated statistics (not loaded mean and covariance) can be cached")
        record = dict(meta or {}, stats_meta=stats.meta)
        arrays: dict[str, np.ndarray] = {
            "dim": np.int64(stats.dim),
            "count": np.int64(stats.count),
            "total": stats.total,
            "outer": stats.outer,
            "meta": np.array(json.dumps(record, sort_keys=True)),
        }
        if features is not None:
            arrays["features"] = np.ascontiguousarray(features, dtype=np.float32)
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        atomic_write_bytes(self.path(key), buffer.getvalue())

    def entries(self) -> list[Path]:
        """Every entry file, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(self.root.glob("*/*.npz"))

    def clear(self) -> tuple[int, int]:
        """Delete every entry; returns (files removed, bytes freed)."""
        removed, freed = 0, 0
        for path in self.entries():
            try:
                size = path.stat().st_size
                path.unlink()
            except FileNotFoundError:
                continue
            except OSError as exc:
                raise GanEvalError(f"cannot remove cache entry {path}: {exc.strerror}") from None
            removed, freed = removed + 1, freed + size
        return removed, freed
