"""The Monitor's reference set and the feature space its samples are compared in.

Samples become features in a feature space: the identity for points `(N, D)`
(a 2-D toy set's points are its features), a registered feature space
(Inception pool3 by default, `ExtractionOptions.load_extractor`) or any
`FeatureExtractor` for images `(N, C, H, W)`, or any callable mapping a batch
to `(B, F)` features (it receives float points as they are, or images as
uint8 `(B, 3, H, W)`, the same way for reference and generated images).

The reference is one of: statistics (`FeatureStats`, a statistics `.npz` or a
shipped reference's name): the `FEATURES` statistics, and their per-sample
features when they keep them; points or precomputed features `(N, F)` (array,
tensor or `.npy`); images (array, tensor, folder, zip, `.npy`/`.npz`), whose
features come from `gan_eval.features.features_of`, the one door to an
input's features: a feature space's through the feature cache, a callable's
through `FeatureFunctionExtractor`, never cached.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch

from gan_eval.errors import GanEvalError
from gan_eval.extraction import ExtractionOptions
from gan_eval.feature_types import FEATURES
from gan_eval.features import features_of
from gan_eval.sources import open_input
from gan_eval.stats import FeatureStats

FeatureFunction = Callable[[torch.Tensor], torch.Tensor]
ReferenceInput = str | os.PathLike[str] | np.ndarray | torch.Tensor | FeatureStats
INCEPTION = "inception"
IDENTITY = "identity"


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
    """Where samples are compared: a `FeatureExtractor` (a registered space or one given), or a feature
    function; `images` says whether the samples are uint8 images or float points."""

    name: str
    images: bool
    extractor: Any | None = None
    function: FeatureFunction | None = None

    @property
    def kinds(self) -> tuple[str, ...]:
        """The kinds of output it gives (`FEATURES`, and `LOGITS` for an extractor with a usable classifier)."""
        if self.extractor is None:
            return (FEATURES,)
        unusable = getattr(self.extractor, "unusable_heads", {})
        offered = self.extractor.kinds.items()
        return tuple(kind for kind, head in offered if head in self.extractor.heads and head not in unusable)

    def features(self, batch: torch.Tensor, kinds: tuple[str, ...] = (FEATURES,)) -> dict[str, np.ndarray]:
        """Features `(B, F)` float64 of a batch (uint8 images `(B, 3, H, W)`, or points) for each of `kinds`."""
        if self.extractor is None:
            return {FEATURES: self.apply_function(batch)}
        heads = tuple(self.extractor.kinds[kind] for kind in kinds)
        with torch.no_grad():
            found = self.extractor.extract(batch, heads)
        return {kind: _checked(found[head], len(batch), self.name) for kind, head in zip(kinds, heads, strict=True)}

    def apply_function(self, batch: torch.Tensor | list[torch.Tensor]) -> np.ndarray:
        """The feature function's `(B, F)` float64 features of a batch (images: a tensor, or a list of `(3, H, W)`
        of one size)."""
        if isinstance(batch, list):
            if len({tuple(b.shape) for b in batch}) > 1:
                raise GanEvalError(f"reference images differ in size; the feature function {self.name} needs one size")
            batch = torch.stack(batch)
        with torch.no_grad():
            out = self.function(batch)
        return _checked(out, len(batch), self.name)


def _checked(out: Any, count: int, name: str) -> np.ndarray:
    """`out` as `(count, F)` float64 on the CPU, or a one-line error naming the feature function."""
    out = torch.as_tensor(out).detach()
    if out.dim() != 2 or out.shape[0] != count:
        raise GanEvalError(
            f"feature function {name} returned shape {tuple(out.shape)} for {count} samples; expected (N, F)"
        )
    return out.to("cpu", torch.float64).numpy()


class FeatureFunctionExtractor:
    """A feature function on images as a `FeatureExtractor` of one head (`FEATURES`), so that reference images
    reach it through `features_of` like any feature space's. Its settings name no weights: it is never cached."""

    heads = (FEATURES,)
    kinds: ClassVar[dict[str, str]] = {FEATURES: FEATURES}

    def __init__(self, space: FeatureSpace, dim: int) -> None:
        self.name = space.name
        self.dims = {FEATURES: dim}
        self.device = torch.device("cpu")
        self._space = space

    def settings(self) -> dict[str, str]:
        """What the statistics record: the function's name; no weights, resize or precision of its own."""
        return {
            "extractor": self.name,
            "weights_sha256": "none (a feature function; never cached)",
            "resize": "none",
            "precision": "the function's own",
            "device": str(self.device),
        }

    def extract(self, images: torch.Tensor | list[torch.Tensor], heads: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """The function's features `(N, F)` float64 of `images`."""
        return {FEATURES: torch.from_numpy(self._space.apply_function(images))}


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
        return FeatureSpace(IDENTITY, images=False, function=lambda x: x)
    if isinstance(features, str) and features in EXTRACTORS:
        if not images:
            raise GanEvalError(f"{features} features need images (N, C, H, W); for points use features='identity'")
        extractor = replace(extraction, features=features).load_extractor()
        return FeatureSpace(_space_name(extractor), images=True, extractor=extractor)
    if hasattr(features, "extract") and hasattr(features, "dims"):
        return FeatureSpace(_space_name(features), images=images, extractor=features)
    if isinstance(features, str) or not callable(features):
        raise GanEvalError(
            f"features={features!r}: use None, 'identity', a feature space ({', '.join(EXTRACTORS)}), "
            "or a callable (N, ...) -> (N, F)"
        )
    name = getattr(features, "__name__", type(features).__name__)
    return FeatureSpace(name, images=images, function=features)


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


def _from_features(name: str, features: np.ndarray, points: np.ndarray | None = None) -> Reference:
    if features.shape[0] < 2:
        raise GanEvalError(f"reference {name} has {features.shape[0]} samples; at least 2 are needed")
    if not np.isfinite(features).all():
        raise GanEvalError(f"reference {name} holds NaN or Inf values")
    return Reference(name, feature_stats(features), features, points)


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
    """The feature function of points `x: (N, D)`, a batch at a time: points are no input of `features_of`."""
    return np.concatenate(
        [space.apply_function(torch.from_numpy(x[i : i + batch_size])) for i in range(0, len(x), batch_size)]
    )


def open_reference_set(
    spec: ReferenceInput,
    space: FeatureSpace,
    sample_shape: tuple[int, ...],
    value_range: tuple[float, float],
    extraction: ExtractionOptions,
    batch_size: int,
    dim: int,
) -> Reference:
    """The Monitor's reference named by `spec`, in the feature space of samples shaped `sample_shape` (one sample)
    whose features are `dim` wide.

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
    return _from_features(opened.name, _image_features(opened, space, extraction, batch_size, dim))


def _image_features(
    source: Any, space: FeatureSpace, extraction: ExtractionOptions, batch_size: int, dim: int
) -> np.ndarray:
    """Per-image features `(N, F)` float64 of an image source through `features_of`: an extractor's through the
    feature cache, a feature function's (`dim` wide) in batches of `batch_size`, uncached."""
    if space.extractor is not None:
        found = features_of(source, space.extractor, (FEATURES,), (FEATURES,), extraction)
    else:
        function = FeatureFunctionExtractor(space, dim)
        uncached = replace(extraction, batch_size=batch_size, cache=False)
        found = features_of(source, function, (FEATURES,), (FEATURES,), uncached)
    return found.features[FEATURES].astype(np.float64)


def feature_stats(features: np.ndarray) -> FeatureStats:
    """Float64 statistics of features `(N, F)`."""
    stats = FeatureStats(features.shape[1])
    stats.update(features)
    return stats
