"""LPIPS v0.1 on VGG-16 (Zhang et al. 2018) as perceptual path length's sample similarity, registered by name.

The network and its weights are the paired family's (`gan_eval.paired.lpips`: the `lpips` project's v0.1
linear layers and torchvision's VGG-16, resolved from the environment variables, the cache or a checked
download). The evaluation that samples PPL's paths sits below that family and may not import it
(pyproject.toml's layers), so this module registers the similarity with `gan_eval.path_sampling` from above;
the package imports it.
"""

from __future__ import annotations

from gan_eval.paired.lpips.network import MIN_SIZE, build_network
from gan_eval.paired.lpips.weights import load_lpips_weights
from gan_eval.path_sampling import PPL_SIMILARITY, SampleSimilarity, register_sample_similarity

NET = "vgg"


def load_lpips_vgg16(progress: bool = False) -> SampleSimilarity:
    """LPIPS v0.1 on VGG-16, with its two weights files' sha256 as its settings."""
    weights = load_lpips_weights(NET, progress=progress)
    return SampleSimilarity(
        network=build_network(NET, weights.backbone, weights.linear),
        min_size=MIN_SIZE[NET],
        settings={
            "similarity": PPL_SIMILARITY,
            "lpips_sha256": weights.linear_sha256,
            "lpips_backbone_sha256": weights.backbone_sha256,
        },
    )


register_sample_similarity(PPL_SIMILARITY, load_lpips_vgg16)
