"""The feature spaces by `--features` name, and `load_extractor`, the one way to build an extractor.

Adding a feature space: a package under `gan_eval/extractors/` whose
extractor follows `FeatureExtractor` and declares an `ExtractorSpec`, and
one entry in `EXTRACTORS` below. Everything above (the options, the cache,
statistics files, every metric) asks the spec.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from gan_eval.devices import parse_device
from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import ExtractorSpec, FeatureExtractor
from gan_eval.extractors.clip import extractor as clip
from gan_eval.extractors.dinov2 import extractor as dinov2
from gan_eval.extractors.inception import extractor as inception
from gan_eval.extractors.vgg16 import extractor as vgg16
from gan_eval.paired.lpips import weights as lpips_weights
from gan_eval.style import weights as vgg19_weights

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


def spec_of_extractor(extractor_name: str) -> ExtractorSpec | None:
    """The spec whose extractor records `extractor_name` in its settings, or None (a stand-in, another tool)."""
    return next((spec for spec in EXTRACTORS.values() if spec.extractor == extractor_name), None)


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


@dataclass(frozen=True)
class NetworkWeights:
    """Weights of a network that is not a feature space (LPIPS, VGG-19), for `gan-eval weights`.

    Same hooks as `ExtractorSpec`'s: `owns_weights_file(path)` says whether a file is
    this network's, `import_weights(path)` checks it and copies it into the cache,
    `describe_weights()` lists the cached files as JSON-ready entries.
    """

    name: str
    owns_weights_file: Callable[[str], bool]
    import_weights: Callable[[str], Path]
    describe_weights: Callable[[], list[dict[str, Any]]]


# Networks other than the feature spaces whose weights `gan-eval weights import|info` handles.
NETWORK_WEIGHTS: tuple[NetworkWeights, ...] = (
    NetworkWeights(
        name=vgg19_weights.NAME,
        owns_weights_file=vgg19_weights.is_vgg19_file,
        import_weights=vgg19_weights.import_weights,
        describe_weights=vgg19_weights.describe_cached_weights,
    ),
    NetworkWeights(
        name="lpips",
        owns_weights_file=lpips_weights.is_lpips_file,
        import_weights=lpips_weights.import_weights,
        describe_weights=lpips_weights.describe_cached_weights,
    ),
)


def _weights_owners() -> list[ExtractorSpec | NetworkWeights]:
    return [*EXTRACTORS.values(), *NETWORK_WEIGHTS]


def import_weights_file(path: str) -> tuple[str, Path]:
    """Check a weights file and copy it into its network's cache: `(space or network name, cached path)`.

    The owner is the feature space or network whose `owns_weights_file` claims the file; any other
    file is checked as the default space's (Inception), whose error says what is wrong with it.
    """
    owner = next((o for o in _weights_owners() if o.owns_weights_file and o.owns_weights_file(path)), None)
    chosen = owner or EXTRACTORS[DEFAULT_FEATURES]
    assert chosen.import_weights is not None
    return chosen.name, chosen.import_weights(path)


def describe_cached_weights() -> list[dict[str, Any]]:
    """Every cached weights file of every space and network, as JSON-ready entries each with its `space`."""
    return [
        dict(entry, space=owner.name)
        for owner in _weights_owners()
        if owner.describe_weights is not None
        for entry in owner.describe_weights()
    ]
