"""DCGAN-style convolutional nets for 32x32 images (Radford et al. 2016, "Unsupervised
Representation Learning with Deep Convolutional GANs").

The generator follows the paper's guidelines: strided transposed convolutions,
batch normalisation and ReLU in the generator, tanh output; the discriminator
has strided convolutions and LeakyReLU(0.2), no pooling and no fully
connected layers. Three stride-2 stages take 4x4 to 32x32, with `width`,
`2 width` and `4 width` channels. The discriminator's normalisation is a
choice, because the losses need different ones: batch normalisation (DCGAN,
LSGAN, WGAN with clipping), none (WGAN-GP: its penalty is per sample, so
Gulrajani et al. 2017 drop batch norm from the critic), or spectral
normalisation (Miyato et al. 2018, with the hinge loss). Class-conditional
versions (Mirza & Osindero 2014) take a one-hot label: concatenated to `z` in
the generator, and as constant extra input planes in the discriminator.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn
from torch.nn.utils.parametrizations import spectral_norm

NORMS = ("batch", "none", "spectral")


class ConvGenerator(nn.Module):
    """`z: (N, latent_dim)` (and `labels: (N,)` int64 when conditional) -> `(N, channels, 32, 32)` in [-1, 1]."""

    def __init__(self, latent_dim: int, width: int, channels: int = 3, n_classes: int = 0) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.n_classes = n_classes
        self.out_shape = (channels, 32, 32)
        self.net = nn.Sequential(
            nn.ConvTranspose2d(latent_dim + n_classes, 4 * width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(4 * width),
            nn.ReLU(),
            nn.ConvTranspose2d(4 * width, 2 * width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(2 * width),
            nn.ReLU(),
            nn.ConvTranspose2d(2 * width, width, 4, 2, 1, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(),
            nn.ConvTranspose2d(width, channels, 4, 2, 1),
            nn.Tanh(),
        )

    def forward(self, z: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            if labels is None:
                raise ValueError("this model is conditional: pass labels")
            z = torch.cat([z, F.one_hot(labels, self.n_classes).to(z.dtype)], dim=1)
        return self.net(z[:, :, None, None])


class ConvDiscriminator(nn.Module):
    """`x: (N, channels, 32, 32)` in [-1, 1] (and `labels: (N,)` when conditional) -> raw scores `(N,)`."""

    def __init__(self, width: int, channels: int = 3, norm: str = "batch", n_classes: int = 0) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; choose one of {NORMS}")
        self.n_classes = n_classes

        def conv(c_in: int, c_out: int, stride: int, padding: int) -> nn.Module:
            layer = nn.Conv2d(c_in, c_out, 4, stride, padding, bias=norm != "batch")
            return spectral_norm(layer) if norm == "spectral" else layer

        def stage(c_in: int, c_out: int, normalise: bool) -> list[nn.Module]:
            layers = [conv(c_in, c_out, 2, 1)]
            if normalise and norm == "batch":
                layers.append(nn.BatchNorm2d(c_out))
            return [*layers, nn.LeakyReLU(0.2)]

        self.net = nn.Sequential(
            *stage(channels + n_classes, width, normalise=False),
            *stage(width, 2 * width, normalise=True),
            *stage(2 * width, 4 * width, normalise=True),
            conv(4 * width, 1, 1, 0),
        )

    def forward(self, x: torch.Tensor, labels: torch.Tensor | None = None) -> torch.Tensor:
        if self.n_classes:
            if labels is None:
                raise ValueError("this model is conditional: pass labels")
            planes = F.one_hot(labels, self.n_classes).to(x.dtype)[:, :, None, None]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], dim=1)
        return self.net(x).flatten()
