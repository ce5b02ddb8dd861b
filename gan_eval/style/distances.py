"""Style and content distances of Gatys et al. 2016 ("Image Style Transfer Using Convolutional Neural Networks").

Pure math on one image's layer responses, in float64, no I/O.

- Gram matrix of a layer with `N` filters and `M` positions (`F`: `(N, M)`):
  `G = F Fᵀ / (N M)`, the normalisation used by Johnson et al. 2016 and
  PyTorch's tutorial, so that images of different sizes compare.
- Style distance of a layer, Gatys' eq. 4: `E = Σ (G - A)² / (4 N² M²)` on
  unnormalised Grams, which is `¼ Σ (Ĝ - Â)²` on the normalised ones. When the
  output and the style image differ in size, each Gram is normalised by its own
  `M` (as neural-style does), and the formula is still `¼ Σ (Ĝ - Â)²`.
- Style distance, eq. 5: `Σ_l w_l E_l` with `w_l = 1/5` over the five layers.
- Content distance, eq. 1: `½ Σ (F - P)²` at `conv4_2`, a sum over every
  element, so it grows with the image's size.
- Content MSE: `Σ (F - P)² / (N M)`, the per-element mean that Johnson et al.
  2016 call the feature reconstruction loss and neural-style uses (its
  `nn.MSECriterion`); comparable across image sizes.
"""

from __future__ import annotations

import torch


def gram_matrix(features: torch.Tensor) -> torch.Tensor:
    """Normalised Gram matrix `F Fᵀ / (N M)` of one layer's `(N, H, W)` responses: `(N, N)` float64."""
    flat = features.reshape(features.shape[0], -1).double()
    return flat @ flat.T / flat.numel()


def style_layer_distance(gram: torch.Tensor, style_gram: torch.Tensor) -> float:
    """Gatys' `E_l` (eq. 4) from two normalised `(N, N)` Gram matrices: `¼ Σ (G - A)²`."""
    return float(0.25 * (gram.double() - style_gram.double()).square().sum())


def style_distance(layer_distances: dict[str, float]) -> float:
    """Gatys' eq. 5 with equal weights: the mean of the layers' `E_l` (`w_l = 1 / number of layers`)."""
    return sum(layer_distances.values()) / len(layer_distances)


def content_distance(features: torch.Tensor, content_features: torch.Tensor) -> float:
    """Gatys' eq. 1: `½ Σ (F - P)²` over every element of two responses of one shape (e.g. `(N, H, W)`)."""
    return float(0.5 * (features.double() - content_features.double()).square().sum())


def content_mse(features: torch.Tensor, content_features: torch.Tensor) -> float:
    """The per-element mean `Σ (F - P)² / (N M)` of two responses of one shape (Johnson et al. 2016)."""
    return float((features.double() - content_features.double()).square().mean())
