"""Mode-collapse detectors in any feature space, each with a threshold a fresh reference sample passes.

- `ndb`: NDB (Richardson & Weiss 2018) fires when more bins differ than a
  perfect generator shows with probability 0.999, treating the K tests as
  independent: NDB > the 0.999 quantile of Binomial(K, α).
- `support`: birthday-paradox support (Arora & Zhang 2017) fires when the
  generated support is below half the reference's, i.e. close pairs are
  twice as common as in the reference.
- `coverage`: coverage (Naeem et al. 2020, k = 5) fires when it is more than
  0.1 below its expectation for identical distributions,
  1 - Π_{i=1..k} (N - i) / (M + N - i).
- `recall`: improved recall (Kynkäänniemi et al. 2019, k = 3) and
- `authenticity` (Alaa et al. 2022) depend on the feature dimension, so their
  baseline is measured on the reference itself: a held-out part B of the
  reference (min(M, N/2) samples, seeded) against the rest A. Each fires when
  the generated value is below the baseline by more than max(0.1, 4 SE), with
  SE the binomial standard error of the difference of the two shares.

Fidelity decides which of these can be read as collapse. `precision`
(Kynkäänniemi et al. 2019, k = 3), with the same held-out baseline, is
reported but never decides: it measures sample quality. When it fires (low
fidelity), the generated samples lie off the reference's manifold, and NDB,
coverage and recall cannot tell missing modes from poor samples (both leave
the reference's neighbourhoods empty): they are shown as inconclusive and do
not decide. Support, which counts near-duplicate pairs *within* the
generated set, still decides, at the stricter ratio 0.1 (duplicates ten times
as common as in the reference): the shipped digits DCGANs, poor samples of
every class, measure 0.21 and 0.29, five images repeated 0.01
(docs/diagnostics.md).

Recall, precision and coverage come from `gan_eval.metrics.prdc`. Sets larger than
`max_samples` are subsampled (seeded) before any detector runs, since the
pair-based detectors cost O(N²).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from gan_eval.diagnostics.authenticity import authenticity
from gan_eval.diagnostics.birthday import birthday_support
from gan_eval.diagnostics.ndb import ndb, ndb_threshold
from gan_eval.diagnostics.verdict import CollapseVerdict, DetectorResult
from gan_eval.errors import GanEvalError
from gan_eval.metrics.prdc import density_coverage, precision_recall

NDB_BINS = 100
NDB_ALPHA = 0.05
NDB_LEVEL = 0.001
SUPPORT_RATIO = 0.5
SUPPORT_RATIO_LOW_FIDELITY = 0.1
COVERAGE_MARGIN = 0.1
BASELINE_MARGIN = 0.1
BASELINE_SES = 4.0
MAX_SAMPLES = 10_000
RECALL_K = 3
COVERAGE_K = 5


def expected_coverage(n_real: int, n_fake: int, k: int = COVERAGE_K) -> float:
    """Coverage's expectation when both sets come from one distribution (Naeem et al. 2020)."""
    product = 1.0
    for i in range(1, k + 1):
        product *= (n_real - i) / (n_fake + n_real - i)
    return 1 - product


def baseline_threshold(baseline: float, n_value: int, n_baseline: int) -> float:
    """`baseline` minus max(0.1, 4 SE), SE = √(b (1 - b) (1/n_value + 1/n_baseline))."""
    se = math.sqrt(baseline * (1 - baseline) * (1 / n_value + 1 / n_baseline))
    return baseline - max(BASELINE_MARGIN, BASELINE_SES * se)


def _as_features(array: Any, what: str) -> np.ndarray:
    features = np.asarray(array, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] == 0:
        raise GanEvalError(f"{what} must be an (N, D) array of features; got shape {features.shape}")
    if not np.isfinite(features).all():
        raise GanEvalError(f"{what} hold NaN or Inf values")
    return features


def _subsample(features: np.ndarray, limit: int, rng: np.random.Generator) -> np.ndarray:
    if features.shape[0] <= limit:
        return features
    return features[np.sort(rng.choice(features.shape[0], size=limit, replace=False))]


