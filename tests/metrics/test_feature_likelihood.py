"""FLS against a transcription of dgm-eval's `compute_fls` (layer6ai-labs/dgm-eval, commit 74c79f7,
`dgm_eval/metrics/fls.py`): the same steps in PyTorch, on the CPU and in float64, with the gradient from
autograd over the dense distance matrix, where gan-eval computes it in closed form over row blocks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gan_eval.errors import GanEvalError
from gan_eval.metrics import feature_likelihood
from gan_eval.metrics.feature_likelihood import feature_likelihood_score, fls_subsets


def reference_nll(dists: torch.Tensor, log_sigmas: torch.Tensor, dim: int) -> torch.Tensor:
    exponent = (-0.5 * dists) / torch.exp(log_sigmas)
    exponent = exponent - (dim / 2) * log_sigmas
    exponent = exponent + torch.log(torch.tensor(1 / dists.shape[1], dtype=torch.float64))
    return torch.mean(-torch.logsumexp(exponent, dim=1))


def reference_optimize_sigmas(x_data: torch.Tensor, x_kernel: torch.Tensor) -> torch.Tensor:
    log_sigmas = torch.zeros(x_kernel.shape[0], dtype=torch.float64, requires_grad=True)
    optim = torch.optim.Adam([log_sigmas], lr=0.5)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(optim, milestones=[50], gamma=0.1)
    dists = torch.cdist(x_data, x_kernel) ** 2
    for _ in range(100):
        loss = reference_nll(dists, log_sigmas, x_data.shape[1])
        optim.zero_grad()
        loss.backward()
        optim.step()
        scheduler.step()
        with torch.no_grad():
            log_sigmas.data = log_sigmas.clamp(-100, 20).data
    return log_sigmas.detach()


def reference_fls(train: np.ndarray, baseline: np.ndarray, test: np.ndarray, gen: np.ndarray) -> float:
    sets = [torch.tensor(s, dtype=torch.float64) for s in (train, baseline, test, gen)]
    together = torch.cat(sets)
    mean, std = together.mean(dim=0), together.std(dim=0)
    train_t, baseline_t, test_t, gen_t = ((s - mean) / std for s in sets)
    dim = train_t.shape[1]
    gen_nll = reference_nll(torch.cdist(test_t, gen_t) ** 2, reference_optimize_sigmas(train_t, gen_t), dim)
    base_nll = reference_nll(torch.cdist(test_t, baseline_t) ** 2, reference_optimize_sigmas(train_t, baseline_t), dim)
    return 100 * math.e ** (-2 * (float(gen_nll) - float(base_nll)) / dim)


def four_sets(seed: int, n: int, dim: int, copied: bool) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    train, baseline, test = (rng.normal(size=(n, dim)) for _ in range(3))
    gen = train + rng.normal(scale=0.05, size=(n, dim)) if copied else rng.normal(0.1, 1.1, size=(n, dim))
    return [train, baseline, test, gen]


@pytest.mark.parametrize("copied", [False, True])
def test_equals_dgm_eval_transcription(copied: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(feature_likelihood, "ROW_BLOCK", 48)  # several blocks at test size
    sets = four_sets(int(copied), 150, 10, copied)
    assert feature_likelihood_score(*sets) == pytest.approx(reference_fls(*sets), rel=1e-9)


def test_copies_of_the_training_set_score_below_a_fresh_generator() -> None:
    assert feature_likelihood_score(*four_sets(2, 120, 8, True)) < feature_likelihood_score(
        *four_sets(2, 120, 8, False)
    )


def test_subsets_have_dgm_eval_sizes_are_disjoint_and_follow_the_seed() -> None:
    train, baseline, test, fake = fls_subsets(n_train=50, n_test=30, n_fake=40, size=10_000, seed=3)
    assert [len(s) for s in (train, baseline, test, fake)] == [25, 25, 25, 25]
    assert not set(train) & set(baseline)
    again = fls_subsets(n_train=50, n_test=30, n_fake=40, size=10_000, seed=3)
    assert all(np.array_equal(a, b) for a, b in zip((train, baseline, test, fake), again, strict=True))
    assert [len(s) for s in fls_subsets(1000, 1000, 1000, 200, 0)] == [200] * 4


def test_a_constant_feature_is_refused_in_one_line() -> None:
    sets = four_sets(4, 20, 3, False)
    for s in sets:
        s[:, 1] = 2.0
    with pytest.raises(GanEvalError, match="1 features are constant"):
        feature_likelihood_score(*sets)
