"""Perceptual path length (Karras et al. 2019, "A Style-Based Generator Architecture for Generative
Adversarial Networks"): how much a generator's images change along short steps in its latent space.

PPL is the mean of the path lengths (LPIPS distance between the images at t
and t + ε, over ε²; made by `gan_eval.path_sampling`) after dropping those
below the 1st percentile (NumPy's `lower` method) and above the 99th
(`higher`), as StyleGAN, StyleGAN2-ADA and torch-fidelity do. torchmetrics
takes its 99th percentile by the `lower` method; both give the same number
when 0.99 (N - 1) is a whole number (N = 101, 201, 10001, ...).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from gan_eval.feature_types import PATH_LENGTHS, InputFeatures
from gan_eval.metrics.registry import FAKE, LOWER, MetricOptions, Need, ResultKey, register_metric

LOWER_PERCENTILE = 1
UPPER_PERCENTILE = 99


@dataclass(frozen=True)
class PathLength:
    """PPL: the mean of the kept path lengths, their standard deviation (N denominator) and how many were kept."""

    mean: float
    std: float
    kept: int


def perceptual_path_length(lengths: np.ndarray) -> PathLength:
    """PPL from path lengths `(N,)` or `(N, 1)` (LPIPS distance / ε² of each path), in float64."""
    values = np.asarray(lengths, dtype=np.float64).ravel()
    low = np.percentile(values, LOWER_PERCENTILE, method="lower")
    high = np.percentile(values, UPPER_PERCENTILE, method="higher")
    kept = values[(values >= low) & (values <= high)]
    return PathLength(float(kept.mean()), float(kept.std()), len(kept))


@register_metric(
    "ppl",
    "Perceptual path length (Karras et al. 2019)",
    lambda o: (Need(FAKE, PATH_LENGTHS, True),),
    lambda o: {},
    keys=(ResultKey("ppl", "PPL", better=LOWER, flag="--max-ppl", minimum=0.0),),
    details=("ppl_std", "ppl_kept", "ppl_lpips_sha256", "ppl_lpips_backbone_sha256"),
    default=False,  # run when named: it needs the generator itself, and samples its own paths
)
def _ppl(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    result = perceptual_path_length(fake.features[PATH_LENGTHS])
    meta = fake.stats[PATH_LENGTHS].meta
    return {
        "ppl": result.mean,
        "ppl_std": result.std,
        "ppl_kept": result.kept,
        "ppl_lpips_sha256": meta.get("lpips_sha256"),
        "ppl_lpips_backbone_sha256": meta.get("lpips_backbone_sha256"),
    }
