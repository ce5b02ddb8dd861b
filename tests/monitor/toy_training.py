"""Small real GAN trainings on the 8-mode ring, in plain PyTorch, for driving the Monitor's alarms.

The ring: 8 Gaussian modes on the unit circle, σ = 0.01 (VEEGAN/PacGAN).
G and D are ReLU MLPs; losses are the non-saturating GAN, the original
saturating (minimax) GAN, or WGAN-GP (Gulrajani et al. 2017) with λ = 0.1
as in their toy experiments. Every run is seeded and runs on CPU in seconds.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from gan_eval.monitor import Monitor

LATENT = 2


def ring8(n: int, generator: torch.Generator) -> torch.Tensor:
    """`n` points `(n, 2)` of the 8-mode ring (radius 1, σ = 0.01)."""
    mode = torch.randint(0, 8, (n,), generator=generator)
    angle = mode.double() * (2 * math.pi / 8)
    centres = torch.stack([angle.cos(), angle.sin()], dim=1).float()
    return centres + 0.01 * torch.randn(n, 2, generator=generator)


def mlp(inputs: int, outputs: int, hidden: int) -> nn.Sequential:
    """Two hidden ReLU layers."""
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(), nn.Linear(hidden, outputs)
    )


@dataclass(frozen=True)
class Config:
    """One training's settings; `loss` is "ns", "saturating" or "wgan-gp".

    `lr_jump_step`: the step at which both learning rates are multiplied by
    `lr_jump_factor` (a schedule gone wrong).
    """

    loss: str = "ns"
    steps: int = 300
    lr_g: float = 1e-3
    lr_d: float = 1e-3
    d_steps: int = 1
    g_steps: int = 1
    batch: int = 64
    hidden: int = 64
    optimizer: str = "adam"
    seed: int = 0
    lr_jump_step: int | None = None
    lr_jump_factor: float = 1.0


def train(config: Config, monitor: Monitor | None = None, watch: bool = True) -> tuple[nn.Module, nn.Module]:
    """Train G and D on the ring; with a monitor, log losses and D outputs each step and call `evaluate`."""
    torch.manual_seed(config.seed)
    data_rng = torch.Generator().manual_seed(config.seed + 1)
    G, D = mlp(LATENT, 2, config.hidden), mlp(2, 1, config.hidden)
    if config.optimizer == "adam":
        betas = (0.5, 0.9) if config.loss == "wgan-gp" else (0.5, 0.999)
        opt_g = torch.optim.Adam(G.parameters(), config.lr_g, betas=betas)
        opt_d = torch.optim.Adam(D.parameters(), config.lr_d, betas=betas)
    else:
        opt_g = torch.optim.SGD(G.parameters(), config.lr_g)
        opt_d = torch.optim.SGD(D.parameters(), config.lr_d)
    if monitor is not None and watch:
        monitor.watch(G, D)
    for step in range(config.steps):
        if step == config.lr_jump_step:
            for group in [*opt_g.param_groups, *opt_d.param_groups]:
                group["lr"] *= config.lr_jump_factor
        for _ in range(config.d_steps):
            real = ring8(config.batch, data_rng)
            fake = G(torch.randn(config.batch, LATENT)).detach()
            out_real, out_fake = D(real), D(fake)
            if config.loss == "wgan-gp":
                mix = torch.rand(config.batch, 1)
                between = (mix * real + (1 - mix) * fake).requires_grad_(True)
                grad = torch.autograd.grad(D(between).sum(), between, create_graph=True)[0]
                penalty = ((grad.norm(dim=1) - 1) ** 2).mean()
                loss_d = out_fake.mean() - out_real.mean() + 0.1 * penalty
            else:
                loss_d = F.softplus(-out_real).mean() + F.softplus(out_fake).mean()
            opt_d.zero_grad()
            loss_d.backward()
            opt_d.step()
        for _ in range(config.g_steps):
            out_gen = D(G(torch.randn(config.batch, LATENT)))
            if config.loss == "wgan-gp":
                loss_g = -out_gen.mean()
            elif config.loss == "ns":
                loss_g = F.softplus(-out_gen).mean()
            else:
                loss_g = -F.softplus(out_gen).mean()
            opt_g.zero_grad()
            loss_g.backward()
            opt_g.step()
        if monitor is not None:
            monitor.log(step, loss_d=loss_d.item(), loss_g=loss_g.item())
            kind = "critic" if config.loss == "wgan-gp" else "logits"
            monitor.discriminator(step, out_real, out_fake, kind=kind)
            monitor.evaluate(step, G, latent_shape=LATENT)
    return G, D


def dirac_gan(monitor: Monitor, steps: int = 600, lr: float = 0.2, r1: float = 0.0) -> tuple[float, float]:
    """The Dirac-GAN of Mescheder et al. 2018: data δ_0, G(z) = θ, D(x) = ψ x; alternating gradient steps.

    Non-saturating losses; `r1` is γ of the R1 penalty γ/2 E[|∇_x D(x_real)|²] = γ/2 ψ².
    Unregularised, (θ, ψ) circle the equilibrium (0, 0) forever and the losses
    oscillate; with R1 they spiral into it. Logs `loss_d`, `loss_g` each step;
    returns the final (θ, ψ).
    """
    theta = torch.tensor(1.0, requires_grad=True)
    psi = torch.tensor(1.0, requires_grad=True)
    opt_g, opt_d = torch.optim.SGD([theta], lr), torch.optim.SGD([psi], lr)
    for step in range(steps):
        loss_d = F.softplus(-psi * 0.0) + F.softplus(psi * theta.detach()) + r1 / 2 * psi**2
        opt_d.zero_grad()
        loss_d.backward()
        opt_d.step()
        loss_g = F.softplus(-psi.detach() * theta)
        opt_g.zero_grad()
        loss_g.backward()
        opt_g.step()
        monitor.log(step, loss_d=loss_d.item(), loss_g=loss_g.item())
    return theta.item(), psi.item()
