"""Rarity scores against a naive NumPy transcription of the authors' `MANIFOLD.rarity`
(hichoe95/Rarity-Score, commit ec2ebd8, `src/rarity_score.py`): dense float64 distances, sorted rows."""

from __future__ import annotations

import numpy as np
import pytest

from gan_eval.errors import GanEvalError
from gan_eval.metrics.rarity import rarity_scores


def official_rarity(real: np.ndarray, fake: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(scores, indices of in-ball samples by decreasing score) as the authors' code computes them."""
    real2real = np.sqrt(np.clip(((real[:, None, :] - real[None, :, :]) ** 2).sum(-1), 0, None))
    radii = np.sort(real2real, axis=1)[:, k]
    real2fake = np.sqrt(((real[:, None, :] - fake[None, :, :]) ** 2).sum(-1))
    in_ball = (radii[:, None] - real2fake) > 0
    out_ball = np.where(~in_ball.any(axis=0))[0]
    scores = np.zeros(len(fake))
    for i in range(len(fake)):
        if i not in out_ball:
            scores[i] = radii[in_ball[:, i]].min()
    return scores, (-scores).argsort()[: len(fake) - len(out_ball)]


@pytest.mark.parametrize("k", [3, 5])
def test_equals_the_authors_transcription(k: int) -> None:
    rng = np.random.default_rng(k)
    real = np.concatenate((rng.normal(size=(150, 16)), rng.normal(4.0, 3.0, size=(30, 16))))
    fake = np.concatenate((rng.normal(size=(80, 16)), rng.normal(4.0, 3.0, size=(30, 16)), rng.normal(30, 1, (10, 16))))
    result = rarity_scores(real.astype(np.float32), fake.astype(np.float32), k=k, block=64)
    scores, ranked = official_rarity(
        real.astype(np.float32).astype(np.float64), fake.astype(np.float32).astype(np.float64), k
    )
    np.testing.assert_allclose(result.scores, scores, rtol=1e-12)
    np.testing.assert_array_equal(result.in_manifold, scores > 0)
    np.testing.assert_allclose(np.sort(result.scores[result.in_manifold])[::-1], scores[ranked], rtol=1e-12)
    assert 0 < result.in_manifold_share < 1
    assert result.mean() == pytest.approx(scores[ranked].mean(), rel=1e-12)


def test_a_point_on_a_ball_boundary_is_outside() -> None:
    """Real points 0, 1, 3 on a line: with k = 1 the radii are 1, 1, 2; a sample at 5 lies on the third ball."""
    real = np.array([[0.0], [1.0], [3.0]])
    result = rarity_scores(real, np.array([[5.0], [4.5]]), k=1)
    assert not result.in_manifold[0]
    assert result.scores[0] == 0.0
    assert result.scores[1] == 2.0


def test_no_sample_inside_gives_nan_summaries() -> None:
    real = np.random.default_rng(0).normal(size=(20, 4))
    result = rarity_scores(real, real[:3] + 1e3)
    assert result.in_manifold_share == 0.0
    assert np.isnan(result.mean()) and np.isnan(result.median())


def test_too_few_real_samples_are_refused_in_one_line() -> None:
    with pytest.raises(GanEvalError, match="at least 4 real samples"):
        rarity_scores(np.ones((3, 2)), np.ones((2, 2)), k=3)
