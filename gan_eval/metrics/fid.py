"""Fréchet Inception Distance (Heusel et al. 2017, "GANs Trained by a Two Time-Scale
Update Rule Converge to a Local Nash Equilibrium").

FID = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2) - 2 Tr((S1 S2)^(1/2)).

The trace term is computed without a general matrix square root. On CPU,
when one covariance is positive definite (S_b = L L^T), LAPACK forms
L^T S_a L (`sygst`), whose eigenvalues are those of S_a S_b (one Cholesky, one
`sygst`, one tridiagonal reduction: about 0.4 s for D = 2048 on two cores);
Tr((S1 S2)^(1/2)) is the sum of their square roots. A covariance of n
samples has rank n - 1: when n <= D and n is known, only the n - 1 largest
eigenvalues are kept, the others being rounding noise around exact zeros (a
thousand square roots of about sqrt(eps) each would otherwise add noise).
A cut by magnitude is not safe: on real pool3 features the genuine spectrum
of S_a S_b reaches 1e-16 of its maximum.

When neither matrix is positive definite, or on a GPU, each is factored as
S = A A^T (Cholesky, or `V_r sqrt(W_r)` from its eigendecomposition keeping
the r largest eigenvalues), and the trace term is the sum of the singular
values of B^T A. Everything is float64.

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

from gan_eval.errors import GanEvalError, GanEvalWarning, caller_stacklevel
from gan_eval.stats import FeatureStats

# Relative to ||mu1 - mu2||^2 + Tr(S1) + Tr(S2): the largest negative FID taken for rounding noise around 0.
# Equal float64 statistics give about -1e-15 of it (D = 2048, full rank or not).
NEGATIVE_FID_TOLERANCE = 1e-10


def _sum_sqrt(eigvals: np.ndarray | torch.Tensor) -> float:
    """Sum of square roots, with tiny negative eigenvalues from rounding clipped to zero."""
    return float(torch.as_tensor(eigvals).clamp_min(0).sqrt().sum())


def _trace_sqrt_generalized(
    sigma1: np.ndarray, sigma2: np.ndarray, ranks: tuple[int | None, int | None]
) -> float | None:
    """Tr((sigma1 sigma2)^(1/2)) by LAPACK `potrf` + `sygst` (type 2) + `syevr`; None when neither is positive definite.

    With sigma_b = L L^T, the eigenvalues of L^T sigma_a L are those of
    sigma_a sigma_b. When sigma_a's rank r_a < D is known, only the r_a
    largest are kept: the rest are rounding noise around exact zeros.
    """
    for (a, rank_a), b in (((sigma2, ranks[1]), sigma1), ((sigma1, ranks[0]), sigma2)):
        # transposes: Fortran-ordered views of the same symmetric matrices, so LAPACK makes no transposing copy
        factor, info = scipy.linalg.lapack.dpotrf(b.T, lower=1, clean=0)
        if info != 0:
            continue
        middle, info = scipy.linalg.lapack.dsygst(a.T, factor, itype=2, lower=1)
        if info != 0:
            raise np.linalg.LinAlgError(f"LAPACK dsygst failed (info {info})")
        eigvals = scipy.linalg.eigh(middle, lower=True, eigvals_only=True, overwrite_a=True, driver="evr")
        if rank_a is not None and rank_a < len(eigvals):
            eigvals = eigvals[len(eigvals) - rank_a :]
        return _sum_sqrt(eigvals)
    return None


def _psd_factor(sigma: torch.Tensor, rank: int | None) -> torch.Tensor:
    """A with sigma = A A^T: the Cholesky factor `(D, D)` if positive definite, else `(D, r)` from eigh.

    r is `rank` when known, else the eigenvalues above D·eps·max are kept.
    """
    chol, info = torch.linalg.cholesky_ex(sigma)
    if int(info) == 0:
        return chol
    eigvals, eigvecs = torch.linalg.eigh(sigma)  # ascending
    if rank is None:
        keep = eigvals > eigvals[-1].clamp_min(0) * sigma.shape[0] * torch.finfo(sigma.dtype).eps
    else:
        keep = torch.arange(len(eigvals), device=eigvals.device) >= len(eigvals) - rank
    return eigvecs[:, keep] * eigvals[keep].clamp_min(0).sqrt()


def _trace_sqrt_factored(s1: torch.Tensor, s2: torch.Tensor, ranks: tuple[int | None, int | None]) -> float:
    """Tr((s1 s2)^(1/2)) from factors s1 = A A^T, s2 = B B^T: the sum of the singular values of C = B^T A.

    The eigenvalues of s1 s2 are the squared singular values of C. Taking the
    singular values directly, rather than eigenvalues of C^T C, keeps the small
    ones accurate to eps·max instead of eps·max².
    """
    cross = _psd_factor(s2, ranks[1]).T @ _psd_factor(s1, ranks[0])
    return float(torch.linalg.svdvals(cross).sum())


def trace_sqrt_product(
    sigma1: np.ndarray,
    sigma2: np.ndarray,
    device: str = "cpu",
    ranks: tuple[int | None, int | None] = (None, None),
) -> float:
    """Tr((sigma1 sigma2)^(1/2)) for symmetric PSD `(D, D)` matrices, in float64.

    `ranks`: each covariance's rank where known (min(n - 1, D) for n samples);
    it lets the CPU route drop rounding noise exactly.
    """
    if torch.device(device).type == "cpu":
        value = _trace_sqrt_generalized(np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64), ranks)
        if value is not None:
            return value
    s1 = torch.as_tensor(sigma1, dtype=torch.float64, device=device)
    s2 = torch.as_tensor(sigma2, dtype=torch.float64, device=device)
    return _trace_sqrt_factored(s1, s2, ranks)


def frechet_distance(
    mu1: np.ndarray,
    sigma1: np.ndarray,
    mu2: np.ndarray,
    sigma2: np.ndarray,
    device: str = "cpu",
    counts: tuple[int, int] = (0, 0),
    names: tuple[str, str] = ("the first set", "the second set"),
) -> float:
    """Fréchet distance between N(mu1, sigma1) and N(mu2, sigma2); means `(D,)`, covariances `(D, D)`.

    `counts`: the distinct samples behind each covariance (0: unknown); a
    covariance of n samples has rank min(n - 1, D), which makes the trace
    term exact when a side is rank-deficient. `names` label the two sides in
    errors (see `checked_distance`).
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    sigma1, sigma2 = np.asarray(sigma1, np.float64), np.asarray(sigma2, np.float64)
    if mu1.shape != mu2.shape or sigma1.shape != sigma2.shape or sigma1.shape != mu1.shape * 2:
        raise ValueError(f"shapes do not match: mu {mu1.shape} / {mu2.shape}, sigma {sigma1.shape} / {sigma2.shape}")
    diff = mu1 - mu2
    ranks = tuple(min(n - 1, len(mu1)) if n > 0 else None for n in counts)
    trace_term = trace_sqrt_product(sigma1, sigma2, device, ranks)
    return checked_distance(float(diff @ diff + np.trace(sigma1) + np.trace(sigma2)), trace_term, names)


