"""Support size by the birthday paradox (Arora & Zhang 2017, "Do GANs learn the distribution?").

If batches of s samples contain a near-duplicate pair with probability about
½, a distribution's support has about s² elements. The paper finds duplicates
by eye; here a pair is a near-duplicate when its feature distance is at most
a threshold τ, calibrated on the reference:

- τ is chosen so that the reference, read as a distribution on its own N
  samples, shows support N: a batch of √N reference samples holds a
  near-duplicate pair with probability ½. Treating pairs as independent (the
  birthday approximation), P(duplicate in a batch of s) = 1 - (1 - c)^C(s, 2)
  where c is the share of all pairs that are near-duplicates, so τ is the
  distance below which the share c_ref = ln 2 / C(√N, 2) of reference pairs
  falls (the k-th smallest of the C(N, 2) pair distances, k = round(c_ref C(N, 2))).
- The generated set's share c of pairs within τ is counted over all its
  pairs (not over random batches: the same expectation, less noise), and the
  batch size with duplicate probability ½ solves C(s, 2) = ln 2 / -ln(1 - c);
  the support estimate is s².

A generator that covers a quarter of the reference's modes has about four
times the reference's rate of close pairs, and a quarter of its support.
Distances are Euclidean, in float64, computed in row blocks.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch

from gan_eval.errors import GanEvalError

DEFAULT_BLOCK = 1024


def _pair_blocks(x: torch.Tensor, block: int) -> Iterator[tuple[int, torch.Tensor]]:
    """Yield `(start, d2)`: squared distances of rows `start:start+B` to all rows, `(B, N)`."""
    sq = (x * x).sum(dim=1)
    for start in range(0, x.shape[0], block):
        rows = x[start : start + block]
        d2 = (sq[start : start + rows.shape[0], None] + sq[None, :] - 2 * rows @ x.T).clamp_min_(0)
        yield start, d2


def _upper_mask(start: int, rows: int, n: int) -> torch.Tensor:
    """True where the column index exceeds the row index (each unordered pair once)."""
    i = torch.arange(start, start + rows)[:, None]
    return torch.arange(n)[None, :] > i


def kth_smallest_pair_distance(features: torch.Tensor, k: int, block: int = DEFAULT_BLOCK) -> float:
    """The k-th smallest Euclidean distance over the distinct pairs of `features: (N, D)`."""
    n = features.shape[0]
    if not 1 <= k <= n * (n - 1) // 2:
        raise ValueError(f"k={k} is not between 1 and the number of pairs")
    best = torch.empty(0, dtype=features.dtype)
    for start, d2 in _pair_blocks(features, block):
        values = d2[_upper_mask(start, d2.shape[0], n)]
        pooled = torch.cat([best, values])
        best = torch.topk(pooled, min(k, pooled.numel()), largest=False).values
    return math.sqrt(float(best.max()))


def pairs_within(features: torch.Tensor, radius: float, block: int = DEFAULT_BLOCK) -> int:
    """How many distinct pairs of `features: (N, D)` are at most `radius` apart."""
    n = features.shape[0]
    total = 0
    for start, d2 in _pair_blocks(features, block):
        # Compare distances, not squares: sqrt is monotone and correctly rounded, so the pair that
        # defined `radius` through `kth_smallest_pair_distance` is counted, which radius**2 may miss.
        total += int(((d2.sqrt() <= radius) & _upper_mask(start, d2.shape[0], n)).sum())
    return total


def support_from_pair_rate(rate: float) -> float:
    """s² for the batch size s whose duplicate probability is ½, given the share `rate` of close pairs.

    Infinite when `rate` is 0 (no close pair seen: the support is too large to measure).
    """
    if rate <= 0:
        return math.inf
    if rate >= 1:
        return 1.0
    pairs_needed = math.log(2) / -math.log1p(-rate)
    s = (1 + math.sqrt(1 + 8 * pairs_needed)) / 2
    return s * s


@dataclass(frozen=True)
class BirthdaySupport:
    """Support estimates of both sets at the calibrated near-duplicate distance `threshold_distance`."""

    threshold_distance: float
    real_pair_rate: float
    fake_pair_rate: float
    support_real: float
    support_fake: float
    batch_size_fake: float

    @property
    def ratio(self) -> float:
        """support_fake / support_real."""
        return self.support_fake / self.support_real


def birthday_support(
    real: np.ndarray | torch.Tensor, fake: np.ndarray | torch.Tensor, block: int = DEFAULT_BLOCK
) -> BirthdaySupport:
    """Birthday-paradox support of `fake: (M, D)`, with τ calibrated on `real: (N, D)` (module docstring)."""
    x = torch.as_tensor(real, dtype=torch.float64)
    y = torch.as_tensor(fake, dtype=torch.float64)
    n, m = x.shape[0], y.shape[0]
    if n < 4 or m < 2:
        raise GanEvalError(f"the birthday test needs at least 4 reference and 2 generated samples; got {n} and {m}")
    s_ref = math.sqrt(n)
    ref_pairs = n * (n - 1) // 2
    k = max(1, round(math.log(2) / (s_ref * (s_ref - 1) / 2) * ref_pairs))
    tau = kth_smallest_pair_distance(x, k, block)
    real_rate = pairs_within(x, tau, block) / ref_pairs
    fake_rate = pairs_within(y, tau, block) / (m * (m - 1) // 2)
    support_fake = support_from_pair_rate(fake_rate)
    return BirthdaySupport(
        threshold_distance=tau,
        real_pair_rate=real_rate,
        fake_pair_rate=fake_rate,
        support_real=support_from_pair_rate(real_rate),
        support_fake=support_fake,
        batch_size_fake=math.sqrt(support_fake),
    )
