"""FD_DINOv2's feature extractor (Stein et al., NeurIPS 2023), as dgm-eval computes it.

dgm-eval (`dgm_eval/models/dinov2.py`, default `clean_resize=False`) opens each
image as an RGB PIL image, resizes it to 224x224 with torchvision's
`Resize((224, 224), BICUBIC)` (PIL's antialiased 8-bit bicubic, so the
result is uint8 again), scales it to [0, 1] (`ToTensor`, float32 `/ 255`),
normalises it with the ImageNet mean (0.485, 0.456, 0.406) and std
(0.229, 0.224, 0.225) in float32, and takes the official hub model's output:
the class token after the final LayerNorm (`x_norm_clstoken`, 1024-d for
ViT-L/14). We do the same from uint8 tensors (`pil_resize`), with timm's ViT
and the position embedding interpolated once (`network`).

Head: `cls` (`FEATURES`; no classifier, so no `LOGITS`). Precision modes as
Inception's: `exact` (float32, TF32 off; the CPU default), `tf32` (CUDA),
`bf16` (autocast).
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

import torch

from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import ExtractorSpec, ImageExtractor, precision_mode
from gan_eval.extractors.dinov2.network import ARCHS, INPUT_SIZE, Dinov2Arch, build_network
from gan_eval.extractors.dinov2.weights import (
    HEAD_CLS,
    Dinov2Weights,
    describe_cached_weights,
    import_weights,
    load_weights,
    network_name,
    recorded_weights,
    resolve_weights_path,
    weights_arch,
    weights_layouts,
)
from gan_eval.extractors.pil_resize import resize_bicubic_pil
from gan_eval.extractors.weights_records import WeightsRecord, in_memory
from gan_eval.feature_types import FEATURES

RESIZE_MODE = "pil-bicubic-224"
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class Dinov2Extractor(ImageExtractor):
    """DINOv2 class-token features from uint8 images (see module docstring)."""

    resize = RESIZE_MODE
    input_size = INPUT_SIZE
    kinds: ClassVar[dict[str, str]] = {FEATURES: HEAD_CLS}
    heads = (HEAD_CLS,)

    def __init__(
        self,
        weights: Dinov2Weights | WeightsRecord,
        device: torch.device | str = "cpu",
        precision: str | None = None,
    ) -> None:
        super().__init__(device, precision)
        self.arch = weights_arch(weights)
        self.name = extractor_name(self.arch)
        self.weights_sha256 = weights.sha256
        self.dims = {HEAD_CLS: self.arch.embed_dim}
        self._weights: Dinov2Weights | WeightsRecord | None = weights
        self._net: torch.nn.Module | None = None
        self._mean = torch.tensor(IMAGENET_MEAN, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(IMAGENET_STD, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)

    @property
    def net(self) -> torch.nn.Module:
        """The network, built on first use, a record's file read then (a run served from the feature cache
        never reads it)."""
        if self._net is None:
            assert self._weights is not None
            weights = in_memory(self._weights, partial(load_weights, arch=self.arch))
            with torch.random.fork_rng(devices=[]):  # random initial weights, replaced: the caller's state stays
                self._net = build_network(self.arch, weights.state_dict).to(self.device)
            self._weights = None
        return self._net

    def preprocess(self, images: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """uint8 images (batch or list of any sizes) -> ImageNet-normalised `(N, 3, 224, 224)` float32."""
        batch = self.resized(images)
        # torchvision's ToTensor then Normalize, in float32 and in this order
        return (batch / 255 - self._mean) / self._std

    def _resize(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        return resize_bicubic_pil(images, (INPUT_SIZE, INPUT_SIZE)).float()

    @torch.inference_mode()
    def extract(
        self, images: torch.Tensor | list[torch.Tensor], heads: tuple[str, ...] = (HEAD_CLS,)
    ) -> dict[str, torch.Tensor]:
        """The `cls` head: `(N, embed_dim)` float32 on `self.device`."""
        unknown = [h for h in heads if h != HEAD_CLS]
        if unknown:
            raise GanEvalError(f"{self.name} has no {unknown[0]} head (it gives {HEAD_CLS} features only)")
        batch = self.preprocess(images)
        with precision_mode(self.precision, self.device):
            cls = self.forward(batch).float()
        return {HEAD_CLS: cls}


def extractor_name(arch: Dinov2Arch) -> str:
    """The name results and statistics files record: `dinov2-vitl14`."""
    return network_name(arch)


def _spec(key: str, title: str) -> ExtractorSpec:
    arch = ARCHS[key]

    def load(weights: str | None, device: torch.device, precision: str | None, progress: bool) -> Dinov2Extractor:
        path = resolve_weights_path(arch, weights, progress)
        return Dinov2Extractor(recorded_weights(path, arch), device, precision)

    return ExtractorSpec(
        name=extractor_name(arch),
        title=title,
        extractor=extractor_name(arch),
        kinds=Dinov2Extractor.kinds,
        dims={HEAD_CLS: arch.embed_dim},
        resize=RESIZE_MODE,
        load=load,
        weights_layouts=partial(weights_layouts, arch),
        import_weights=partial(import_weights, arch=arch),
        describe_weights=partial(describe_cached_weights, arch),
    )


SPEC = _spec("vitl14", "DINOv2 ViT-L/14 class token, 1024-d (FD_DINOv2 of dgm-eval)")
SPEC_VITS14 = _spec("vits14", "DINOv2 ViT-S/14 class token, 384-d (small variant)")
