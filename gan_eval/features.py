"""Features of one input for the kinds of output the requested metrics need, from the cache or one pass.

`features_of` is the one public door: metrics ask for kinds (`FEATURES`,
`LOGITS`; see `gan_eval.feature_types`), the extractor's `kinds` names the
head serving each, and `features_of` gives what `input_features` finds under
those names. `input_features` looks
each head up in the feature cache; the heads it does not find are extracted
together in a single pass over the images (so Inception's pool3 and logits
come from one forward pass), and the new entries are stored.
A pass that writes to the cache runs every head the extractor offers and
stores each with its per-sample features, so the next command on the same
input (a `report` after `fid`) reads everything from the cache.
A statistics file gives the `FEATURES` statistics only.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from gan_eval.cache import FeatureCache, entry_key
from gan_eval.errors import GanEvalError
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.feature_types import FEATURES, InputFeatures, from_statistics
from gan_eval.pipeline import Extraction, extract_spaces
from gan_eval.sources.base import ImageSource
from gan_eval.stats import FeatureStats
from gan_eval.version import __version__


def _stats_meta(extractor: FeatureExtractor, source: ImageSource, skipped: int) -> dict:
    return dict(extractor.settings(), source=source.name, gan_eval_version=__version__, skipped=skipped)


@dataclass(frozen=True)
class FeatureJob:
    """One extractor's share of a pass: the heads wanted, and those whose per-sample features are kept."""

    extractor: FeatureExtractor
    heads: tuple[str, ...]
    need_features: tuple[str, ...] = ()


@dataclass
class _Lookup:
    """What the cache gave one job, and what is left to extract for it."""

    job: FeatureJob
    keys: dict[str, str]
    result: InputFeatures
    missing: tuple[str, ...] = ()
    extra: tuple[str, ...] = ()


def input_features(
    source: ImageSource,
    extractor: FeatureExtractor,
    heads: tuple[str, ...],
    need_features: tuple[str, ...],
    options: ExtractionOptions,
) -> InputFeatures:
    """Statistics of `heads` (and per-sample features of `need_features`) for the images of `source`, by head.

    Reads `options`' batch size, workers, progress, skip_bad and cache.
    """
    return input_features_spaces(source, [FeatureJob(extractor, heads, need_features)], options)[0]


def input_features_spaces(
    source: ImageSource, jobs: Sequence[FeatureJob], options: ExtractionOptions
) -> list[InputFeatures]:
    """`input_features` for several extractors: each job's cached heads are read, the rest of every job
    is extracted in one decode pass (`extract_spaces`), and stored."""
    cache = options.feature_cache()
    fingerprint = getattr(source, "fingerprint", None)
    fp = fingerprint() if cache is not None and fingerprint is not None else None
    lookups = [_look_up(source, job, cache if fp is not None else None, fp, options.skip_bad) for job in jobs]
    pending = [lookup for lookup in lookups if lookup.missing]
    if pending:
        keep = fp is not None or any(h in lookup.job.need_features for lookup in pending for h in lookup.missing)
        fresh = extract_spaces(
            source,
            [(lookup.job.extractor, (*lookup.missing, *lookup.extra)) for lookup in pending],
            options,
            keep_features=keep,
        )
        for lookup, extraction in zip(pending, fresh, strict=True):
            _take_fresh(source, lookup, extraction, cache if fp is not None else None)
    return [lookup.result for lookup in lookups]


def _look_up(
    source: ImageSource, job: FeatureJob, cache: FeatureCache | None, fingerprint: str | None, skip_bad: bool
) -> _Lookup:
    extractor = job.extractor
    keys = {}
    if cache is not None:
        keys = {h: entry_key(fingerprint, extractor.settings(), h, skip_bad) for h in (*job.heads, *extractor.heads)}
    lookup = _Lookup(job, keys, InputFeatures(source.name, {}))
    missing = []
    for head in job.heads:
        entry = cache.load(keys[head], head in job.need_features) if cache is not None else None
        if entry is None:
            missing.append(head)
            continue
        entry.stats.meta.update(source=source.name)
        lookup.result.stats[head] = entry.stats
        if entry.features is not None and head in job.need_features:
            lookup.result.features[head] = entry.features
        lookup.result.skipped = list(entry.meta.get("skipped", []))
    lookup.result.cached_heads = tuple(h for h in job.heads if h not in missing)
    lookup.missing = tuple(missing)
    if missing and cache is not None:
        lookup.extra = _heads_worth_caching(extractor, job.heads, cache, keys)
    return lookup


