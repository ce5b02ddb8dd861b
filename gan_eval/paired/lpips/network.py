"""LPIPS (Zhang et al., CVPR 2018), version 0.1: the learned perceptual distance on AlexNet or VGG-16.

Both images, RGB on 0..255, go to [-1, 1] (`x / 127.5 - 1`) and through the
v0.1 scaling layer (`(x - shift) / scale`, shift (-0.030, -0.088, -0.188),
scale (0.458, 0.448, 0.450)); the backbone's `features` give five ReLU
outputs (AlexNet: relu1..relu5, VGG-16: relu1_2, relu2_2, relu3_3, relu4_3,
relu5_3); each is divided by its channel norm (plus 1e-10), the squared
difference of the two images' maps is weighted per channel by the linear
layer (a 1×1 convolution without bias) and averaged over the map; the five
numbers are summed. The backbone is torchvision's architecture built from an
official state dict; the linear layers are the five `(1, C, 1, 1)` tensors of
the `lpips` project's `alex.pth` or `vgg.pth`.
"""

from __future__ import annotations

import torch
from torch import nn

NETS = ("alex", "vgg")
# Where each of the five compared ReLU outputs ends in torchvision's `features`, and its channels.
SLICE_ENDS = {"alex": (2, 5, 8, 10, 12), "vgg": (4, 9, 16, 23, 30)}
CHANNELS = {"alex": (64, 192, 384, 256, 256), "vgg": (64, 128, 256, 512, 512)}
# The smallest side that leaves the fifth ReLU output at least one pixel.
MIN_SIZE = {"alex": 31, "vgg": 16}
SHIFT = (-0.030, -0.088, -0.188)
SCALE = (0.458, 0.448, 0.450)
EPS = 1e-10


def linear_keys(net: str) -> dict[str, tuple[int, ...]]:
    """Keys and shapes of the `lpips` project's v0.1 linear-layer file for `net` (`alex.pth` or `vgg.pth`)."""
    return {f"lin{i}.model.1.weight": (1, c, 1, 1) for i, c in enumerate(CHANNELS[net])}


def meta_backbone(net: str) -> nn.Module:
    """torchvision's AlexNet or VGG-16 on the meta device: the architecture and its state-dict names only."""
    from torchvision.models import alexnet, vgg16

    with torch.device("meta"):
        return alexnet(weights=None) if net == "alex" else vgg16(weights=None)


class Lpips(nn.Module):
    """LPIPS v0.1 of `net` with given weights; `forward(a, b)` of `(N, 3, H, W)` 0..255 images gives `(N,)`."""

    def __init__(self, net: str, features: nn.Sequential, linear: list[torch.Tensor]) -> None:
        super().__init__()
        self.net = net
        self.features = features
        self.ends = SLICE_ENDS[net]
        self.linear = nn.ParameterList([nn.Parameter(w.reshape(1, -1, 1, 1), requires_grad=False) for w in linear])
        self.register_buffer("shift", torch.tensor(SHIFT).view(1, 3, 1, 1))
        self.register_buffer("scale", torch.tensor(SCALE).view(1, 3, 1, 1))

    def _layers(self, images: torch.Tensor) -> list[torch.Tensor]:
        x = (images.to(self.shift.dtype) / 127.5 - 1.0 - self.shift) / self.scale
        outputs, start = [], 0
        for end in self.ends:
            for index in range(start, end):
                x = self.features[index](x)
            outputs.append(x / (x.square().sum(1, keepdim=True).sqrt() + EPS))
            start = end
        return outputs

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """LPIPS distance of each pair, `(N,)` in the network's dtype; both sides at least `MIN_SIZE[net]` px."""
        total = torch.zeros(a.shape[0], dtype=self.shift.dtype, device=a.device)
        for fa, fb, weight in zip(self._layers(a), self._layers(b), self.linear, strict=True):
            total = total + ((fa - fb).square() * weight).sum(1).mean((1, 2))
        return total


def build_network(net: str, backbone: dict[str, torch.Tensor], linear: dict[str, torch.Tensor]) -> Lpips:
    """LPIPS of `net` from checked state dicts (torchvision backbone, v0.1 linear layers), eval mode, CPU."""
    model = meta_backbone(net)
    model.load_state_dict(backbone, strict=True, assign=True)
    # torchvision's ReLUs work in place; each compared output is used before the next layer runs, so that is safe.
    features = model.features[: SLICE_ENDS[net][-1]]
    weights = [linear[key].float() for key in linear_keys(net)]
    return Lpips(net, features, weights).requires_grad_(False).eval()
