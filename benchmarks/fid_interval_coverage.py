"""Coverage of FID's confidence interval: how often it holds the expected FID at the same sample size.

The "generator" is a Gaussian fitted to the real Inception pool3 features of
the shipped digits set (mean and covariance of `digits-all`, with a small
ridge so it is full rank); the reference is the shipped `digits-train`
statistics, held fixed as in `gan-eval report` and the gate. For each sample
size n, `--trials` fresh generated sets give FID_n and its interval; the
target is E[FID_n], the mean of FID_n over those sets and `--target-draws`
more. Printed per n: E[FID_n], the true standard deviation of FID_n across
sets, the mean standard error the interval used, and the share of intervals
that hold the target (with its binomial standard error).

With `--bootstrap-sizes`, the percentile bootstrap that gan-eval used before
0.4 (B replicates with replacement) is run on the same sets for comparison:
its mean inflation of FID, its spread, the coverage of its percentile
interval and of the same spread recentred on the estimate.

Usage: python benchmarks/fid_interval_coverage.py [--sizes 250,500,1000] [--trials 200]
"""

from __future__ import annotations

import argparse
import time
import warnings
from statistics import NormalDist

import numpy as np
import torch
from digits_gaussian import digits_gaussian

from gan_eval.errors import GanEvalWarning
from gan_eval.metrics.fid import fid_from_features
from gan_eval.metrics.fid_interval import DEFAULT_GROUPS, fid_interval
from gan_eval.stats import FeatureStats


def percentile_bootstrap(reference: FeatureStats, x: np.ndarray, replicates: int, level: float, seed: int):
    """The old interval: FID of `replicates` resamples with replacement; their percentiles, mean and std."""
    rng = np.random.RandomState(seed)
    values = np.array([fid_from_features(reference, x[rng.randint(0, len(x), len(x))]) for _ in range(replicates)])
    alpha = (1 - level) / 2
    low, high = np.quantile(values, [alpha, 1 - alpha])
    return low, high, values.mean(), values.std(ddof=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="250,500,1000", help="generated sample sizes")
    parser.add_argument("--trials", type=int, default=200, help="generated sets (intervals) per size")
    parser.add_argument("--target-draws", type=int, default=200, help="extra sets for E[FID_n] (FID only)")
    parser.add_argument("--groups", type=int, default=DEFAULT_GROUPS, help="jackknife groups")
    parser.add_argument("--level", type=float, default=0.95)
    parser.add_argument("--bootstrap-sizes", default="", help="sizes at which to run the old bootstrap too")
    parser.add_argument("--replicates", type=int, default=100, help="bootstrap replicates")
    args = parser.parse_args()
    warnings.simplefilter("ignore", GanEvalWarning)

    reference, mean, factor = digits_gaussian()
    factor = torch.from_numpy(factor)
    generator = torch.Generator().manual_seed(0)
    z = NormalDist().inv_cdf(0.5 + args.level / 2)
    boot_sizes = {int(v) for v in args.bootstrap_sizes.split(",") if v}

    def draw(n: int) -> np.ndarray:
        noise = torch.randn(n, len(mean), generator=generator, dtype=torch.float64)
        return (torch.from_numpy(mean) + noise @ factor.T).numpy()

    print(f"level={args.level} groups={args.groups} trials={args.trials} target draws={args.target_draws}")
    header = "n      E[FID_n]  true sd  jackknife se  coverage"
    if boot_sizes:
        header += "        | boot inflation  boot sd  percentile cov.  recentred cov."
    print(header)
    for n in (int(v) for v in args.sizes.split(",")):
        start = time.perf_counter()
        estimates, intervals, boots = [], [], []
        for trial in range(args.trials):
            x = draw(n)
            estimate = fid_from_features(reference, x)
            estimates.append(estimate)
            intervals.append(fid_interval(reference, x, args.groups, args.level, seed=trial, estimate=estimate))
            if n in boot_sizes:
                boots.append(percentile_bootstrap(reference, x, args.replicates, args.level, seed=trial))
        extra = [fid_from_features(reference, draw(n)) for _ in range(args.target_draws)]
        target = float(np.mean(estimates + extra))
        hits = np.array([i.low <= target <= i.high for i in intervals])
        se_cov = np.sqrt(hits.mean() * (1 - hits.mean()) / len(hits))
        line = (
            f"{n:<6} {target:8.4f}  {np.std(estimates + extra, ddof=1):7.4f}  "
            f"{np.mean([i.std for i in intervals]):12.4f}  {hits.mean():.3f} ± {se_cov:.3f}"
        )
        if boots:
            low, high, boot_mean, boot_sd = (np.array(v) for v in zip(*boots, strict=True))
            est = np.array(estimates)
            line += (
                f"  | {np.mean(boot_mean - est):14.4f}  {np.mean(boot_sd):7.4f}  "
                f"{np.mean((low <= target) & (target <= high)):15.3f}  "
                f"{np.mean(np.abs(est - target) <= z * boot_sd):14.3f}"
            )
        print(line + f"   [{time.perf_counter() - start:.0f} s]", flush=True)


if __name__ == "__main__":
    main()
