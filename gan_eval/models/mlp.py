"""Fully connected generators and discriminators: the 2-D toy models and the vanilla GAN.

The vanilla GAN of Goodfellow et al. 2014 ("Generative Adversarial Nets") is
multilayer perceptrons on both sides; the widely copied PyTorch MNIST version
uses LeakyReLU(0.2) in both nets, dropout in the discriminator and a tanh
output for images. The same classes with ReLU and no dropout are the MLPs of
the 2-D mixture experiments (WGAN-GP's toy code, Gulrajani et al. 2017).
A class-conditional net (Mirza & Osindero 2014, "Conditional Generative
Adversarial Nets") concatenates a one-hot label to its input.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

ACTIVATIONS = ("relu", "leaky_relu")
OUTPUTS = ("linear", "tanh")


def _activation(name: str) -> nn.Module:
    if name not in ACTIVATIONS:
        raise ValueError(f"unknown activation {name!r}; choose one of {ACTIVATIONS}")
    return nn.ReLU() if name == "relu" else nn.LeakyReLU(0.2)


def _with_label(inputs: torch.Tensor, labels: torch.Tensor | None, n_classes: int) -> torch.Tensor:
    if n_classes == 0:
        return inputs
    if labels is None:
        raise ValueError("this model is conditional: pass labels")
    return torch.cat([inputs, F.one_hot(labels, n_classes).to(inputs.dtype)], dim=1)


class MLPGenerator(nn.Module):
    """`z: (N, latent_dim)` (and `labels: (N,)` int64 when conditional) -> `(N, *out_shape)`.

    Output is unbounded (`linear`, for 2-D points) or in [-1, 1] (`tanh`, for images).
    """

    def __init__(
        self,
        latent_dim: int,
        hidden: Sequence[int],
        out_shape: Sequence[int],
        activation: str = "relu",
        output: str = "linear",
        n_classes: int = 0,
    ) -> None:
        super().__init__()
        if output not in OUTPUTS:
            raise ValueError(f"unknown output {output!r}; choose one of {OUTPUTS}")
        self.latent_dim = latent_dim
        self.n_classes = n_classes
        self.out_shape = tuple(out_shape)
        layers: list[nn.Module] = []
        width = latent_dim + n_classes
        for size in hidden:
            layers += [nn.Linear(width, size), _activation(activation)]
            width = size
        layers.append(nn.Linear(width, int(torch.Size(self.out_shape).numel())))
        if output == "tanh":
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        out = self.net(_with_label(z, labels, self.n_classes))
        return out.view(-1, *self.out_shape)


class MLPDiscriminator(nn.Module):
    """`x: (N, *in_shape)` (and `labels: (N,)` when conditional) -> raw scores `(N,)`."""

    def __init__(
        self,
        in_shape: Sequence[int],
        hidden: Sequence[int],
        activation: str = "leaky_relu",
        dropout: float = 0.0,
        n_classes: int = 0,
    ) -> None:
        super().__init__()
        self.n_classes = n_classes
        layers: list[nn.Module] = []
        width = int(torch.Size(tuple(in_shape)).numel()) + n_classes
        for size in hidden:
            layers += [nn.Linear(width, size), _activation(activation)]
            if dropout > 0:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        return self.net(_with_label(x.flatten(1), labels, self.n_classes)).squeeze(1)
