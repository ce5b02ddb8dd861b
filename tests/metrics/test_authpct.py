"""Authenticity % against a NumPy transcription of dgm-eval's `compute_authpct` (layer6ai-labs/dgm-eval,
commit 74c79f7, `dgm_eval/metrics/authpct.py`), dense distances in float64."""

from __future__ import annotations

import numpy as np
import pytest

from gan_eval.errors import GanEvalError
from gan_eval.metrics.authpct import authentic_samples, authpct


def dgm_eval_authpct(train: np.ndarray, gen: np.ndarray) -> float:
    """dgm-eval's steps: train-train distances with an infinite diagonal, each generated sample's nearest
    training sample, authentic where that sample's own nearest distance is below the generated one's."""
    real_dists = np.sqrt(((train[:, None, :] - train[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(real_dists, np.inf)
    gen_dists = np.sqrt(((train[:, None, :] - gen[None, :, :]) ** 2).sum(-1))
    real_min = real_dists.min(axis=0)
    gen_min, gen_index = gen_dists.min(axis=0), gen_dists.argmin(axis=0)
    authentic = real_min[gen_index] < gen_min
    return float(100 * authentic.sum() / len(authentic))


def mixed_sets(seed: int) -> tuple[np.ndarray, np.ndarray]:
    """A training set and a generated set of which a third are near-copies of training samples."""
    rng = np.random.default_rng(seed)
    train = rng.normal(size=(120, 24))
    fresh = rng.normal(size=(60, 24))
    copies = train[rng.choice(120, 30, replace=False)] + rng.normal(scale=1e-3, size=(30, 24))
    return train, np.concatenate((fresh, copies))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_equals_dgm_eval_transcription(seed: int) -> None:
    train, gen = mixed_sets(seed)
    train32, gen32 = train.astype(np.float32), gen.astype(np.float32)
    expected = dgm_eval_authpct(train32.astype(np.float64), gen32.astype(np.float64))
    assert authpct(train32, gen32) == expected
    assert 0 < expected < 100


def test_exact_copies_are_not_authentic_and_far_samples_are() -> None:
    train = np.random.default_rng(4).normal(size=(50, 8))
    far = train[:10] + 100.0
    mask = authentic_samples(train, np.concatenate((train[:10], far))).numpy()
    assert not mask[:10].any() and mask[10:].all()
    assert authpct(train, train[:10]) == 0.0


def test_a_set_too_small_is_refused_in_one_line() -> None:
    with pytest.raises(GanEvalError, match="at least 2 training samples"):
        authpct(np.ones((1, 3)), np.ones((4, 3)))
