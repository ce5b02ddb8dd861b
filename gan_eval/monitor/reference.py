"""The Monitor's reference set and feature space, and the metrics of generated features against it.

Samples become features through a feature function: the identity for points
`(N, D)` (a 2-D toy set's points are its features), Inception pool3
(`ExtractionOptions.load_extractor`) for images `(N, C, H, W)`, or any
callable mapping a batch to `(B, F)` features (it receives float points as
they are, or images as uint8 `(B, 3, H, W)`, the same way for reference and
generated images).

The reference is one of: statistics (`FeatureStats`, a statistics `.npz` or a
shipped reference's name): FID and the spread ratio only, or every metric when
they keep their per-sample features; points or precomputed features `(N, F)`
(array, tensor or `.npy`): every metric; images (array, tensor, folder, zip,
`.npy`/`.npz`): every metric, features computed once (Inception features go
through the feature cache).

Metrics come from the metric registry (`gan_eval.metrics.registry.METRICS`),
the same `compute` functions `gan_eval.evaluate` runs: FID from the float64
statistics, KID (subset size clipped to the sets), improved precision and
recall (k = 3), density and coverage (k = 5). The Monitor's one adaptation:
precision/recall and density/coverage see a fixed seeded subset of the
reference as large as the generated set (the k-NN radii depend on the set
sizes, so equal sizes keep them comparable between the two sides), while FID
and KID see the whole reference. Beside them, the Monitor-only spread ratio
tr(Σ_fake) / tr(Σ_ref), which falls towards 0 when the generated features
collapse.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.extraction import ExtractionOptions
from gan_eval.feature_types import FEATURES, InputFeatures
from gan_eval.features import features_of
from gan_eval.metrics.fid_interval import DEFAULT_GROUPS
from gan_eval.metrics.registry import METRICS, MetricOptions
from gan_eval.pipeline import iter_batches
from gan_eval.sources import open_input
from gan_eval.stats import FeatureStats

FeatureFunction = Callable[[torch.Tensor], torch.Tensor]
ReferenceInput = str | os.PathLike[str] | np.ndarray | torch.Tensor | FeatureStats
INCEPTION = "inception"
IDENTITY = "identity"
KID_SUBSET_SIZE = 1000
PR_K = 3
DC_K = 5
METRIC_DEVICE = "cpu"


def images_to_uint8(images: torch.Tensor, value_range: tuple[float, float]) -> torch.Tensor:
    """Float images `(N, C, H, W)` in `value_range` to uint8 `(N, C, H, W)`, clipped to 0..255.

    The same float64 mapping, rounding half to even, as float image arrays given as
    inputs (`gan_eval.sources.arrays`), so a generated image and its saved copy agree.
    """
    lo, hi = value_range
    scaled = (images.detach().double() - lo) * (255.0 / (hi - lo))
    return scaled.round().clamp(0, 255).to(torch.uint8)


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
    """A `FeatureExtractor`'s `FEATURES` head as a feature function (lists of images of any size allowed)."""

    extract_list = True

    def __init__(self, extractor: Any) -> None:
        self.extractor = extractor

    def __call__(self, batch: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        head = self.extractor.kinds[FEATURES]
        return self.extractor.extract(batch, (head,))[head]


def feature_space(
    features: str | FeatureFunction | Any | None, images: bool, extraction: ExtractionOptions
) -> FeatureSpace:
    """Resolve `features` (None, "identity", a registered feature space such as "inception" or
    "dinov2-vitl14", a `FeatureExtractor` or a callable) for the samples.

    A feature space's extractor is the one `extraction` describes with that space; None is "inception"
    for images and "identity" for points.
    """
    from gan_eval.extractors.registry import EXTRACTORS

    if features is None:
        features = INCEPTION if images else IDENTITY
    if features == IDENTITY:
        if images:
            raise GanEvalError("features='identity' is for points (N, D), not images; use a feature function")
        return FeatureSpace(IDENTITY, lambda x: x, images=False)
    if isinstance(features, str) and features in EXTRACTORS:
        if not images:
            raise GanEvalError(f"{features} features need images (N, C, H, W); for points use features='identity'")
        extractor = replace(extraction, features=features).load_extractor()
        return FeatureSpace(_space_name(extractor), _ExtractorFunction(extractor), images=True)
    if hasattr(features, "extract") and hasattr(features, "dims"):
        return FeatureSpace(_space_name(features), _ExtractorFunction(features), images=images)
    if isinstance(features, str) or not callable(features):
        raise GanEvalError(
            f"features={features!r}: use None, 'identity', a feature space ({', '.join(EXTRACTORS)}), "
            "or a callable (N, ...) -> (N, F)"
        )
    name = getattr(features, "__name__", type(features).__name__)
    return FeatureSpace(name, features, images=images)


def _space_name(extractor: Any) -> str:
    """What the records call an extractor's space: its name and the head of its `FEATURES` (`... pool3`)."""
    return f"{extractor.name} {extractor.kinds[FEATURES]}"


@dataclass
class Reference:
    """Reference statistics, and per-sample features `(N, F)` float64 and raw points `(N, D)` when known."""

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
    """A `.npy` file's array as float64 when it is 2-D (points or features), else None (images).

    `gan_eval.sources.arrays.load_array_file` reads image arrays only (it
    refuses a 2-D array), so points and features are read here, likewise
    memory-mapped and without pickle.
    """
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


def open_reference_set(
    spec: ReferenceInput,
    space: FeatureSpace,
    sample_shape: tuple[int, ...],
    value_range: tuple[float, float],
    extraction: ExtractionOptions,
    batch_size: int = 256,
) -> Reference:
    """The Monitor's reference named by `spec`, in the feature space of samples shaped `sample_shape` (one sample).

    Not `gan_eval.sources.references.load_reference`, which reads a shipped
    reference's statistics (one of the inputs `spec` may name). `extraction`
    is the feature pass of reference images through an extractor (feature
    cache included); `batch_size` that of points and of other feature functions.
    """
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
    return _from_features(opened.name, _image_features(opened, space, extraction, batch_size))


def _image_features(source: Any, space: FeatureSpace, extraction: ExtractionOptions, batch_size: int) -> np.ndarray:
    """Per-image features `(N, F)` float64 of an image source (an extractor's through the feature cache)."""
    function = space.function
    if isinstance(function, _ExtractorFunction):
        found = features_of(source, function.extractor, (FEATURES,), (FEATURES,), extraction)
        return found.features[FEATURES].astype(np.float64)
    chunks = [space(batch) for batch in iter_batches(source, batch_size, 0, False, [])]
    return np.concatenate(chunks)


def metric_options(reference: Reference, n_generated: int, kid_subsets: int, seed: int) -> MetricOptions:
    """The registry's options for the Monitor's metrics of `n_generated` samples against `reference`.

    KID: `kid_subsets` subsets of min(1000, n_generated, n_reference) samples
    (clipped here, so KID does not warn at each evaluation); k = 3 for
    precision/recall and 5 for density/coverage; `seed` draws the KID subsets
    and the groups of FID's jackknife standard error (`fid_std`, 20 groups),
    the noise of FID at the Monitor's sample size.
    """
    size = min(KID_SUBSET_SIZE, n_generated, reference.count)
    return MetricOptions(
        kid_subsets=kid_subsets,
        kid_subset_size=size,
        pr_k=PR_K,
        dc_k=DC_K,
        seed=seed,
        ci_groups=DEFAULT_GROUPS if n_generated >= 3 else 0,
    )


def knn_subset(reference: Reference, n_generated: int, seed: int) -> np.ndarray | None:
    """Sorted indices of the reference samples the k-NN metrics see: `n_generated` of them drawn with `seed`.

    None (every sample) when the reference has no per-sample features or no
    more samples than the generated set.
    """
    if reference.features is None or reference.count <= n_generated:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(reference.count, n_generated, replace=False))


