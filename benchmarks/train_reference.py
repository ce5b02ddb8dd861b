"""Regenerate the shipped reference generators `reference_models/dcgan-digits{,-degraded}/`.

One seeded DCGAN run on `digits` (the train split): the checkpoint after
`--degraded-steps` generator steps becomes `dcgan-digits-degraded`, the one
after `--steps` becomes `dcgan-digits`. The loop has no schedule that depends
on the total length, so the snapshot is bit for bit the generator that
`gan-eval train dcgan --data digits --steps <degraded-steps> --seed <seed>`
gives on the same machine; the full one is what `--steps <steps>` gives.
Training uses `--threads` intra-op threads (1 by default: fastest for these
small nets on a shared CPU, and the float sums then have one fixed order).

With `--fid-samples N` (default 300), both generators' FID against
`digits:test` is measured with N samples (seed 0) through the standard
Inception pipeline and printed with the wall times as one JSON object.

    python benchmarks/train_reference.py [--out reference_models] [--steps 4000] [--degraded-steps 1000]
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import time
from dataclasses import replace
from pathlib import Path

import torch

from gan_eval.models.checkpoint import GeneratorConfig, load_generator, save_generator
from gan_eval.models.sampling import sample
from gan_eval.training import Trainer, make_config, training_data

FULL_NAME = "dcgan-digits"
DEGRADED_NAME = "dcgan-digits-degraded"


def train_reference(out: Path, steps: int, degraded_steps: int, seed: int) -> dict[str, float]:
    """Train once, save both checkpoints under `out`; returns the training wall times in seconds."""
    data = training_data("digits")
    config = make_config("dcgan", data, steps, seed)
    trainer = Trainer(config, data)
    start = time.perf_counter()
    times: dict[str, float] = {}

    def save(name: str, at: int, losses: dict[str, float]) -> None:
        times[name] = round(time.perf_counter() - start, 1)
        record = {
            "device": "cpu",
            "seconds": times[name],
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "machine": platform.machine(),
            "final_losses": {k: round(v, 6) for k, v in losses.items()},
        }
        snapshot: GeneratorConfig = replace(config, steps=at, training=record)
        save_generator(out / name, copy.deepcopy(trainer.generator).eval(), snapshot)

    def on_step(step: int, losses: dict[str, float], *_: object) -> None:
        if step == degraded_steps:
            save(DEGRADED_NAME, step, losses)

    losses = trainer.run(steps, on_step=on_step)
    save(FULL_NAME, steps, losses)
    return times


def measure_fid(folder: Path, n: int) -> float:
    """FID of `n` samples (seed 0) of the checkpoint in `folder` against `digits:test`."""
    import gan_eval

    generator, config = load_generator(folder)
    return float(gan_eval.fid("digits:test", sample(generator, config, n, seed=0), progress=False).fid)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reference_models"))
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--degraded-steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--fid-samples", type=int, default=300, help="0 skips the FID measurement")
    args = parser.parse_args()
    if not 1 <= args.degraded_steps < args.steps:
        parser.error("--degraded-steps must be at least 1 and below --steps")

    threads_before = torch.get_num_threads()
    torch.set_num_threads(args.threads)
    times = train_reference(args.out, args.steps, args.degraded_steps, args.seed)
    torch.set_num_threads(threads_before)
    summary: dict[str, object] = {"training_seconds": times, "threads": args.threads, "torch": torch.__version__}
    if args.fid_samples:
        summary["fid_samples"] = args.fid_samples
        summary["fid_vs_digits_test"] = {
            name: round(measure_fid(args.out / name, args.fid_samples), 2) for name in (FULL_NAME, DEGRADED_NAME)
        }
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
