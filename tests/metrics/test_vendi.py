"""The Vendi score against the `vendi-score` package (Friedman & Dieng's own code) on the same features."""

from __future__ import annotations

import numpy as np
import pytest
from vendi_score import vendi

from gan_eval.errors import GanEvalError
from gan_eval.metrics.vendi import vendi_score


@pytest.mark.parametrize(("n", "d"), [(40, 64), (120, 16), (64, 64)])
def test_equals_the_vendi_score_package_with_the_cosine_kernel(n: int, d: int) -> None:
    """Both of the package's routes (n x n kernel, d x d dual) on the same rows, to 1e-9."""
    features = np.random.default_rng(n + d).normal(size=(n, d)) + 0.5
    value = vendi_score(features.astype(np.float32))
    as_read = features.astype(np.float32).astype(np.float64)
    assert value == pytest.approx(vendi.score_X(as_read, normalize=True), rel=1e-9)
    assert value == pytest.approx(vendi.score_dual(as_read, normalize=True), rel=1e-9)


def test_known_answers_one_for_copies_n_for_orthogonal_rows() -> None:
    row = np.random.default_rng(1).normal(size=(1, 32))
    assert vendi_score(np.repeat(row, 50, axis=0)) == pytest.approx(1.0, rel=1e-9)
    assert vendi_score(3.0 * np.eye(20)) == pytest.approx(20.0, rel=1e-9)


def test_scale_of_each_row_does_not_matter() -> None:
    features = np.random.default_rng(2).normal(size=(30, 8))
    scales = np.random.default_rng(3).uniform(0.1, 10.0, size=(30, 1))
    assert vendi_score(features * scales) == pytest.approx(vendi_score(features), rel=1e-9)


def test_zero_rows_stay_zero_as_in_the_package() -> None:
    features = np.random.default_rng(4).normal(size=(25, 10))
    features[[3, 7]] = 0.0
    assert vendi_score(features) == pytest.approx(vendi.score_X(features, normalize=True), rel=1e-9)


def test_empty_set_is_refused_in_one_line() -> None:
    with pytest.raises(GanEvalError, match="at least 1 sample"):
        vendi_score(np.zeros((0, 4)))
