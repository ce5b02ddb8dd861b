"""The GAN objectives, each a pair of pure functions of the discriminator's raw outputs.

Every function takes the discriminator's (critic's) raw outputs, `(N,)` or
`(N, 1)` float tensors, and returns a scalar tensor to minimise:

- non-saturating GAN (Goodfellow et al. 2014, "Generative Adversarial Nets",
  the `-log D(G(z))` generator objective of their section 3; DCGAN, Radford et
  al. 2016, trains with it): binary cross-entropy on logits;
- Wasserstein GAN (Arjovsky et al. 2017, "Wasserstein GAN"): the critic
  maximises `E f(x) - E f(G(z))`; its Lipschitz bound comes from weight clipping
  (`clip_weights`) or from the gradient penalty of WGAN-GP (Gulrajani et al.
  2017, "Improved Training of Wasserstein GANs", eq. 3: `gradient_penalty`);
- least squares GAN (Mao et al. 2017, "Least Squares Generative Adversarial
  Networks", eq. 2 with the 0-1 coding a=0, b=1, c=1);
- hinge loss (Lim & Ye 2017, "Geometric GAN"; Miyato et al. 2018, "Spectral
  Normalization for GANs", eq. 17).

A zero-centred penalty on the real data, R1 (Mescheder et al. 2018, "Which
Training Methods for GANs do actually Converge?": `r1_penalty`), can
be added to any of them.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn


def nonsaturating_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """`-E log sigmoid(D(x)) - E log(1 - sigmoid(D(G(z))))`: BCE with targets 1 (real) and 0 (fake)."""
    return F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
        fake, torch.zeros_like(fake)
    )


def nonsaturating_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """`-E log sigmoid(D(G(z)))`: BCE of the fakes against the real label."""
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def wasserstein_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """`E f(G(z)) - E f(x)`, the negated estimate of the Wasserstein-1 distance."""
    return fake.mean() - real.mean()


def wasserstein_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """`-E f(G(z))`."""
    return -fake.mean()


def least_squares_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """`½ E (D(x) - 1)² + ½ E D(G(z))²` (targets b = 1 for real, a = 0 for fake)."""
    return 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean())


def least_squares_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """`½ E (D(G(z)) - 1)²` (the generator's target c = 1)."""
    return 0.5 * (fake - 1).pow(2).mean()


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """`E max(0, 1 - D(x)) + E max(0, 1 + D(G(z)))`."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hinge_g_loss(fake: torch.Tensor) -> torch.Tensor:
    """`-E D(G(z))`."""
    return -fake.mean()


def gradient_penalty(
    critic: Callable[[torch.Tensor], torch.Tensor],
    real: torch.Tensor,
    fake: torch.Tensor,
    mix: torch.Tensor,
) -> torch.Tensor:
    """`E (‖∇ f(x̂)‖₂ - 1)²` at `x̂ = mix·x + (1 - mix)·x̃`, differentiable in the critic's parameters.

    `real`, `fake`: `(N, ...)` batches of the same shape; `mix`: `(N,)` weights in
    [0, 1], one per pair. The norm is over all of a sample's coordinates. The
    caller multiplies by λ (10 in the paper).
    """
    shape = (-1,) + (1,) * (real.dim() - 1)
    points = (mix.view(shape) * real + (1 - mix.view(shape)) * fake.detach()).requires_grad_(True)
    scores = critic(points)
    (grad,) = torch.autograd.grad(scores.sum(), points, create_graph=True)
    return (grad.flatten(1).norm(dim=1) - 1).pow(2).mean()


def r1_penalty(real: torch.Tensor, real_scores: torch.Tensor) -> torch.Tensor:
    """`E ‖∇ D(x)‖₂²` over the real batch, differentiable in the discriminator's parameters.

    `real`: the `(N, ...)` batch the discriminator was applied to, with `requires_grad`
    set before that call; `real_scores`: its raw outputs `(N,)`. The norm is over all
    of a sample's coordinates. The caller multiplies by γ / 2.
    """
    (grad,) = torch.autograd.grad(real_scores.sum(), real, create_graph=True)
    return grad.flatten(1).pow(2).sum(dim=1).mean()


@torch.no_grad()
def clip_weights(module: nn.Module, bound: float) -> None:
    """Clamp every parameter of `module` to `[-bound, bound]` in place (WGAN, Algorithm 1)."""
    for parameter in module.parameters():
        parameter.clamp_(-bound, bound)


LossPair = tuple[
    Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    Callable[[torch.Tensor], torch.Tensor],
]

LOSSES: dict[str, LossPair] = {
    "nonsaturating": (nonsaturating_d_loss, nonsaturating_g_loss),
    "wasserstein": (wasserstein_d_loss, wasserstein_g_loss),
    "least-squares": (least_squares_d_loss, least_squares_g_loss),
    "hinge": (hinge_d_loss, hinge_g_loss),
}
