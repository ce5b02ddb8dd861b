"""The Inception-v3 graph `inception-2015-12-05` that defines the standard FID.

This is the TensorFlow graph of Szegedy et al. 2016, "Rethinking the Inception
Architecture for Computer Vision", as released on 2015-12-05 and used by the
TTUR reference code for FID (Heusel et al. 2017). It differs from
torchvision's Inception-v3 in three places that change the features:
average pools ignore padded zeros, the last block pools with max instead of
average, and the classifier has 1008 outputs. Parameter names follow the
torchvision convention of the converted weights files
(`Mixed_5b.branch1x1.conv.weight`, `...bn.running_mean`), so torch-fidelity's
and pytorch-fid's weights load as they are.

Input: `(N, 3, 299, 299)` float, already normalised to `(x - 128) / 128`.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

BN_EPS = 0.001


class ConvBN(nn.Module):
    """Convolution without bias, batch norm (eps 0.001) and ReLU.

    `fold()` merges the batch norm into the convolution's weight and bias,
    which removes a pass over the activations at inference. `prepack_cpu()`
    then stores the weight in oneDNN's blocked layout, and float32 CPU
    inference runs the convolution with the ReLU fused into it: the same
    oneDNN kernel as the eager convolution, so the same numbers, without the
    per-call weight reorder and the separate ReLU pass.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int = 1,
        padding: int | tuple[int, int] = 0,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn: nn.BatchNorm2d | None = nn.BatchNorm2d(out_channels, eps=BN_EPS)
        self.packed_weight: torch.Tensor | None = None

    @torch.no_grad()
    def fold(self) -> None:
        """Fold the batch norm into the convolution (float64 arithmetic, float32 result)."""
        if self.bn is None:
            return
        bn = self.bn
        scale = bn.weight.double() / torch.sqrt(bn.running_var.double() + bn.eps)
        weight = self.conv.weight.double() * scale.view(-1, 1, 1, 1)
        bias = bn.bias.double() - bn.running_mean.double() * scale
        conv = self.conv
        folded = nn.Conv2d(
            conv.in_channels,
            conv.out_channels,
            conv.kernel_size,
            stride=conv.stride,
            padding=conv.padding,
            bias=True,
        )
        folded.weight.copy_(weight.to(conv.weight.dtype))
        folded.bias.copy_(bias.to(conv.weight.dtype))
        self.conv = folded.to(conv.weight.device)
        self.bn = None

    @torch.no_grad()
    def prepack_cpu(self, input_shape: list[int]) -> None:
        """Reorder the folded weight for oneDNN, tuned for inputs of `input_shape` (N, C, H, W)."""
        conv = self.conv
        self.packed_weight = torch._C._nn.mkldnn_reorder_conv2d_weight(
            conv.weight.to_mkldnn(), conv.padding, conv.stride, conv.dilation, conv.groups, input_shape
        )

    def _uses_packed(self, x: torch.Tensor) -> bool:
        return (
            self.packed_weight is not None
            and x.device.type == "cpu"
            and x.dtype == torch.float32
            and not torch.is_autocast_enabled("cpu")
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self._uses_packed(x):
            conv = self.conv
            return torch.ops.mkldnn._convolution_pointwise(
                x, self.packed_weight, conv.bias, conv.padding, conv.stride, conv.dilation, conv.groups, "relu", [], ""
            )
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        return F.relu(x)


def _avg_pool_same(x: torch.Tensor) -> torch.Tensor:
    """TF's 3x3 stride-1 SAME average pool: padded zeros are not counted."""
    return F.avg_pool2d(x, 3, stride=1, padding=1, count_include_pad=False)


class BlockA(nn.Module):
    """35x35 block (Mixed_5b..5d): 1x1, 5x5, double 3x3 and pooled branches."""

    def __init__(self, in_channels: int, pool_features: int) -> None:
        super().__init__()
        self.branch1x1 = ConvBN(in_channels, 64, 1)
        self.branch5x5_1 = ConvBN(in_channels, 48, 1)
        self.branch5x5_2 = ConvBN(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, padding=1)
        self.branch_pool = ConvBN(in_channels, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch5x5_2(self.branch5x5_1(x)),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                self.branch_pool(_avg_pool_same(x)),
            ],
            1,
        )


