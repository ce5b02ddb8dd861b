"""How inputs become features: one frozen options object, validated once where it is made.

`ExtractionOptions` carries every setting of the way from an input to its
features (feature space, weights, device, precision, batch size, decode
workers, progress bars, skipping bad files, the value range of float
images, the feature cache). The CLI builds it in one place
(`cli/options.extraction_options`); `evaluate`, `fid`, `compute_statistics`,
`detect_collapse`, the streaming metrics and the gate take it.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch

from gan_eval.cache import FeatureCache
from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import PRECISIONS, ExtractorSpec, FeatureExtractor
from gan_eval.extractors.registry import DEFAULT_FEATURES, EXTRACTORS, extractor_spec, load_extractor

WeightsPaths = str | os.PathLike[str] | Mapping[str, str | os.PathLike[str]]


@dataclass(frozen=True)
class ExtractionOptions:
    """Every setting of the feature pass (see the module docstring); invalid values are refused on creation.

    `features`: a registered feature space (`gan_eval.extractors.registry`).
    `weights`: a weights file of `features`, or a mapping feature space -> file
    (`{"dinov2-vitl14": "dinov2.pth"}`; each space not in it uses its default
    search), None for the default search of every space. Once made it is
    always that mapping, so the options of another space
    (`with_changes(features=...)`) keep the files of each space apart.
    `device`: `cpu`, `cuda`, `cuda:INDEX`, None for CUDA when present.
    `precision`: `exact`, `tf32` or `bf16`, None for the device's default.
    `batch_size`: images per forward pass, None for 64 on CPU and 500 on GPU
    (`pipeline.default_batch_size`).
    `workers`: decode processes, None for 1 on CPU and up to 16 on GPU.
    `value_range`: of float images (arrays, tensors, generators), None for
    (0, 1), and (-1, 1) for an `nn.Module` generator.
    `cache`: read and write the feature cache (or use this `FeatureCache`).
    """

    features: str = DEFAULT_FEATURES
    # hash=False: a mapping has no hash; options that differ only in weights share one (still unequal)
    weights: WeightsPaths | None = field(default=None, hash=False)
    device: str | torch.device | None = None
    precision: str | None = None
    batch_size: int | None = None
    workers: int | None = None
    progress: bool = True
    skip_bad: bool = False
    value_range: tuple[float, float] | None = None
    cache: bool | FeatureCache = True

    def __post_init__(self) -> None:
        extractor_spec(self.features)
        object.__setattr__(self, "weights", _weights_by_space(self.weights, self.features))
        if self.precision is not None and self.precision not in PRECISIONS:
            raise GanEvalError(f"--precision {self.precision}: choose one of {', '.join(PRECISIONS)}")
        if self.batch_size is not None and self.batch_size < 1:
            raise GanEvalError(f"--batch-size {self.batch_size}: must be at least 1")
        if self.workers is not None and self.workers < 0:
            raise GanEvalError(f"--workers {self.workers}: must be 0 or more")

    @property
    def spec(self) -> ExtractorSpec:
        """The feature space's registered spec."""
        return extractor_spec(self.features)

    @property
    def weights_path(self) -> str | None:
        """The weights file of `features`, None for the space's default search."""
        return self.weights.get(self.features)

    def load_extractor(self) -> FeatureExtractor:
        """The extractor these options describe, on their device with their weights."""
        return load_extractor(self.weights_path, self.device, self.precision, self.progress, self.features)

    def feature_cache(self) -> FeatureCache | None:
        """The feature cache to read and write, or None with `cache=False`."""
        if self.cache is True:
            return FeatureCache()
        return self.cache or None

    def with_changes(self, **changes: Any) -> ExtractionOptions:
        """A copy with `changes` applied (validated again); keys whose value is None keep the current setting."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})


def _weights_by_space(weights: WeightsPaths | None, features: str) -> dict[str, str]:
    """`weights` as feature space -> file: a lone path is `features`'s; every space must be registered."""
    if weights is None:
        return {}
    if isinstance(weights, (str, os.PathLike)):
        return {features: os.fspath(weights)}
    if not isinstance(weights, Mapping):
        raise GanEvalError(f"weights={weights!r}: give a path, or a mapping feature space -> path")
    by_space = {}
    for space, path in weights.items():
        if space not in EXTRACTORS:
            raise GanEvalError(
                f"--weights {space}={path}: unknown feature space {space}; choose from {', '.join(EXTRACTORS)}"
            )
        if not isinstance(path, (str, os.PathLike)):
            raise GanEvalError(f"weights of {space}: {path!r} is not a path")
        by_space[space] = os.fspath(path)
    return by_space
