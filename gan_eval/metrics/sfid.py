"""sFID (Nash et al. 2021, "Generating Images with Sparse Representations"), as the ADM evaluator computes it.

The Fréchet distance of `gan_eval.metrics.fid` on Inception's spatial
features (`SPATIAL`: the TF graph's `mixed_6/conv` tensor, first 7 channels,
7 x 17 x 17 = 2023 values per image) instead of pool3: it sees where things
are in an image, which the pooled features average away. Only the Inception
space offers the spatial features; asked for in another space, the metric is
refused in one line.
"""

from __future__ import annotations

from typing import Any

from gan_eval.feature_types import SPATIAL, InputFeatures
from gan_eval.metrics.fid import fid_from_stats
from gan_eval.metrics.registry import FAKE, LOWER, REAL, MetricOptions, Need, ResultKey, register_metric


@register_metric(
    "sfid",
    "sFID (spatial FID, Nash et al. 2021)",
    lambda o: (Need(REAL, SPATIAL, False), Need(FAKE, SPATIAL, False)),
    lambda o: {REAL: 2, FAKE: 2},
    keys=(ResultKey("sfid", "sFID", better=LOWER, flag="--max-sfid", minimum=0.0),),
    default=False,  # run when named: ADM-style papers report it beside FID, the FID protocol does not
)
def _sfid(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    return {"sfid": fid_from_stats(real.stats[SPATIAL], fake.stats[SPATIAL], device)}
