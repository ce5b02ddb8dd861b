"""Shipped reference statistics (`reference_stats/`): names, manifest, compact storage, rebuild.

A reference is addressed by name (`digits-test`) wherever an input is
accepted, and loads as float64 `FeatureStats`. Two storages keep the folder
small while staying exact:

- `features`: the float32 pool3 features of a whole data set (compressed
  `.npz`); a reference is a row range of them, and its statistics are
  accumulated in float64 exactly as a fresh extraction accumulates them.
- `moments`: the float64 mean and the upper triangle of the float64
  covariance (compressed), unpacked to the full symmetric matrix on load.

`manifest.json` lists, per name: data set, split, n, extractor, weights
sha256, resize, precision, storage, the file's sha256, and the command that
rebuilt it (`gan-eval stats --rebuild-reference`).
"""

from __future__ import annotations

import io
import json
import os
from collections.abc import Callable
from dataclasses import asdict, dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from gan_eval.atomic import atomic_write_bytes
from gan_eval.digest import file_sha256
from gan_eval.errors import GanEvalError
from gan_eval.stats import FeatureStats

MANIFEST = "manifest.json"
MANIFEST_FORMAT = 1
REBUILD_COMMAND = "gan-eval stats --rebuild-reference"


@dataclass(frozen=True)
class ReferenceEntry:
    """One named reference in the manifest."""

    name: str
    file: str
    storage: str
    dataset: str
    split: str
    rows: tuple[int, int] | None
    n: int
    extractor: str
    weights_sha256: str
    resize: str
    precision: str
    sha256: str
    command: str = REBUILD_COMMAND


def reference_dir() -> Path:
    """The folder of shipped references (the `reference_stats/` folder of the project)."""
    return Path(str(resources.files("gan_eval.reference_stats")))


def read_manifest(folder: Path | None = None) -> dict[str, ReferenceEntry]:
    """The manifest's entries by name (empty when there is no manifest)."""
    path = (folder or reference_dir()) / MANIFEST
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        entries = {}
        for item in data["references"]:
            rows = tuple(item["rows"]) if item.get("rows") is not None else None
            entries[item["name"]] = ReferenceEntry(**dict(item, rows=rows))
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise GanEvalError(f"reference manifest {path} is unreadable ({exc})") from None
    return entries


def pack_upper(matrix: np.ndarray) -> np.ndarray:
    """The upper triangle (diagonal included) of a `(D, D)` matrix, row by row, `(D(D+1)/2,)`."""
    return matrix[np.triu_indices(matrix.shape[0])]


def unpack_upper(packed: np.ndarray, dim: int) -> np.ndarray:
    """The symmetric `(D, D)` matrix whose upper triangle is `packed`."""
    matrix = np.zeros((dim, dim), dtype=np.float64)
    rows, cols = np.triu_indices(dim)
    matrix[rows, cols] = packed
    matrix[cols, rows] = packed
    return matrix


def _meta(entry: ReferenceEntry) -> dict[str, Any]:
    return {
        "extractor": entry.extractor,
        "weights_sha256": entry.weights_sha256,
        "resize": entry.resize,
        "precision": entry.precision,
        "source": f"reference {entry.name}",
        "reference": entry.name,
    }


def load_reference(name: str, folder: Path | None = None) -> FeatureStats:
    """The float64 statistics of the shipped reference `name`."""
    folder = folder or reference_dir()
    entries = read_manifest(folder)
    if name not in entries:
        known = ", ".join(sorted(entries)) or "none"
        raise GanEvalError(f"no reference named {name!r} (shipped: {known})")
    entry = entries[name]
    path = folder / entry.file
    try:
        with np.load(path, allow_pickle=False) as data:
            if entry.storage == "features":
                start, stop = entry.rows or (0, None)
                features = data["features"][start:stop]
                stats = FeatureStats(features.shape[1], meta=_meta(entry))
                for first in range(0, features.shape[0], 64):
                    stats.update(features[first : first + 64])
                stats.features = features
            elif entry.storage == "moments":
                mu = data["mu"].astype(np.float64)
                sigma = unpack_upper(data["sigma_upper"].astype(np.float64), mu.shape[0])
                stats = FeatureStats.from_moments(mu, sigma, int(data["n"]), _meta(entry))
            else:
                raise GanEvalError(f"reference {name}: unknown storage {entry.storage!r}")
    except (OSError, ValueError, KeyError) as exc:
        raise GanEvalError(f"reference {name}: cannot read {path} ({exc})") from None
    if stats.count != entry.n:
        raise GanEvalError(f"reference {name}: {path} holds {stats.count} samples, the manifest says {entry.n}")
    return stats


