"""Inception Score against torch-fidelity and a naive NumPy formula."""

import numpy as np
import pytest
import torch
from torch_fidelity.metric_isc import isc_features_to_metric

from gan_eval.errors import GanEvalError
from gan_eval.metrics.inception_score import inception_score


def naive_is(logits: np.ndarray, splits: int) -> tuple[float, float]:
    n = len(logits)
    p = np.exp(logits - logits.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for i in range(splits):
        part = p[i * n // splits : (i + 1) * n // splits]
        py = part.mean(0)
        scores.append(np.exp(np.mean(np.sum(part * (np.log(part) - np.log(py)), axis=1))))
    return float(np.mean(scores)), float(np.std(scores))


def test_matches_torch_fidelity():
    logits = np.random.default_rng(0).normal(scale=3, size=(503, 1008))
    ours = inception_score(logits, splits=10, seed=2020)
    ref = isc_features_to_metric(torch.from_numpy(logits), splits=10, shuffle=True, rng_seed=2020)
    assert ours.mean == pytest.approx(ref["inception_score_mean"], rel=1e-9)
    assert ours.std == pytest.approx(ref["inception_score_std"], rel=1e-9)


def test_matches_naive_formula_without_shuffle():
    logits = np.random.default_rng(1).normal(scale=2, size=(200, 50))
    ours = inception_score(logits, splits=4, shuffle=False)
    mean, std = naive_is(logits, 4)
    assert ours.mean == pytest.approx(mean, rel=1e-10)
    assert ours.std == pytest.approx(std, rel=1e-9)


def test_known_answers():
    # Confident, evenly spread predictions over C classes give IS = C; one class for all gives 1.
    c = 10
    confident = np.full((100, c), -50.0)
    confident[np.arange(100), np.arange(100) % c] = 50.0
    assert inception_score(confident, splits=1).mean == pytest.approx(c, rel=1e-9)
    collapsed = np.zeros((100, c))
    collapsed[:, 3] = 50.0
    assert inception_score(collapsed, splits=1).mean == pytest.approx(1.0, abs=1e-9)


def test_needs_a_sample_per_split():
    with pytest.raises(GanEvalError, match="at least 10"):
        inception_score(np.zeros((5, 8)))
