"""The C_T data-copying test (Meehan, Chaudhuri & Dasgupta 2020, "A Non-Parametric Test to Detect
Data-Copying in Generative Models"), as dgm-eval's `ct` runs it (commit 74c79f7, `metrics/ct.py`).

Three sets: T, the generator's training set; P, held-out test samples of the
same distribution; Q, generated samples. Features wider than 64 are first
projected on the 64 leading principal components of T; T is partitioned into
3 cells by k-means (10 restarts), and P and Q are assigned to the nearest
centre. In each cell π, the distances of P's and Q's samples to their
nearest training sample of that cell are compared with the Mann-Whitney U
statistic of Q against P, z-scored under the null with a continuity
correction: Z_U = (U - (nm/2 - 0.5)) / √(nm(n + m + 1)/12) (no tie
correction). C_T is the average of Z_U over the cells holding more than 20
generated samples, weighted by each cell's share of P. C_T ≪ 0 means Q is
closer to T than fresh data is (copying); ≫ 0, farther (underfitting); 0 is
ideal.

Differences from the reference, both to make the number reproducible: the
principal components are exact (float64 eigendecomposition of T's
covariance; scikit-learn's `PCA` picks a randomised solver at this size),
and k-means is seeded. Nearest neighbours in float64 over row blocks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from scipy.stats import rankdata
from sklearn.cluster import KMeans

from gan_eval.errors import GanEvalError
from gan_eval.metrics.nearest import nearest_neighbours
from gan_eval.metrics.prdc import as_float64

PCA_DIMS = 64
CELLS = 3
KMEANS_RESTARTS = 10
MIN_FAKE_PER_CELL = 20  # a cell counts when it holds more generated samples than this (dgm-eval's tau = 20 / m)


@dataclass(frozen=True)
class DataCopying:
    """C_T, and per cell its Z_U score (0 for a cell without generated samples) and whether it counted in C_T
    (more than 20 generated samples)."""

    ct: float
    cell_z: tuple[float, ...]
    cell_counted: tuple[bool, ...]


def principal_projection(train: torch.Tensor, dims: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(mean `(D,)`, the `dims` leading principal directions `(D, dims)`) of `train: (N, D)` float64."""
    mean = train.mean(dim=0)
    centred = train - mean
    covariance = centred.T @ centred / (len(train) - 1)
    _, vectors = torch.linalg.eigh(covariance)  # ascending eigenvalues
    return mean, vectors[:, -dims:].flip(1)


def mann_whitney_z(generated: np.ndarray, test: np.ndarray) -> float:
    """Z-scored Mann-Whitney U of `generated: (m,)` against `test: (n,)` (ties share their mean rank)."""
    m, n = len(generated), len(test)
    ranks = rankdata(np.concatenate((generated, test)))
    u = ranks[:m].sum() - m * (m + 1) / 2
    return float((u - (n * m / 2 - 0.5)) / np.sqrt(n * m * (n + m + 1) / 12))


def ct_statistic(
    train: torch.Tensor,
    train_cells: np.ndarray,
    test: torch.Tensor,
    test_cells: np.ndarray,
    fake: torch.Tensor,
    fake_cells: np.ndarray,
    cells: int,
) -> DataCopying:
    """C_T from the three sets `(·, D)` float64 and their cell labels in [0, cells)."""
    z = np.zeros(cells)
    fake_counts = np.bincount(fake_cells, minlength=cells)
    counted = fake_counts > MIN_FAKE_PER_CELL
    test_share = np.bincount(test_cells, minlength=cells) / len(test_cells)
    for cell in range(cells):
        in_train, in_test = train[train_cells == cell], test[test_cells == cell]
        if len(in_train) == 0 or len(in_test) == 0:
            raise GanEvalError(
                f"C_T: cell {cell} of {cells} holds {len(in_train)} training and {len(in_test)} test samples; "
                "each needs both (give more samples)"
            )
        if fake_counts[cell]:
            to_train_fake, _ = nearest_neighbours(fake[fake_cells == cell], in_train)
            to_train_test, _ = nearest_neighbours(in_test, in_train)
            z[cell] = mann_whitney_z(to_train_fake.cpu().numpy(), to_train_test.cpu().numpy())
    if not counted.any():
        raise GanEvalError(
            f"C_T: none of the {cells} cells holds more than {MIN_FAKE_PER_CELL} of the {len(fake)} generated "
            "samples (give more generated samples)"
        )
    ct = float(test_share[counted] @ z[counted] / test_share[counted].sum())
    return DataCopying(ct, tuple(float(v) for v in z), tuple(bool(c) for c in counted))


def data_copying_ct(
    train: np.ndarray | torch.Tensor,
    test: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    cells: int = CELLS,
    pca_dims: int = PCA_DIMS,
    seed: int = 0,
    device: str | torch.device = "cpu",
) -> DataCopying:
    """C_T of `fake: (M, D)` against the training set `train: (L, D)`, with `test: (N, D)` as fresh data."""
    t, p, q = as_float64(train, device), as_float64(test, device), as_float64(fake, device)
    if t.shape[1] > pca_dims:
        if len(t) <= pca_dims:
            raise GanEvalError(f"C_T: {len(t)} training samples cannot give {pca_dims} principal components")
        mean, directions = principal_projection(t, pca_dims)
        t, p, q = ((s - mean) @ directions for s in (t, p, q))
    kmeans = KMeans(n_clusters=cells, n_init=KMEANS_RESTARTS, random_state=seed).fit(t.cpu().numpy())
    labels = [kmeans.predict(s.cpu().numpy()) for s in (t, p, q)]
    return ct_statistic(t, labels[0], p, labels[1], q, labels[2], cells)
