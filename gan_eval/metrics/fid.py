"""Fréchet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale
Update Rule Converge to a Local Nash Equilibrium").

FID = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)).

The trace term is computed without a general matrix square root: with
factors S1 = A A^T and S2 = B B^T, the eigenvalues of S1 S2 equal those of the
symmetric PSD matrix M = C^T C with C = B^T A, so
Tr((S1 S2)^(1/2)) = sum(sqrt(eigvalsh(M))). A factor is the lower Cholesky
factor when its matrix is positive definite, which makes C a triangular
product (BLAS `trmm`) and M a `syrk`, half the flops of general products; a
rank-deficient matrix (fewer samples than dimensions) is factored as
`V_r sqrt(W_r)` from its eigendecomposition, keeping only the eigenvalues
above D·eps·max(W): the others are rounding noise around an exact zero,
and their square roots (about sqrt(eps) each, over a thousand of them when
N is half of D) would otherwise add noise to the trace term. M is then
r×r instead of D×D. Everything is float64; tiny negative eigenvalues of M
from rounding are clipped to zero.

When the generated side is given as features `X` `(n, D)` with n <= D
(`fid_from_features`), no D×D decomposition is needed at all: the non-zero
eigenvalues of S_r S_f, with S_f = Xcᵀ Xc / (n-1), are those of the n×n
matrix Xc S_r Xcᵀ / (n-1).
"""

from __future__ import annotations

import warnings

import numpy as np
import torch
from scipy.linalg import blas

from gan_eval.errors import GanEvalError
from gan_eval.stats import FeatureStats, GanEvalWarning


def _psd_factor(sigma: torch.Tensor) -> tuple[torch.Tensor, bool]:
    """(A, is_lower_triangular) with sigma = A A^T: Cholesky `(D, D)` if positive definite, else `(D, r)` from eigh."""
    chol, info = torch.linalg.cholesky_ex(sigma)
    if int(info) == 0:
        return chol, True
    eigvals, eigvecs = torch.linalg.eigh(sigma)
    keep = eigvals > eigvals[-1].clamp_min(0) * sigma.shape[0] * torch.finfo(sigma.dtype).eps
    return eigvecs[:, keep] * eigvals[keep].sqrt(), False


def _gram_of_product(a: torch.Tensor, a_lower: bool, b: torch.Tensor, b_lower: bool) -> torch.Tensor:
    """Upper triangle of M = C^T C with C = B^T A, `(r_a, r_a)` float64 (CPU: BLAS trmm and syrk).

    `a` is `(D, r_a)` and `b` is `(D, r_b)`; a lower-triangular factor is square.
    """
    if a.device.type != "cpu":
        c = b.T @ a
        return c.T @ c
    a_np, b_np = a.numpy(), b.numpy()
    if b_lower:
        c = blas.dtrmm(1.0, b_np, a_np, side=0, lower=1, trans_a=1)
    elif a_lower:
        c = blas.dtrmm(1.0, a_np, b_np.T, side=1, lower=1)
    else:
        c = b_np.T @ a_np
    return torch.from_numpy(blas.dsyrk(1.0, c, trans=1, lower=0))


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, device: str = "cpu") -> float:
    """Tr((sigma1 sigma2)^(1/2)) for symmetric PSD `(D, D)` matrices, in float64."""
    s1 = torch.as_tensor(sigma1, dtype=torch.float64, device=device)
    s2 = torch.as_tensor(sigma2, dtype=torch.float64, device=device)
    middle = _gram_of_product(*_psd_factor(s1), *_psd_factor(s2))
    eigvals = torch.linalg.eigvalsh(middle, UPLO="U")
    return float(eigvals.clamp_min(0).sqrt().sum())


def frechet_distance(
    mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray, device: str = "cpu"
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2); means `(D,)`, covariances `(D, D)`."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"shapes do not match: mu {mu1.shape} / {mu2.shape}, sigma {sigma1.shape} / {sigma2.shape}")
    diff = mu1 - mu2
    trace_term = trace_sqrt_product(sigma1, sigma2, device)
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2 * trace_term)
    return max(value, 0.0)


def fid_from_stats(stats_a: FeatureStats, stats_b: FeatureStats, device: str = "cpu") -> float:
    """FID between two sets of feature statistics; warns when a covariance is rank-deficient."""
    for stats in (stats_a, stats_b):
        if 0 < stats.count < 2:
            raise GanEvalError(
                f"FID needs at least 2 images per set; {stats.meta.get('source', 'a set')} has {stats.count}"
            )
        if 0 < stats.count <= stats.dim:
            warnings.warn(
                f"{stats.meta.get('source', 'a set')} has {stats.count} samples for {stats.dim}-d features: "
                "its covariance is rank-deficient and FID is biased upward; compare only at equal N",
                GanEvalWarning,
                stacklevel=2,
            )
    return frechet_distance(stats_a.mean(), stats_a.covariance(), stats_b.mean(), stats_b.covariance(), device)


def fid_from_features(reference: FeatureStats, features: np.ndarray | torch.Tensor, device: str = "cpu") -> float:
    """FID of generated `features: (n, D)` against `reference` statistics (same value as from their moments).

    For n <= D the trace term comes from an n×n matrix (see the module notes);
    otherwise the features' moments go through `fid_from_stats`.
    """
    x = torch.as_tensor(features, dtype=torch.float64, device=device)
    n, dim = x.shape
    if n > dim:
        stats = FeatureStats(dim, meta={"source": "generated features"})
        stats.update(x)
        return fid_from_stats(reference, stats, device)
    if n < 2:
        raise GanEvalError(f"FID needs at least 2 images per set; the generated set has {n}")
    warnings.warn(
        f"the generated set has {n} samples for {dim}-d features: its covariance is rank-deficient and FID is "
        "biased upward; compare only at equal N",
        GanEvalWarning,
        stacklevel=2,
    )
    mu_ref = torch.as_tensor(reference.mean(), dtype=torch.float64, device=device)
    sigma_ref = torch.as_tensor(reference.covariance(), dtype=torch.float64, device=device)
    mean = x.mean(0)
    centred = x - mean
    small = centred @ sigma_ref @ centred.T / (n - 1)
    eigvals = torch.linalg.eigvalsh((small + small.T) / 2)
    trace_sqrt = float(eigvals.clamp_min(0).sqrt().sum())
    diff = mean - mu_ref
    value = float(diff @ diff + torch.trace(sigma_ref) + (centred * centred).sum() / (n - 1)) - 2 * trace_sqrt
    return max(value, 0.0)
