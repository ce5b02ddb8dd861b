"""What the pipeline needs from a feature extractor.

An extractor turns uint8 RGB images into one or more named feature heads
(`pool3`, `logits_unbiased`, ...). The pipeline only uses this protocol, so a
small stand-in network can test the plumbing without the real Inception.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch


@runtime_checkable
class FeatureExtractor(Protocol):
    """A network mapping uint8 images to named feature heads."""

    name: str
    heads: tuple[str, ...]
    dims: dict[str, int]
    device: torch.device

    def settings(self) -> dict[str, str]:
        """Everything about the extractor that changes the numbers (name, weights hash, resize, precision, device)."""
        ...

    def extract(self, images: torch.Tensor | list[torch.Tensor], heads: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """Features of `images`: `(N, 3, H, W)` uint8 or a list of `(3, H, W)` uint8 of any sizes.

        Returns one `(N, dims[head])` float32 tensor per requested head, on `device`.
        """
        ...
