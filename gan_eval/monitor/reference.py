"""The Monitor's reference set and feature space, and the metrics of generated features against it.

Samples become features through a feature function: the identity for points
`(N, D)` (a 2-D toy set's points are its features), Inception pool3
(`gan_eval.load_extractor`) for images `(N, C, H, W)`, or any
callable mapping a batch to `(B, F)` features (it receives float points as
they are, or images as uint8 `(B, 3, H, W)`, the same way for reference and
generated images).

The reference is one of: statistics (`FeatureStats`, a statistics `.npz` or a
shipped reference's name): FID and the spread ratio only, or every metric when
they keep their per-sample features; points or precomputed features `(N, F)`
(array, tensor or `.npy`): every metric; images (array, tensor, folder, zip,
`.npy`/`.npz`): every metric, features computed once (Inception features go
through the feature cache).

Metrics (pure functions of `gan_eval.metrics`): FID from float64 means and
covariances, KID (subset size clipped to the sets), improved precision and
recall (k = 3), density and coverage (k = 5, against a fixed seeded subset of
the reference as large as the generated set), and the spread ratio
tr(Σ_fake) / tr(Σ_ref), which falls towards 0 when the generated features
collapse.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.errors import GanEvalError
from gan_eval.metrics.fid import frechet_distance
from gan_eval.metrics.kid import kernel_inception_distance
from gan_eval.metrics.prdc import density_coverage, precision_recall
from gan_eval.stats import FeatureStats

FeatureFunction = Callable[[torch.Tensor], torch.Tensor]
ReferenceInput = str | os.PathLike[str] | np.ndarray | torch.Tensor | FeatureStats
INCEPTION = "inception"
IDENTITY = "identity"
KID_SUBSET_SIZE = 1000


def images_to_uint8(images: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """Float images `(N, C, H, W)` in `value_range` to uint8 `(N, C, H, W)`, clipped to 0..255.

    The same float64 mapping, rounding half to even, as float image arrays given as
    inputs (`gan_eval.sources.arrays`), so a generated image and its saved copy agree.
    """
    lo, hi = value_range
    scaled = (images.detach().double() - lo) * (255.0 / (hi - lo))
    return scaled.round().clamp(0, 255).to(torch.uint8)


def _rgb(images: torch.Tensor) -> torch.Tensor:
    return images.expand(-1, 3, -1, -1) if images.shape[1] == 1 else images


@dataclass
class FeatureSpace:
    """A named feature function; `images` says whether it expects uint8 images or float points."""

    name: str
    function: FeatureFunction
    images: bool

    def __call__(self, batch: torch.Tensor | list[torch.Tensor]) -> np.ndarray:
        """Features `(B, F)` float64 of a batch (images: uint8 `(B, 3, H, W)` or a list of `(3, H, W)`)."""
        if isinstance(batch, list) and not hasattr(self.function, "extract_list"):
            if len({tuple(b.shape) for b in batch}) > 1:
                raise GanEvalError(f"reference images differ in size; the feature function {self.name} needs one size")
            batch = torch.stack(batch)
        with torch.no_grad():
            out = self.function(batch)
        out = torch.as_tensor(out).detach()
        if out.dim() != 2 or out.shape[0] != len(batch):
            raise GanEvalError(
                f"feature function {self.name} returned shape {tuple(out.shape)} for {len(batch)} samples; "
                "expected (N, F)"
            )
        return out.to("cpu", torch.float64).numpy()


class _ExtractorFunction:
    """A `FeatureExtractor`'s pool3 head as a feature function (lists of images of any size allowed)."""

    extract_list = True

    def __init__(self, extractor: Any) -> None:
        self.extractor = extractor

    def __call__(self, batch: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        head = self.extractor.kinds["features"]
        return self.extractor.extract(batch, (head,))[head]


def feature_space(features: str | FeatureFunction | Any | None, images: bool, device: torch.device) -> FeatureSpace:
    """Resolve `features` (None, "identity", "inception", a `FeatureExtractor` or a callable) for the samples."""
    if features is None:
        features = INCEPTION if images else IDENTITY
    if features == IDENTITY:
        if images:
            raise GanEvalError("features='identity' is for points (N, D), not images; use a feature function")
        return FeatureSpace(IDENTITY, lambda x: x, images=False)
    if features == INCEPTION:
        if not images:
            raise GanEvalError("Inception features need images (N, C, H, W); for points use features='identity'")
        from gan_eval.extractors.registry import load_extractor

        extractor = load_extractor(device=device, progress=False)
        return FeatureSpace(f"{extractor.name} pool3", _ExtractorFunction(extractor), images=True)
    if hasattr(features, "extract") and hasattr(features, "dims"):
        return FeatureSpace(f"{features.name} pool3", _ExtractorFunction(features), images=images)
    if isinstance(features, str) or not callable(features):
        raise GanEvalError(
            f"features={features!r}: use None, 'identity', 'inception', or a callable (N, ...) -> (N, F)"
        )
    name = getattr(features, "__name__", type(features).__name__)
    return FeatureSpace(name, features, images=images)


@dataclass
class Reference:
    """Reference statistics, and per-sample features and raw points when known."""

    name: str
    stats: FeatureStats
    features: np.ndarray | None = None
    points: np.ndarray | None = None

    @property
    def count(self) -> int:
        """Number of reference samples."""
        return self.stats.count


def _stats_of(features: np.ndarray) -> FeatureStats:
    stats = FeatureStats(features.shape[1])
    stats.update(features)
    return stats


def _from_features(name: str, features: np.ndarray, points: np.ndarray | None = None) -> Reference:
    if features.shape[0] < 2:
        raise GanEvalError(f"reference {name} has {features.shape[0]} samples; at least 2 are needed")
    if not np.isfinite(features).all():
        raise GanEvalError(f"reference {name} holds NaN or Inf values")
    return Reference(name, _stats_of(features), features, points)


def _load_npy_if_matrix(path: Path) -> np.ndarray | None:
    """A `.npy` file's array when it is 2-D (points or features), else None (images)."""
    if path.suffix.lower() != ".npy" or not path.is_file():
        return None
    try:
        array = np.load(path, mmap_mode="r", allow_pickle=False)
    except ValueError:
        raise GanEvalError(f"reference {path} holds pickled objects; refusing to load it") from None
    except OSError as exc:
        raise GanEvalError(f"reference {path} is not a readable .npy file ({exc})") from None
    return np.array(array, dtype=np.float64) if array.ndim == 2 else None


def _batched(space: FeatureSpace, x: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate([space(torch.from_numpy(x[i : i + batch_size])) for i in range(0, len(x), batch_size)])


def load_reference(
    spec: ReferenceInput,
    space: FeatureSpace,
    sample_shape: tuple[int, ...],
    value_range: tuple[float, float],
    batch_size: int = 256,
) -> Reference:
    """The reference named by `spec`, in the feature space of samples shaped `sample_shape` (one sample)."""
    from gan_eval.sources import open_input

    if isinstance(spec, torch.Tensor):
        spec = spec.detach().cpu().numpy()
    if isinstance(spec, (str, os.PathLike)):
        matrix = _load_npy_if_matrix(Path(spec))
        name = str(spec)
        if matrix is not None:
            spec = matrix
    else:
        name = f"{type(spec).__name__}" + (f" {tuple(spec.shape)}" if hasattr(spec, "shape") else "")
    if isinstance(spec, np.ndarray) and spec.ndim == 2:
        matrix = np.asarray(spec, dtype=np.float64)
        if space.images:
            return _from_features(name, matrix)  # images are generated: a matrix is precomputed features
        if matrix.shape[1] != sample_shape[0]:
            raise GanEvalError(
                f"reference {name} has {matrix.shape[1]}-d points; the generator makes {sample_shape[0]}-d points"
            )
        return _from_features(name, _batched(space, matrix, batch_size), points=matrix)
    opened = open_input(spec, value_range)
    if isinstance(opened, FeatureStats):
        name = str(opened.meta.get("source", name))
        if opened.features is not None:  # shipped references keep their per-sample features
            return _from_features(name, np.asarray(opened.features, dtype=np.float64))
        return Reference(name, opened)
    if not space.images:
        raise GanEvalError(f"reference {name} holds images; the generator makes points of shape {sample_shape}")
    return _from_features(opened.name, _image_features(opened, space, batch_size))


def _image_features(source: Any, space: FeatureSpace, batch_size: int) -> np.ndarray:
    """Per-image features of an image source (Inception through the feature cache)."""
    from gan_eval.extraction import ExtractionOptions
    from gan_eval.extractors.base import FEATURES
    from gan_eval.features import kind_features
    from gan_eval.pipeline import iter_batches

    function = space.function
    if isinstance(function, _ExtractorFunction):
        options = ExtractionOptions(progress=False, workers=0)
        found = kind_features(source, function.extractor, (FEATURES,), (FEATURES,), options)
        return found.features[FEATURES].astype(np.float64)
    chunks = [space(batch) for batch in iter_batches(source, batch_size, 0, False, [])]
    return np.concatenate(chunks)


def compare(
    reference: Reference,
    fake: np.ndarray,
    knn_subset: np.ndarray | None,
    kid_subsets: int,
    seed: int,
) -> dict[str, float]:
    """Metrics of generated features `fake: (M, F)` float64 against `reference` (see module docstring)."""
    if fake.shape[1] != reference.stats.dim:
        raise GanEvalError(
            f"generated features are {fake.shape[1]}-d but the reference {reference.name} is {reference.stats.dim}-d"
        )
    stats = _stats_of(fake)
    mu, sigma = stats.mean(), stats.covariance()
    ref_mu, ref_sigma = reference.stats.mean(), reference.stats.covariance()
    values = {
        "fid": frechet_distance(ref_mu, ref_sigma, mu, sigma),
        "spread_ratio": float(np.trace(sigma) / np.trace(ref_sigma)) if np.trace(ref_sigma) > 0 else float("nan"),
    }
    if reference.features is None:
        return values
    size = min(KID_SUBSET_SIZE, fake.shape[0], reference.count)
    kid = kernel_inception_distance(reference.features, fake, subsets=kid_subsets, subset_size=size, seed=seed)
    real = reference.features if knn_subset is None else reference.features[knn_subset]
    pr = precision_recall(real, fake)
    dc = density_coverage(real, fake)
    values.update(
        kid_mean=kid.mean,
        kid_std=kid.std,
        precision=pr.precision,
        recall=pr.recall,
        density=dc.density,
        coverage=dc.coverage,
    )
    return values