def _take_fresh(source: ImageSource, lookup: _Lookup, fresh: Extraction, cache: FeatureCache | None) -> None:
    """Store a job's freshly extracted heads in the cache and its result."""
    extractor, result = lookup.job.extractor, lookup.result
    result.skipped = fresh.skipped
    for head in (*lookup.missing, *lookup.extra):
        stats = fresh.stats[head]
        stats.meta.update(_stats_meta(extractor, source, len(fresh.skipped)))
        if cache is not None:
            cache.store(lookup.keys[head], stats, fresh.features.get(head), {"skipped": fresh.skipped})
        if head in lookup.extra:
            continue
        result.stats[head] = stats
        if head in lookup.job.need_features:
            result.features[head] = fresh.features[head]


def features_of(
    source: ImageSource | FeatureStats,
    extractor: FeatureExtractor | None,
    kinds: tuple[str, ...],
    per_sample: tuple[str, ...] = (),
    extraction: ExtractionOptions | None = None,
) -> InputFeatures:
    """The features of one input: statistics of `kinds` (`FEATURES`, `LOGITS`) and per-sample features of the
    kinds in `per_sample`, keyed by kind, in `extractor`'s space, through the feature cache.

    The one door to features: `evaluate`, the streaming objects' real side, the diagnostics, the
    conditional family and the Monitor all come here. `extractor` None loads the space of `extraction`
    (default `ExtractionOptions()`). Statistics (a `FeatureStats`) give their `FEATURES` statistics, and
    their per-sample features when they carry them; asking them for another kind is an error.
    """
    extraction = extraction or ExtractionOptions()
    if isinstance(source, FeatureStats):
        return _statistics_features(source, kinds, per_sample)
    return features_of_spaces(source, [(extractor or extraction.load_extractor(), kinds, per_sample)], extraction)[0]


def _statistics_features(stats: FeatureStats, kinds: tuple[str, ...], per_sample: tuple[str, ...]) -> InputFeatures:
    name = stats.name
    other = [k for k in (*kinds, *per_sample) if k != FEATURES]
    if other:
        raise GanEvalError(f"statistics {name} hold the {FEATURES} statistics only, not {other[0]}")
    if per_sample and stats.features is None:
        raise GanEvalError(f"statistics {name} hold no per-sample features (a metric here needs them)")
    return from_statistics(stats)


def features_of_spaces(
    source: ImageSource,
    jobs: Sequence[tuple[FeatureExtractor, tuple[str, ...], tuple[str, ...]]],
    extraction: ExtractionOptions,
) -> list[InputFeatures]:
    """`features_of` in several spaces `(extractor, kinds, per_sample)` from one decode pass of `source`."""
    found = input_features_spaces(
        source,
        [
            FeatureJob(e, tuple(e.kinds[k] for k in kinds), tuple(e.kinds[k] for k in per_sample))
            for e, kinds, per_sample in jobs
        ],
        extraction,
    )
    for (extractor, kinds, _), features in zip(jobs, found, strict=True):
        kind_of = {head: kind for kind, head in extractor.kinds.items() if kind in kinds}
        features.stats = {kind_of[h]: stats for h, stats in features.stats.items()}
        features.features = {kind_of[h]: values for h, values in features.features.items()}
    return found


def _heads_worth_caching(
    extractor: FeatureExtractor, heads: tuple[str, ...], cache: FeatureCache, keys: dict[str, str]
) -> tuple[str, ...]:
    """The extractor's other usable heads that the cache lacks (with features): the same pass gives them."""
    unusable = getattr(extractor, "unusable_heads", {})
    return tuple(
        h
        for h in extractor.heads
        if h not in heads and h not in unusable and not cache.holds(keys[h], need_features=True)
    )
