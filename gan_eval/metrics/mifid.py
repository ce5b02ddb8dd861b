"""Memorisation-informed FID (Bai et al. 2021, "On Training Sample Memorization: Lessons from Benchmarking
Generative Modeling with a Large-scale Competition"), as torchmetrics 1.9 defines it
(`MemorizationInformedFrechetInceptionDistance`).

MiFID = FID / d_thr, where d is the memorisation distance: for each real
(training) sample, the smallest cosine distance 1 - |cos(x, g)| to any
generated sample, averaged over the real samples; d_thr = d when d < ε
(ε = 0.1), else 1, so only sets closer to the training set than ε are
penalised. Rows whose features sum to zero are left out of d (torchmetrics'
rule for empty feature vectors); an FID of at most 1e-8 gives MiFID 0, and
1e-14 is added to d, as torchmetrics does. The real set plays the training
set (the Kaggle competition's definition).

Dimensionless like FID's units; the cosine distances in float64 over row
blocks of the real set, so memory stays at `block × M × 8` bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gan_eval.errors import GanEvalError
from gan_eval.metrics.fid import fid_from_stats
from gan_eval.metrics.prdc import DEFAULT_BLOCK, as_float64
from gan_eval.stats import FeatureStats

COSINE_EPS = 0.1
TINY_FID = 1e-8
DISTANCE_FLOOR = 1e-14


@dataclass(frozen=True)
class Mifid:
    """MiFID, the FID it divides, and the memorisation distance before (`distance`) and after the threshold."""

    mifid: float
    fid: float
    distance: float
    thresholded_distance: float


def _unit_rows(x: torch.Tensor) -> torch.Tensor:
    kept = x[x.sum(dim=1) != 0]
    return kept / kept.norm(dim=1, keepdim=True)


def memorisation_distance(
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    block: int = DEFAULT_BLOCK,
    device: str | torch.device = "cpu",
) -> float:
    """Mean over `real: (N, D)` rows of the smallest cosine distance 1 - |cos| to a row of `fake: (M, D)`."""
    x, y = _unit_rows(as_float64(real, device)), _unit_rows(as_float64(fake, device))
    if min(len(x), len(y)) < 1:
        raise GanEvalError(
            f"MiFID needs a non-zero feature vector in each set; got {len(x)} real and {len(y)} generated"
        )
    total = 0.0
    for start in range(0, len(x), block):
        closest = (x[start : start + block] @ y.T).abs_().max(dim=1).values
        total += float((1.0 - closest).sum())
    return total / len(x)


def mifid(
    real_stats: FeatureStats,
    fake_stats: FeatureStats,
    real: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    cosine_eps: float = COSINE_EPS,
    device: str | torch.device = "cpu",
) -> Mifid:
    """MiFID of the generated set (statistics `fake_stats`, features `fake: (M, D)`) against the training set."""
    fid = fid_from_stats(real_stats, fake_stats, str(device))
    distance = memorisation_distance(real, fake, device=device)
    thresholded = distance if distance < cosine_eps else 1.0
    value = fid / (thresholded + DISTANCE_FLOOR) if fid > TINY_FID else 0.0
    return Mifid(value, fid, distance, thresholded)
