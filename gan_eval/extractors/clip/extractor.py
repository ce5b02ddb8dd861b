"""The CLIP feature spaces: OpenAI CLIP image embeddings as CLIP-FID and CMMD compute them.

Three spaces, each the output of the visual projection (`encode_image`):

- `clip-vitb32` (ViT-B/32, 512-d): clean-fid 0.1.35's CLIP-FID
  (`compute_fid(..., model_name="clip_vit_b_32")`, Kynkäänniemi et al. 2023).
  `cleanfid/clip_features.py` `img_preprocess_clip` resizes the PIL image's
  shorter side to 224 with torchvision's `Resize(224, BICUBIC)` (PIL's 8-bit
  bicubic, antialiased, the long side `int(224 * long / short)`), crops the
  centre 224x224 (`CenterCrop`: offsets `int(round((size - 224) / 2))`) and
  returns uint8; `ResizeDataset` makes it `ToTensor() * 255`, and `CLIP_fx`
  divides by 255 and normalises with CLIP's mean and std, in float32. The
  embedding is not L2-normalised.
- `clip-vitl14` (ViT-L/14, 768-d): the same protocol (it is OpenAI's own
  `clip.py` `_transform`), with the ViT-L/14 tower.
- `clip-vitl14-336` (ViT-L/14@336px, 768-d): CMMD's embedding (Jayasumana
  et al. 2024; google-research `cmmd/io_util.py` `_center_crop_and_resize`):
  the central square (offsets `(size - side) // 2`), PIL's
  `resize((336, 336), BICUBIC)`, float32 `/ 255`, CLIP's mean and std. The
  authors' model L2-normalises the embedding; here the extractor gives the
  raw embedding and the `cmmd` metric normalises (FID on it must not).

Head: `embedding` (`FEATURES`). Precision modes as Inception's: `exact`
(float32, TF32 off; the CPU default), `tf32` (CUDA), `bf16` (autocast).
"""

from __future__ import annotations

from functools import partial
from typing import ClassVar

import torch

from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import ExtractorSpec, ImageExtractor, precision_mode
from gan_eval.extractors.clip.network import ARCHS, ClipArch, build_network
from gan_eval.extractors.clip.weights import (
    HEAD_EMBEDDING,
    ClipWeights,
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

CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)
SHORTER_SIDE_THEN_CROP = "shorter-side-then-crop"  # OpenAI's `_transform`, clean-fid's CLIP-FID
CROP_THEN_RESIZE = "crop-then-resize"  # CMMD


def shorter_side_then_crop(images: torch.Tensor, size: int) -> torch.Tensor:
    """torchvision's `Resize(size, BICUBIC)` then `CenterCrop(size)` on PIL images, for `(N, 3, H, W)` uint8.

    Returns `(N, 3, size, size)` float64 holding the uint8 values PIL gives.
    """
    height, width = images.shape[-2:]
    short, long = (width, height) if width <= height else (height, width)
    new_long = int(size * long / short)
    new_height, new_width = (new_long, size) if width <= height else (size, new_long)
    resized = images.double() if (new_height, new_width) == (height, width) else None
    if resized is None:
        resized = resize_bicubic_pil(images, (new_height, new_width))
    top = round((new_height - size) / 2.0)  # Python's round, half to even, as torchvision's
    left = round((new_width - size) / 2.0)
    return resized[..., top : top + size, left : left + size]


def crop_then_resize(images: torch.Tensor, size: int) -> torch.Tensor:
    """CMMD's `_center_crop_and_resize`: the central square, then PIL bicubic to `size` x `size`.

    `images`: `(N, 3, H, W)` uint8. Returns `(N, 3, size, size)` float64 holding uint8 values.
    """
    height, width = images.shape[-2:]
    side = min(height, width)
    top, left = (height - side) // 2, (width - side) // 2
    square = images[..., top : top + side, left : left + side]
    return resize_bicubic_pil(square, (size, size))


