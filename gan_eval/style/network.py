"""torchvision's VGG-19 (configuration "E", no batch norm) up to the layers neural style transfer reads.

Gatys et al. 2016 ("Image Style Transfer Using Convolutional Neural
Networks") describe an image by the responses of VGG-19's layers `conv1_1`,
`conv2_1`, `conv3_1`, `conv4_1`, `conv5_1` (style) and `conv4_2` (content).
Their Caffe network applies each ReLU in place, so the blob called `conv4_2`
holds the rectified response; we read the same values, the outputs of
torchvision's ReLU modules after those convolutions (`features` indices 1, 6,
11, 20, 29 and 22), as most reimplementations (neural-style's `relu4_2`,
PyTorch's tutorial) do. Layers after `relu5_1` never run. Pooling is
torchvision's max-pooling, or with `pooling="avg"` a 2x2 average in its place
(neural-style's `-pooling avg`; Gatys et al. prefer average pooling for
synthesis). Gatys' mean-normalised VGG-19 weights are not provided: the
weights are always torchvision's.

Input: ImageNet-normalised `(1, 3, H, W)` float32 (any size of at least
16x16 pixels, so that `conv5_1` has at least one position).
"""

from __future__ import annotations

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
MIN_SIZE = 16  # four 2x2 pools before conv5_1
POOLINGS = ("max", "avg")

# Layer name -> index of its ReLU in torchvision's `vgg19().features`.
STYLE_LAYERS: tuple[str, ...] = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT_LAYER = "conv4_2"
RELU_INDEX: dict[str, int] = {"conv1_1": 1, "conv2_1": 6, "conv3_1": 11, "conv4_1": 20, "conv4_2": 22, "conv5_1": 29}


def _meta_vgg19() -> nn.Module:
    """torchvision's VGG-19 with meta tensors: the architecture and names, no memory, no random init cost."""
    from torchvision.models import vgg19

    with torch.device("meta"):
        return vgg19(weights=None)


def official_shapes() -> dict[str, tuple[int, ...]]:
    """Every key of torchvision's `vgg19-dcbb9e9d.pth` state dict and its shape (38 tensors)."""
    return {k: tuple(v.shape) for k, v in _meta_vgg19().state_dict().items()}


class Vgg19StyleLayers(nn.Module):
    """VGG-19's `features` up to `relu5_1`, giving the rectified responses of the named layers."""

    def __init__(self, features: nn.Sequential, pooling: str = "max") -> None:
        super().__init__()
        if pooling not in POOLINGS:
            raise ValueError(f"pooling {pooling!r} is not one of {POOLINGS}")
        self.features = features[: max(RELU_INDEX.values()) + 1]
        for index, module in enumerate(self.features):
            if isinstance(module, nn.ReLU):
                module.inplace = False  # a kept response must not be overwritten by the next layer
            if isinstance(module, nn.MaxPool2d) and pooling == "avg":
                self.features[index] = nn.AvgPool2d(kernel_size=2, stride=2)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """`(N, 3, H, W)` normalised float32 -> each layer of `RELU_INDEX`: `(N, C_l, H_l, W_l)` float32."""
        wanted = {index: name for name, index in RELU_INDEX.items()}
        out: dict[str, torch.Tensor] = {}
        for index, module in enumerate(self.features):
            x = module(x)
            if index in wanted:
                out[wanted[index]] = x
        return out


def build_network(features: dict[str, torch.Tensor], pooling: str = "max") -> Vgg19StyleLayers:
    """VGG-19 up to `relu5_1` from the `features.*` tensors of an official state dict (already checked).

    Every convolution of `features` must be there (keys as in the file); `pooling` is `max` (torchvision's)
    or `avg` (2x2 averages in their place). The result is in eval mode, on the CPU.
    """
    vgg = _meta_vgg19()
    prefix = "features."
    vgg.features.load_state_dict({k.removeprefix(prefix): v for k, v in features.items()}, strict=True, assign=True)
    return Vgg19StyleLayers(vgg.features, pooling).requires_grad_(False).eval()
