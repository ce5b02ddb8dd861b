"""Inception Score (Salimans et al. 2016, "Improved Techniques for Training GANs").

IS = exp(E_x KL(p(y|x) ‖ p(y))) on the softmax of the 1008-way logits
without the output bias, over `splits` equal parts of the samples, reported
as mean and std (`np.std`) over the parts. Samples are shuffled first with
`RandomState(seed).permutation`, as torch-fidelity does (seed 2020). Part i
holds rows `i*N//splits` to `(i+1)*N//splits`. All arithmetic is float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from gan_eval.errors import GanEvalError

DEFAULT_SPLITS = 10
DEFAULT_SEED = 2020


@dataclass(frozen=True)
class InceptionScoreResult:
    """IS mean and std over splits."""

    mean: float
    std: float
    splits: int


def inception_score(
    logits: np.ndarray | torch.Tensor,
    splits: int = DEFAULT_SPLITS,
    shuffle: bool = True,
    seed: int = DEFAULT_SEED,
) -> InceptionScoreResult:
    """Inception Score of `logits: (N, C)` (unbiased logits, before softmax)."""
    x = torch.as_tensor(logits, dtype=torch.float64)
    n = x.shape[0]
    if n < splits:
        raise GanEvalError(f"the Inception Score needs at least {splits} samples for {splits} splits; got {n}")
    if shuffle:
        x = x[torch.from_numpy(np.random.RandomState(seed).permutation(n)).to(x.device)]
    log_p = x.log_softmax(dim=1)
    scores = []
    for i in range(splits):
        part = log_p[i * n // splits : (i + 1) * n // splits]
        log_marginal = part.exp().mean(dim=0).log()
        kl = (part.exp() * (part - log_marginal)).sum(dim=1).mean()
        scores.append(float(kl.exp()))
    return InceptionScoreResult(float(np.mean(scores)), float(np.std(scores)), splits)
