"""Mode counting where the modes are known: 2-D mixtures and labelled samples.

The protocol of VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018):

- On a known mixture of isotropic Gaussians, a generated sample is *high
  quality* when its distance to the nearest mode centre is at most 3σ (the
  Mahalanobis distance with the mode's σ; all modes share σ here, so the
  nearest centre is the Euclidean one). Only high-quality samples enter the
  mode histogram, each counted at its nearest centre.
- With labels (Stacked MNIST, or any classifier), each sample's label is its
  mode; the modes are the classes the reference holds. Generated samples with
  a label the reference never shows are *off-mode* and, like low-quality 2-D
  samples, stay out of the histogram.
- A mode is covered when at least `min_count` samples fall in it (1 in the
  papers).
- The reverse KL is KL(p_fake ‖ p_ref) = Σ_k p_fake(k) log(p_fake(k) / p_ref(k)),
  natural log, over the histogram normalised to sum 1. Empty generated bins
  contribute 0 (0 log 0 = 0); p_ref is uniform on a mixture with equal weights
  and the reference's own label histogram otherwise, positive on every mode by
  construction, so the sum is finite. With no sample in any mode it is
  undefined (NaN).

Thresholds come from the null hypothesis "the generator is the reference":
`allowed_missing` and `kl_threshold` simulate the histogram of a perfect
generator (multinomial draws, seeded) and take the 1 - α quantiles of the
number of missed modes and of the KL. The missed-modes null uses the number of
in-mode samples a perfect generator of the same size gives (N (1 - e^-4.5) on
a mixture, all M with labels), so samples wasted off the modes count against
coverage; the KL null uses the actual number of in-mode samples.
"""

from __future__ import annotations

import numpy as np

from gan_eval.datasets.toy2d import Mixture2D
from gan_eval.diagnostics.verdict import CollapseVerdict, DetectorResult
from gan_eval.errors import GanEvalError

HIGH_QUALITY_SIGMAS = 3.0
NULL_ALPHA = 0.001
NULL_DRAWS = 5000
NULL_SEED = 0