class BlockB(nn.Module):
    """Grid reduction 35x35 -> 17x17 (Mixed_6a)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3 = ConvBN(in_channels, 384, 3, stride=2)
        self.branch3x3dbl_1 = ConvBN(in_channels, 64, 1)
        self.branch3x3dbl_2 = ConvBN(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = ConvBN(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(
            [
                self.branch3x3(x),
                self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x))),
                F.max_pool2d(x, 3, stride=2),
            ],
            1,
        )


class BlockC(nn.Module):
    """17x17 block with factorised 7x7 convolutions (Mixed_6b..6e)."""

    def __init__(self, in_channels: int, channels_7x7: int) -> None:
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = ConvBN(in_channels, 192, 1)
        self.branch7x7_1 = ConvBN(in_channels, c7, 1)
        self.branch7x7_2 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = ConvBN(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = ConvBN(in_channels, c7, 1)
        self.branch7x7dbl_2 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = ConvBN(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = ConvBN(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = ConvBN(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def branches(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The four branch outputs (1x1, 7x7, double 7x7, pooled), each after its ReLU, before the join."""
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d7 = self.branch7x7dbl_1(x)
        for layer in (
            self.branch7x7dbl_2,
            self.branch7x7dbl_3,
            self.branch7x7dbl_4,
            self.branch7x7dbl_5,
        ):
            d7 = layer(d7)
        return [self.branch1x1(x), b7, d7, self.branch_pool(_avg_pool_same(x))]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.cat(self.branches(x), 1)


