"""The Lightning callback: records of a manual-optimisation GAN, and gradient norms under automatic optimisation.

The test extra installs lightning, so its absence fails this module rather than skipping it.
"""

from __future__ import annotations

import math

import lightning.pytorch as pl
import pytest
import torch
import torch.nn.functional as F
from toy_training import LATENT, mlp

from gan_eval.datasets.toy2d import sample_ring8
from gan_eval.monitor import Monitor, read_run
from gan_eval.monitor.lightning import MonitorCallback


def _loader(n: int = 256) -> torch.utils.data.DataLoader:
    data = torch.from_numpy(sample_ring8(n, seed=0)).float()
    return torch.utils.data.DataLoader(torch.utils.data.TensorDataset(data), batch_size=32)


def _trainer(tmp_path, callback: MonitorCallback, steps: int) -> pl.Trainer:
    return pl.Trainer(
        max_steps=steps,
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
        callbacks=[callback],
    )


def _norm(network: torch.nn.Module) -> float:
    return math.sqrt(sum(float((p.grad.double() ** 2).sum()) for p in network.parameters() if p.grad is not None))


class ManualGan(pl.LightningModule):
    """A non-saturating GAN with Lightning's manual optimisation (two optimizers)."""

    def __init__(self) -> None:
        super().__init__()
        self.automatic_optimization = False
        self.generator, self.discriminator = mlp(LATENT, 2, 16), mlp(2, 1, 16)
        self.norms: list[tuple[str, float]] = []

    def configure_optimizers(self):
        return (
            torch.optim.Adam(self.generator.parameters(), 1e-3, betas=(0.5, 0.999)),
            torch.optim.Adam(self.discriminator.parameters(), 1e-3, betas=(0.5, 0.999)),
        )

    def training_step(self, batch, batch_idx):
        (real,) = batch
        opt_g, opt_d = self.optimizers()
        fake = self.generator(torch.randn(len(real), LATENT))
        real_out, fake_out = self.discriminator(real), self.discriminator(fake.detach())
        loss_d = F.softplus(-real_out).mean() + F.softplus(fake_out).mean()
        opt_d.zero_grad()
        self.manual_backward(loss_d)
        self.norms.append(("D", _norm(self.discriminator)))
        opt_d.step()
        loss_g = F.softplus(-self.discriminator(fake)).mean()
        opt_g.zero_grad()
        self.manual_backward(loss_g)
        self.norms.append(("G", _norm(self.generator)))
        opt_g.step()
        self.log_dict({"loss_d": loss_d, "loss_g": loss_g})
        return {"real_out": real_out.detach(), "fake_out": fake_out.detach(), "d_output": "logits"}


def test_manual_optimisation_gan_is_recorded(tmp_path):
    module = ManualGan()
    monitor = Monitor(tmp_path / "run", reference=sample_ring8(200, seed=1), every=4, n_samples=100, stderr=False)
    trainer = _trainer(tmp_path, MonitorCallback(monitor, latent_shape=LATENT), steps=12)
    trainer.fit(module, _loader())
    events = read_run(tmp_path / "run").events
    scalars = [e for e in events if e["kind"] == "scalars"]
    assert len(scalars) == 6 and {"loss_d", "loss_g"} <= set(scalars[0])
    assert [e["step"] for e in scalars] == [2, 4, 6, 8, 10, 12]  # two optimizer steps per batch
    gradients = [e for e in events if e["kind"] == "gradients"]
    expected_d = [n for net, n in module.norms if net == "D"]
    expected_g = [n for net, n in module.norms if net == "G"]
    assert [e["d_norm"] for e in gradients] == pytest.approx(expected_d, rel=1e-5)
    assert [e["g_norm"] for e in gradients] == pytest.approx(expected_g, rel=1e-5)
    assert len([e for e in events if e["kind"] == "discriminator"]) == 6
    assert [e["step"] for e in events if e["kind"] == "evaluation"] == [4, 8, 12]
    assert monitor._closed


class CriticOnly(pl.LightningModule):
    """Automatic optimisation: Lightning computes the gradients inside `optimizer.step(closure)`."""

    def __init__(self) -> None:
        super().__init__()
        self.generator, self.discriminator = mlp(LATENT, 2, 8), mlp(2, 1, 8)
        self.norms: list[float] = []

    def configure_optimizers(self):
        return torch.optim.SGD(self.discriminator.parameters(), 0.01)

    def training_step(self, batch, batch_idx):
        (real,) = batch
        with torch.no_grad():
            fake = self.generator(torch.randn(len(real), LATENT))
        loss = self.discriminator(fake).mean() - self.discriminator(real).mean()
        self.log("loss_d", loss)
        return loss

    def on_before_optimizer_step(self, optimizer):
        self.norms.append(_norm(self.discriminator))


def test_automatic_optimisation_norms_are_read_after_the_closure(tmp_path):
    module = CriticOnly()
    monitor = Monitor(tmp_path / "run", stderr=False, tensorboard=False)
    trainer = _trainer(tmp_path, MonitorCallback(monitor, scalars=["loss_d"]), steps=5)
    trainer.fit(module, _loader())
    gradients = [e for e in read_run(tmp_path / "run").events if e["kind"] == "gradients"]
    assert [e["d_norm"] for e in gradients] == pytest.approx(module.norms, rel=1e-5)
    assert len(gradients) == 5 and all("g_norm" not in e for e in gradients)
