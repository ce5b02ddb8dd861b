"""Streaming, mergeable feature statistics and the statistics file format.

`FeatureStats` accumulates the count, the sum and the sum of outer products of
feature vectors in float64. Two accumulators merge by adding those three
numbers, so statistics of shards (batches, worker processes, ranks) combine
exactly; mean and covariance (`np.cov` convention, N-1 denominator) are
derived at the end.

Files are `.npz` archives with `mu` and `sigma` (float64), the keys that
pytorch-fid, TTUR and clean-fid read, plus `n` and the settings that made
them (`gan_eval_meta`, a JSON string), and optionally the per-sample
`features` (float32) for KID and the k-NN metrics. They are loaded without pickle.
"""

from __future__ import annotations

import io
import json
import os
import warnings
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.atomic import atomic_write_bytes
from gan_eval.errors import GanEvalError, GanEvalWarning, caller_stacklevel
from gan_eval.regular_files import require_regular_file

META_KEY = "gan_eval_meta"

# Beyond this magnitude the FID math (squares, products of two covariances, summed over D) overflows float64.
MAX_MOMENT_MAGNITUDE = 1e150
# Relative to the covariance's largest entry: how far from symmetric storage and arithmetic can leave it.
SYMMETRY_TOLERANCE = 1e-6
# Relative to the largest |eigenvalue|: how negative rounding makes the eigenvalues of a true covariance.
NEGATIVE_EIGENVALUE_TOLERANCE = 1e-6


