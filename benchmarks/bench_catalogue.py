"""Seconds for the Vendi score, sliced Wasserstein, authenticity % and rarity on N x N D-d features, ours
next to the peer each is tested against, in one run.

Ours as the registry calls them (float64, blockwise, on the CPU). The peers on the same features:
- Vendi: the `vendi-score` package's `score_dual` (the D x D route, as ours takes when N > D);
- sliced Wasserstein: POT's `ot.sliced_wasserstein_distance` with the same 1000 directions (our `sw`
  also computes dgm-eval's closed form `sw_approx`, which costs one pass over the features);
- authenticity %: dgm-eval's method as its `compute_authpct` runs it on the CPU (two dense
  `torch.cdist` matrices in float32), transcribed;
- rarity: the authors' `MANIFOLD.rarity` method (dense float64 distances, every row sorted, a Python
  loop over the generated samples), transcribed.
The features are Inception-like (non-negative, gamma-distributed); the times do not depend on the values.
Prints, per metric, seconds for ours and the peer and the ratio peer / ours.

    python benchmarks/bench_catalogue.py --n 10000 --dim 2048
    python benchmarks/bench_catalogue.py --no-peers
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
import torch

from gan_eval.metrics.authpct import authpct
from gan_eval.metrics.rarity import rarity_scores
from gan_eval.metrics.sliced_wasserstein import random_directions, sliced_wasserstein, sliced_wasserstein_approx
from gan_eval.metrics.vendi import vendi_score

PROJECTIONS = 1000


def _ours(real: np.ndarray, fake: np.ndarray) -> dict[str, Callable[[], object]]:
    directions = random_directions(real.shape[1], PROJECTIONS, seed=2020)
    return {
        "vendi": lambda: vendi_score(fake),
        "sw": lambda: (sliced_wasserstein(real, fake, directions), sliced_wasserstein_approx(real, fake)),
        "authpct": lambda: authpct(real, fake),
        "rarity": lambda: rarity_scores(real, fake, k=3).mean(),
    }


def _dense_authpct(train: np.ndarray, gen: np.ndarray) -> float:
    """dgm-eval's authenticity steps on the CPU: dense float32 distance matrices."""
    t, g = torch.tensor(train, dtype=torch.float32), torch.tensor(gen, dtype=torch.float32)
    within = torch.cdist(t, t)
    within.fill_diagonal_(float("inf"))
    across = torch.cdist(t, g)
    nearest_gap, (to_train, index) = within.min(dim=0).values, across.min(dim=0)
    return float(100 * (nearest_gap[index] < to_train).double().mean())


def _dense_rarity(real: np.ndarray, fake: np.ndarray, k: int = 3) -> np.ndarray:
    """The authors' rarity steps: dense float64 distances, sorted rows, a loop over the generated samples."""
    x, y = torch.from_numpy(real).double(), torch.from_numpy(fake).double()
    x_sq = (x * x).sum(dim=1, keepdim=True)
    within = (x_sq + x_sq.T - 2 * x @ x.T).clamp_min(0).sqrt()
    radii = within.sort(dim=1).values[:, k].numpy()
    across = (x_sq + (y * y).sum(dim=1)[None, :] - 2 * x @ y.T).clamp_min(0).sqrt().numpy()
    inside = (radii[:, None] - across) > 0
    outside = np.where(~inside.any(axis=0))[0]
    scores = np.zeros(len(fake))
    for i in range(len(fake)):
        if i not in outside:
            scores[i] = radii[inside[:, i]].min()
    return scores


def _peers(real: np.ndarray, fake: np.ndarray) -> dict[str, Callable[[], object]]:
    import ot
    from vendi_score import vendi

    directions = random_directions(real.shape[1], PROJECTIONS, seed=2020)
    x, y = real.astype(np.float64), fake.astype(np.float64)
    return {
        "vendi": lambda: vendi.score_dual(y, normalize=True),
        "sw": lambda: ot.sliced_wasserstein_distance(x, y, projections=directions),
        "authpct": lambda: _dense_authpct(real, fake),
        "rarity": lambda: _dense_rarity(real, fake),
    }


def _seconds(function: Callable[[], object]) -> float:
    start = time.perf_counter()
    function()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="samples per set (default 10000)")
    parser.add_argument("--dim", type=int, default=2048, help="feature dimension (default 2048)")
    parser.add_argument("--threads", type=int, default=torch.get_num_threads(), help="torch threads")
    parser.add_argument("--no-peers", action="store_true", help="time ours only")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    rng = np.random.default_rng(0)
    real = rng.gamma(1.5, 0.3, size=(args.n, args.dim)).astype(np.float32)
    fake = rng.gamma(1.5, 0.32, size=(args.n, args.dim)).astype(np.float32)
    print(f"{args.n} x {args.n} features of {args.dim} dims, {args.threads} torch threads")
    print(f"{'metric':<8} {'ours s':>8} {'peer s':>8} {'peer/ours':>9}")
    ours = _ours(real, fake)
    peers = {} if args.no_peers else _peers(real, fake)
    for name, function in ours.items():
        mine = _seconds(function)
        if name in peers:
            theirs = _seconds(peers[name])
            print(f"{name:<8} {mine:8.1f} {theirs:8.1f} {theirs / mine:9.2f}", flush=True)
        else:
            print(f"{name:<8} {mine:8.1f}", flush=True)


if __name__ == "__main__":
    main()
