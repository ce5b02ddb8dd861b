"""`InceptionExtractor` with the real weights, against torch-fidelity's extractor and the fid-helper TorchScript.

The real network runs a few images a second on CPU, so this file uses a
handful of images: two 32x32, two 64x48 and one 299x299.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3
from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

from gan_eval.errors import GanEvalError
from gan_eval.extractors.inception.extractor import InceptionExtractor
from gan_eval.extractors.inception.weights import load_weights

pytestmark = pytest.mark.inception

SIZES = ((32, 32), (64, 48), (299, 299))
COUNTS = (2, 2, 1)


def relative_error(ours: torch.Tensor, reference: torch.Tensor) -> float:
    """Max absolute difference over max absolute value of the reference."""
    return float((ours.double() - reference.double()).abs().max() / reference.double().abs().max())


def make_torch_fidelity_weights(real_weights: Path, dest: Path) -> Path:
    """A torch-fidelity-format state dict: the real body plus a seeded random classifier."""
    state = dict(load_weights(real_weights).state_dict)
    generator = torch.Generator().manual_seed(1234)
    state["fc.weight"] = torch.randn(1008, 2048, generator=generator) * 0.01
    state["fc.bias"] = torch.randn(1008, generator=generator)
    torch.save(state, dest)
    return dest


@pytest.fixture(scope="module")
def batches() -> list[torch.Tensor]:
    """uint8 `(N, 3, H, W)` batches, one per size in `SIZES`."""
    generator = torch.Generator().manual_seed(0)
    out = []
    for (h, w), n in zip(SIZES, COUNTS, strict=True):
        noise = torch.randint(0, 256, (n, 3, h, w), generator=generator, dtype=torch.uint8)
        ramp = torch.linspace(0, 255, w).round().to(torch.uint8).expand(n, 3, h, w)
        out.append(torch.where(torch.arange(h).view(1, 1, h, 1) < h // 2, noise, ramp).contiguous())
    return out


@pytest.fixture(scope="module")
def fidelity_weights(real_weights: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_torch_fidelity_weights(real_weights, tmp_path_factory.mktemp("weights") / "fidelity.pth")


@pytest.fixture(scope="module")
def with_classifier(fidelity_weights: Path) -> InceptionExtractor:
    return InceptionExtractor(load_weights(fidelity_weights), "cpu", "exact")


@pytest.fixture(scope="module")
def pool3_only(real_weights: Path) -> InceptionExtractor:
    return InceptionExtractor(load_weights(real_weights), "cpu", "exact")


def test_matches_torch_fidelity(
    with_classifier: InceptionExtractor, fidelity_weights: Path, batches: list[torch.Tensor]
) -> None:
    reference = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048", "logits_unbiased"], feature_extractor_weights_path=str(fidelity_weights)
    )
    for batch in batches:
        with torch.no_grad():
            pool3_ref, logits_ref = reference(batch)
        ours = with_classifier.extract(batch, ("pool3", "logits_unbiased"))
        assert ours["pool3"].shape == (batch.shape[0], 2048)
        assert ours["logits_unbiased"].shape == (batch.shape[0], 1008)
        assert relative_error(ours["pool3"], pool3_ref) < 1e-5
        assert relative_error(ours["logits_unbiased"], logits_ref) < 1e-5


def test_matches_fid_helper_torchscript(
    pool3_only: InceptionExtractor, real_weights: Path, batches: list[torch.Tensor]
) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.load(str(real_weights), map_location="cpu").eval()
    for batch in batches:
        resized = interpolate_bilinear_2d_like_tensorflow1x(batch.float(), size=(299, 299), align_corners=False)
        with torch.no_grad():
            reference = scripted((resized - 128) / 128)
        ours = pool3_only.extract(batch, ("pool3",))["pool3"]
        assert relative_error(ours, reference) < 1e-5


def test_logits_need_the_classifier_head(pool3_only: InceptionExtractor, batches: list[torch.Tensor]) -> None:
    assert pool3_only.heads == ("pool3", "mixed_6_conv")
    with pytest.raises(GanEvalError, match="no logits_unbiased head"):
        pool3_only.extract(batches[0], ("pool3", "logits_unbiased"))


def test_mixed_size_list_equals_each_image_alone(pool3_only: InceptionExtractor, batches: list[torch.Tensor]) -> None:
    # Interleave sizes so that grouping by shape must restore the original order.
    images = [batches[0][0], batches[1][0], batches[2][0], batches[1][1], batches[0][1]]
    together = pool3_only.extract(images, ("pool3",))["pool3"]
    alone = torch.cat([pool3_only.extract(image[None], ("pool3",))["pool3"] for image in images])
    assert together.shape == (5, 2048)
    np.testing.assert_allclose(together.numpy(), alone.numpy(), rtol=0, atol=1e-6 * float(alone.abs().max()))


def adm_spatial(mixed_6_conv: torch.Tensor) -> torch.Tensor:
    """The ADM evaluator's sFID features from a `(N, 192, 17, 17)` map: TF's NHWC tensor, `[..., :7]`, flattened."""
    nhwc = mixed_6_conv.permute(0, 2, 3, 1)
    return nhwc[..., :7].reshape(len(nhwc), -1)


def test_mixed_6_conv_matches_torch_fidelity_hooked(
    with_classifier: InceptionExtractor, fidelity_weights: Path, batches: list[torch.Tensor]
) -> None:
    """torch-fidelity's Inception on the same weights, its Mixed_6d 1x1 branch read through a forward hook."""
    reference = FeatureExtractorInceptionV3(
        "inception-v3-compat", ["2048"], feature_extractor_weights_path=str(fidelity_weights)
    )
    hooked: list[torch.Tensor] = []
    reference.Mixed_6d.branch1x1.register_forward_hook(lambda module, args, out: hooked.append(out.clone()))
    for batch in batches:
        with torch.no_grad():
            (pool3_ref,) = reference(batch)
        ours = with_classifier.extract(batch, ("pool3", "mixed_6_conv"))
        assert ours["mixed_6_conv"].shape == (batch.shape[0], 7 * 17 * 17)
        assert relative_error(ours["mixed_6_conv"], adm_spatial(hooked.pop())) < 1e-5
        assert relative_error(ours["pool3"], pool3_ref) < 1e-5  # both heads from the one forward pass


def test_mixed_6_conv_is_the_tf_graph_tensor(pool3_only: InceptionExtractor, real_weights: Path) -> None:
    """The fid-helper TorchScript keeps the TF graph's layer names: its `layers.mixed_6.conv` (convolution, batch
    norm, ReLU) is the tensor `mixed_6/conv:0` the ADM evaluator reads, run here from its own `mixed_5` output."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        layers = torch.jit.load(str(real_weights), map_location="cpu").eval().net.layers
    before = ["conv", "conv_1", "conv_2", "pool0", "conv_3", "conv_4", "pool1"]
    before += ["mixed", *(f"mixed_{i}" for i in range(1, 6))]
    batch = torch.randint(0, 256, (2, 3, 40, 40), generator=torch.Generator().manual_seed(3), dtype=torch.uint8)
    x = (interpolate_bilinear_2d_like_tensorflow1x(batch.float(), size=(299, 299), align_corners=False) - 128) / 128
    with torch.no_grad():
        for name in before:
            x = getattr(layers, name)(x)
        tf_tensor = layers.mixed_6.conv(x)
    assert tf_tensor.shape == (2, 192, 17, 17)
    ours = pool3_only.extract(batch, ("mixed_6_conv",))["mixed_6_conv"]
    assert relative_error(ours, adm_spatial(tf_tensor)) < 1e-5
