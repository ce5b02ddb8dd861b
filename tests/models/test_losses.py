"""The GAN objectives against their formulas written out with Python floats."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from gan_eval.models.losses import (
    LOSSES,
    clip_weights,
    gradient_penalty,
    hinge_d_loss,
    hinge_g_loss,
    least_squares_d_loss,
    least_squares_g_loss,
    nonsaturating_d_loss,
    nonsaturating_g_loss,
    r1_penalty,
    relativistic_average_d_loss,
    relativistic_average_g_loss,
    relativistic_d_loss,
    relativistic_g_loss,
    wasserstein_d_loss,
    wasserstein_g_loss,
)

REAL = [2.5, -0.3, 0.0, 1.2, -4.0]
FAKE = [-1.5, 0.7, 3.1, -0.2]


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v))


def mean(values) -> float:
    values = list(values)
    return sum(values) / len(values)


def t(values) -> torch.Tensor:
    return torch.tensor(values, dtype=torch.float64)


def test_nonsaturating() -> None:
    d = -mean(math.log(sigmoid(v)) for v in REAL) - mean(math.log(1 - sigmoid(v)) for v in FAKE)
    g = -mean(math.log(sigmoid(v)) for v in FAKE)
    assert nonsaturating_d_loss(t(REAL), t(FAKE)).item() == pytest.approx(d, rel=1e-12)
    assert nonsaturating_g_loss(None, t(FAKE)).item() == pytest.approx(g, rel=1e-12)


def test_wasserstein() -> None:
    assert wasserstein_d_loss(t(REAL), t(FAKE)).item() == pytest.approx(mean(FAKE) - mean(REAL), rel=1e-12)
    assert wasserstein_g_loss(None, t(FAKE)).item() == pytest.approx(-mean(FAKE), rel=1e-12)


def test_least_squares() -> None:
    d = 0.5 * mean((v - 1) ** 2 for v in REAL) + 0.5 * mean(v**2 for v in FAKE)
    g = 0.5 * mean((v - 1) ** 2 for v in FAKE)
    assert least_squares_d_loss(t(REAL), t(FAKE)).item() == pytest.approx(d, rel=1e-12)
    assert least_squares_g_loss(None, t(FAKE)).item() == pytest.approx(g, rel=1e-12)


def test_hinge() -> None:
    d = mean(max(0.0, 1 - v) for v in REAL) + mean(max(0.0, 1 + v) for v in FAKE)
    assert hinge_d_loss(t(REAL), t(FAKE)).item() == pytest.approx(d, rel=1e-12)
    assert hinge_g_loss(None, t(FAKE)).item() == pytest.approx(-mean(FAKE), rel=1e-12)


def test_relativistic_pairs_each_real_with_one_fake() -> None:
    pairs = list(zip(REAL[:4], FAKE, strict=True))
    d = -mean(math.log(sigmoid(r - f)) for r, f in pairs)
    g = -mean(math.log(sigmoid(f - r)) for r, f in pairs)
    assert relativistic_d_loss(t(REAL[:4]), t(FAKE)).item() == pytest.approx(d, rel=1e-12)
    assert relativistic_g_loss(t(REAL[:4]), t(FAKE)).item() == pytest.approx(g, rel=1e-12)


def test_relativistic_average_compares_with_the_other_sides_mean() -> None:
    mean_real, mean_fake = mean(REAL), mean(FAKE)
    d = -mean(math.log(sigmoid(r - mean_fake)) for r in REAL) - mean(math.log(1 - sigmoid(f - mean_real)) for f in FAKE)
    g = -mean(math.log(sigmoid(f - mean_real)) for f in FAKE) - mean(math.log(1 - sigmoid(r - mean_fake)) for r in REAL)
    assert relativistic_average_d_loss(t(REAL), t(FAKE)).item() == pytest.approx(d, rel=1e-12)
    assert relativistic_average_g_loss(t(REAL), t(FAKE)).item() == pytest.approx(g, rel=1e-12)


def test_relativistic_average_generator_gradient_runs_through_the_fakes_mean() -> None:
    # L_G = -mean_j log σ(f_j - m_r) - mean_i log(1 - σ(r_i - m_f)), so with M fakes
    # ∂L_G/∂f_j = (-(1 - σ(f_j - m_r)) - mean_i σ(r_i - m_f)) / M: the second term only through m_f.
    fake = t(FAKE).requires_grad_(True)
    relativistic_average_g_loss(t(REAL), fake).backward()
    mean_real, mean_fake = mean(REAL), mean(FAKE)
    pull = mean(sigmoid(r - mean_fake) for r in REAL)
    expected = [(-(1 - sigmoid(f - mean_real)) - pull) / len(FAKE) for f in FAKE]
    assert fake.grad.tolist() == pytest.approx(expected, rel=1e-12)


def test_relativistic_losses_stay_finite_at_large_outputs() -> None:
    # -log σ(-200) = 200 + log(1 + e^-200): a naive log of the sigmoid would give inf.
    real, fake = t([-100.0, -100.0]), t([100.0, 100.0])
    assert relativistic_d_loss(real, fake).item() == pytest.approx(200.0, rel=1e-12)
    assert relativistic_g_loss(real, fake).item() == pytest.approx(0.0, abs=1e-80)
    assert relativistic_average_d_loss(real, fake).item() == pytest.approx(400.0, rel=1e-12)


def test_relativistic_generator_losses_need_the_real_outputs() -> None:
    for name in ("relativistic", "relativistic-average"):
        assert LOSSES[name].generator_reads_real
        with pytest.raises(ValueError, match="outputs on real data"):
            LOSSES[name].g_loss(None, t(FAKE))
    with pytest.raises(ValueError, match="pairs real and fake"):
        relativistic_d_loss(t(REAL), t(FAKE))
    assert not any(
        LOSSES[name].generator_reads_real for name in ("nonsaturating", "wasserstein", "least-squares", "hinge")
    )


def test_every_loss_accepts_column_outputs() -> None:
    real, fake = t(REAL[:4]), t(FAKE)
    for objective in LOSSES.values():
        assert objective.d_loss(real[:, None], fake[:, None]).item() == pytest.approx(
            objective.d_loss(real, fake).item(), rel=1e-12
        )
        given = real if objective.generator_reads_real else None
        column = None if given is None else given[:, None]
        assert objective.g_loss(column, fake[:, None]).item() == pytest.approx(
            objective.g_loss(given, fake).item(), rel=1e-12
        )


def test_gradient_penalty_of_a_quadratic_critic() -> None:
    # f(x) = ½ ‖x‖², so ∇f(x̂) = x̂ and the penalty is the mean of (‖x̂‖ - 1)² over the mixed points.
    real = torch.tensor([[1.0, 2.0], [0.0, -1.0], [3.0, 0.5]], dtype=torch.float64)
    fake = torch.tensor([[0.0, 0.0], [2.0, 2.0], [-1.0, 1.0]], dtype=torch.float64)
    mix = torch.tensor([0.25, 0.5, 1.0], dtype=torch.float64)
    expected = 0.0
    for r, f, a in zip(real.tolist(), fake.tolist(), mix.tolist(), strict=True):
        point = [a * ri + (1 - a) * fi for ri, fi in zip(r, f, strict=True)]
        expected += (math.hypot(*point) - 1) ** 2 / 3
    penalty = gradient_penalty(lambda x: 0.5 * (x * x).sum(dim=1), real, fake, mix)
    assert penalty.item() == pytest.approx(expected, rel=1e-12)


def test_gradient_penalty_reaches_the_critic_weights() -> None:
    # A linear critic f(x) = w·x has ∇f = w everywhere: the penalty is (‖w‖ - 1)², with gradient 2 (‖w‖ - 1) w / ‖w‖.
    critic = nn.Linear(4, 1, bias=False).double()
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([[0.5, -1.0, 2.0, 0.25]]))
    real = torch.randn(6, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(0))
    fake = torch.randn(6, 2, 2, dtype=torch.float64, generator=torch.Generator().manual_seed(1))
    penalty = gradient_penalty(
        lambda x: critic(x.flatten(1)).squeeze(1), real, fake, torch.rand(6, dtype=torch.float64)
    )
    w = [0.5, -1.0, 2.0, 0.25]
    norm = math.sqrt(sum(v * v for v in w))
    assert penalty.item() == pytest.approx((norm - 1) ** 2, rel=1e-12)
    penalty.backward()
    expected = [2 * (norm - 1) * v / norm for v in w]
    assert critic.weight.grad.flatten().tolist() == pytest.approx(expected, rel=1e-12)


def test_r1_penalty_of_a_quadratic_critic() -> None:
    # D(x) = ½ ‖x‖² on (N, 2, 2) inputs: ∇D(x) = x, so the penalty is the mean of ‖x‖² over the real batch.
    real = torch.tensor([[[1.0, 2.0], [0.0, -1.0]], [[3.0, 0.5], [0.0, 0.0]]], dtype=torch.float64)
    real.requires_grad_(True)
    penalty = r1_penalty(real, 0.5 * real.flatten(1).pow(2).sum(dim=1))
    assert penalty.item() == pytest.approx(((1 + 4 + 0 + 1) + (9 + 0.25)) / 2, rel=1e-12)


def test_r1_penalty_reaches_the_discriminator_weights() -> None:
    # A linear D(x) = w·x has ∇D = w everywhere: the penalty is ‖w‖², with gradient 2 w.
    critic = nn.Linear(3, 1, bias=False).double()
    w = [0.5, -1.0, 2.0]
    with torch.no_grad():
        critic.weight.copy_(torch.tensor([w]))
    real = torch.randn(5, 3, dtype=torch.float64, generator=torch.Generator().manual_seed(0)).requires_grad_(True)
    penalty = r1_penalty(real, critic(real).squeeze(1))
    assert penalty.item() == pytest.approx(sum(v * v for v in w), rel=1e-12)
    penalty.backward()
    assert critic.weight.grad.flatten().tolist() == pytest.approx([2 * v for v in w], rel=1e-12)


def test_clip_weights() -> None:
    layer = nn.Linear(3, 2)
    with torch.no_grad():
        layer.weight.copy_(torch.tensor([[0.5, -0.002, 0.02], [-0.3, 0.0, 0.009]]))
        layer.bias.copy_(torch.tensor([-0.05, 0.004]))
    clip_weights(layer, 0.01)
    expected = torch.tensor([[0.01, -0.002, 0.01], [-0.01, 0.0, 0.009]])
    assert torch.equal(layer.weight.detach(), expected)
    assert torch.equal(layer.bias.detach(), torch.tensor([-0.01, 0.004]))