class ClipExtractor(ImageExtractor):
    """CLIP image embeddings from uint8 images (see module docstring)."""

    kinds: ClassVar[dict[str, str]] = {FEATURES: HEAD_EMBEDDING}
    heads = (HEAD_EMBEDDING,)

    def __init__(
        self,
        weights: ClipWeights | WeightsRecord,
        protocol: str,
        device: torch.device | str = "cpu",
        precision: str | None = None,
    ) -> None:
        super().__init__(device, precision)
        if protocol not in (SHORTER_SIDE_THEN_CROP, CROP_THEN_RESIZE):
            raise ValueError(f"unknown CLIP preprocessing {protocol}")
        self.arch = arch = weights_arch(weights)
        self.input_size = arch.image_size
        self.protocol = protocol
        self.name = extractor_name(arch)
        self.resize = resize_mode(arch, protocol)
        self.weights_sha256 = weights.sha256
        self.dims = {HEAD_EMBEDDING: arch.embed_dim}
        self._weights: ClipWeights | WeightsRecord | None = weights
        self._net: torch.nn.Module | None = None
        self._mean = torch.tensor(CLIP_MEAN, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)
        self._std = torch.tensor(CLIP_STD, dtype=torch.float32, device=self.device).view(1, 3, 1, 1)

    @property
    def net(self) -> torch.nn.Module:
        """The network, built on first use, a record's file read then (a run served from the feature cache
        never reads it)."""
        if self._net is None:
            assert self._weights is not None
            weights = in_memory(self._weights, partial(load_weights, arch=self.arch))
            with torch.random.fork_rng(devices=[]):  # random initial weights, replaced: the caller's state stays
                self._net = build_network(self.arch, weights.visual).to(self.device)
            self._weights = None
        return self._net

    def preprocess(self, images: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """uint8 images (batch or list of any sizes) -> CLIP-normalised `(N, 3, S, S)` float32."""
        batch = self.resized(images)
        # clean-fid: ToTensor() * 255 in its dataset, then / 255.0 in CLIP_fx; CMMD: / 255.0; float32 both
        batch = batch / 255 * 255 / 255.0 if self.protocol == SHORTER_SIDE_THEN_CROP else batch / 255.0
        return (batch - self._mean) / self._std

    def _resize(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True)
        if self.protocol == SHORTER_SIDE_THEN_CROP:
            return shorter_side_then_crop(images, self.arch.image_size).float()
        return crop_then_resize(images, self.arch.image_size).float()

    @torch.inference_mode()
    def extract(
        self, images: torch.Tensor | list[torch.Tensor], heads: tuple[str, ...] = (HEAD_EMBEDDING,)
    ) -> dict[str, torch.Tensor]:
        """The `embedding` head: `(N, embed_dim)` float32 on `self.device`, not L2-normalised."""
        unknown = [h for h in heads if h != HEAD_EMBEDDING]
        if unknown:
            raise GanEvalError(f"{self.name} has no {unknown[0]} head (it gives {HEAD_EMBEDDING} features only)")
        batch = self.preprocess(images)
        with precision_mode(self.precision, self.device):
            embedding = self.forward(batch).float()
        return {HEAD_EMBEDDING: embedding}


def extractor_name(arch: ClipArch) -> str:
    """The name results and statistics files record: `clip-vitl14-336`."""
    return network_name(arch)


def resize_mode(arch: ClipArch, protocol: str) -> str:
    """The recorded resize: `pil-bicubic-shorter-side-224-centre-crop` or `centre-crop-pil-bicubic-336`."""
    if protocol == SHORTER_SIDE_THEN_CROP:
        return f"pil-bicubic-shorter-side-{arch.image_size}-centre-crop"
    return f"centre-crop-pil-bicubic-{arch.image_size}"


def _spec(key: str, protocol: str, title: str) -> ExtractorSpec:
    arch = ARCHS[key]

    def load(weights: str | None, device: torch.device, precision: str | None, progress: bool) -> ClipExtractor:
        path = resolve_weights_path(arch, weights, progress)
        return ClipExtractor(recorded_weights(path, arch), protocol, device, precision)

    return ExtractorSpec(
        name=extractor_name(arch),
        title=title,
        extractor=extractor_name(arch),
        kinds=ClipExtractor.kinds,
        dims={HEAD_EMBEDDING: arch.embed_dim},
        resize=resize_mode(arch, protocol),
        load=load,
        weights_layouts=partial(weights_layouts, arch),
        import_weights=partial(import_weights, arch=arch),
        describe_weights=partial(describe_cached_weights, arch),
    )


SPEC_VITB32 = _spec("vitb32", SHORTER_SIDE_THEN_CROP, "CLIP ViT-B/32 image embedding, 512-d (clean-fid's CLIP-FID)")
SPEC_VITL14 = _spec("vitl14", SHORTER_SIDE_THEN_CROP, "CLIP ViT-L/14 image embedding, 768-d (OpenAI's preprocessing)")
SPEC_VITL14_336 = _spec("vitl14-336", CROP_THEN_RESIZE, "CLIP ViT-L/14@336px image embedding, 768-d (CMMD's)")
