"""The C_T data-copying test against a NumPy/scikit-learn/SciPy transcription of dgm-eval's `ct`
(layer6ai-labs/dgm-eval, commit 74c79f7, `dgm_eval/metrics/ct.py`, itself from casey-meehan/data-copying).

The transcription differs from dgm-eval only where dgm-eval is not reproducible: its PCA uses the exact
solver (scikit-learn picks a randomised one for 2048-d features) and its k-means is seeded."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from scipy.stats import mannwhitneyu
from sklearn.cluster import KMeans
from sklearn.decomposition import PCA
from sklearn.neighbors import NearestNeighbors

from gan_eval.errors import GanEvalError
from gan_eval.metrics.data_copying import ct_statistic, data_copying_ct


def reference_zu(pn: np.ndarray, qm: np.ndarray, t: np.ndarray) -> float:
    m, n = qm.shape[0], pn.shape[0]
    t_nn = NearestNeighbors(n_neighbors=1).fit(t)
    lqm, _ = t_nn.kneighbors(X=qm, n_neighbors=1)
    lpn, _ = t_nn.kneighbors(X=pn, n_neighbors=1)
    u, _ = mannwhitneyu(lqm, lpn, alternative="less")
    mean = (n * m / 2) - 0.5
    std = np.sqrt(n * m * (n + m + 1) / 12)
    return float(((u - mean) / std)[0])


def reference_c_t(pn, pn_cells, qm, qm_cells, t, t_cells, tau) -> float:
    m, n = qm.shape[0], pn.shape[0]
    k = np.max(np.unique(t_cells)) + 1
    labels, counts = np.unique(qm_cells, return_counts=True)
    qm_counts = np.zeros(k)
    qm_counts[labels.astype(int)] = counts
    pi_tau = qm_counts / m > tau
    labels, counts = np.unique(pn_cells, return_counts=True)
    pn_counts = np.zeros(k)
    pn_counts[labels.astype(int)] = counts
    pn_of_pi = pn_counts / n
    zu = np.zeros(len(np.unique(pn_cells)))
    for i in range(len(zu)):
        if (qm_cells == i).any():
            zu[i] = reference_zu(pn[pn_cells == i], qm[qm_cells == i], t[t_cells == i])
    return float(pn_of_pi[pi_tau].dot(zu[pi_tau]) / np.sum(pn_of_pi[pi_tau]))


def reference_ct_score(train: np.ndarray, test: np.ndarray, gen: np.ndarray, seed: int) -> float:
    if train.shape[1] > 64:
        pca = PCA(n_components=64, svd_solver="full").fit(train)
        train, test, gen = pca.transform(train), pca.transform(test), pca.transform(gen)
    km = KMeans(n_clusters=3, n_init=10, random_state=seed).fit(train)
    labels = [km.predict(s) for s in (train, test, gen)]
    return reference_c_t(test, labels[1], gen, labels[2], train, labels[0], tau=20 / len(gen))


def three_sets(seed: int, dim: int, copied: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training, test and generated samples of a 3-blob mixture; a share `copied` of the generated ones are
    near-copies of training samples."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=4.0, size=(3, dim))

    def draw(n: int) -> np.ndarray:
        return centres[rng.integers(0, 3, n)] + rng.normal(size=(n, dim))

    train, test, gen = draw(400), draw(200), draw(240)
    n_copies = int(copied * len(gen))
    gen[:n_copies] = train[rng.choice(400, n_copies, replace=False)] + rng.normal(scale=0.02, size=(n_copies, dim))
    return train, test, gen


@pytest.mark.parametrize(("dim", "copied"), [(16, 0.0), (16, 0.5), (96, 0.3)])
def test_equals_dgm_eval_transcription(dim: int, copied: float) -> None:
    train, test, gen = three_sets(dim, dim, copied)
    result = data_copying_ct(train, test, gen, seed=7)
    assert result.ct == pytest.approx(reference_ct_score(train, test, gen, seed=7), rel=1e-9, abs=1e-12)
    assert all(result.cell_counted)


def test_statistic_from_given_cells_equals_the_transcription_and_skips_thin_cells() -> None:
    train, test, gen = three_sets(5, 8, 0.2)
    rng = np.random.default_rng(0)
    cells = [rng.integers(0, 3, len(s)) for s in (train, test, gen)]
    cells[2][cells[2] == 1] = 0
    cells[2][:15] = 1  # 15 generated samples in cell 1: not counted (needs more than 20)
    t, p, q = (torch.from_numpy(s) for s in (train, test, gen))
    result = ct_statistic(t, cells[0], p, cells[1], q, cells[2], 3)
    assert result.cell_counted == (True, False, True)
    expected = reference_c_t(test, cells[1], gen, cells[2], train, cells[0], tau=20 / len(gen))
    assert result.ct == pytest.approx(expected, rel=1e-9)


def test_copies_of_the_training_set_score_far_below_fresh_samples() -> None:
    fresh = data_copying_ct(*three_sets(1, 16, 0.0), seed=0).ct
    copying = data_copying_ct(*three_sets(1, 16, 0.8), seed=0).ct
    assert abs(fresh) < 3 and copying < -5


def test_a_cell_without_test_samples_is_refused_in_one_line() -> None:
    train, test, gen = three_sets(2, 8, 0.0)
    cells = [np.zeros(len(s), dtype=int) for s in (train, test, gen)]
    cells[0][:5] = 1
    with pytest.raises(GanEvalError, match="cell 1 of 2 holds 5 training and 0 test samples"):
        ct_statistic(
            torch.from_numpy(train), cells[0], torch.from_numpy(test), cells[1], torch.from_numpy(gen), cells[2], 2
        )


def test_too_few_generated_samples_per_cell_are_refused_in_one_line() -> None:
    train, test, gen = three_sets(3, 8, 0.0)
    cells = [np.arange(len(s)) % 3 for s in (train, test, gen[:60])]
    t, p, q = (torch.from_numpy(s) for s in (train, test, gen[:60]))
    with pytest.raises(GanEvalError, match="none of the 3 cells holds more than 20 of the 60 generated samples"):
        ct_statistic(t, cells[0], p, cells[1], q, cells[2], 3)
