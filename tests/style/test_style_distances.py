"""Gram matrices, style and content distances against Gatys et al. 2016's formulas written out with NumPy loops."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from gan_eval.style.distances import content_distance, content_mse, gram_matrix, style_distance, style_layer_distance


def _loops_gram(f: np.ndarray) -> np.ndarray:
    """Unnormalised Gram `G_ij = Σ_k F_ik F_jk` by explicit loops."""
    n, m = f.shape
    gram = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            gram[i, j] = sum(f[i, k] * f[j, k] for k in range(m))
    return gram


def test_gram_matrix_is_f_ft_over_n_m() -> None:
    f = np.random.default_rng(0).random((4, 3, 5)).astype(np.float32)
    ours = gram_matrix(torch.from_numpy(f))
    assert ours.dtype == torch.float64 and ours.shape == (4, 4)
    np.testing.assert_allclose(ours.numpy(), _loops_gram(f.reshape(4, 15).astype(np.float64)) / (4 * 15), rtol=1e-12)


def test_style_layer_distance_is_gatys_eq4_for_equal_sizes() -> None:
    rng = np.random.default_rng(1)
    n, h, w = 6, 4, 5
    f, a = rng.random((n, h, w)), rng.random((n, h, w))
    m = h * w
    gatys = ((_loops_gram(f.reshape(n, m)) - _loops_gram(a.reshape(n, m))) ** 2).sum() / (4 * n**2 * m**2)
    ours = style_layer_distance(gram_matrix(torch.from_numpy(f)), gram_matrix(torch.from_numpy(a)))
    assert ours == pytest.approx(gatys, rel=1e-12)
    assert style_layer_distance(gram_matrix(torch.from_numpy(f)), gram_matrix(torch.from_numpy(f))) == 0


def test_style_layer_distance_normalises_each_gram_by_its_own_size() -> None:
    rng = np.random.default_rng(2)
    f, a = rng.random((3, 4, 4)), rng.random((3, 7, 5))
    expected = ((_loops_gram(f.reshape(3, 16)) / 48 - _loops_gram(a.reshape(3, 35)) / 105) ** 2).sum() / 4
    ours = style_layer_distance(gram_matrix(torch.from_numpy(f)), gram_matrix(torch.from_numpy(a)))
    assert ours == pytest.approx(expected, rel=1e-12)


def test_style_distance_weighs_the_layers_equally() -> None:
    layers = {"conv1_1": 1.0, "conv2_1": 2.0, "conv3_1": 4.0, "conv4_1": 8.0, "conv5_1": 16.0}
    assert style_distance(layers) == pytest.approx(sum(0.2 * v for v in layers.values()), rel=1e-15)


def test_content_distance_and_mse() -> None:
    rng = np.random.default_rng(3)
    f, p = rng.random((5, 3, 2)).astype(np.float32), rng.random((5, 3, 2)).astype(np.float32)
    squares = [(float(x) - float(y)) ** 2 for x, y in zip(f.ravel(), p.ravel(), strict=True)]
    assert content_distance(torch.from_numpy(f), torch.from_numpy(p)) == pytest.approx(0.5 * sum(squares), rel=1e-12)
    assert content_mse(torch.from_numpy(f), torch.from_numpy(p)) == pytest.approx(sum(squares) / 30, rel=1e-12)
