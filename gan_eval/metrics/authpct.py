"""Authenticity percentage (Alaa et al. 2022, "How Faithful is your Synthetic Data? Sample-level Metrics for
Evaluating and Auditing Generative Models"), as dgm-eval's `authpct` reports it.

A generated sample g is authentic when d(g, x*) > d_NN(x*): x* is the
training sample nearest to g, and d_NN(x*) the distance from x* to its own
nearest other training sample. A generator that copies training samples
puts its copies closer to their source than any other training sample is.
AuthPct is the authentic share of the generated samples, in percent; a tie
counts as not authentic (dgm-eval compares with `<`). The set passed as the
training set must be the one the generator learnt from for the number to
mean memorisation.

Euclidean distances in float64, nearest neighbours found in row blocks
(`gan_eval.metrics.nearest`), so memory stays at one block of rows; each
training sample's own nearest distance from half a pass over the pairs.
"""

from __future__ import annotations

import numpy as np
import torch

from gan_eval.errors import GanEvalError
from gan_eval.metrics.nearest import nearest_neighbours, smallest_within
from gan_eval.metrics.prdc import as_float64


def authentic_samples(
    train: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, device: str | torch.device = "cpu"
) -> torch.Tensor:
    """Whether each row of `fake: (M, D)` is authentic against `train: (N, D)`, `(M,)` bool."""
    x, y = as_float64(train, device), as_float64(fake, device)
    if len(x) < 2 or len(y) < 1:
        raise GanEvalError(
            f"authenticity needs at least 2 training samples and 1 generated sample; got {len(x)} and {len(y)}"
        )
    train_gap = smallest_within(x, 1)[:, 0].sqrt()
    to_train, nearest = nearest_neighbours(y, x)
    return train_gap[nearest] < to_train


def authpct(
    train: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, device: str | torch.device = "cpu"
) -> float:
    """Percentage of `fake: (M, D)` that is authentic against `train: (N, D)`, in [0, 100]."""
    return 100.0 * float(authentic_samples(train, fake, device).double().mean())
