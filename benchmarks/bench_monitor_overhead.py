"""Overhead of the training Monitor on a DCGAN training step (evaluation off).

Two identical DCGAN trainers on the built-in digits set (batch 64, 32x32,
the reference `dcgan` model of `gan_eval.models`) run in alternating blocks
in one process: one bare, one with `Monitor.watch(G, D)` recording gradient
norms at every optimizer step and `Monitor.log(step, **losses)` (losses and
mean D outputs) at every step. Alternating blocks spread the
machine's load drifts over both. Prints the median time per step of each,
and the ratio. On a shared machine that ratio carries the load's noise, so
the Monitor's own work is also timed directly inside the monitored steps
(the gradient-norm hook and `log`) and printed as a share of the step.

Usage: python benchmarks/bench_monitor_overhead.py [--blocks 10] [--steps 10] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

import torch

from gan_eval.models.training import Trainer, make_config, training_data
from gan_eval.monitor import Monitor


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--blocks", type=int, default=10, help="alternating blocks per variant")
    parser.add_argument("--steps", type=int, default=10, help="training steps per block")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    args = parser.parse_args()

    data = training_data("digits")
    config = make_config("dcgan", data, steps=args.blocks * args.steps, seed=0)
    bare = Trainer(config, data, args.device)
    watched = Trainer(config, data, args.device)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)

    with tempfile.TemporaryDirectory() as folder:
        monitor = Monitor(folder, every=None, tensorboard=False, stderr=False)
        monitor.watch(watched.generator, watched.discriminator)
        own = [0.0]
        measure = monitor._watch.measure

        def timed_measure(optimizer: torch.optim.Optimizer) -> None:
            sync()
            start = time.perf_counter()
            measure(optimizer)
            sync()
            own[0] += time.perf_counter() - start

        monitor._watch.measure = timed_measure

        def monitored_step() -> None:
            losses = watched.train_step()
            start = time.perf_counter()
            monitor.log(watched.step, **losses)
            sync()
            own[0] += time.perf_counter() - start

        def bare_step() -> None:
            bare.train_step()

        for step in (bare_step, monitored_step):  # warm-up
            step()
        own[0] = 0.0
        times: dict[str, list[float]] = {"without": [], "with": []}
        for _ in range(args.blocks):
            for name, step in (("without", bare_step), ("with", monitored_step)):
                sync()
                start = time.perf_counter()
                for _ in range(args.steps):
                    step()
                sync()
                times[name].append((time.perf_counter() - start) / args.steps)
        monitor.close()

    without, with_monitor = statistics.median(times["without"]), statistics.median(times["with"])
    print(f"device {args.device}, torch {torch.__version__}, {args.blocks} blocks x {args.steps} steps")
    print(f"DCGAN step without Monitor: {1000 * without:8.2f} ms (median of blocks)")
    print(f"DCGAN step with Monitor:    {1000 * with_monitor:8.2f} ms")
    print(f"overhead: {100 * (with_monitor / without - 1):+.2f}%  (ratio {with_monitor / without:.4f})")
    per_step = own[0] / (args.blocks * args.steps)
    total = sum(times["with"]) / args.blocks
    print(f"Monitor's own work: {1000 * per_step:.3f} ms per step = {100 * per_step / total:.2f}% of a monitored step")


if __name__ == "__main__":
    main()
