"""Feature likelihood score (Jiralerspong et al. 2023, "Feature Likelihood Score: Evaluating the
Generalization of Generative Models Using Samples"), as dgm-eval computes it (commit 74c79f7,
`metrics/fls.py`, `compute_fls`).

Four sets of equal size n: two disjoint halves of the training set (`train`
and `baseline`), held-out `test` samples and `fake` samples. All are first
standardised per feature by the mean and (N-1) standard deviation of the four
together. A Gaussian kernel density is centred on the generated samples,
each kernel j with its own variance exp(s_j); the s_j start at 0 and are fit
to the training half by 100 Adam steps (learning rate 0.5, then 0.05 from
step 50) on the mean negative log-likelihood

    NLL(s) = -(1/n) Σ_i log( (1/n) Σ_j exp(-‖x_i - g_j‖² / (2 e^{s_j}) - (D/2) s_j) ),

each s_j clamped to [-100, 20] after every step. The same fit centred on the
baseline half gives the reference density. With the test set's mean NLL
under each, FLS = 100 · exp(-2 (NLL_gen - NLL_baseline) / D): 100 when the
generated density explains fresh data as well as training data does, lower
when it explains it worse (overfit copies get tiny kernels), higher when
better. (The authors' own repository now reports a different, lower-is-better
transformation of the same NLL difference.) The 2π constant cancels.

The loss's gradient is computed in closed form over row blocks (the n×n
squared distances from the training half are held, n² × 8 bytes); float64
throughout, where dgm-eval uses float32 on a GPU.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from gan_eval.errors import GanEvalError
from gan_eval.metrics.prdc import as_float64, block_sq_distances

STEPS = 100
LEARNING_RATE = 0.5
DECAY_STEP, DECAY = 50, 0.1
LOG_VARIANCE_RANGE = (-100.0, 20.0)
ROW_BLOCK = 1024


def _log_kernels(d2: torch.Tensor, log_variances: torch.Tensor, dim: int) -> torch.Tensor:
    """log((1/M) N_j(x_i)) without the 2π term, for squared distances `d2: (B, M)`, in place."""
    d2.mul_(-0.5 * torch.exp(-log_variances)[None, :])
    return d2.sub_((dim / 2) * log_variances[None, :] + math.log(d2.shape[1]))


def _nll_gradient(distances: torch.Tensor, log_variances: torch.Tensor, dim: int) -> torch.Tensor:
    """d NLL / d s `(M,)` for the squared distances `distances: (N, M)` of the data to the kernels."""
    gradient = torch.zeros_like(log_variances)
    inverse = torch.exp(-log_variances)[None, :]
    for start in range(0, distances.shape[0], ROW_BLOCK):
        d2 = distances[start : start + ROW_BLOCK]
        weights = _log_kernels(d2.clone(), log_variances, dim).softmax(dim=1)
        gradient -= (weights * (0.5 * d2 * inverse - dim / 2)).sum(dim=0)
    return gradient / distances.shape[0]


def fit_log_variances(data: torch.Tensor, kernels: torch.Tensor) -> torch.Tensor:
    """The per-kernel log variances `(M,)` fit to `data: (N, D)` for kernels at `kernels: (M, D)`, float64."""
    kernels_sq = (kernels * kernels).sum(dim=1)
    distances = torch.cat(
        [block_sq_distances(data[s : s + ROW_BLOCK], kernels, kernels_sq) for s in range(0, len(data), ROW_BLOCK)]
    )
    log_variances = torch.nn.Parameter(torch.zeros(len(kernels), dtype=torch.float64, device=kernels.device))
    optimiser = torch.optim.Adam([log_variances], lr=LEARNING_RATE)
    schedule = torch.optim.lr_scheduler.MultiStepLR(optimiser, milestones=[DECAY_STEP], gamma=DECAY)
    for _ in range(STEPS):
        log_variances.grad = _nll_gradient(distances, log_variances.detach(), data.shape[1])
        optimiser.step()
        schedule.step()
        with torch.no_grad():
            log_variances.clamp_(*LOG_VARIANCE_RANGE)
    return log_variances.detach()


def mean_nll(data: torch.Tensor, kernels: torch.Tensor, log_variances: torch.Tensor) -> float:
    """Mean negative log-likelihood (without the 2π term) of `data: (N, D)` under the kernel density."""
    kernels_sq = (kernels * kernels).sum(dim=1)
    total = 0.0
    for start in range(0, len(data), ROW_BLOCK):
        d2 = block_sq_distances(data[start : start + ROW_BLOCK], kernels, kernels_sq)
        total -= float(_log_kernels(d2, log_variances, data.shape[1]).logsumexp(dim=1).sum())
    return total / len(data)


def feature_likelihood_score(
    train: np.ndarray | torch.Tensor,
    baseline: np.ndarray | torch.Tensor,
    test: np.ndarray | torch.Tensor,
    fake: np.ndarray | torch.Tensor,
    device: str | torch.device = "cpu",
) -> float:
    """FLS of `fake` from the training half `train`, the other half `baseline` and `test`, each `(n, D)`."""
    sets = [as_float64(s, device) for s in (train, baseline, test, fake)]
    if min(len(s) for s in sets) < 2:
        raise GanEvalError(f"FLS needs at least 2 samples per set; got {', '.join(str(len(s)) for s in sets)}")
    together = torch.cat(sets)
    mean, std = together.mean(dim=0), together.std(dim=0)
    if bool((std == 0).any()):
        raise GanEvalError(f"FLS: {int((std == 0).sum())} features are constant over the four sets (no scale)")
    train, baseline, test, fake = ((s - mean) / std for s in sets)
    generated_nll = mean_nll(test, fake, fit_log_variances(train, fake))
    baseline_nll = mean_nll(test, baseline, fit_log_variances(train, baseline))
    return 100.0 * math.exp(-2 * (generated_nll - baseline_nll) / train.shape[1])


def fls_subsets(
    n_train: int, n_test: int, n_fake: int, size: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Indices (train half, baseline half, test, fake), each of n = min(size, n_train // 2, n_test, n_fake),
    drawn without replacement from `seed` in dgm-eval's order (test, generated, then 2n training samples)."""
    n = min(size, n_train // 2, n_test, n_fake)
    rng = np.random.default_rng(seed)
    test = rng.choice(n_test, n, replace=False)
    fake = rng.choice(n_fake, n, replace=False)
    train = rng.choice(n_train, 2 * n, replace=False)
    return train[:n], train[n:], test, fake
