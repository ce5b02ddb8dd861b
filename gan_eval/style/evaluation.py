"""Style and content distances of style-transfer outputs to their style image and content images.

`evaluate_style(outputs, style, content)` reads a folder of outputs, one style
image and a folder of content images, pairs each output with its content image
by relative path (the file extension aside: `a/b.png` goes with `a/b.jpg`),
and measures with VGG-19 (`gan_eval.style.network`) what Gatys et al. 2016
optimise (`gan_eval.style.distances`): the style distance to the style image
over five layers and the content distance to the paired content image.

Images are converted to float32 on [0, 1] and normalised with ImageNet's mean
and std, as torchvision's VGG-19 expects. By default every image is used at
its own size (an output and its content image must then have the same size);
with `size`, each image is resized first so that its longer side is `size`
pixels, keeping its aspect ratio (PIL's bicubic filter on 8-bit RGB, the
convention of neural-style's `-image_size`). The network runs in float32 with
TF32 off; Gram matrices and distances are float64.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import torch
from PIL import Image

from gan_eval.devices import parse_device
from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import precision_mode
from gan_eval.regular_files import require_regular_file
from gan_eval.sources.decode import decode_image
from gan_eval.sources.folder import ImageFolderSource
from gan_eval.style import distances
from gan_eval.style.network import (
    CONTENT_LAYER,
    IMAGENET_MEAN,
    IMAGENET_STD,
    MIN_SIZE,
    POOLINGS,
    STYLE_LAYERS,
    Vgg19StyleLayers,
    build_network,
)
from gan_eval.style.weights import load_weights, resolve_weights_path

NETWORK = "vgg19-torchvision"  # torchvision's max-pooled VGG-19, IMAGENET1K_V1 layout
RESIZE_NONE = "none"
RESIZE_LONGER_SIDE = "pil-bicubic-longer-side"
SUMMARY_KEYS = ("style_distance", "content_distance", "content_mse")


@dataclass(frozen=True)
class StyleOptions:
    """What changes the numbers or where they are computed.

    `size`: longer side in pixels each image is resized to, or None for native sizes.
    `weights`: the VGG-19 weights file, or None to resolve it (environment variable, cache, download).
    `pooling`: `max` (torchvision's VGG-19) or `avg` (2x2 average pooling in its place, neural-style's option).
    `device`: `cpu`, `cuda` or `cuda:i` (None: CUDA when present). `progress`: show a progress bar.
    """

    size: int | None = None
    pooling: str = "max"
    weights: str | None = None
    device: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        if self.size is not None and self.size < MIN_SIZE:
            raise GanEvalError(f"--size {self.size}: VGG-19's conv5_1 needs images of at least {MIN_SIZE} pixels")
        if self.pooling not in POOLINGS:
            raise GanEvalError(f"--pooling {self.pooling}: choose from {', '.join(POOLINGS)}")


@dataclass(frozen=True)
class StyleScores:
    """The distances of one output: to the style image (per layer and eq. 5) and to its content image."""

    output: str  # relative path in the outputs folder
    content: str  # relative path in the content folder
    height: int  # size the network saw, pixels
    width: int
    style_distance: float
    style_layers: dict[str, float]
    content_distance: float
    content_mse: float

    def to_json(self) -> dict[str, Any]:
        """JSON-ready dict of every field."""
        return asdict(self)


@dataclass(frozen=True)
class StyleResult:
    """Per-output scores, their means over the outputs, and the settings that produced them."""

    scores: tuple[StyleScores, ...]
    settings: dict[str, Any]
    means: dict[str, float] = field(init=False)
    layer_means: dict[str, float] = field(init=False)

    def __post_init__(self) -> None:
        n = len(self.scores)
        means = {key: sum(getattr(s, key) for s in self.scores) / n for key in SUMMARY_KEYS}
        layers = {layer: sum(s.style_layers[layer] for s in self.scores) / n for layer in STYLE_LAYERS}
        object.__setattr__(self, "means", means)
        object.__setattr__(self, "layer_means", layers)

    def to_json(self) -> dict[str, Any]:
        """One JSON-ready object: the means, `n`, the per-layer means, every output's scores, the settings."""
        return {
            **self.means,
            "n": len(self.scores),
            "style_layers": dict(self.layer_means),
            "images": [s.to_json() for s in self.scores],
            "settings": dict(self.settings),
        }

    def to_json_text(self) -> str:
        """`to_json()` as one line of JSON."""
        return json.dumps(self.to_json())


