"""False-alarm rate and power of `gan-eval gate --max-increase` at several sample sizes.

The "generator" is a Gaussian fitted to the real Inception pool3 features of
the shipped digits set (mean and covariance of `digits-all`, with a small
ridge so it is full rank); the reference is the shipped `digits-train`
statistics, held fixed as in CI. For each sample size n:

- null: pairs of independent samples of the same generator, the first as the
  baseline and the second as "now", judged with the gate's rule
  (Δ − δ > z·√(σ_now² + σ_base²), δ = 0, α = 0.01, σ the grouped-jackknife
  standard error with 20 groups, as `gan-eval gate` computes it); the share
  that fails is the false-alarm rate;
- sampling noise: the standard deviation of FID across the independent
  samples, next to the mean jackknife estimate of it;
- power: the share of pairs that fail when "now" is shifted in mean so that
  its FID rises by about X (a mean shift s adds |s|² to FID).

Usage: OMP_NUM_THREADS=1 python benchmarks/gate_false_alarms.py [--trials 40] [--sizes 250,500,1000]
Prints one table (one BLAS thread: several threads on a busy 2-core machine
were many times slower).
"""

from __future__ import annotations

import argparse
import time
import warnings
from statistics import NormalDist

import numpy as np
from digits_gaussian import digits_gaussian

from gan_eval.errors import GanEvalWarning
from gan_eval.gate import Limits, compare, make_baseline
from gan_eval.metrics.fid import fid_from_features
from gan_eval.metrics.fid_interval import DEFAULT_GROUPS, fid_interval
from gan_eval.result import Result


def evaluation(reference, features: np.ndarray, groups: int, seed: int) -> Result:
    """A result as the gate reads it: FID and its jackknife standard error."""
    value = fid_from_features(reference, features)
    std = fid_interval(reference, features, groups, seed=seed, estimate=value).std
    return Result.from_json(
        {"fid": value, "fid_std": std, "n_real": reference.count, "n_fake": len(features), "settings": {}}
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=40, help="pairs per sample size and shift")
    parser.add_argument("--sizes", default="250,500", help="generated sample sizes")
    parser.add_argument("--increases", default="1,2,5", help="FID increases to detect (power)")
    parser.add_argument("--groups", type=int, default=DEFAULT_GROUPS, help="jackknife groups per evaluation")
    parser.add_argument("--alpha", type=float, default=0.01)
    args = parser.parse_args()
    warnings.simplefilter("ignore", GanEvalWarning)

    reference, mean, factor = digits_gaussian()
    rng = np.random.default_rng(0)
    direction = rng.normal(size=len(mean))
    direction /= np.linalg.norm(direction)
    limits = Limits(max_increase={"fid": 0.0}, alpha=args.alpha)
    z = NormalDist().inv_cdf(1 - args.alpha)

    def draw(n: int, shift: float) -> np.ndarray:
        return mean + shift * direction + rng.normal(size=(n, len(mean))) @ factor.T

    print(f"alpha={args.alpha} z={z:.3f} trials={args.trials} groups={args.groups}")
    print(
        "n      FID mean  FID std  jack se   false alarms  "
        + "  ".join(f"power +{x}" for x in args.increases.split(","))
    )
    for n in (int(v) for v in args.sizes.split(",")):
        start = time.perf_counter()
        values, stds, alarms = [], [], 0
        seed = 0
        for _ in range(args.trials):
            base = evaluation(reference, draw(n, 0.0), args.groups, seed)
            now = evaluation(reference, draw(n, 0.0), args.groups, seed + 1)
            seed += 2
            values += [base["fid"], now["fid"]]
            stds += [base["fid_std"], now["fid_std"]]
            alarms += not compare(now, make_baseline(base), limits).passed
        power = []
        for increase in (float(v) for v in args.increases.split(",")):
            hits = 0
            for _ in range(args.trials):
                base = evaluation(reference, draw(n, 0.0), args.groups, seed)
                now = evaluation(reference, draw(n, increase**0.5), args.groups, seed + 1)
                seed += 2
                hits += not compare(now, make_baseline(base), limits).passed
            power.append(hits / args.trials)
        print(
            f"{n:<6} {np.mean(values):8.3f}  {np.std(values, ddof=1):7.3f}  {np.mean(stds):8.3f}  "
            f"{alarms:>3}/{args.trials:<3} ({alarms / args.trials:.3f})  "
            + "  ".join(f"{p:9.2f}" for p in power)
            + f"   [{time.perf_counter() - start:.0f} s]",
            flush=True,
        )


if __name__ == "__main__":
    main()
