"""VGG-16 fc2 features for precision and recall (Kynkäänniemi et al., NeurIPS 2019), as torch-fidelity computes them.

torch-fidelity 0.4.0 (`torch_fidelity/feature_extractor_vgg16.py`, feature
extractor `vgg16`, the default of its `prc` metric) takes uint8 `(N, 3, H, W)`
images, converts them to float32 (values 0..255), resizes them to 224x224 with
TensorFlow 1.x's bilinear kernel (`interpolate_bilinear_2d_like_tensorflow1x`,
align_corners False; our `resize_bilinear_tf1`), normalises them on the 0..255
scale with `torchvision.transforms.functional.normalize(x, 255 * mean,
255 * std)` (ImageNet mean (0.485, 0.456, 0.406), std (0.229, 0.224, 0.225)),
and runs torchvision's VGG-16 (`IMAGENET1K_V1`, `vgg16-397923af.pth`) with
its classifier cut after the second Linear. For `prc` it takes `fc2_relu`,
the ReLU of that output. We do the same, in the same float32 operations.

This is not StyleGAN2-ADA's `pr50k3` detector (NVIDIA's TorchScript
`vgg16.pt`, a port of the VGG authors' weights with its own resize and input
scaling inside the archive's code), so the space is named
`vgg16-torchfidelity`: its numbers equal torch-fidelity's `prc`, not
StyleGAN2-ADA's. See docs/protocol.md.

Heads: `fc2_relu` (`FEATURES`) and `fc2` (before the ReLU), `(N, 4096)`.
Precision modes as Inception's: `exact` (float32, TF32 off; the CPU
default), `tf32` (CUDA), `bf16` (autocast).
"""

from __future__ import annotations

from typing import ClassVar

import torch
import torch.nn.functional as F

from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import ExtractorSpec, ImageExtractor, precision_mode
from gan_eval.extractors.tf_resize import resize_bilinear_tf1
from gan_eval.extractors.vgg16.network import FEATURE_DIM, INPUT_SIZE, Vgg16Fc2, build_network
from gan_eval.extractors.vgg16.weights import (
    HEAD_FC2,
    HEAD_FC2_RELU,
    NETWORK,
    Vgg16Weights,
    describe_cached_weights,
    import_weights,
    load_weights,
    recorded_weights,
    resolve_weights_path,
    weights_layouts,
)
from gan_eval.extractors.weights_records import WeightsRecord, in_memory
from gan_eval.feature_types import FEATURES

NAME = NETWORK
RESIZE_MODE = "tf1-bilinear-224"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Vgg16Extractor(ImageExtractor):
    """VGG-16 fc2 features from uint8 images (see module docstring)."""

    name = NAME
    resize = RESIZE_MODE
    input_size = INPUT_SIZE
    kinds: ClassVar[dict[str, str]] = {FEATURES: HEAD_FC2_RELU}
    heads = (HEAD_FC2_RELU, HEAD_FC2)
    dims: ClassVar[dict[str, int]] = {HEAD_FC2_RELU: FEATURE_DIM, HEAD_FC2: FEATURE_DIM}

    def __init__(
        self, weights: Vgg16Weights | WeightsRecord, device: torch.device | str = "cpu", precision: str | None = None
    ) -> None:
        super().__init__(device, precision)
        self.weights_sha256 = weights.sha256
        self._weights: Vgg16Weights | WeightsRecord | None = weights
        self._net: Vgg16Fc2 | None = None
        # torch-fidelity normalises on the 0..255 scale: mean and std are 255 * ImageNet's, rounded to float32
        self._mean = torch.tensor([255 * m for m in IMAGENET_MEAN], device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor([255 * s for s in IMAGENET_STD], device=self.device).view(1, 3, 1, 1)

    @property
    def net(self) -> Vgg16Fc2:
        """The network, built on first use, a record's file read then (a run served from the feature cache
        never reads it)."""
        if self._net is None:
            assert self._weights is not None
            weights = in_memory(self._weights, load_weights)
            with torch.random.fork_rng(devices=[]):  # random initial weights, replaced: the caller's state stays
                self._net = build_network(weights.state_dict).to(self.device)
            self._weights = None
        return self._net

    def preprocess(self, images: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """uint8 images (batch or list of any sizes) -> normalised `(N, 3, 224, 224)` float32 (about -2..2.6)."""
        batch = self.resized(images)
        return (batch - self._mean) / self._std

    def _resize(self, images: torch.Tensor) -> torch.Tensor:
        if images.dim() != 4 or images.shape[1] != 3:
            raise GanEvalError(f"{self.name} needs RGB images (N, 3, H, W), got shape {tuple(images.shape)}")
        images = images.to(self.device, non_blocking=True).float()
        return resize_bilinear_tf1(images, (INPUT_SIZE, INPUT_SIZE))

    @torch.inference_mode()
    def extract(
        self, images: torch.Tensor | list[torch.Tensor], heads: tuple[str, ...] = (HEAD_FC2_RELU,)
    ) -> dict[str, torch.Tensor]:
        """The requested heads (`fc2_relu`, `fc2`): each `(N, 4096)` float32 on `self.device`."""
        unknown = [h for h in heads if h not in self.heads]
        if unknown:
            raise GanEvalError(f"{self.name} has no {unknown[0]} head (it gives {', '.join(self.heads)})")
        batch = self.preprocess(images)
        with precision_mode(self.precision, self.device):
            fc2 = self.forward(batch).float()
        out = {HEAD_FC2: fc2, HEAD_FC2_RELU: F.relu(fc2)}
        return {h: out[h] for h in heads}


def _load(weights: str | None, device: torch.device, precision: str | None, progress: bool) -> Vgg16Extractor:
    return Vgg16Extractor(recorded_weights(resolve_weights_path(weights, progress)), device, precision)


SPEC = ExtractorSpec(
    name=NAME,
    title="VGG-16 fc2 after ReLU, 4096-d (torch-fidelity's vgg16 for prc; not StyleGAN2-ADA's vgg16.pt)",
    extractor=NAME,
    kinds=Vgg16Extractor.kinds,
    dims=Vgg16Extractor.dims,
    resize=RESIZE_MODE,
    load=_load,
    weights_layouts=weights_layouts,
    import_weights=import_weights,
    describe_weights=describe_cached_weights,
)
