"""Precision, recall, density and coverage against dense naive NumPy versions and torch-fidelity."""

import numpy as np
import pytest
import torch
from torch_fidelity.metric_prc import prc_features_to_metric

from gan_eval.errors import GanEvalError
from gan_eval.metrics.prdc import density_coverage, precision_recall


def dense_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sqrt(((a[:, None, :] - b[None, :, :]) ** 2).sum(-1))


def naive_radii(x: np.ndarray, k: int) -> np.ndarray:
    d = dense_distances(x, x)
    np.fill_diagonal(d, np.inf)
    return np.sort(d, axis=1)[:, k - 1]


def naive_prdc(real: np.ndarray, fake: np.ndarray, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    r_real, r_fake = naive_radii(real, k_pr), naive_radii(fake, k_pr)
    d_fr = dense_distances(fake, real)
    precision = np.mean((d_fr <= r_real[None, :]).any(1))
    recall = np.mean((r_fake[None, :] >= d_fr.T).any(1))
    r5 = naive_radii(real, k_dc)
    inside = d_fr <= r5[None, :]
    density = inside.sum() / (k_dc * len(fake))
    coverage = np.mean(inside.any(0))
    return {"precision": precision, "recall": recall, "density": density, "coverage": coverage}


@pytest.mark.parametrize("block", [7, 1024])
def test_matches_dense_naive_exactly(block):
    rng = np.random.default_rng(0)
    real = rng.normal(size=(120, 16))
    fake = rng.normal(0.4, 1.3, size=(90, 16))
    pr = precision_recall(real, fake, k=3, block=block)
    dc = density_coverage(real, fake, k=5, block=block)
    ref = naive_prdc(real, fake)
    assert pr.precision == ref["precision"]
    assert pr.recall == ref["recall"]
    assert dc.density == pytest.approx(ref["density"], abs=1e-15)
    assert dc.coverage == ref["coverage"]


def test_precision_recall_match_torch_fidelity():
    rng = np.random.default_rng(1)
    real = rng.normal(size=(150, 32))
    fake = rng.normal(0.3, 1.2, size=(130, 32))
    ours = precision_recall(real, fake, k=3)
    ref = prc_features_to_metric(
        torch.from_numpy(fake),
        torch.from_numpy(real),
        prc_neighborhood=3,
        prc_batch_size=10000,
        save_cpu_ram=False,
        verbose=False,
    )
    # torch-fidelity averages in float32: compare the counts behind the shares.
    assert round(ours.precision * 130) == round(ref["precision"] * 130)
    assert round(ours.recall * 150) == round(ref["recall"] * 150)


def test_known_answers():
    rng = np.random.default_rng(2)
    x = rng.normal(size=(200, 8))
    pr = precision_recall(x, x.copy())
    assert (pr.precision, pr.recall) == (1.0, 1.0)
    a, b = rng.normal(size=(3000, 8)), rng.normal(size=(3000, 8))
    dc = density_coverage(a, b, k=5)
    assert dc.density == pytest.approx(1.0, abs=0.05)
    expected_coverage = 1 - np.prod([(3000 - i) / (6000 - i) for i in range(1, 6)])
    assert dc.coverage == pytest.approx(expected_coverage, abs=0.01)


def test_needs_k_plus_one_samples():
    with pytest.raises(GanEvalError, match="at least 4 samples"):
        precision_recall(np.zeros((3, 2)), np.ones((10, 2)))
