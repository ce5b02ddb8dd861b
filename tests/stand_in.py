"""A tiny stand-in feature extractor with the `FeatureExtractor` protocol, for plumbing tests."""

from __future__ import annotations

from typing import ClassVar

import torch


class StandInExtractor:
    """A tiny fixed random conv net with the `FeatureExtractor` protocol, for plumbing tests.

    Features: 8x8 adaptive average pool of the uint8 image (any size) through a
    fixed random projection to 16 dims, float32.
    """

    name = "stand-in"
    heads = ("pool3",)
    kinds: ClassVar[dict[str, str]] = {"features": "pool3", "logits": "logits"}
    dims: ClassVar[dict[str, int]] = {"pool3": 16}

    def __init__(self) -> None:
        self.device = torch.device("cpu")
        generator = torch.Generator().manual_seed(0)
        self.projection = torch.randn(3 * 8 * 8, 16, generator=generator, dtype=torch.float64)

    def settings(self) -> dict[str, str]:
        return {
            "extractor": self.name,
            "weights_sha256": "0" * 64,
            "resize": "adaptive-avg-8",
            "precision": "exact",
            "device": "cpu",
        }

    def extract(self, images, heads=("pool3",)):
        batch = images if isinstance(images, torch.Tensor) else None
        if batch is None:
            pooled = [torch.nn.functional.adaptive_avg_pool2d(i.double().unsqueeze(0), 8) for i in images]
            flat = torch.cat(pooled).flatten(1)
        else:
            flat = torch.nn.functional.adaptive_avg_pool2d(batch.double(), 8).flatten(1)
        return {"pool3": (flat / 255 @ self.projection).float()}
