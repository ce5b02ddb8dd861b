"""The values every layer passes around: the kinds of extractor output, and the features of one input.

The ground floor of the feature path (it imports only `stats`): sources,
extractors, the pipeline, the cache, the metrics and every front end read
these names from here, so the pure metrics never import the machinery that
makes features.

Kinds are what a metric asks for; each extractor maps a kind to one of its
heads (`FeatureExtractor.kinds`):
- `FEATURES`: the embedding every distance is computed on (Inception pool3,
  DINOv2's class token, ...);
- `LOGITS`: class logits, for the Inception Score;
- `SPATIAL`: Inception's spatial features for sFID (the TF graph's
  `mixed_6/conv`, first 7 channels), which other spaces do not offer.

One kind is made from a generator, not by an extractor (`GENERATOR_KINDS`):
- `PATH_LENGTHS`: a generator's perceptual path lengths, one per latent path
  (`(N, 1)` LPIPS distance / ε², for PPL; see `gan_eval.path_sampling`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from gan_eval.stats import FeatureStats

FEATURES = "features"
LOGITS = "logits"
SPATIAL = "spatial"
PATH_LENGTHS = "path_lengths"
GENERATOR_KINDS = (PATH_LENGTHS,)


@dataclass
class InputFeatures:
    """The features of one input: statistics per kind (or per head, inside the feature path), and the
    per-sample features `(N, D)` float32 of the kinds they were kept for.

    `skipped`: the files left out (`skip_bad`); `cached_heads`: the heads read from the feature cache.
    """

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
