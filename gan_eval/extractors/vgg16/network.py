"""torchvision's VGG-16 (configuration "D", no batch norm) up to the second fully connected layer.

torchvision's `vgg16` is thirteen 3x3 convolutions (padding 1) with ReLU and
five 2x2 max-pools (`features`), an adaptive 7x7 average pool (the identity
at 224 px input), flattening to 25088 values, and the classifier
`Linear(25088, 4096), ReLU, Dropout, Linear(4096, 4096), ReLU, Dropout,
Linear(4096, 1000)`. Like torch-fidelity's `FeatureExtractorVGG16`, we stop
after the second `Linear` (`fc2`, before its ReLU) and give `fc2_relu` as
well; dropout is the identity at inference. The 1000-way `fc3` is in the
official file, so it is checked and loaded, but never run.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

INPUT_SIZE = 224
FEATURE_DIM = 4096


def _meta_vgg16() -> nn.Module:
    """torchvision's VGG-16 with meta tensors: the architecture and names, no memory, no random init cost."""
    from torchvision.models import vgg16

    with torch.device("meta"):
        return vgg16(weights=None)


def official_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of torchvision's `vgg16-397923af.pth` state dict and its shape (32 tensors)."""
    return {k: tuple(v.shape) for k, v in _meta_vgg16().state_dict().items()}


class Vgg16Fc2(nn.Module):
    """VGG-16 from ImageNet-normalised `(N, 3, 224, 224)` float32 to `fc2`, `(N, 4096)`, before its ReLU."""

    def __init__(self, vgg: nn.Module) -> None:
        super().__init__()
        self.features = vgg.features
        self.avgpool = vgg.avgpool
        self.fc1 = vgg.classifier[0]
        self.fc2 = vgg.classifier[3]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = torch.flatten(self.avgpool(self.features(x)), 1)
        return self.fc2(F.relu(self.fc1(x)))


def build_network(state_dict: dict[str, torch.Tensor]) -> Vgg16Fc2:
    """VGG-16 up to fc2 with the weights of an official state dict (already checked), in eval mode, on the CPU."""
    vgg = _meta_vgg16()
    vgg.load_state_dict(state_dict, strict=True, assign=True)
    return Vgg16Fc2(vgg).requires_grad_(False).eval()
