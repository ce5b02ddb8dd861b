"""Every network whose weights `gan-eval weights import|info` handles: the feature spaces and the others.

Above the extractors and the families that own networks (LPIPS in `paired/`,
VGG-19 in `style/`), so that the feature-space registry below never imports
the families above it: each package owns its weights code (its layouts, its
checks, its records), and this catalogue only lists them. A file given to
`weights import` goes to the network one of whose layouts it fills, told from
its tensors' names and shapes (`weights_layouts`); for any other file the
error names the closest network and the first tensor that differs.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import ExtractorSpec
from gan_eval.extractors.registry import EXTRACTORS
from gan_eval.extractors.weights_layouts import LayoutFit, WeightsLayout, read_file_tensors
from gan_eval.paired.lpips import weights as lpips_weights
from gan_eval.style import weights as vgg19_weights


@dataclass(frozen=True)
class NetworkWeights:
    """Weights of a network that is not a feature space (LPIPS, VGG-19), for `gan-eval weights`.

    Same hooks as `ExtractorSpec`'s: `weights_layouts()` lists the layouts its files come in,
    `import_weights(path)` checks a file, copies it into the cache and records it, and
    `describe_weights(verify)` lists the cached files as JSON-ready entries from their records.
    """

    name: str
    weights_layouts: Callable[[], tuple[WeightsLayout, ...]]
    import_weights: Callable[[str], Path]
    describe_weights: Callable[[bool], list[dict[str, Any]]]


# Networks other than the feature spaces whose weights `gan-eval weights import|info` handles.
NETWORK_WEIGHTS: tuple[NetworkWeights, ...] = (
    NetworkWeights(
        name=vgg19_weights.NAME,
        weights_layouts=vgg19_weights.weights_layouts,
        import_weights=vgg19_weights.import_weights,
        describe_weights=vgg19_weights.describe_cached_weights,
    ),
    NetworkWeights(
        name=lpips_weights.NETWORK,
        weights_layouts=lpips_weights.weights_layouts,
        import_weights=lpips_weights.import_weights,
        describe_weights=lpips_weights.describe_cached_weights,
    ),
)


def _weights_owners() -> list[ExtractorSpec | NetworkWeights]:
    return [*EXTRACTORS.values(), *NETWORK_WEIGHTS]


def closest_networks(path: str) -> list[tuple[str, LayoutFit]]:
    """Every known network's layouts, best fit to the file at `path` first: `(space or network, fit)`.

    Only the file's tensor names and shapes are read; a file that is no state dict or TorchScript archive is
    a one-line error naming it.
    """
    found = read_file_tensors(path)
    fits = [
        (owner.name, layout.fit(found))
        for owner in _weights_owners()
        if owner.weights_layouts is not None
        for layout in owner.weights_layouts()
    ]
    return sorted(fits, key=lambda fit: (not fit[1].complete, -fit[1].share, not fit[1].same_format))


def import_weights_file(path: str) -> tuple[str, Path]:
    """Check a weights file and copy it into its network's cache, recorded: `(space or network name, cached path)`.

    The owner is the network one of whose layouts the file fills (then its full check may still refuse
    it, naming what is wrong); any other file is refused naming the closest network and what differs.
    """
    owner_name, fit = closest_networks(path)[0]
    if not fit.complete:
        if fit.matched == 0:
            raise GanEvalError(
                f"weights file {path} holds none of the tensors of the known networks "
                f"({', '.join(o.name for o in _weights_owners())})"
            )
        raise GanEvalError(
            f"weights file {path} is not one of the known networks; the closest is {fit.layout.title} "
            f"({owner_name}: {fit.matched} of its {len(fit.layout.shapes)} tensors; {fit.difference})"
        )
    owner = next(o for o in _weights_owners() if o.name == owner_name)
    assert owner.import_weights is not None
    return owner.name, owner.import_weights(path)


def describe_cached_weights(verify: bool = False) -> list[dict[str, Any]]:
    """Every cached weights file of every space and network, as JSON-ready entries each with its `space`, read
    from the files' records (with `verify`, from a fresh check of every file, each entry saying whether its
    bytes are still those recorded)."""
    return [
        {"path": entry["path"], "space": owner.name, **entry}
        for owner in _weights_owners()
        if owner.describe_weights is not None
        for entry in owner.describe_weights(verify)
    ]
