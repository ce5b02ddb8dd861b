"""Independent pieces for the style tests: random VGG-19 weights in torchvision's file layout, a float64 forward
written from the VGG paper's configuration "E" with plain torch ops, and Gatys et al.'s formulas in NumPy.

The random file has the 38 keys and shapes of `vgg19-dcbb9e9d.pth`. Its three classifier matrices, which the
style code checks but never runs, are stored as one random row broadcast to every row (stride 0): the same
keys, shapes and dtype, an 80 MB file instead of 548 MB.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

# Configuration "E" of Simonyan & Zisserman (2015): output channels per convolution, "M" a 2x2 max-pool.
CONFIG_E = [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M", 512, 512, 512, 512, "M"]
STYLE = ("conv1_1", "conv2_1", "conv3_1", "conv4_1", "conv5_1")
CONTENT = "conv4_2"
MEAN = np.array([0.485, 0.456, 0.406])
STD = np.array([0.229, 0.224, 0.225])


def conv_layers() -> list[tuple[str, int, int, int, bool]]:
    """`(name, index in nn.Sequential, in channels, out channels, a pool follows)` for each convolution."""
    layers, index, block, number, cin = [], 0, 1, 1, 3
    for i, item in enumerate(CONFIG_E):
        if item == "M":
            index, block, number = index + 1, block + 1, 1
            continue
        pool = i + 1 < len(CONFIG_E) and CONFIG_E[i + 1] == "M"
        layers.append((f"conv{block}_{number}", index, cin, item, pool))
        index, number, cin = index + 2, number + 1, item  # the convolution and its ReLU
    return layers


def random_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """Random weights named and shaped as torchvision's VGG-19 file, He-scaled so activations keep their size."""
    g = torch.Generator().manual_seed(seed)
    state: dict[str, torch.Tensor] = {}
    for _, index, cin, cout, _ in conv_layers():
        state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5
        state[f"features.{index}.bias"] = 0.1 * torch.randn(cout, generator=g)
    for index, (cin, cout) in zip((0, 3, 6), ((25088, 4096), (4096, 4096), (4096, 1000)), strict=True):
        state[f"classifier.{index}.weight"] = (torch.randn(1, cin, generator=g) * (2 / cin) ** 0.5).expand(cout, cin)
        state[f"classifier.{index}.bias"] = 0.1 * torch.randn(cout, generator=g)
    return state


def write_weights(path: Path, seed: int = 0) -> Path:
    """Save `random_state_dict(seed)` at `path` (a plain state dict, as torchvision publishes it)."""
    torch.save(random_state_dict(seed), path)
    return path


def reference_responses(
    state: dict[str, torch.Tensor], image: np.ndarray, pooling: str = "max"
) -> dict[str, np.ndarray]:
    """`(H, W, 3)` uint8 -> the rectified responses `(C, h, w)` float64 of conv1_1 ... conv5_1 and conv4_2.

    `pooling`: `max` or `avg`, 2x2 with stride 2 after each block."""
    x = torch.from_numpy((image / 255.0 - MEAN) / STD).permute(2, 0, 1)[None]
    out: dict[str, np.ndarray] = {}
    for name, index, _, _, pool in conv_layers():
        weight, bias = state[f"features.{index}.weight"].double(), state[f"features.{index}.bias"].double()
        x = torch.relu(F.conv2d(x, weight, bias, padding=1))
        if name in (*STYLE, CONTENT):
            out[name] = x[0].numpy()
        if name == "conv5_1":
            return out
        if pool:
            x = F.max_pool2d(x, 2) if pooling == "max" else F.avg_pool2d(x, 2)
    raise AssertionError("conv5_1 not reached")


def gatys_style_layer(features: np.ndarray, style_features: np.ndarray) -> float:
    """Gatys' eq. 4 written out, each Gram divided by its own image's N M: `(N, h, w)` float64 each."""
    n = features.shape[0]
    f, a = features.reshape(n, -1), style_features.reshape(n, -1)
    gram = np.einsum("im,jm->ij", f, f) / (n * f.shape[1])
    style_gram = np.einsum("im,jm->ij", a, a) / (n * a.shape[1])
    return float(((gram - style_gram) ** 2).sum() / 4)


def naive_scores(
    state: dict[str, torch.Tensor],
    output: np.ndarray,
    content: np.ndarray,
    reference: dict[str, np.ndarray],
    pooling: str = "max",
) -> dict:
    """Every number of one output, in float64: the style layers' E_l, their mean, eq. 1 and the per-element mean.

    `reference`: the style image's `reference_responses` (with the same `pooling`).
    """
    out, target = reference_responses(state, output, pooling), reference_responses(state, content, pooling)
    layers = {name: gatys_style_layer(out[name], reference[name]) for name in STYLE}
    difference = out[CONTENT] - target[CONTENT]
    return {
        "style_layers": layers,
        "style_distance": sum(layers.values()) / 5,
        "content_distance": 0.5 * float((difference**2).sum()),
        "content_mse": float((difference**2).mean()),
    }


def smooth_image(seed: int, height: int, width: int) -> np.ndarray:
    """A smooth random `(H, W, 3)` uint8 image."""
    rng = np.random.default_rng(seed)
    coarse = rng.integers(0, 256, (max(height // 4, 2), max(width // 4, 2), 3), dtype=np.uint8)
    image = np.asarray(Image.fromarray(coarse).resize((width, height), Image.BILINEAR))
    return np.clip(image.astype(int) + rng.integers(-20, 21, image.shape), 0, 255).astype(np.uint8)


def save_png(image: np.ndarray, path: Path) -> Path:
    """Write `(H, W, 3)` uint8 as a PNG (lossless), creating folders."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(image).save(path)
    return path


def relative_difference(ours: float, reference: float) -> float:
    """`|ours - reference| / |reference|`."""
    return abs(ours - reference) / abs(reference)