def _compute(name: str, real: InputFeatures, fake: InputFeatures, options: MetricOptions) -> dict[str, Any]:
    """A registered metric's headline values and noise estimates (`fid_std`); its other details, such as KID's
    subset size, are the Monitor's settings."""
    metric = METRICS[name]
    with warnings.catch_warnings():
        # Every evaluation has the same n_samples, which is what the rank-deficiency warning asks for.
        warnings.filterwarnings("ignore", message=".*rank-deficient", category=GanEvalWarning)
        values = metric.compute(real, fake, options, METRIC_DEVICE)
    noise = tuple(key.noise for key in metric.keys if key.noise and key.noise not in metric.headline_keys)
    return {key: values[key] for key in (*metric.headline_keys, *noise) if key in values}


def reference_metrics(
    reference: Reference, fake: np.ndarray, options: MetricOptions, knn_subset: np.ndarray | None
) -> dict[str, float]:
    """FID, spread ratio, and with per-sample reference features KID, precision/recall, density/coverage.

    `fake: (M, F)` float64 generated features; `options` from `metric_options`;
    `knn_subset` from `knn_subset` (see the module docstring).
    """
    if fake.shape[1] != reference.stats.dim:
        raise GanEvalError(
            f"generated features are {fake.shape[1]}-d but the reference {reference.name} is {reference.stats.dim}-d"
        )
    stats = _stats_of(fake)
    generated = InputFeatures("generated", {FEATURES: stats}, {FEATURES: fake})
    per_sample = {} if reference.features is None else {FEATURES: reference.features}
    real = InputFeatures(reference.name, {FEATURES: reference.stats}, per_sample)
    ref_trace = np.trace(reference.stats.covariance())
    values = {
        **_compute("fid", real, generated, options),
        "spread_ratio": float(np.trace(stats.covariance()) / ref_trace) if ref_trace > 0 else float("nan"),
    }
    if reference.features is None:
        return values
    values.update(_compute("kid", real, generated, options))
    features = reference.features if knn_subset is None else reference.features[knn_subset]
    neighbours = InputFeatures(reference.name, {FEATURES: reference.stats}, {FEATURES: features})
    values.update(_compute("pr", neighbours, generated, options))
    values.update(_compute("dc", neighbours, generated, options))
    return values
