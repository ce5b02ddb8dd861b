"""CMMD against a naive float64 double loop of the paper's estimator (the authors' biased V-statistic)."""

from __future__ import annotations

import numpy as np
import pytest

from gan_eval.errors import GanEvalError
from gan_eval.metrics.cmmd import cmmd, mean_rbf_kernel


def naive_cmmd(a: np.ndarray, b: np.ndarray, sigma: float = 10.0, scale: float = 1000.0) -> float:
    """Jayasumana et al. 2024: 1000 · MMD² of the unit embeddings, k = exp(-||x-y||²/2σ²), diagonals included."""
    x = a / np.linalg.norm(a, axis=1, keepdims=True)
    y = b / np.linalg.norm(b, axis=1, keepdims=True)

    def k(p: np.ndarray, q: np.ndarray) -> float:
        return float(np.exp(-((p - q) ** 2).sum() / (2 * sigma**2)))

    n, m = len(x), len(y)
    xx = sum(k(x[i], x[j]) for i in range(n) for j in range(n)) / n**2
    yy = sum(k(y[i], y[j]) for i in range(m) for j in range(m)) / m**2
    xy = sum(k(x[i], y[j]) for i in range(n) for j in range(m)) / (n * m)
    return scale * (xx + yy - 2 * xy)


@pytest.fixture(scope="module")
def embeddings() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    a = rng.normal(size=(40, 16)).astype(np.float32)
    b = (rng.normal(size=(33, 16)) * 1.3 + 0.4).astype(np.float32)  # another size, another distribution
    return a, b


def test_equals_the_naive_estimator(embeddings) -> None:
    a, b = embeddings
    assert cmmd(a, b) == pytest.approx(naive_cmmd(a.astype(np.float64), b.astype(np.float64)), rel=1e-10)
    assert cmmd(a, b) > 0


def test_is_the_biased_estimator_not_the_unbiased_one(embeddings) -> None:
    a, _ = embeddings
    # two halves of one sample: the V-statistic's diagonal terms k(x, x) = 1 make it positive
    x, y = a[:20], a[20:]
    assert cmmd(x, x) == pytest.approx(0, abs=1e-9)
    assert cmmd(x, y) == pytest.approx(naive_cmmd(x.astype(np.float64), y.astype(np.float64)), rel=1e-10)


def test_blocks_do_not_change_the_value(embeddings) -> None:
    import torch

    a, b = (torch.as_tensor(v, dtype=torch.float64) for v in embeddings)
    whole = mean_rbf_kernel(a, b)
    assert mean_rbf_kernel(a, b, block_rows=7) == pytest.approx(whole, rel=1e-14)


def test_the_embeddings_are_normalised_inside(embeddings) -> None:
    a, b = embeddings
    a, b = a.astype(np.float64), b.astype(np.float64)
    assert cmmd(a * 7.5, b * 0.01) == pytest.approx(cmmd(a, b), rel=1e-10)


def test_a_zero_embedding_is_a_one_line_error(embeddings) -> None:
    a, b = embeddings
    a = a.copy()
    a[3] = 0
    with pytest.raises(GanEvalError, match="1 of 40 embeddings are all zero"):
        cmmd(a, b)
