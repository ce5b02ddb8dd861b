"""Fréchet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale
Update Rule Converge to a Local Nash Equilibrium").

FID = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)).

The trace term is computed without a general matrix square root. On CPU,
when one covariance is positive definite (S_b = L L^T), LAPACK's
generalized symmetric eigensolver (`sygv`, type 2) forms L^T S_a L and
returns its eigenvalues, which are those of S_a S_b (one Cholesky, one
`sygst`, one tridiagonal reduction: about 0.4 s for D = 2048 on two cores);
Tr((S1 S2)^(1/2)) is the sum of their square roots. Eigenvalues at or below
D·eps·max are dropped: they are rounding noise around exact zeros (S_a
rank-deficient), and the square roots of a thousand of them (about sqrt(eps)
each) would otherwise add noise to the trace term.

When neither matrix is positive definite (both sides have fewer samples
than dimensions), or on a GPU, S1 is factored as A A^T (its Cholesky factor,
or `V_r sqrt(W_r)` from its eigendecomposition keeping the r eigenvalues
above D·eps·max(W)), and the eigenvalues of S1 S2 are those of the r×r matrix
A^T S2 A, with the same noise threshold. Everything is float64.

When the generated side is given as features `X` `(n, D)` with n <= D
(`fid_from_features`), no D×D decomposition is needed at all: the non-zero
eigenvalues of S_r S_f, with S_f = Xcᵀ Xc / (n-1), are those of the n×n
matrix Xc S_r Xcᵀ / (n-1).
"""

from __future__ import annotations

import warnings

import numpy as np
import scipy.linalg
import torch

from gan_eval.errors import GanEvalError
from gan_eval.stats import FeatureStats, GanEvalWarning


def _sum_sqrt_significant(eigvals: np.ndarray | torch.Tensor) -> float:
    """Sum of square roots of the eigenvalues above D·eps·max (the others are rounding noise around zeros)."""
    eigvals = torch.as_tensor(eigvals)
    keep = eigvals > eigvals.max().clamp_min(0) * len(eigvals) * torch.finfo(torch.float64).eps
    return float(eigvals[keep].sqrt().sum())


def _trace_sqrt_generalized(sigma1: np.ndarray, sigma2: np.ndarray) -> float | None:
    """Tr((sigma1 sigma2)^(1/2)) through LAPACK `sygv` (type 2), or None when neither matrix is positive definite."""
    for a, b in ((sigma2, sigma1), (sigma1, sigma2)):
        # the transposes are Fortran-ordered views of the same symmetric matrices: no transposing copy for LAPACK
        try:
            eigvals = scipy.linalg.eigh(a.T, b.T, type=2, eigvals_only=True, driver="gv")
        except np.linalg.LinAlgError:
            continue
        return _sum_sqrt_significant(eigvals)
    return None


def _trace_sqrt_factored(s1: torch.Tensor, s2: torch.Tensor) -> float:
    """Tr((s1 s2)^(1/2)) from a factor s1 = A A^T (Cholesky, else truncated eigh) and the eigenvalues of A^T s2 A."""
    factor, info = torch.linalg.cholesky_ex(s1)
    if int(info) != 0:
        eigvals, eigvecs = torch.linalg.eigh(s1)
        keep = eigvals > eigvals[-1].clamp_min(0) * s1.shape[0] * torch.finfo(s1.dtype).eps
        factor = eigvecs[:, keep] * eigvals[keep].sqrt()
    middle = factor.T @ s2 @ factor
    return _sum_sqrt_significant(torch.linalg.eigvalsh((middle + middle.T) / 2).cpu())


def trace_sqrt_product(sigma1: np.ndarray, sigma2: np.ndarray, device: str = "cpu") -> float:
    """Tr((sigma1 sigma2)^(1/2)) for symmetric PSD `(D, D)` matrices, in float64."""
    if torch.device(device).type == "cpu":
        value = _trace_sqrt_generalized(np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64))
        if value is not None:
            return value
    s1 = torch.as_tensor(sigma1, dtype=torch.float64, device=device)
    s2 = torch.as_tensor(sigma2, dtype=torch.float64, device=device)
    return _trace_sqrt_factored(s1, s2)


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