def _pairing_key(relative: PurePosixPath) -> str:
    return relative.with_suffix("").as_posix()


def _keyed(source: ImageFolderSource) -> dict[str, int]:
    """Each image's relative path without its extension -> its index; two files with one key are refused."""
    keyed: dict[str, int] = {}
    for index, path in enumerate(source.files):
        key = _pairing_key(PurePosixPath(path.relative_to(source.root).as_posix()))
        if key in keyed:
            raise GanEvalError(
                f"{source.files[keyed[key]]} and {path} differ only in their extension: "
                "outputs and content images are paired by relative path without the extension"
            )
        keyed[key] = index
    return keyed


def pair_with_contents(outputs: ImageFolderSource, contents: ImageFolderSource) -> list[tuple[int, int]]:
    """`(output index, content index)` for every output, in the outputs' order; an output without its content
    image, or a content image without an output, is a one-line error naming the file."""
    out_keys, content_keys = _keyed(outputs), _keyed(contents)
    for key, index in out_keys.items():
        if key not in content_keys:
            raise GanEvalError(f"{outputs.files[index]} has no content image in {contents.root} (looked for {key}.*)")
    for key, index in content_keys.items():
        if key not in out_keys:
            raise GanEvalError(f"content image {contents.files[index]} has no output in {outputs.root}")
    return [(index, content_keys[key]) for key, index in out_keys.items()]


def resize_longer_side(image: np.ndarray, size: int) -> np.ndarray:
    """`(H, W, 3)` uint8 resized with PIL's bicubic filter so that its longer side is `size`, the other side
    scaled by the same factor and rounded to the nearest pixel (halves up, at least 1)."""
    height, width = image.shape[:2]
    scale = size / max(height, width)
    new_h, new_w = max(int(height * scale + 0.5), 1), max(int(width * scale + 0.5), 1)
    if (new_h, new_w) == (height, width):
        return image
    return np.array(Image.fromarray(image).resize((new_w, new_h), Image.BICUBIC))


def normalise(image: np.ndarray, device: torch.device) -> torch.Tensor:
    """`(H, W, 3)` uint8 -> `(1, 3, H, W)` float32 on `device`: `(x / 255 - mean) / std` with ImageNet's values."""
    x = torch.from_numpy(image).to(device).permute(2, 0, 1)[None].float() / 255
    mean = torch.tensor(IMAGENET_MEAN, device=device).view(1, 3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=device).view(1, 3, 1, 1)
    return (x - mean) / std


class StyleMeter:
    """VGG-19 on one device with the style image's Gram matrices, measuring outputs against content images."""

    def __init__(self, net: Vgg19StyleLayers, style_image: np.ndarray, device: torch.device, name: str) -> None:
        self.net = net.to(device)
        self.device = device
        style = self.responses(style_image, name)
        self.style_grams = {layer: distances.gram_matrix(style[layer][0]) for layer in STYLE_LAYERS}

    @torch.inference_mode()
    def responses(self, image: np.ndarray, name: str) -> dict[str, torch.Tensor]:
        """The style layers' and the content layer's responses to one `(H, W, 3)` uint8 image, `(1, C, h, w)`."""
        if min(image.shape[:2]) < MIN_SIZE:
            raise GanEvalError(
                f"{name}: {image.shape[0]}x{image.shape[1]} pixels is too small for VGG-19's conv5_1 "
                f"(at least {MIN_SIZE}x{MIN_SIZE}; see --size)"
            )
        with precision_mode("exact", self.device):
            return self.net(normalise(image, self.device))

    def score(self, output: np.ndarray, content: np.ndarray, names: tuple[str, str]) -> StyleScores:
        """Distances of one output (recorded as `names[0]`) to the style image and to its content image
        (`names[1]`); both `(H, W, 3)` uint8 of one size (`check_pair`)."""
        if output.shape != content.shape:
            raise ValueError(f"output {output.shape} and content {content.shape} differ in shape")
        out = self.responses(output, names[0])
        target = self.responses(content, names[1])[CONTENT_LAYER]
        layers = {
            layer: distances.style_layer_distance(distances.gram_matrix(out[layer][0]), self.style_grams[layer])
            for layer in STYLE_LAYERS
        }
        return StyleScores(
            output=names[0],
            content=names[1],
            height=output.shape[0],
            width=output.shape[1],
            style_distance=distances.style_distance(layers),
            style_layers=layers,
            content_distance=distances.content_distance(out[CONTENT_LAYER][0], target[0]),
            content_mse=distances.content_mse(out[CONTENT_LAYER][0], target[0]),
        )


