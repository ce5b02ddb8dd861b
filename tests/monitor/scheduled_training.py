"""A tiny GAN-shaped training whose learning rates follow known schedules (TTUR-like warm-up and step decay)."""

from __future__ import annotations

from pathlib import Path

import torch

from gan_eval.monitor import Monitor

SCHEDULED_STEPS = 40


def scheduled_rate(name: str, step: int) -> float:
    """The rate the schedulers of `train_with_schedules` set for `step`, from their formulas (not from torch).

    G: Adam at 1e-3 with a LinearLR warm-up from 0.1x to 1x over 10 scheduler steps;
    D: SGD with two groups (0.01 and 0.1), StepLR halving every 15 scheduler steps.
    The scheduler steps after the optimizers, so step s runs after s scheduler steps.
    """
    if name == "G":
        return 1e-3 * (0.1 + 0.9 * min(step, 10) / 10)
    base = {"D/group0": 0.01, "D/group1": 0.1}[name]
    return base * 0.5 ** (step // 15)


def train_with_schedules(out_dir: Path) -> None:
    """Train `SCHEDULED_STEPS` steps into `out_dir` with the schedules of `scheduled_rate`, watched by a Monitor."""
    torch.manual_seed(0)
    generator, discriminator = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    opt_g = torch.optim.Adam(generator.parameters(), 1e-3)
    opt_d = torch.optim.SGD([{"params": [discriminator.weight]}, {"params": [discriminator.bias], "lr": 0.1}], 0.01)
    warm_up = torch.optim.lr_scheduler.LinearLR(opt_g, start_factor=0.1, total_iters=10)
    decay = torch.optim.lr_scheduler.StepLR(opt_d, step_size=15, gamma=0.5)
    with Monitor(out_dir, every=None, tensorboard=False, stderr=False) as monitor:
        monitor.watch(generator, discriminator)
        for step in range(SCHEDULED_STEPS):
            fake = generator(torch.randn(8, 2))
            loss_d = discriminator(fake.detach()).mean() - discriminator(torch.randn(8, 2)).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
            opt_g.zero_grad()
            (-discriminator(fake)).mean().backward()
            opt_g.step()
            warm_up.step()
            decay.step()
            monitor.log(step, loss_d=loss_d)