def feature_collapse(
    real: np.ndarray,
    fake: np.ndarray,
    *,
    reference: str = "features",
    ndb_bins: int = NDB_BINS,
    max_samples: int = MAX_SAMPLES,
    seed: int = 0,
) -> CollapseVerdict:
    """Precision, NDB, birthday support, coverage, recall and authenticity of `fake: (M, D)` against `real: (N, D)`."""
    x = _as_features(real, "reference features")
    y = _as_features(fake, "generated features")
    if x.shape[1] != y.shape[1]:
        raise GanEvalError(f"reference features have {x.shape[1]} dimensions, generated ones {y.shape[1]}")
    rng = np.random.default_rng(seed)
    x, y = _subsample(x, max_samples, rng), _subsample(y, max_samples, rng)
    n, m = x.shape[0], y.shape[0]
    if n < 2 * (RECALL_K + 1) or m < COVERAGE_K + 1:
        raise GanEvalError(
            f"feature-space detectors need at least {2 * (RECALL_K + 1)} reference and {COVERAGE_K + 1} "
            f"generated samples; got {n} and {m}"
        )

    bins = ndb(x, y, bins=ndb_bins, alpha=NDB_ALPHA, seed=seed)
    birthday = birthday_support(x, y)
    coverage = density_coverage(x, y, k=COVERAGE_K).coverage
    quality = precision_recall(x, y, k=RECALL_K)
    authentic = authenticity(x, y)

    held_out = rng.permutation(n)
    size_b = max(RECALL_K + 1, min(m, n // 2))
    part_b, part_a = x[held_out[:size_b]], x[held_out[size_b:]]
    baseline = precision_recall(part_a, part_b, k=RECALL_K)
    authentic_baseline = authenticity(part_a, part_b)

    fidelity = DetectorResult(
        "precision",
        quality.precision,
        baseline_threshold(baseline.precision, m, size_b),
        "below",
        f"share of generated samples in reference k={RECALL_K} balls (fidelity)",
        decides=False,
        note="measures fidelity, not collapse; when it fires, NDB, coverage and recall are inconclusive",
    )
    low_fidelity = fidelity.fired
    confounded = {"decides": False, "note": "inconclusive: low fidelity (precision fired)"} if low_fidelity else {}
    detectors = (
        fidelity,
        DetectorResult(
            "ndb",
            bins.ndb,
            ndb_threshold(ndb_bins, NDB_ALPHA, NDB_LEVEL),
            "above",
            f"bins of {ndb_bins} whose shares differ (z-test, alpha {NDB_ALPHA})",
            **confounded,
        ),
        DetectorResult(
            "support",
            birthday.ratio,
            SUPPORT_RATIO_LOW_FIDELITY if low_fidelity else SUPPORT_RATIO,
            "below",
            "birthday-paradox support, as a share of the reference's",
            note="stricter threshold under low fidelity" if low_fidelity else "",
        ),
        DetectorResult(
            "coverage",
            coverage,
            expected_coverage(n, m) - COVERAGE_MARGIN,
            "below",
            f"share of reference k={COVERAGE_K} balls holding a generated sample",
            **confounded,
        ),
        DetectorResult(
            "recall",
            quality.recall,
            baseline_threshold(baseline.recall, n, part_a.shape[0]),
            "below",
            f"share of reference samples in generated k={RECALL_K} balls",
            **confounded,
        ),
        DetectorResult(
            "authenticity",
            authentic,
            baseline_threshold(authentic_baseline, m, size_b),
            "below",
            "share of generated samples farther from their nearest reference sample than its own neighbour",
        ),
    )
    values = {
        "ndb": bins.ndb,
        "ndb_fraction": bins.fraction,
        "ndb_js": bins.js,
        "support": birthday.support_fake,
        "support_reference": birthday.support_real,
        "support_ratio": birthday.ratio,
        "duplicate_distance": birthday.threshold_distance,
        "coverage": coverage,
        "coverage_expected": expected_coverage(n, m),
        "precision": quality.precision,
        "precision_baseline": baseline.precision,
        "low_fidelity": low_fidelity,
        "recall": quality.recall,
        "recall_baseline": baseline.recall,
        "authenticity": authentic,
        "authenticity_baseline": authentic_baseline,
    }
    settings = {
        "n_real_features": n,
        "n_fake_features": m,
        "feature_dims": int(x.shape[1]),
        "ndb_bins": ndb_bins,
        "ndb_alpha": NDB_ALPHA,
        "max_samples": max_samples,
        "seed": seed,
        "baseline_held_out": size_b,
    }
    return CollapseVerdict(reference=reference, detectors=detectors, values=values, settings=settings)
