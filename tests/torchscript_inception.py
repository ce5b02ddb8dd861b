"""Inception pool3 features without gan-eval's network or resize, for tests that check its numbers.

The real weights file is the fid-helper TorchScript archive of the TF
Inception-v3 2015-12-05 graph: loaded with `torch.jit.load` and fed images
resized to 299x299 by torch-fidelity's port of TF1's bilinear resize,
normalised to `(x - 128) / 128`. Nothing here imports `gan_eval`'s extractor,
so features computed here are an independent check of the ones it computes
(they agree to about 1e-6 relative, tests/extractors/test_inception.py).
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x


def tf1_bilinear_299(images: torch.Tensor) -> torch.Tensor:
    """uint8 `(N, 3, H, W)` -> float32 `(N, 3, 299, 299)`, TF1's bilinear resize (torch-fidelity's port)."""
    return interpolate_bilinear_2d_like_tensorflow1x(images.float(), size=(299, 299), align_corners=False)


def torchscript_pool3(images: np.ndarray | torch.Tensor, weights: Path, resize=tf1_bilinear_299) -> np.ndarray:
    """pool3 features `(N, 2048)` float64 of uint8 `(N, 3, H, W)` images, 16 at a time.

    `resize` maps a uint8 batch to float `(n, 3, 299, 299)` pixel values in 0..255 (tests pass
    another one to show what a different resize would change).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = torch.jit.load(str(weights), map_location="cpu").eval()
    images = torch.as_tensor(np.ascontiguousarray(images))
    parts = []
    with torch.no_grad():
        for start in range(0, len(images), 16):
            parts.append(net((resize(images[start : start + 16]) - 128) / 128).double().numpy())
    return np.concatenate(parts)