def check_pair(output: np.ndarray, content: np.ndarray, paths: tuple[Path, Path], size: int | None) -> None:
    """Refuse, naming both files, an output and content image of different sizes, or one too small for conv5_1."""
    (out_h, out_w), (content_h, content_w) = output.shape[:2], content.shape[:2]
    if (out_h, out_w) != (content_h, content_w):
        hint = "give --size to resize both" if size is None else f"their aspect ratios differ (--size {size})"
        raise GanEvalError(
            f"{paths[0]} is {out_h}x{out_w} pixels but its content image {paths[1]} is {content_h}x{content_w}; {hint}"
        )
    if min(out_h, out_w) < MIN_SIZE:
        raise GanEvalError(
            f"{paths[0]} and its content image {paths[1]}: {out_h}x{out_w} pixels is too small for VGG-19's conv5_1 "
            f"(at least {MIN_SIZE}x{MIN_SIZE}; see --size)"
        )


def _read_style_image(path: Path) -> np.ndarray:
    if not path.exists():
        raise GanEvalError(f"--style {path}: no such file")
    require_regular_file(path, f"--style {path}")
    return decode_image(str(path), f"--style {path}")


def evaluate_style(
    outputs: str | Path, style: str | Path, content: str | Path, options: StyleOptions | None = None
) -> StyleResult:
    """Style distance of every image in folder `outputs` to image file `style`, and content distance to its image
    in folder `content` (paired by relative path without extension); see the module docstring."""
    options = options or StyleOptions()
    output_source, content_source = ImageFolderSource(outputs), ImageFolderSource(content)
    pairs = pair_with_contents(output_source, content_source)
    style_path = Path(style)
    style_image = _prepared(_read_style_image(style_path), options.size)
    device = parse_device(options.device)
    weights = load_weights(resolve_weights_path(options.weights, options.progress))
    meter = StyleMeter(build_network(weights.features, options.pooling), style_image, device, f"--style {style_path}")
    scores = []
    for i, j in _progress(pairs, options.progress):
        output = _prepared(output_source.load(i), options.size)
        content_image = _prepared(content_source.load(j), options.size)
        check_pair(output, content_image, (output_source.files[i], content_source.files[j]), options.size)
        scores.append(meter.score(output, content_image, (_relative(output_source, i), _relative(content_source, j))))
    settings = {
        "network": NETWORK,
        "weights_sha256": weights.sha256,
        "pooling": options.pooling,
        "normalisation": "imagenet-mean-std",
        "resize": RESIZE_NONE if options.size is None else RESIZE_LONGER_SIDE,
        "size": options.size,
        "style_layers": list(STYLE_LAYERS),
        "style_weights": [1 / len(STYLE_LAYERS)] * len(STYLE_LAYERS),
        "content_layer": CONTENT_LAYER,
        "style_image": str(style_path),
        "style_size": list(style_image.shape[:2]),
        "precision": "exact",
        "device": str(device),
    }
    return StyleResult(scores=tuple(scores), settings=settings)


def _prepared(image: np.ndarray, size: int | None) -> np.ndarray:
    return image if size is None else resize_longer_side(image, size)


def _relative(source: ImageFolderSource, index: int) -> str:
    return source.files[index].relative_to(source.root).as_posix()


def _progress(pairs: Sequence[tuple[int, int]], progress: bool) -> Iterable[tuple[int, int]]:
    from tqdm import tqdm

    return tqdm(pairs, desc="style and content", unit="image", disable=not progress)
