"""Naive float64 NumPy versions of the metrics, written from the papers' formulas for tests.

Dense distance matrices and plain loops: fine at test sizes, and independent
of the library's blockwise and factorised code. Random subsets are drawn the
way the protocol defines them (`RandomState(seed)`), so results are comparable.
"""

from __future__ import annotations

import numpy as np
import scipy.linalg


def naive_fid(a: np.ndarray, b: np.ndarray) -> float:
    mu1, mu2 = a.mean(0), b.mean(0)
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * np.trace(covmean))


def naive_kid(a: np.ndarray, b: np.ndarray, subsets: int, size: int, seed: int) -> tuple[float, float]:
    rng = np.random.RandomState(seed)
    d = a.shape[1]
    values = []
    for _ in range(subsets):
        x = a[rng.choice(len(a), size, replace=False)]
        y = b[rng.choice(len(b), size, replace=False)]
        kxx, kyy, kxy = [(p @ q.T / d + 1) ** 3 for p, q in ((x, x), (y, y), (x, y))]
        within = (kxx.sum() - np.trace(kxx) + kyy.sum() - np.trace(kyy)) / (size * (size - 1))
        values.append(within - 2 * kxy.mean())
    return float(np.mean(values)), float(np.std(values))


def kth_radius(x: np.ndarray, k: int) -> np.ndarray:
    d = np.sqrt(((x[:, None, :] - x[None, :, :]) ** 2).sum(-1))
    return np.sort(d, axis=1)[:, k]


def naive_prdc(real: np.ndarray, fake: np.ndarray, k_pr: int, k_dc: int) -> dict[str, float]:
    d = np.sqrt(((fake[:, None, :] - real[None, :, :]) ** 2).sum(-1))
    r_real, r_fake = kth_radius(real, k_pr), kth_radius(fake, k_pr)
    r_dc = kth_radius(real, k_dc)
    return {
        "precision": float((d <= r_real[None, :]).any(1).mean()),
        "recall": float((d <= r_fake[:, None]).any(0).mean()),
        "density": float((d <= r_dc[None, :]).sum() / (k_dc * len(fake))),
        "coverage": float((d <= r_dc[None, :]).any(0).mean()),
    }


def naive_fid_small_n(a: np.ndarray, b: np.ndarray) -> float:
    """FID for n < D without sqrtm: the non-zero eigenvalues of S1 S2 are the squared singular values
    of Xc1 Xc2^T / sqrt((n1-1)(n2-1)) (sqrtm takes minutes on singular 2048x2048 matrices)."""
    mu1, mu2 = a.mean(0), b.mean(0)
    small = (a - mu1) @ (b - mu2).T / np.sqrt((len(a) - 1) * (len(b) - 1))
    trace_sqrt = np.linalg.svd(small, compute_uv=False).sum()
    s1, s2 = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1) + np.trace(s2) - 2 * trace_sqrt)


def naive_fid_inf(real: np.ndarray, fake: np.ndarray, seed: int, points: int, fid=naive_fid) -> tuple[float, float]:
    rng = np.random.RandomState(seed)
    n = len(fake)
    sizes = sorted({round(v) for v in np.linspace(n // 10, n, points)})
    fids = [fid(real, fake[rng.choice(n, s, replace=False)]) for s in sizes]
    slope, intercept = np.polyfit(1 / np.asarray(sizes, dtype=float), fids, 1)
    return float(intercept), float(slope)


def naive_inception_score(logits: np.ndarray, splits: int, seed: int) -> tuple[float, float]:
    """IS mean and std over `splits` parts after a `RandomState(seed)` shuffle."""
    x = logits[np.random.RandomState(seed).permutation(len(logits))].astype(np.float64)
    p = np.exp(x - x.max(1, keepdims=True))
    p /= p.sum(1, keepdims=True)
    scores = []
    for i in range(splits):
        part = p[i * len(p) // splits : (i + 1) * len(p) // splits]
        marginal = part.mean(0)
        scores.append(np.exp(np.mean([np.sum(row * (np.log(row) - np.log(marginal))) for row in part])))
    return float(np.mean(scores)), float(np.std(scores))
