"""Features of one input for the kinds of output the requested metrics need, from the cache or one pass.

Metrics ask for kinds (`FEATURES`, `LOGITS`; see `gan_eval.extractors.base`);
the extractor's `kinds` names the head serving each, and `kind_features`
gives what `input_features` finds under those names. `input_features` looks
each head up in the feature cache; the heads it does not find are extracted
together in a single pass over the images (so Inception's pool3 and logits
come from one forward pass), and the new entries are stored.
A pass that writes to the cache runs every head the extractor offers and
stores each with its per-sample features, so the next command on the same
input (a `report` after `fid`) reads everything from the cache.
A statistics file gives the `FEATURES` statistics only.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gan_eval.cache import FeatureCache, entry_key
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.base import FEATURES, FeatureExtractor
from gan_eval.pipeline import extract
from gan_eval.sources.base import ImageSource
from gan_eval.stats import FeatureStats
from gan_eval.version import __version__


@dataclass
class InputFeatures:
    """Statistics per head (or per kind, for the metrics), and per-sample features where kept."""

    name: str
    stats: dict[str, FeatureStats]
    features: dict[str, np.ndarray] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    cached_heads: tuple[str, ...] = ()

    @property
    def count(self) -> int:
        """Number of samples behind the statistics."""
        return next(iter(self.stats.values())).count


def from_statistics(stats: FeatureStats) -> InputFeatures:
    """Statistics as an input: the `FEATURES` mean and covariance, and the per-sample features when they carry them."""
    features = {FEATURES: stats.features} if stats.features is not None else {}
    return InputFeatures(str(stats.meta.get("source", "statistics")), {FEATURES: stats}, features)


def _stats_meta(extractor: FeatureExtractor, source: ImageSource, skipped: int) -> dict:
    return dict(extractor.settings(), source=source.name, gan_eval_version=__version__, skipped=skipped)


def input_features(
    source: ImageSource,
    extractor: FeatureExtractor,
    heads: tuple[str, ...],
    need_features: tuple[str, ...],
    options: ExtractionOptions,
) -> InputFeatures:
    """Statistics of `heads` (and per-sample features of `need_features`) for the images of `source`, by head.

    Reads `options`' batch size, workers, progress, skip_bad and cache. `by_kind` re-keys the result for
    the metrics.
    """
    cache = options.feature_cache()
    fingerprint = getattr(source, "fingerprint", None)
    use_cache = cache is not None and fingerprint is not None
    keys: dict[str, str] = {}
    if use_cache:
        fp = fingerprint()
        keys = {h: entry_key(fp, extractor.settings(), h, options.skip_bad) for h in (*heads, *extractor.heads)}
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
    fresh = extract(source, extractor, (*missing, *extra), options, keep_features=keep)
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


def kind_features(
    source: ImageSource,
    extractor: FeatureExtractor,
    kinds: tuple[str, ...],
    per_sample: tuple[str, ...],
    options: ExtractionOptions,
) -> InputFeatures:
    """`input_features` for kinds of output (`FEATURES`, `LOGITS`), keyed by kind as the metrics read them."""
    heads = tuple(extractor.kinds[kind] for kind in kinds)
    found = input_features(source, extractor, heads, tuple(extractor.kinds[k] for k in per_sample), options)
    kind_of = {head: kind for kind, head in extractor.kinds.items() if kind in kinds}
    found.stats = {kind_of[h]: stats for h, stats in found.stats.items()}
    found.features = {kind_of[h]: features for h, features in found.features.items()}
    return found


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
