"""The benchmarks' "generator": a Gaussian fitted to the real Inception pool3 features of the digits set.

Mean and covariance of the shipped `digits-all` statistics, with a ridge of
1e-6 of the mean variance so it is full rank; the reference is the shipped
`digits-train` statistics, held fixed as a precomputed reference is in CI.
"""

from __future__ import annotations

import numpy as np

from gan_eval.sources.references import load_reference
from gan_eval.stats import FeatureStats


def digits_gaussian() -> tuple[FeatureStats, np.ndarray, np.ndarray]:
    """The fixed reference, the model's mean `(D,)` and a lower Cholesky factor `(D, D)` of its covariance."""
    reference = load_reference("digits-train")
    model = load_reference("digits-all")
    mean, cov = model.mean(), model.covariance()
    cov = cov + np.eye(len(mean)) * 1e-6 * np.trace(cov) / len(mean)
    return reference, mean, np.linalg.cholesky(cov)
