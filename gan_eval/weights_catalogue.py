"""Every network whose weights `gan-eval weights import|info` handles: the feature spaces and the others.

Above the extractors and the families that own networks (LPIPS in `paired/`,
VGG-19 in `style/`), so that the feature-space registry below never imports
the families above it: each package owns its weights code, and this catalogue
only lists them. A file given to `weights import` goes to the first network
whose `owns_weights_file` claims it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_eval.extractors.base import ExtractorSpec
from gan_eval.extractors.registry import DEFAULT_FEATURES, EXTRACTORS
from gan_eval.paired.lpips import weights as lpips_weights
from gan_eval.style import weights as vgg19_weights


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