def reference_names() -> list[str]:
    """Names of the shipped references, sorted."""
    return sorted(read_manifest())


def resolve_reference(spec: Any) -> Any:
    """A shipped reference's statistics when `spec` names one (and is no existing path); else `spec`."""
    if isinstance(spec, (str, os.PathLike)) and not Path(spec).exists() and str(spec) in read_manifest():
        return load_reference(str(spec))
    return spec


def verify_manifest(folder: Path | None = None) -> list[str]:
    """Problems found comparing the manifest with the files (empty when they agree)."""
    folder = folder or reference_dir()
    problems = []
    for name, entry in read_manifest(folder).items():
        path = folder / entry.file
        if not path.is_file():
            problems.append(f"{name}: {entry.file} is missing")
        elif file_sha256(path) != entry.sha256:
            problems.append(f"{name}: sha256 of {entry.file} differs from the manifest")
        else:
            try:
                load_reference(name, folder)
            except GanEvalError as exc:
                problems.append(str(exc))
    return problems


def _npz_bytes(**arrays: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.savez_compressed(buffer, **arrays)
    return buffer.getvalue()


# Data sets whose float32 features fit in this many bytes are stored as features, others as moments.
FEATURES_BUDGET = 16 * 2**20

REFERENCE_SETS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("digits", ("train", "test")),
    ("stacked-digits", ("test",)),
)


def rebuild_references(
    extract_features: Callable[[str], np.ndarray],
    settings: dict[str, str],
    folder: Path | None = None,
) -> list[ReferenceEntry]:
    """Recompute every shipped reference with `extract_features(builtin_set_name) -> (N, D) float32`.

    For each data set of `REFERENCE_SETS` that is built in, the features of its
    splits are stored one after the other in `<dataset>-pool3.npz` when they
    fit `FEATURES_BUDGET` (each split is a named reference, `digits-test`, and
    a data set with several splits also gets `<dataset>-all`); otherwise each
    split's float64 moments go to `<dataset>-<split>-moments.npz`. Writes the data files and then the manifest,
    each atomically; returns the entries.
    """
    from gan_eval.datasets import BUILTIN_IMAGE_SETS

    folder = folder or reference_dir()
    common = {k: settings[k] for k in ("extractor", "weights_sha256", "resize", "precision")}
    entries: list[ReferenceEntry] = []
    for dataset, splits in REFERENCE_SETS:
        present = [split for split in splits if f"{dataset}:{split}" in BUILTIN_IMAGE_SETS]
        if not present:
            continue
        parts, rows, start = [], {}, 0
        for split in present:
            features = np.asarray(extract_features(f"{dataset}:{split}"), dtype=np.float32)
            parts.append(features)
            rows[split] = (start, start + len(features))
            start += len(features)
        features = np.concatenate(parts)
        if features.nbytes <= FEATURES_BUDGET:
            if len(present) > 1:
                rows["all"] = (0, start)
            path = folder / f"{dataset}-pool3.npz"
            atomic_write_bytes(path, _npz_bytes(features=features))
            sha = file_sha256(path)
            for split, (first, stop) in rows.items():
                entries.append(
                    ReferenceEntry(
                        f"{dataset}-{split}",
                        path.name,
                        "features",
                        dataset,
                        split,
                        (first, stop),
                        stop - first,
                        sha256=sha,
                        **common,
                    )
                )
            continue
        for split, (first, stop) in rows.items():  # too many samples to keep: float64 moments
            stats = FeatureStats(features.shape[1])
            for block in range(first, stop, 1000):
                stats.update(features[block : min(block + 1000, stop)])
            path = folder / f"{dataset}-{split}-moments.npz"
            payload = _npz_bytes(mu=stats.mean(), sigma_upper=pack_upper(stats.covariance()), n=np.int64(stats.count))
            atomic_write_bytes(path, payload)
            entries.append(
                ReferenceEntry(
                    f"{dataset}-{split}",
                    path.name,
                    "moments",
                    dataset,
                    split,
                    None,
                    stats.count,
                    sha256=file_sha256(path),
                    **common,
                )
            )
    manifest = {"format": MANIFEST_FORMAT, "references": [asdict(e) for e in entries]}
    atomic_write_bytes(folder / MANIFEST, (json.dumps(manifest, indent=2) + "\n").encode())
    return entries
