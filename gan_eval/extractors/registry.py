"""The feature spaces by `--features` name, and `load_extractor`, the one way to build an extractor.

Adding a feature space: a package under `gan_eval/extractors/` whose
extractor follows `FeatureExtractor` and declares an `ExtractorSpec`, and
one entry in `EXTRACTORS` below. Everything above (the options, the cache,
statistics files, every metric) asks the spec.
"""

from __future__ import annotations

import torch

from gan_eval.devices import parse_device
from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import ExtractorSpec, FeatureExtractor
from gan_eval.extractors.clip import extractor as clip
from gan_eval.extractors.dinov2 import extractor as dinov2
from gan_eval.extractors.inception import extractor as inception
from gan_eval.extractors.vgg16 import extractor as vgg16

DEFAULT_FEATURES = "inception"
EXTRACTORS: dict[str, ExtractorSpec] = {
    spec.name: spec
    for spec in (
        inception.SPEC,
        dinov2.SPEC,
        dinov2.SPEC_VITS14,
        clip.SPEC_VITB32,
        clip.SPEC_VITL14,
        clip.SPEC_VITL14_336,
        vgg16.SPEC,
    )
}


def extractor_spec(name: str) -> ExtractorSpec:
    """The registered feature space `name`, or a one-line error listing the names."""
    if name not in EXTRACTORS:
        raise GanEvalError(f"--features {name}: unknown feature space; choose from {', '.join(EXTRACTORS)}")
    return EXTRACTORS[name]


def load_extractor(
    weights: str | None = None,
    device: str | torch.device | None = None,
    precision: str | None = None,
    progress: bool = True,
    features: str = DEFAULT_FEATURES,
) -> FeatureExtractor:
    """The extractor of feature space `features` (default Inception) on `device`, with its weights found."""
    spec = extractor_spec(features)
    return spec.load(weights, parse_device(device), precision, progress)
