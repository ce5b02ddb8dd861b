"""Fixtures of the monitor tests: a small recorded run."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scheduled_training import train_with_schedules

from gan_eval.monitor import Monitor


@pytest.fixture(autouse=True)
def single_thread(one_thread) -> None:
    """Tiny MLP trainings run fastest on one thread (the shared `one_thread` fixture)."""


@pytest.fixture
def small_run(tmp_path):
    """A record with 60 steps of losses, D outputs and gradients, three evaluations and one alarm."""
    torch.manual_seed(0)
    generator, discriminator = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    opt_g, opt_d = torch.optim.SGD(generator.parameters(), 0.01), torch.optim.SGD(discriminator.parameters(), 0.01)
    reference = np.random.default_rng(0).normal(size=(300, 2))
    with Monitor(tmp_path, reference=reference, every=20, n_samples=200, tensorboard=False, stderr=False) as monitor:
        monitor.watch(generator, discriminator)
        for step in range(60):
            fake = generator(torch.randn(16, 2))
            real_out, fake_out = discriminator(torch.randn(16, 2)), discriminator(fake.detach())
            opt_d.zero_grad()
            (fake_out.mean() - real_out.mean()).backward()
            opt_d.step()
            opt_g.zero_grad()
            (-discriminator(fake)).mean().backward()
            opt_g.step()
            loss = math.nan if step == 45 else 0.1 * step
            monitor.log(step, loss_d=loss, loss_g=-0.05 * step)
            monitor.discriminator(step, real_out, fake_out, kind="logits")
            monitor.evaluate(step, generator, latent_shape=2)
    return tmp_path


@pytest.fixture
def scheduled_run(tmp_path):
    """A record of `SCHEDULED_STEPS` steps whose learning rates follow `scheduled_rate` (scheduled_training.py)."""
    train_with_schedules(tmp_path)
    return tmp_path
