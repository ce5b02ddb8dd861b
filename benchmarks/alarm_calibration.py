"""Calibration of the training Monitor's alarms: false-alarm and detection rates on healthy and broken runs.

Trains reference models of `gan_eval.models` (the zoo's own settings) on
ring8 and on the digits, healthy and broken on purpose, each with several
seeds, with a `Monitor` recording every step: the losses, D's outputs on a
training batch, on a held-out real batch and on a generated batch (probed
after each step, with D's buffers and the random state put back, so the
probe does not change the training; G's batch-norm running averages do see
the probe's batch, which only the evaluations, in eval mode, read), the
gradient norms, and an evaluation
every `every` steps (2-D points as they are; digits as 8x8 grey images,
their native resolution, 64 features). Then it replays every record through
a fresh `AlarmRulebook` (every registered rule, today's defaults) and prints,
per rule of `AlarmRules` (an added rule gets its row by itself), the share of
healthy runs it fired on (false alarms) and the share of the runs broken in
the way it targets that it fired on (detections).

Breakages (see `BREAKAGES`): learning rate x100; a strong D (5 D steps per G
step, G's learning rate x0.01); collapse (4 extra generator steps per step, G's
learning rate x5); a frozen generator (G's learning rate 0: not learning); and
a tiny training set (64 digits, so D can memorise it: overfitting, judged
against held-out digits).

Usage: OMP_NUM_THREADS=1 python benchmarks/alarm_calibration.py [--out DIR] [--seeds 3] [--replay]
With --replay the records already in DIR are judged again without training
(to try other thresholds). Prints one table.
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_eval.datasets.digits import digits_images, digits_labels
from gan_eval.datasets.toy2d import RING8
from gan_eval.models.training import Trainer, image_training_data, make_config, training_data
from gan_eval.monitor import Monitor, read_run
from gan_eval.monitor.alarms import (
    COLLAPSE,
    EXPLODING,
    NON_FINITE,
    NOT_LEARNING,
    OSCILLATION,
    OVERFITTING,
    OVERPOWERS,
    AlarmRulebook,
    AlarmRules,
)
from gan_eval.monitor.recorded_metrics import FID

PROBE_BATCH = 64
TINY_SET = 64
DONE = "trained.txt"


@dataclass(frozen=True)
class Breakage:
    """A way to break a run, and the alarms meant to catch it."""

    name: str
    targets: tuple[str, ...]
    lr_factor: float = 1.0
    g_lr_factor: float = 1.0
    n_critic: int | None = None
    extra_g_steps: int = 0
    tiny_set: bool = False


HEALTHY = Breakage("healthy", ())
BREAKAGES = {
    b.name: b
    for b in (
        HEALTHY,
        Breakage("lr_x100", (NON_FINITE, EXPLODING, OSCILLATION), lr_factor=100.0),
        Breakage("strong_d", (OVERPOWERS,), n_critic=5, g_lr_factor=0.01),
        Breakage("collapse", (COLLAPSE,), extra_g_steps=4, g_lr_factor=5.0),
        Breakage("frozen_g", (NOT_LEARNING,), g_lr_factor=0.0),
        Breakage("tiny_set", (OVERFITTING,), tiny_set=True),
    )
}


@dataclass(frozen=True)
class Case:
    """One run: a zoo model on a data set, its length and evaluation interval, and how it is broken."""

    model: str
    data: str
    steps: int
    every: int
    breakage: Breakage
    seed: int

    @property
    def name(self) -> str:
        return f"{self.model}-{self.data}-{self.breakage.name}-s{self.seed}"


def cases(seeds: int, image_seeds: int) -> list[Case]:
    """The runs: healthy zoo settings, and each breakage applied to one healthy setting per data set.

    Ring8: `hinge` and `wgan-gp` (the zoo's 2-D references) healthy, `hinge` broken,
    `dcgan` as the zoo sets it (constant learning rate 2e-4, which the zoo does not
    claim reaches the ring), all with `seeds` seeds, 1000 steps. Digits (about ten times
    slower per step): `dcgan`, `lsgan`, `hinge` healthy with `image_seeds` seeds, 600
    steps; `dcgan` broken with one seed, 300 steps; the tiny set with `dcgan` and `hinge`,
    1000 steps.
    """
    plan = []
    for seed in range(seeds):
        ring = [("hinge", HEALTHY), ("wgan-gp", HEALTHY), ("dcgan", HEALTHY)]
        ring += [("hinge", BREAKAGES[name]) for name in ("lr_x100", "strong_d", "collapse", "frozen_g")]
        plan += [Case(m, "ring8", 1000, 100, b, seed) for m, b in ring]
    for seed in range(image_seeds):
        plan += [Case(m, "digits", 600, 50, HEALTHY, seed) for m in ("dcgan", "lsgan", "hinge")]
    broken = [b for b in BREAKAGES.values() if b is not HEALTHY and not b.tiny_set]
    plan += [Case("dcgan", "digits", 300, 50, b, 0) for b in broken]
    # Memorising takes longer; hinge's D has spectral normalisation, no batch statistics shared within a batch.
    plan += [Case(m, "digits", 1000, 100, BREAKAGES["tiny_set"], 0) for m in ("dcgan", "hinge")]
    return plan


class ScaledAdam(torch.optim.Adam):
    """Adam whose every step applies `scale` x the learning rate set on its groups (0: no update at all)."""

    def __init__(self, params, scale: float, **settings) -> None:
        super().__init__(params, **settings)
        self.scale = scale

    def step(self, closure=None):
        rates = [group["lr"] for group in self.param_groups]
        for group in self.param_groups:
            group["lr"] *= self.scale
        try:
            return super().step(closure)
        finally:
            for group, rate in zip(self.param_groups, rates, strict=True):
                group["lr"] = rate


def digit_features(images: torch.Tensor) -> torch.Tensor:
    """uint8 `(B, 3, 32, 32)` digits to `(B, 64)` floats in [0, 1]: the 8x8 grey image they were enlarged from."""
    return F.avg_pool2d(images[:, :1].float(), 4).flatten(1) / 255.0


class Probe:
    """D's outputs on a training batch, a held-out real batch and a generated batch, leaving the training as it was.

    D's buffers (batch-norm statistics, spectral-norm vectors) are put back; G's running averages are not.
    """

    def __init__(self, train: Callable[[int, torch.Generator], torch.Tensor], held_out: torch.Tensor | None, seed: int):
        self.train = train
        self.held_out = held_out
        self.rng = torch.Generator().manual_seed(10_000 + seed)

    def __call__(self, generator: nn.Module, discriminator: nn.Module, latent: int) -> tuple[torch.Tensor, ...]:
        buffers = {name: b.clone() for name, b in discriminator.named_buffers()}
        real = self.train(PROBE_BATCH, self.rng)
        if self.held_out is None:  # a distribution sampled afresh: any new draw is held out
            held = self.train(PROBE_BATCH, self.rng)
        else:
            held = self.held_out[torch.randint(len(self.held_out), (PROBE_BATCH,), generator=self.rng)]
        z = torch.randn(PROBE_BATCH, latent, generator=self.rng)
        with torch.random.fork_rng(devices=[]), torch.no_grad():
            outputs = tuple(discriminator(x).flatten() for x in (real, held, generator(z)))
        with torch.no_grad():
            for name, b in discriminator.named_buffers():
                b.copy_(buffers[name])
        return outputs


def _images(array: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(array).permute(0, 3, 1, 2).float() / 127.5 - 1


def train_case(case: Case, folder: Path) -> float:
    """Train `case` with a Monitor recording into `folder`; returns the seconds it took."""
    start = time.perf_counter()
    broken = case.breakage
    if case.data == "digits":
        images, labels = digits_images("train"), digits_labels("train")
        if broken.tiny_set:
            images, labels = images[:TINY_SET], labels[:TINY_SET]
        data = image_training_data(f"digits-{len(images)}", images, labels, 10)
        held_out = _images(digits_images("test"))
        reference = _images(digits_images("train")).numpy()
        options = {"features": digit_features, "n_samples": 500}
    else:
        data, held_out = training_data(case.data), None
        reference = RING8.sample(1000, seed=123)
        options = {"n_samples": 500}
    config = make_config(case.model, data, case.steps, case.seed)
    settings = dict(config.optimizer)
    settings["lr"] *= broken.lr_factor
    if "final_lr" in settings:
        settings["final_lr"] *= broken.lr_factor
    loss = dict(config.loss, n_critic=broken.n_critic or config.loss["n_critic"])
    config = replace(config, optimizer=settings, loss=loss)
    trainer = Trainer(config, data)
    if broken.g_lr_factor != 1.0:
        trainer.opt_g = ScaledAdam(
            trainer.generator.parameters(), broken.g_lr_factor, lr=settings["lr"], betas=tuple(settings["betas"])
        )
    probe = Probe(lambda n, rng: data.draw(n, rng)[0], held_out, case.seed)
    extra_rng = torch.Generator().manual_seed(20_000 + case.seed)
    critic = config.loss["name"] == "wasserstein"
    monitor = Monitor(folder, reference=reference, every=case.every, tensorboard=False, stderr=False, **options)

    def on_step(step: int, losses: dict[str, float], generator: nn.Module, discriminator: nn.Module) -> None:
        for _ in range(broken.extra_g_steps):
            _generator_step(trainer, extra_rng)
        real, held, fake = probe(generator, discriminator, config.latent_dim)
        monitor.log(step, loss_d=losses["d_loss"], loss_g=losses["g_loss"])
        monitor.discriminator(step, real, fake, kind="critic" if critic else "logits", held_out=held)
        monitor.evaluate(step, generator, latent_shape=config.latent_dim)

    with monitor:
        monitor.watch(trainer.generator, trainer.discriminator)
        monitor.evaluate(0, trainer.generator, latent_shape=config.latent_dim)
        try:
            trainer.run(case.steps, on_step=on_step, progress=False)
        except (RuntimeError, ValueError) as error:  # a diverged run may stop itself (NaN in a loss, say)
            (folder / "stopped.txt").write_text(str(error), encoding="utf-8")
    return time.perf_counter() - start


def _generator_step(trainer: Trainer, rng: torch.Generator) -> None:
    """One more non-saturating generator step, on the trainer's nets and optimiser."""
    generator, discriminator = trainer.generator, trainer.discriminator
    z = torch.randn(trainer.config.batch_size, trainer.config.latent_dim, generator=rng)
    discriminator.requires_grad_(False)
    try:
        loss = F.softplus(-discriminator(generator(z))).mean()
        trainer.opt_g.zero_grad(set_to_none=True)
        loss.backward()
        trainer.opt_g.step()
    finally:
        discriminator.requires_grad_(True)


def judge(folder: Path) -> dict[str, int]:
    """The first step at which each rule fires when the record in `folder` is replayed through today's rules."""
    book, first = AlarmRulebook(), {}
    for event in read_run(folder).events:
        for alarm in book.observe(event):
            first.setdefault(alarm.rule, alarm.step)
    return first


def learned(folder: Path) -> bool:
    """Whether a run's last evaluation has less than half the FID of its first: the independent health check."""
    fids = [e[FID] for e in read_run(folder).events if e["kind"] == "evaluation" and FID in e]
    return len(fids) >= 2 and fids[-1] < 0.5 * fids[0]


def table(results: list[tuple[Case, bool, dict[str, int]]]) -> str:
    """Per registered rule (`AlarmRules().rules`, in registration order): false alarms on healthy runs,
    detections on the runs broken in the way it targets.

    A run of a healthy setting counts as healthy only if it learned (`learned`);
    those that did not are counted apart, as runs that failed on their own.
    """
    healthy = [f for c, ok, f in results if c.breakage is HEALTHY and ok]
    failed = [f for c, ok, f in results if c.breakage is HEALTHY and not ok]
    lines = [
        "| alarm | false alarms (healthy runs) | detections (targeted runs) | healthy settings that failed "
        "on their own | other broken runs |",
        "|---|---|---|---|---|",
    ]
    for rule in (rule.name for rule in AlarmRules().rules):
        targeted = [f for c, _, f in results if rule in c.breakage.targets]
        other = [f for c, _, f in results if c.breakage is not HEALTHY and rule not in c.breakage.targets]
        caught = f"{sum(rule in f for f in targeted)}/{len(targeted)}" if targeted else "none targeted"
        counts = [f"{sum(rule in f for f in group)}/{len(group)}" for group in (healthy, failed, other)]
        lines.append(f"| `{rule}` | {counts[0]} | {caught} | {counts[1]} | {counts[2]} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("alarm-calibration"), help="folder of the run records")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per ring8 configuration")
    parser.add_argument("--image-seeds", type=int, default=2, help="seeds per digits configuration")
    parser.add_argument("--replay", action="store_true", help="judge the records in --out again, without training")
    parser.add_argument("--only", default="", help="train only the cases whose name contains this")
    args = parser.parse_args()
    torch.set_num_threads(1)
    results = []
    for case in cases(args.seeds, args.image_seeds):
        if args.only not in case.name:
            continue
        folder = args.out / case.name
        if not args.replay and not (folder / DONE).exists():
            shutil.rmtree(folder, ignore_errors=True)  # a run cut short: start it again
            seconds = train_case(case, folder)
            (folder / DONE).write_text(f"{seconds:.1f}\n", encoding="utf-8")
            print(f"{case.name}: {seconds:.1f} s", flush=True)
        if (folder / "events.jsonl").exists():
            fired, ok = judge(folder), learned(folder)
            results.append((case, ok, fired))
            print(f"{case.name}: learned={ok} {json.dumps(fired)}", flush=True)
    print(table(results))


if __name__ == "__main__":
    main()