def batch_moments(features: torch.Tensor | np.ndarray, dim: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum `(D,)` and sum of outer products `(D, D)` of a batch `(B, D)`, float64 on the features' device."""
    x = torch.as_tensor(features).to(torch.float64)
    if x.dim() != 2 or x.shape[1] != dim:
        raise ValueError(f"expected features of shape (B, {dim}), got {tuple(x.shape)}")
    return x.sum(0), x.T @ x


class DeviceMoments:
    """Running float64 count, sum `(D,)` and sum of outer products `(D, D)` of feature batches, kept on the
    features' device: one copy to the host per input (`into`) instead of a `(D, D)` copy per batch.

    The additions are those of `FeatureStats.update`, in the same order, so the moments are the same bits.
    """

    def __init__(self, dim: int) -> None:
        self.dim = dim
        self.count = 0
        self.total: torch.Tensor | None = None
        self.outer: torch.Tensor | None = None

    def update(self, features: torch.Tensor) -> None:
        """Add a batch of features `(B, D)` (any float dtype, on any device)."""
        batch_sum, batch_outer = batch_moments(features, self.dim)
        if self.total is None:
            self.total, self.outer = batch_sum, batch_outer
        else:
            self.total += batch_sum
            self.outer += batch_outer
        self.count += len(features)

    def into(self, stats: FeatureStats) -> None:
        """Add these moments to `stats` (which holds samples or is empty), copying them to the host once."""
        if self.total is None:
            return
        other = FeatureStats(self.dim, self.count, self.total.cpu().numpy(), self.outer.cpu().numpy())
        merged = stats.merge(other)
        stats.count, stats.total, stats.outer = merged.count, merged.total, merged.outer


@dataclass
class FeatureStats:
    """Running float64 moments of `(N, D)` features: count, sum `(D,)`, outer-product sum `(D, D)`.

    Built from samples with `update`, or from a saved mean and covariance
    (`from_moments`) when only those are known. `meta` holds the settings
    that produced the features; `features`, when set, the `(N, D)` float32
    samples themselves (shipped references keep them, so per-sample metrics
    such as KID and precision/recall can use a reference too).
    """

    dim: int
    count: int = 0
    total: np.ndarray | None = None
    outer: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    features: np.ndarray | None = None
    _mu: np.ndarray | None = None
    _sigma: np.ndarray | None = None
    _count_unknown: bool = False

    @property
    def name(self) -> str:
        """How messages name these statistics: the file they were read from, with the set that made them beside
        it when that differs (`stats/ref.npz (statistics of /data/real)`); else that set; else `statistics`."""
        file, source = self.meta.get("file"), self.meta.get("source")
        if not file:
            return str(source) if source else "statistics"
        return f"{file} (statistics of {source})" if source and source != file else str(file)

    @property
    def known_count(self) -> int | None:
        """The sample count, or None for statistics whose file does not say it (pytorch-fid's, TTUR's)."""
        return None if self._count_unknown else self.count

    def update(self, features: torch.Tensor | np.ndarray) -> None:
        """Add a batch of features `(B, D)`; accumulation is float64 on the features' device."""
        if self._mu is not None:
            raise ValueError("statistics loaded from mean and covariance cannot be updated")
        batch_sum, batch_outer = (m.cpu().numpy() for m in batch_moments(features, self.dim))
        if self.total is None:
            self.total, self.outer = batch_sum, batch_outer
        else:
            self.total += batch_sum
            self.outer += batch_outer
        self.count += len(features)

    def merge(self, other: FeatureStats) -> FeatureStats:
        """A new accumulator holding both sets of samples."""
        if other.dim != self.dim:
            raise ValueError(f"cannot merge {self.dim}-d and {other.dim}-d statistics")
        if self._mu is not None or other._mu is not None:
            raise ValueError("statistics loaded from mean and covariance cannot be merged")
        if other.count == 0:
            return FeatureStats(self.dim, self.count, self.total, self.outer, dict(self.meta))
        if self.count == 0:
            return FeatureStats(other.dim, other.count, other.total, other.outer, dict(other.meta))
        return FeatureStats(
            self.dim,
            self.count + other.count,
            self.total + other.total,
            self.outer + other.outer,
            dict(self.meta),
        )

    @classmethod
    def from_moments(
        cls, mu: np.ndarray, sigma: np.ndarray, count: int | None, meta: dict[str, Any] | None = None
    ) -> FeatureStats:
        """Statistics known only by mean `(D,)` and covariance `(D, D)`; `count=None` when it is unknown.

        An unknown count is held as `count == 0` (what the metrics read as "no count"); `known_count` is None.
        """
        stats = cls(dim=mu.shape[0], count=count or 0, meta=dict(meta or {}), _count_unknown=count is None)
        stats._mu = np.asarray(mu, dtype=np.float64)
        stats._sigma = np.asarray(sigma, dtype=np.float64)
        return stats

    def mean(self) -> np.ndarray:
        """Mean feature `(D,)` float64."""
        if self._mu is not None:
            return self._mu
        if self.count == 0 or self.total is None:
            raise GanEvalError("statistics of an empty set have no mean")
        return self.total / self.count

    def covariance(self) -> np.ndarray:
        """Sample covariance `(D, D)` float64 with the N-1 denominator (as `np.cov`)."""
        if self._sigma is not None:
            return self._sigma
        if self.count < 2 or self.outer is None:
            where = f"{self.name}: " if self.meta.get("source") or self.meta.get("file") else ""
            raise GanEvalError(f"{where}a covariance needs at least 2 samples, got {self.count}")
        mu = self.mean()
        cov = np.multiply.outer(mu, -self.count * mu)
        cov += self.outer
        cov *= 1.0 / (self.count - 1)
        return _symmetrize(cov)


def _symmetrize(matrix: np.ndarray, block: int = 256) -> np.ndarray:
    """Replace a square matrix by (M + M^T) / 2 in place, block by block (a whole transpose thrashes the cache)."""
    size = matrix.shape[0]
    for i in range(0, size, block):
        for j in range(i, size, block):
            mean = (matrix[i : i + block, j : j + block] + matrix[j : j + block, i : i + block].T) * 0.5
            matrix[i : i + block, j : j + block] = mean
            matrix[j : j + block, i : i + block] = mean.T
    return matrix


def save_stats(stats: FeatureStats, path: str | os.PathLike[str]) -> None:
    """Write `mu`, `sigma`, `n`, `gan_eval_meta` and, when set, `features` `(N, D)` float32 to an `.npz`, atomically.

    Readers of `mu` and `sigma` alone (pytorch-fid, clean-fid) ignore the other members.
    """
    meta = dict(stats.meta, n=stats.count, dim=stats.dim)
    extra = {}
    if stats.features is not None:
        if stats.features.shape != (stats.count, stats.dim):
            raise ValueError(f"features of shape {stats.features.shape} for {stats.count} {stats.dim}-d samples")
        extra["features"] = np.ascontiguousarray(stats.features, dtype=np.float32)
    buffer = io.BytesIO()
    np.savez(
        buffer,
        mu=stats.mean(),
        sigma=stats.covariance(),
        n=np.int64(stats.count),
        **extra,
        **{META_KEY: np.array(json.dumps(meta, sort_keys=True))},
    )
    atomic_write_bytes(path, buffer.getvalue())


def is_stats_file(path: Path) -> bool:
    """True for an `.npz` archive that holds a `mu` or a `sigma` array (`load_stats` names a missing one).

    Only a regular file is opened: a named pipe or a device would block or never end.
    """
    if path.suffix.lower() != ".npz" or not path.is_file() or not zipfile.is_zipfile(path):
        return False
    with zipfile.ZipFile(path) as archive:
        names = set(archive.namelist())
    return bool({"mu.npy", "sigma.npy"} & names)


def check_moments(mu: np.ndarray, sigma: np.ndarray, name: str) -> None:
    """Refuse a mean `(D,)` and covariance `(D, D)` (finite, float64) that no set of features has.

    A covariance is symmetric and positive semi-definite; both are checked to
    rounding tolerances relative to its scale (one float64 `eigvalsh`, about a
    second at D = 2048). Values beyond `MAX_MOMENT_MAGNITUDE` are refused too:
    the FID math would overflow and print inf or a meaningless number.
    `name` starts the error message (`statistics file <path>`).
    """
    largest = max(float(np.abs(mu).max(initial=0.0)), float(np.abs(sigma).max(initial=0.0)))
    if largest > MAX_MOMENT_MAGNITUDE:
        raise GanEvalError(
            f"{name} has values up to {largest:.3g} in mu or sigma, beyond the {MAX_MOMENT_MAGNITUDE:.0e} "
            "the float64 FID math can carry"
        )
    scale = float(np.abs(sigma).max(initial=0.0))
    asymmetry = float(np.abs(sigma - sigma.T).max(initial=0.0))
    if asymmetry > SYMMETRY_TOLERANCE * scale:
        raise GanEvalError(
            f"{name} has a sigma that is not symmetric (entries differ from their transpose by up to "
            f"{asymmetry:.3g}, its largest entry is {scale:.3g}); it is not a covariance"
        )
    eigenvalues = np.linalg.eigvalsh(sigma) if sigma.size else np.zeros(1)
    bound = -NEGATIVE_EIGENVALUE_TOLERANCE * float(np.abs(eigenvalues).max())
    if eigenvalues[0] < bound:
        raise GanEvalError(
            f"{name} has a sigma that is not positive semi-definite (eigenvalue {eigenvalues[0]:.3g}, "
            f"largest {eigenvalues[-1]:.3g}); it is not a covariance"
        )


def _sample_count(arrays: dict[str, Any], meta: dict[str, Any], path: Path) -> int | None:
    """`n` from the file (None when it does not say, as in pytorch-fid's files), refusing a value that is no count."""
    if "n" not in arrays and "n" not in meta:
        return None
    raw = arrays["n"] if "n" in arrays else meta["n"]
    value = raw.item() if isinstance(raw, np.ndarray) and raw.ndim == 0 else raw
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if not isinstance(value, int) or value < 0:
        raise GanEvalError(f"statistics file {path} has n={raw!r}, not a sample count")
    return value


def load_stats(
    path: str | os.PathLike[str],
    expected_extractor: str | None = None,
    expected_dim: int | None = None,
) -> FeatureStats:
    """Read a statistics file (ours, pytorch-fid's, TTUR's or clean-fid's) without pickle.

    Refuses missing keys, wrong shapes, non-finite values, object arrays, a
    `sigma` that is no covariance or values the FID math cannot carry
    (`check_moments`), and an extractor or dimension other than the expected ones.
    """
    path = Path(path)
    require_regular_file(path, f"statistics file {path}")
    if path.is_file() and not zipfile.is_zipfile(path):
        # np.load would try to unpickle it and blame pickling, which misleads.
        raise GanEvalError(f"statistics file {path} is not a readable .npz archive (not a zip file)")
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {k: data[k] for k in data.files}
    except ValueError as exc:
        if "pickle" in str(exc).lower():
            raise GanEvalError(f"statistics file {path} holds pickled objects; refusing to load it") from None
        raise GanEvalError(f"statistics file {path} is not a readable .npz archive") from None
    except (OSError, zipfile.BadZipFile, EOFError) as exc:
        raise GanEvalError(f"statistics file {path} is not a readable .npz archive ({exc})") from None
    for key, value in arrays.items():
        if not isinstance(value, np.ndarray):  # np.load hands back raw bytes for a member that is not .npy
            raise GanEvalError(f"statistics file {path}: member {key!r} is not NumPy array data")
    for key in ("mu", "sigma"):
        if key not in arrays:
            raise GanEvalError(f"statistics file {path} has no '{key}' array")
    mu, sigma = arrays["mu"], arrays["sigma"]
    if mu.ndim != 1 or sigma.shape != (mu.shape[0], mu.shape[0]):
        raise GanEvalError(
            f"statistics file {path} has mu of shape {mu.shape} and sigma of shape {sigma.shape}; "
            "expected (D,) and (D, D)"
        )
    if not (np.issubdtype(mu.dtype, np.floating) and np.issubdtype(sigma.dtype, np.floating)):
        raise GanEvalError(f"statistics file {path} has non-float mu or sigma")
    if not (np.isfinite(mu).all() and np.isfinite(sigma).all()):
        raise GanEvalError(f"statistics file {path} has non-finite values in mu or sigma")
    mu, sigma = mu.astype(np.float64), sigma.astype(np.float64)
    check_moments(mu, sigma, f"statistics file {path}")
    meta: dict[str, Any] = {}
    if META_KEY in arrays:
        try:
            meta = json.loads(str(arrays[META_KEY]))
        except json.JSONDecodeError:
            raise GanEvalError(f"statistics file {path} has unreadable {META_KEY}") from None
        if not isinstance(meta, dict):
            raise GanEvalError(f"statistics file {path} has unreadable {META_KEY} (not a JSON object)")
    count = _sample_count(arrays, meta, path)
    dim = mu.shape[0]
    extractor = meta.get("extractor")  # the space first: another space's file is refused by name, not by size
    if expected_extractor is not None and extractor is not None and extractor != expected_extractor:
        raise GanEvalError(f"statistics file {path} was made with extractor {extractor}, not {expected_extractor}")
    if expected_dim is not None and dim != expected_dim:
        raise GanEvalError(f"statistics file {path} has {dim}-d features; this extractor gives {expected_dim}-d")
    if extractor is None:
        unknown = [name for key, name in (("weights_sha256", "weights"), ("resize", "resize")) if key not in meta]
        unknown += ["sample count"] if count is None else []
        nor = f", nor its {', '.join(unknown)}" if unknown else ""
        warnings.warn(
            f"statistics file {path} does not say which extractor made it{nor}; "
            f"assuming {expected_extractor or 'the other side'}'s settings"
            + ("; its sample count is reported as unknown" if count is None else ""),
            GanEvalWarning,
            stacklevel=caller_stacklevel(),
        )
    meta.setdefault("source", str(path))
    meta["file"] = str(path)  # where these statistics were read from, for messages (`source` is what made them)
    stats = FeatureStats.from_moments(mu, sigma, count, meta)
    stats.features = _per_sample_features(arrays.get("features"), count, dim, path)
    return stats


def _per_sample_features(features: np.ndarray | None, count: int | None, dim: int, path: Path) -> np.ndarray | None:
    """The file's `features` `(N, D)` as float32 (written by `gan-eval stats --keep-features`), or None."""
    if features is None:
        return None
    if features.ndim != 2 or features.shape[1] != dim or (count is not None and features.shape[0] != count):
        raise GanEvalError(f"statistics file {path} has features of shape {features.shape}; expected ({count}, {dim})")
    if not np.issubdtype(features.dtype, np.floating) or not np.isfinite(features).all():
        raise GanEvalError(f"statistics file {path} has non-float or non-finite features")
    return features.astype(np.float32, copy=False)