def mixture_assignments(mixture: Mixture2D, samples: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre `(N,)` int64 and whether each sample is high quality `(N,)` bool.

    `samples: (N, 2)` in the mixture's coordinates.
    """
    points = np.asarray(samples, dtype=np.float64)
    d2 = ((points[:, None, :] - mixture.centres[None, :, :]) ** 2).sum(axis=2)
    nearest = d2.argmin(axis=1)
    within = d2[np.arange(points.shape[0]), nearest] <= (HIGH_QUALITY_SIGMAS * mixture.sigma) ** 2
    return nearest, within


def reverse_kl(counts: np.ndarray, reference_probs: np.ndarray) -> float:
    """KL(p ‖ q) in nats with p = `counts / counts.sum()` and q = `reference_probs`, both `(K,)`.

    Bins with p = 0 contribute 0; NaN when `counts` sums to 0.
    """
    total = counts.sum()
    if total == 0:
        return float("nan")
    p = counts / total
    nonzero = p > 0
    return float(np.sum(p[nonzero] * np.log(p[nonzero] / reference_probs[nonzero])))


def allowed_missing(
    reference_probs: np.ndarray,
    n_fake: int,
    min_count: int = 1,
    alpha: float = NULL_ALPHA,
    draws: int = NULL_DRAWS,
    seed: int = NULL_SEED,
) -> int:
    """The most modes a perfect generator misses with probability 1 - α, out of `reference_probs: (K,)`.

    A mode is missed when fewer than `min_count` of the `n_fake` samples fall in it.
    """
    rng = np.random.default_rng(seed)
    fake = rng.multinomial(n_fake, np.asarray(reference_probs, dtype=np.float64), size=draws)
    missing = (fake < min_count).sum(axis=1)
    return int(np.quantile(missing, 1 - alpha, method="higher"))


def kl_threshold(
    reference_probs: np.ndarray,
    n_fake: int,
    n_reference: int | None = None,
    alpha: float = NULL_ALPHA,
    draws: int = NULL_DRAWS,
    seed: int = NULL_SEED,
) -> float:
    """The largest reverse KL a perfect generator's `n_fake` samples show with probability 1 - α.

    With `n_reference`, the reference histogram is itself a sample of that
    size, and each draw redraws it too (the KL then compares two noisy
    histograms, as it does on real data); generated samples in modes the
    redrawn reference lacks are left out, as off-mode samples are.
    """
    rng = np.random.default_rng(seed)
    probs = np.asarray(reference_probs, dtype=np.float64)
    fake = rng.multinomial(n_fake, probs, size=draws)
    if n_reference is None:
        ref_probs = np.broadcast_to(probs, fake.shape)
        on_mode = fake
    else:
        ref = rng.multinomial(n_reference, probs, size=draws)
        ref_probs = ref / n_reference
        on_mode = np.where(ref > 0, fake, 0)
    p = on_mode / np.maximum(on_mode.sum(axis=1, keepdims=True), 1)
    # Where p = 0 the ratio is set to 1, so the term is 0 even where the reference draw is 0.
    ratio = np.divide(p, ref_probs, out=np.ones_like(p), where=p > 0)
    kl = (p * np.log(ratio)).sum(axis=1)
    return float(np.quantile(kl, 1 - alpha, method="higher"))


def _mode_detectors(
    counts: np.ndarray,
    reference_probs: np.ndarray,
    n_reference: int | None,
    min_count: int,
    n_perfect: int,
) -> tuple[list[DetectorResult], dict[str, float | int]]:
    """The `modes` and `mode_kl` detectors; `n_perfect` samples is what a perfect generator puts in the modes."""
    n_on_mode = int(counts.sum())
    total = int(counts.shape[0])
    covered = int((counts >= min_count).sum())
    kl = reverse_kl(counts, reference_probs)
    detectors = [
        DetectorResult(
            name="modes",
            value=covered,
            threshold=total - allowed_missing(reference_probs, n_perfect, min_count),
            fires_when="below",
            description=f"modes with at least {min_count} sample(s), of {total}",
        )
    ]
    if n_on_mode > 0:
        detectors.append(
            DetectorResult(
                name="mode_kl",
                value=kl,
                threshold=kl_threshold(reference_probs, n_on_mode, n_reference),
                fires_when="above",
                description="reverse KL of the mode histogram to the reference's, nats",
            )
        )
    values = {"modes_covered": covered, "modes_total": total, "mode_kl": kl}
    return detectors, values


def _check_min_count(min_count: int) -> None:
    if min_count < 1:
        raise GanEvalError(f"--min-count {min_count}: must be at least 1")


def mixture_collapse(mixture: Mixture2D, samples: np.ndarray, min_count: int = 1) -> CollapseVerdict:
    """Modes covered, high-quality share and reverse KL of `samples: (N, 2)` on a known mixture."""
    _check_min_count(min_count)
    points = np.asarray(samples)
    if points.ndim != 2 or points.shape[1] != 2 or points.shape[0] == 0:
        raise GanEvalError(f"{mixture.name} samples must be an (N, 2) array with N >= 1; got shape {points.shape}")
    if not np.isfinite(points).all():
        raise GanEvalError(f"{mixture.name} samples hold NaN or Inf values")
    nearest, high_quality = mixture_assignments(mixture, points)
    counts = np.bincount(nearest[high_quality], minlength=mixture.num_modes)
    uniform = np.full(mixture.num_modes, 1.0 / mixture.num_modes)
    expected_high_quality = 1 - np.exp(-(HIGH_QUALITY_SIGMAS**2) / 2)
    n_perfect = round(points.shape[0] * expected_high_quality)
    detectors, values = _mode_detectors(counts, uniform, None, min_count, n_perfect)
    values = {
        **values,
        "high_quality": float(high_quality.mean()),
        "high_quality_expected": float(expected_high_quality),
        "mode_counts": counts.tolist(),
    }
    settings = {
        "n_fake": int(points.shape[0]),
        "min_count": min_count,
        "high_quality_sigmas": HIGH_QUALITY_SIGMAS,
        "sigma": mixture.sigma,
        "null_alpha": NULL_ALPHA,
        "null_draws": NULL_DRAWS,
    }
    return CollapseVerdict(reference=mixture.name, detectors=tuple(detectors), values=values, settings=settings)


def label_collapse(
    real_labels: np.ndarray, fake_labels: np.ndarray, min_count: int = 1, reference: str = "labels"
) -> CollapseVerdict:
    """Modes covered and reverse KL of the generated label histogram against the reference's.

    `real_labels: (N,)` and `fake_labels: (M,)` are non-negative integer class labels.
    """
    _check_min_count(min_count)
    real = _labels(real_labels, "reference labels")
    fake = _labels(fake_labels, "generated labels")
    size = int(max(real.max(), fake.max())) + 1
    real_counts = np.bincount(real, minlength=size)
    modes = np.flatnonzero(real_counts)
    fake_counts = np.bincount(fake, minlength=size)
    counts = fake_counts[modes]
    ref_probs = real_counts[modes] / real.shape[0]
    detectors, values = _mode_detectors(counts, ref_probs, int(real.shape[0]), min_count, int(fake.shape[0]))
    values = {**values, "off_mode": float(1 - counts.sum() / fake.shape[0])}
    settings = {
        "n_real": int(real.shape[0]),
        "n_fake": int(fake.shape[0]),
        "min_count": min_count,
        "null_alpha": NULL_ALPHA,
        "null_draws": NULL_DRAWS,
    }
    return CollapseVerdict(reference=reference, detectors=tuple(detectors), values=values, settings=settings)


def _labels(labels: np.ndarray, what: str) -> np.ndarray:
    array = np.asarray(labels)
    if array.ndim != 1 or array.shape[0] == 0:
        raise GanEvalError(f"{what} must be a non-empty (N,) array; got shape {array.shape}")
    if not np.issubdtype(array.dtype, np.integer) or array.min() < 0:
        raise GanEvalError(f"{what} must be non-negative integers")
    return array.astype(np.int64)
