"""The Vendi score (Friedman & Dieng 2023, "The Vendi Score: A Diversity Evaluation Metric for Machine Learning").

The exponential of the Shannon entropy of the eigenvalues of K/n, where K is
the n×n similarity matrix of one sample set: the effective number of distinct
samples, from 1 (all alike) to n (all orthogonal). As dgm-eval computes it
(`compute_vendi_score`, order q = 1, `normalize=True`, linear kernel), K is
the cosine kernel: the Gram matrix of the rows scaled to unit length (a zero
row stays zero, as scikit-learn's `normalize` leaves it).

For X with unit rows, K/n = X Xᵀ/n and Xᵀ X/n share their non-zero
eigenvalues, so the smaller of the two (n×n or D×D) is decomposed: with
10,000 Inception features that is a 2048×2048 matrix. Float64 throughout;
eigenvalues that rounding leaves at or below zero are dropped, as the
reference does.
"""

from __future__ import annotations

import numpy as np
import torch

from gan_eval.errors import GanEvalError


def vendi_score(features: np.ndarray | torch.Tensor, device: str | torch.device = "cpu") -> float:
    """Vendi score (order 1, cosine kernel) of one set `features: (N, D)`; dimensionless, in [1, N]."""
    x = torch.as_tensor(features, dtype=torch.float64, device=device)
    if x.ndim != 2 or x.shape[0] < 1:
        raise GanEvalError(f"the Vendi score needs at least 1 sample of (N, D) features; got shape {tuple(x.shape)}")
    norms = x.norm(dim=1, keepdim=True)
    x = x / torch.where(norms > 0, norms, torch.ones_like(norms))
    n, d = x.shape
    gram = x.T @ x if n > d else x @ x.T
    eigenvalues = torch.linalg.eigvalsh(gram / n)
    positive = eigenvalues[eigenvalues > 0]
    return float(torch.exp(-(positive * positive.log()).sum()))
