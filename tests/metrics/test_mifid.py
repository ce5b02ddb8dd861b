"""MiFID against torchmetrics 1.9's `MemorizationInformedFrechetInceptionDistance` fed the same features
through a stand-in feature module (its own FID, cosine distance, threshold and division)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torchmetrics.image.mifid import MemorizationInformedFrechetInceptionDistance, _compute_cosine_distance

from gan_eval.errors import GanEvalError
from gan_eval.metrics.mifid import memorisation_distance, mifid
from gan_eval.stats import FeatureStats


class GivenFeatures(torch.nn.Module):
    """A feature extractor whose 'images' are already the features."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x


def torchmetrics_mifid(real: np.ndarray, fake: np.ndarray, eps: float = 0.1) -> float:
    metric = MemorizationInformedFrechetInceptionDistance(feature=GivenFeatures(), cosine_distance_eps=eps)
    for start in range(0, len(real), 37):
        metric.update(torch.from_numpy(real[start : start + 37]), real=True)
    metric.update(torch.from_numpy(fake), real=False)
    return float(metric.compute())


def stats_of(features: np.ndarray) -> FeatureStats:
    stats = FeatureStats(features.shape[1])
    stats.update(torch.from_numpy(features))
    return stats


def sets(seed: int, copied: bool) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    real = rng.normal(size=(160, 64))
    if copied:  # near-copies of the training set: mean minimum cosine distance below 0.1
        fake = real[rng.permutation(160)] * rng.uniform(0.9, 1.1, size=(160, 1)) + rng.normal(0, 0.05, (160, 64))
    else:
        fake = rng.normal(0.2, 1.3, size=(120, 64))
    return real, fake


@pytest.mark.parametrize("copied", [False, True])
def test_equals_torchmetrics_on_the_same_features(copied: bool) -> None:
    real, fake = sets(int(copied), copied)
    result = mifid(stats_of(real), stats_of(fake), real, fake)
    assert (result.thresholded_distance < 1.0) == copied
    assert result.mifid == pytest.approx(torchmetrics_mifid(real, fake), rel=1e-9)


def test_memorisation_distance_equals_torchmetrics_including_zero_rows() -> None:
    real, fake = sets(3, copied=True)
    real[[5, 9]] = 0.0
    expected = _compute_cosine_distance(torch.from_numpy(real), torch.from_numpy(fake), cosine_distance_eps=2.0)
    assert memorisation_distance(real, fake, block=16) == pytest.approx(float(expected), rel=1e-12)


def test_a_tiny_fid_gives_zero_as_in_torchmetrics() -> None:
    real, _ = sets(4, copied=False)
    assert mifid(stats_of(real), stats_of(real), real, real).mifid == 0.0
    assert torchmetrics_mifid(real, real) == 0.0


def test_all_zero_features_are_refused_in_one_line() -> None:
    real, fake = sets(5, copied=False)
    with pytest.raises(GanEvalError, match="non-zero feature vector"):
        memorisation_distance(real, np.zeros_like(fake))
