"""Authenticity against a dense-distance implementation of Alaa et al.'s definition."""

from __future__ import annotations

import numpy as np
import pytest

from gan_eval.diagnostics.authenticity import authentic_mask, authenticity
from gan_eval.errors import GanEvalError


def dense_authentic(real, fake):
    """Per generated sample: d(g, x*) > d_NN(x*), x* = g's nearest real sample, with full matrices."""
    rr = np.sqrt(((real[:, None, :] - real[None, :, :]) ** 2).sum(-1))
    np.fill_diagonal(rr, np.inf)
    own_nn = rr.min(axis=1)
    fr = np.sqrt(((fake[:, None, :] - real[None, :, :]) ** 2).sum(-1))
    nearest = fr.argmin(axis=1)
    return fr[np.arange(len(fake)), nearest] > own_nn[nearest]


@pytest.mark.parametrize("dims", [2, 7, 40])
def test_mask_matches_dense_distances(dims: int) -> None:
    rng = np.random.default_rng(dims)
    real = rng.standard_normal((300, dims))
    fake = np.concatenate([rng.standard_normal((150, dims)), real[:50] + 1e-3 * rng.standard_normal((50, dims))])
    mask = authentic_mask(real, fake, block=64).numpy()
    np.testing.assert_array_equal(mask, dense_authentic(real, fake))
    assert authenticity(real, fake) == pytest.approx(dense_authentic(real, fake).mean())


def test_copies_are_not_authentic() -> None:
    real = np.random.default_rng(0).standard_normal((100, 4))
    assert authenticity(real, real[::2]) == 0.0


def test_too_few_samples() -> None:
    with pytest.raises(GanEvalError, match="authenticity"):
        authenticity(np.zeros((1, 3)), np.zeros((4, 3)))