def checked_distance(terms: float, trace_sqrt: float, names: tuple[str, str]) -> float:
    """FID = `terms - 2 * trace_sqrt`, with `terms` = ||mu1 - mu2||^2 + Tr(S1) + Tr(S2).

    A negative result within `NEGATIVE_FID_TOLERANCE * terms` is rounding
    noise around an exact 0 and gives 0.0. Anything more negative, or a
    non-finite value, cannot come from two covariances (symmetric, positive
    semi-definite) and is a `GanEvalError` naming both inputs.
    """
    value = terms - 2 * trace_sqrt
    if not np.isfinite(value):
        raise GanEvalError(f"FID of {names[0]} and {names[1]} is {value}: their statistics overflow float64")
    if value >= 0:
        return value
    if -value <= NEGATIVE_FID_TOLERANCE * terms:
        return 0.0
    raise GanEvalError(
        f"FID of {names[0]} and {names[1]} is {value:.6g}, negative beyond rounding (its terms sum to "
        f"{terms:.6g}): a covariance is not positive semi-definite"
    )


def fid_from_stats(stats_a: FeatureStats, stats_b: FeatureStats, device: str = "cpu") -> float:
    """FID between two sets of feature statistics; warns when a covariance is rank-deficient."""
    for stats in (stats_a, stats_b):
        if 0 < stats.count < 2:
            raise GanEvalError(f"FID needs at least 2 images per set; {stats.name} has {stats.count}")
        if 0 < stats.count <= stats.dim:
            warnings.warn(
                f"{stats.name} has {stats.count} samples for {stats.dim}-d features: "
                "its covariance is rank-deficient and FID is biased upward; compare only at equal N",
                GanEvalWarning,
                stacklevel=caller_stacklevel(),
            )
    counts = (stats_a.count, stats_b.count)
    names = (_name(stats_a, "the first set"), _name(stats_b, "the second set"))
    return frechet_distance(
        stats_a.mean(), stats_a.covariance(), stats_b.mean(), stats_b.covariance(), device, counts, names
    )


def _name(stats: FeatureStats, default: str) -> str:
    """Where statistics came from, for messages: the file they were read from, else their source."""
    return str(stats.meta.get("file", stats.meta.get("source", default)))


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
        stacklevel=caller_stacklevel(),
    )
    mu_ref = torch.as_tensor(reference.mean(), dtype=torch.float64, device=device)
    sigma_ref = torch.as_tensor(reference.covariance(), dtype=torch.float64, device=device)
    mean = x.mean(0)
    centred = x - mean
    small = centred @ sigma_ref @ centred.T / (n - 1)
    eigvals = torch.linalg.eigvalsh((small + small.T) / 2)  # ascending
    # The centred rows sum to zero, so the rank is n - 1 at most: the smallest eigenvalue is rounding noise
    # around 0, whose square root (about 1e-8 of the largest) would enter the sum.
    trace_sqrt = _sum_sqrt(eigvals[1:])
    diff = mean - mu_ref
    terms = float(diff @ diff + torch.trace(sigma_ref) + (centred * centred).sum() / (n - 1))
    return checked_distance(terms, trace_sqrt, (_name(reference, "the reference"), "the generated features"))
