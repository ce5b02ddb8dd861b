"""How inputs become features: one frozen options object, validated once where it is made.

`ExtractionOptions` carries every setting of the way from an input to its
features (feature space, weights, device, precision, batch size, decode
workers, progress bars, skipping bad files, the value range of float
images, the feature cache). The CLI builds it in one place
(`cli/options.extraction_options`); `evaluate`, `fid`, `compute_statistics`,
`detect_collapse`, the streaming metrics and the gate take it.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch

from gan_eval.cache import FeatureCache
from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import PRECISIONS, ExtractorSpec, FeatureExtractor
from gan_eval.extractors.registry import DEFAULT_FEATURES, extractor_spec, load_extractor


@dataclass(frozen=True)
class ExtractionOptions:
    """Every setting of the feature pass (see the module docstring); invalid values are refused on creation.

    `features`: a registered feature space (`gan_eval.extractors.registry`).
    `weights`: a weights file, None for the space's default search.
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
    weights: str | None = None
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

    def load_extractor(self) -> FeatureExtractor:
        """The extractor these options describe, on their device with their weights."""
        return load_extractor(self.weights, self.device, self.precision, self.progress, self.features)

    def feature_cache(self) -> FeatureCache | None:
        """The feature cache to read and write, or None with `cache=False`."""
        if self.cache is True:
            return FeatureCache()
        return self.cache or None

    def with_changes(self, **changes: Any) -> ExtractionOptions:
        """A copy with `changes` applied (validated again); keys whose value is None keep the current setting."""
        return replace(self, **{k: v for k, v in changes.items() if v is not None})