class BlockD(nn.Module):
    """Grid reduction 17x17 -> 8x8 (Mixed_7a)."""

    def __init__(self, in_channels: int) -> None:
        super().__init__()
        self.branch3x3_1 = ConvBN(in_channels, 192, 1)
        self.branch3x3_2 = ConvBN(192, 320, 3, stride=2)
        self.branch7x7x3_1 = ConvBN(in_channels, 192, 1)
        self.branch7x7x3_2 = ConvBN(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = ConvBN(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = ConvBN(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = x
        for layer in (
            self.branch7x7x3_1,
            self.branch7x7x3_2,
            self.branch7x7x3_3,
            self.branch7x7x3_4,
        ):
            b7 = layer(b7)
        return torch.cat([self.branch3x3_2(self.branch3x3_1(x)), b7, F.max_pool2d(x, 3, stride=2)], 1)


class BlockE(nn.Module):
    """8x8 block with expanded filter banks (Mixed_7b, Mixed_7c).

    The TF graph pools the last block (Mixed_7c) with a 3x3 max pool where
    every other block uses an average pool; `max_pool` selects that variant.
    """

    def __init__(self, in_channels: int, max_pool: bool) -> None:
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = ConvBN(in_channels, 320, 1)
        self.branch3x3_1 = ConvBN(in_channels, 384, 1)
        self.branch3x3_2a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = ConvBN(in_channels, 448, 1)
        self.branch3x3dbl_2 = ConvBN(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = ConvBN(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = ConvBN(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = ConvBN(in_channels, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_1(x)
        d3 = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        pooled = F.max_pool2d(x, 3, stride=1, padding=1) if self.max_pool else _avg_pool_same(x)
        return torch.cat(
            [
                self.branch1x1(x),
                self.branch3x3_2a(b3),
                self.branch3x3_2b(b3),
                self.branch3x3dbl_3a(d3),
                self.branch3x3dbl_3b(d3),
                self.branch_pool(pooled),
            ],
            1,
        )


class InceptionV3TF(nn.Module):
    """Inception-v3 (TF 2015-12-05) body with pool3 features and the 1008-way classifier.

    `forward(x)` takes normalised `(N, 3, 299, 299)` input and returns the
    pool3 features `(N, 2048)` and the TF graph's `mixed_6/conv` tensor
    `(N, 192, 17, 17)`: Mixed_6d's 1x1 branch after its ReLU (TF names the
    blocks `mixed`, `mixed_1`, ..., so `mixed_6` is the seventh, Mixed_6d,
    and `conv` its 1x1 branch), whose first `SPATIAL_CHANNELS` channels are
    the ADM evaluator's sFID features. `logits_unbiased(pool3)` applies the
    classifier's weight without its bias, `(N, 1008)`.
    """

    POOL3_DIM = 2048
    NUM_CLASSES = 1008
    SPATIAL_CHANNELS = 7
    SPATIAL_SIZE = 17
    SPATIAL_DIM = SPATIAL_CHANNELS * SPATIAL_SIZE * SPATIAL_SIZE

    def __init__(self, with_classifier: bool = True) -> None:
        super().__init__()
        self.Conv2d_1a_3x3 = ConvBN(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = ConvBN(32, 32, 3)
        self.Conv2d_2b_3x3 = ConvBN(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = ConvBN(64, 80, 1)
        self.Conv2d_4a_3x3 = ConvBN(80, 192, 3)
        self.Mixed_5b = BlockA(192, pool_features=32)
        self.Mixed_5c = BlockA(256, pool_features=64)
        self.Mixed_5d = BlockA(288, pool_features=64)
        self.Mixed_6a = BlockB(288)
        self.Mixed_6b = BlockC(768, channels_7x7=128)
        self.Mixed_6c = BlockC(768, channels_7x7=160)
        self.Mixed_6d = BlockC(768, channels_7x7=160)
        self.Mixed_6e = BlockC(768, channels_7x7=192)
        self.Mixed_7a = BlockD(768)
        self.Mixed_7b = BlockE(1280, max_pool=False)
        self.Mixed_7c = BlockE(2048, max_pool=True)
        self.fc: nn.Linear | None = nn.Linear(self.POOL3_DIM, self.NUM_CLASSES) if with_classifier else None

    def fold_batch_norms(self) -> None:
        """Fold every batch norm into its convolution (inference only)."""
        for module in self.modules():
            if isinstance(module, ConvBN):
                module.fold()

    def prepack_cpu(self, batch_size: int) -> bool:
        """Prepack every folded convolution for oneDNN on CPU; False when this build has no oneDNN.

        Each layer's weight layout is chosen for `batch_size` images; other
        batch sizes give the same results.
        """
        if not torch.backends.mkldnn.is_available():
            return False
        convs = [m for m in self.modules() if isinstance(m, ConvBN)]
        if any(m.bn is not None for m in convs):
            raise RuntimeError("fold_batch_norms() before prepack_cpu()")
        shapes: dict[ConvBN, list[int]] = {}

        def record_shape(module: ConvBN, args: tuple[torch.Tensor]) -> None:
            shapes[module] = list(args[0].shape)

        hooks = [m.register_forward_pre_hook(record_shape) for m in convs]
        try:
            with torch.inference_mode():
                self(torch.zeros(1, 3, 299, 299).contiguous(memory_format=torch.channels_last))
        finally:
            for hook in hooks:
                hook.remove()
        for module in convs:
            module.prepack_cpu([batch_size, *shapes[module][1:]])
        return True

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        x = self.Conv2d_1a_3x3(x)
        x = self.Conv2d_2a_3x3(x)
        x = self.Conv2d_2b_3x3(x)
        x = F.max_pool2d(x, 3, stride=2)
        x = self.Conv2d_3b_1x1(x)
        x = self.Conv2d_4a_3x3(x)
        x = F.max_pool2d(x, 3, stride=2)
        for block in (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a, self.Mixed_6b, self.Mixed_6c):
            x = block(x)
        mixed_6 = self.Mixed_6d.branches(x)
        x = torch.cat(mixed_6, 1)
        for block in (self.Mixed_6e, self.Mixed_7a, self.Mixed_7b, self.Mixed_7c):
            x = block(x)
        return torch.flatten(F.adaptive_avg_pool2d(x, 1), 1), mixed_6[0]

    def logits_unbiased(self, pool3: torch.Tensor) -> torch.Tensor:
        """Classifier logits without the output bias, `(N, 1008)` (the IS convention)."""
        if self.fc is None:
            raise RuntimeError("these weights have no classifier head")
        return pool3 @ self.fc.weight.t()
