"""Seconds for the FID trace term Tr((S1 S2)^(1/2)) on 2048-d covariances: ours vs the usual formulas.

Peers, on the same random PSD matrices in this one process: the pytorch-fid /
TTUR formula `trace(scipy.linalg.sqrtm(S1 @ S2))`, and `sum(sqrt(eigvals(S1 @ S2)))`
with NumPy's general eigensolver. Prints median seconds (min-max), the ratios,
and each result's relative difference from the sqrtm value, for full-rank
covariances (n > D samples) and rank-deficient ones (n < D, our eigh fallback).

    python benchmarks/bench_fid_math.py --reps 3 --sqrtm-reps 1
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import scipy.linalg

from gan_eval.metrics.fid import fid_from_stats, trace_sqrt_product
from gan_eval.stats import FeatureStats


def random_covariance(rng: np.random.Generator, samples: int, dim: int) -> np.ndarray:
    features = rng.standard_normal((samples, dim)) * rng.uniform(0.1, 2.0, dim)
    return np.cov(features, rowvar=False)


def trace_sqrtm(s1: np.ndarray, s2: np.ndarray) -> float:
    return float(np.trace(scipy.linalg.sqrtm(s1 @ s2)).real)


def trace_eigvals(s1: np.ndarray, s2: np.ndarray) -> float:
    return float(np.sqrt(np.clip(np.linalg.eigvals(s1 @ s2).real, 0, None)).sum())


def timed(fn: Callable[[np.ndarray, np.ndarray], float], s1: np.ndarray, s2: np.ndarray) -> tuple[float, float]:
    start = time.perf_counter()
    value = fn(s1, s2)
    return time.perf_counter() - start, value


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dim", type=int, default=2048)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--sqrtm-reps", type=int, default=1, help="scipy sqrtm is slow; fewer repetitions")
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    time_whole_fid(args.dim, args.reps)
    methods = {"ours": trace_sqrt_product, "numpy eigvals": trace_eigvals, "scipy sqrtm": trace_sqrtm}
    for label, samples in (("full rank", 2 * args.dim), ("rank-deficient", args.dim // 2)):
        s1, s2 = random_covariance(rng, samples, args.dim), random_covariance(rng, samples, args.dim)
        times: dict[str, list[float]] = {name: [] for name in methods}
        values: dict[str, float] = {}
        for name, fn in methods.items():  # one method at a time: BLAS thread pools left spinning skew interleaving
            for _ in range(args.sqrtm_reps if name == "scipy sqrtm" else args.reps):
                seconds, values[name] = timed(fn, s1, s2)
                times[name].append(seconds)
        print(f"{label}: D={args.dim}, n={samples} samples per covariance")
        ours = statistics.median(times["ours"])
        for name, values_s in times.items():
            if not values_s:
                continue
            median = statistics.median(values_s)
            base_name = "scipy sqrtm" if "scipy sqrtm" in values else "numpy eigvals"
            base = values[base_name]
            agreement = abs(values[name] - base) / abs(base)
            print(
                f"  {name:>14}: {median:7.3f} s (min {min(values_s):.3f}, max {max(values_s):.3f}, "
                f"{len(values_s)} reps)  {median / ours:6.1f}x ours  rel diff vs {base_name} {agreement:.1e}"
            )


def time_whole_fid(dim: int, reps: int) -> None:
    """Our FID end to end from two accumulated moment sets (covariances, means, traces, trace term)."""
    rng = np.random.default_rng(1)
    sides = []
    for _ in range(2):
        stats = FeatureStats(dim)
        stats.update(rng.standard_normal((2 * dim, dim)) * rng.uniform(0.1, 2.0, dim))
        sides.append(stats)
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        fid_from_stats(*sides)
        times.append(time.perf_counter() - start)
    print(f"whole FID from two moment sets (D={dim}, n={2 * dim}): ours {statistics.median(times):.3f} s median")


if __name__ == "__main__":
    main()
