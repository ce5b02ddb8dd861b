"""Peak memory and time of the k-NN metrics (precision/recall k=3, density/coverage k=5).

Each size runs in a fresh subprocess that measures its own peak resident
memory (`ru_maxrss`) above what it held before the metrics ran (the float32
features themselves, as the pipeline keeps them, are counted in the baseline
and reported separately). The model line is the prediction from the code's
buffers: two float64 copies of the features plus one `block x max(N, M)`
float64 distance block and its comparison mask.

    python benchmarks/bench_knn_memory.py --sizes 2000 5000 10000 --dim 2048
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys

CHILD = """
import json, resource, sys, time
import numpy as np
import torch
from gan_eval.metrics.prdc import density_coverage, precision_recall
n, dim = int(sys.argv[1]), int(sys.argv[2])
rng = np.random.default_rng(0)
real = rng.standard_normal((n, dim), dtype=np.float32)
fake = rng.standard_normal((n, dim), dtype=np.float32)
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
start = time.perf_counter()
pr = precision_recall(real, fake)
dc = density_coverage(real, fake)
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
print(json.dumps({"n": n, "dim": dim, "extra_mib": (peak - base) / 1024, "baseline_mib": base / 1024,
                  "seconds": seconds, "precision": pr.precision, "coverage": dc.coverage}))
"""


def model_mib(n: int, dim: int, block: int = 1024) -> float:
    """Predicted extra peak: float64 copies of both sets + one distance block + its mask (+ kthvalue's copy)."""
    copies = 2 * n * dim * 8
    block_bytes = block * n * 8
    return (copies + 2 * block_bytes + block * n) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 5000])
    parser.add_argument("--dim", type=int, default=2048)
    args = parser.parse_args()
    print(f"{'N=M':>7} {'measured MiB':>13} {'model MiB':>10} {'features MiB':>13} {'seconds':>8}")
    for n in args.sizes:
        done = subprocess.run(
            [sys.executable, "-c", CHILD, str(n), str(args.dim)], capture_output=True, text=True, check=True
        )
        row = json.loads(done.stdout)
        features = 2 * n * args.dim * 4 / 2**20
        print(
            f"{n:>7} {row['extra_mib']:>13.0f} {model_mib(n, args.dim):>10.0f} {features:>13.0f} {row['seconds']:>8.1f}"
        )
    big = 50_000
    total = model_mib(big, args.dim) + 2 * big * args.dim * 4 / 2**20
    print(f"model for {big}x{big}, D={args.dim}: {model_mib(big, args.dim):.0f} MiB for the metrics, ")
    print(f"  {total:.0f} MiB with the float32 features ({total / 1024:.2f} GiB)")


if __name__ == "__main__":
    main()
