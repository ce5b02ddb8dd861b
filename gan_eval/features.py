"""Features of one input for the heads the requested metrics need, from the cache or one pass.

`input_features` looks each head up in the feature cache; the heads it does
not find are extracted together in a single pass over the images (so pool3
and the logits come from one forward pass), and the new entries are stored.
A pass that writes to the cache runs every head the extractor offers and
stores each with its per-sample features, so the next command on the same
input (a `report` after `fid`) reads everything from the cache.
A statistics file gives pool3 statistics only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gan_eval.cache import FeatureCache, entry_key
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.pipeline import extract
from gan_eval.sources.base import ImageSource
from gan_eval.stats import FeatureStats
from gan_eval.version import __version__
from gan_eval.weights import HEAD_POOL3


@dataclass
class InputFeatures:
    """What the metrics read about one input: statistics per head, and per-sample features where kept."""

    name: str
    stats: dict[str, FeatureStats]
    features: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    from_statistics: bool = False
    cached_heads: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """Number of samples behind the statistics."""
        return next(iter(self.stats.values())).count


def from_statistics(stats: FeatureStats) -> InputFeatures:
    """Statistics as an input: pool3 mean and covariance, and the per-sample features when they carry them."""
    features = {HEAD_POOL3: stats.features} if stats.features is not None else {}
    name = str(stats.meta.get("source", "statistics"))
    return InputFeatures(name, {HEAD_POOL3: stats}, features, from_statistics=True)


def _stats_meta(extractor: FeatureExtractor, source: ImageSource, skipped: int) -> dict:
    return dict(extractor.settings(), source=source.name, gan_eval_version=__version__, skipped=skipped)


def input_features(
    source: ImageSource,
    extractor: FeatureExtractor,
    heads: tuple[str, ...],
    need_features: tuple[str, ...] = (),
    *,
    cache: FeatureCache | None = None,
    batch_size: int = 64,
    workers: int | None = None,
    progress: bool = True,
    skip_bad: bool = False,
) -> InputFeatures:
    """Statistics of `heads` (and features of `need_features`) for the images of `source`."""
    fingerprint = getattr(source, "fingerprint", None)
    use_cache = cache is not None and fingerprint is not None
    keys: dict[str, str] = {}
    if use_cache:
        fp = fingerprint()
        keys = {h: entry_key(fp, extractor.settings(), h, skip_bad) for h in (*heads, *extractor.heads)}
    result = InputFeatures(source.name, {})
    missing = []
    for head in heads:
        entry = cache.load(keys[head], head in need_features) if use_cache else None
        if entry is None:
            missing.append(head)
            continue
        entry.stats.meta.update(source=source.name)
        result.stats[head] = entry.stats
        if entry.features is not None and head in need_features:
            result.features[head] = entry.features
        result.skipped = list(entry.meta.get("skipped", []))
    result.cached_heads = tuple(h for h in heads if h not in missing)
    if not missing:
        return result
    keep = use_cache or any(h in need_features for h in missing)
    extra = _heads_worth_caching(extractor, heads, cache, keys) if use_cache else ()
    fresh = extract(
        source,
        extractor,
        (*missing, *extra),
        batch_size=batch_size,
        workers=workers,
        progress=progress,
        skip_bad=skip_bad,
        keep_features=keep,
    )
    result.skipped = fresh.skipped
    for head in (*missing, *extra):
        stats = fresh.stats[head]
        stats.meta.update(_stats_meta(extractor, source, len(fresh.skipped)))
        if use_cache:
            cache.store(keys[head], stats, fresh.features.get(head), {"skipped": fresh.skipped})
        if head in extra:
            continue
        result.stats[head] = stats
        if head in need_features:
            result.features[head] = fresh.features[head]
    return result


def _heads_worth_caching(
    extractor: FeatureExtractor, heads: tuple[str, ...], cache: FeatureCache, keys: dict[str, str]
) -> tuple[str, ...]:
    """The extractor's other usable heads that the cache lacks (with features): the same pass gives them."""
    unusable = getattr(extractor, "unusable_heads", {})
    return tuple(
        h
        for h in extractor.heads
        if h not in heads and h not in unusable and cache.load(keys[h], need_features=True) is None
    )
