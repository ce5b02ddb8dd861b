"""The GAN objectives, each a pair of pure functions of the discriminator's raw outputs.

Every function takes the discriminator's (critic's) raw outputs, `(N,)` or
`(N, 1)` float tensors, and returns a scalar tensor to minimise; a generator
objective takes the outputs on real data (or None where it ignores them) and
on generated data:

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
  Normalization for GANs", eq. 17);
- relativistic GAN (Jolicoeur-Martineau 2019, "The relativistic discriminator: a
  key element missing from standard GAN", ICLR 2019): RSGAN compares each real
  sample with one fake, RaGAN (their RaSGAN) each sample with the other side's
  average output; both with `-log sigmoid`, as in the paper. Their generator
  objectives read the discriminator's outputs on real data too, so every
  generator objective takes `(real, fake)`; `Objective.generator_reads_real`
  says whether the training loop has to compute the real outputs for it.

A zero-centred penalty on the real data, R1 (Mescheder et al. 2018, "Which
Training Methods for GANs do actually Converge?": `r1_penalty`), can
be added to any of them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def nonsaturating_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """`-E log sigmoid(D(x)) - E log(1 - sigmoid(D(G(z))))`: BCE with targets 1 (real) and 0 (fake)."""
    return F.binary_cross_entropy_with_logits(real, torch.ones_like(real)) + F.binary_cross_entropy_with_logits(
        fake, torch.zeros_like(fake)
    )


def nonsaturating_g_loss(real: torch.Tensor | None, fake: torch.Tensor) -> torch.Tensor:
    """`-E log sigmoid(D(G(z)))`: BCE of the fakes against the real label; `real` is not read."""
    return F.binary_cross_entropy_with_logits(fake, torch.ones_like(fake))


def wasserstein_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """`E f(G(z)) - E f(x)`, the negated estimate of the Wasserstein-1 distance."""
    return fake.mean() - real.mean()


def wasserstein_g_loss(real: torch.Tensor | None, fake: torch.Tensor) -> torch.Tensor:
    """`-E f(G(z))`; `real` is not read."""
    return -fake.mean()


def least_squares_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """`½ E (D(x) - 1)² + ½ E D(G(z))²` (targets b = 1 for real, a = 0 for fake)."""
    return 0.5 * ((real - 1).pow(2).mean() + fake.pow(2).mean())


def least_squares_g_loss(real: torch.Tensor | None, fake: torch.Tensor) -> torch.Tensor:
    """`½ E (D(G(z)) - 1)²` (the generator's target c = 1); `real` is not read."""
    return 0.5 * (fake - 1).pow(2).mean()


def hinge_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """`E max(0, 1 - D(x)) + E max(0, 1 + D(G(z)))`."""
    return F.relu(1 - real).mean() + F.relu(1 + fake).mean()


def hinge_g_loss(real: torch.Tensor | None, fake: torch.Tensor) -> torch.Tensor:
    """`-E D(G(z))`; `real` is not read."""
    return -fake.mean()


def _paired(real: torch.Tensor | None, fake: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Both outputs flattened to `(N,)`; a relativistic objective needs the real ones, pair by pair for RSGAN."""
    if real is None:
        raise ValueError("a relativistic objective needs the discriminator's outputs on real data")
    return real.reshape(-1), fake.reshape(-1)


def relativistic_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """RSGAN: `-E log sigmoid(C(x_i) - C(x̃_i))` over the pairs of the i-th real and i-th fake sample."""
    real, fake = _paired(real, fake)
    if real.shape != fake.shape:
        raise ValueError(f"RSGAN pairs real and fake outputs: {tuple(real.shape)} vs {tuple(fake.shape)}")
    return F.softplus(fake - real).mean()


def relativistic_g_loss(real: torch.Tensor | None, fake: torch.Tensor) -> torch.Tensor:
    """RSGAN: `-E log sigmoid(C(x̃_i) - C(x_i))`, the discriminator's objective with the roles swapped."""
    real, fake = _paired(real, fake)
    return relativistic_d_loss(fake, real)


def relativistic_average_d_loss(real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """RaGAN: `-E_x log sigmoid(C(x) - E C(x̃)) - E_x̃ log(1 - sigmoid(C(x̃) - E C(x)))`.

    The batch means stand for the expectations; the two sides may differ in size.
    The paper's sum of the two terms; the authors' released code halves it, which
    leaves Adam's steps the same (up to its epsilon).
    """
    real, fake = _paired(real, fake)
    return F.softplus(fake.mean() - real).mean() + F.softplus(fake - real.mean()).mean()


def relativistic_average_g_loss(real: torch.Tensor | None, fake: torch.Tensor) -> torch.Tensor:
    """RaGAN: `-E_x̃ log sigmoid(C(x̃) - E C(x)) - E_x log(1 - sigmoid(C(x) - E C(x̃)))`, the roles swapped."""
    real, fake = _paired(real, fake)
    return relativistic_average_d_loss(fake, real)


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


@dataclass(frozen=True)
class Objective:
    """One GAN objective: the discriminator's and the generator's losses, both of raw outputs.

    `d_loss(real, fake)`; `g_loss(real, fake)`, where `real` is None unless
    `generator_reads_real` (the relativistic objectives): only then does the
    training loop run the discriminator on a real batch in the generator step.
    """

    d_loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
    g_loss: Callable[[torch.Tensor | None, torch.Tensor], torch.Tensor]
    generator_reads_real: bool = False


LOSSES: dict[str, Objective] = {
    "nonsaturating": Objective(nonsaturating_d_loss, nonsaturating_g_loss),
    "wasserstein": Objective(wasserstein_d_loss, wasserstein_g_loss),
    "least-squares": Objective(least_squares_d_loss, least_squares_g_loss),
    "hinge": Objective(hinge_d_loss, hinge_g_loss),
    "relativistic": Objective(relativistic_d_loss, relativistic_g_loss, generator_reads_real=True),
    "relativistic-average": Objective(
        relativistic_average_d_loss, relativistic_average_g_loss, generator_reads_real=True
    ),
}
