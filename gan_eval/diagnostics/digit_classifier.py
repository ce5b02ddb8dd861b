"""The digit classifier that labels the modes of `stacked-digits`, trained once and cached.

A small convolutional net for one 32x32 grey channel (29k parameters): a 4x4
average pool (the exact inverse of the digits' 4x pixel repetition, so a real
digit is its 8x8 original again), two 3x3 convolutions (32 and 64 channels,
ReLU), 2x2 max pooling, dropout 0.5 and a linear layer to 10 classes. It
trains on the 898 images of the digits' train split, each batch randomly
rotated (±10°), scaled (±10%) and shifted (±2 pixels of 32) with bilinear
resampling, so it also reads writers and generated digits that differ a
little from the training ones: Adam (lr 1e-3, weight decay 1e-4), batch 32,
60 epochs, seeded, on the CPU with one thread (10 to 20 s). Its accuracy on
the held-out test split (899 images, other writers) is about 98% with the
default seed (97% to 98% over seeds 0 to 2).

The state dict is cached at `<cache home>/classifiers/digits-cnn-v1.pt`,
written atomically and read with `torch.load(weights_only=True)`; a file
that cannot be read or does not fit the net is retrained and rewritten.
"""

from __future__ import annotations

import io
import math
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_eval.atomic import atomic_write_bytes
from gan_eval.home import cache_home
from gan_eval.tensor_files import load_tensors

CACHE_NAME = "digits-cnn-v1.pt"  # change the version when the net or its training changes
EPOCHS = 60
BATCH = 32
WIDTH = 32
MAX_ROTATION_DEGREES = 10.0
MAX_SCALE = 0.1
MAX_SHIFT = 0.125  # in affine_grid's units, half the image width per 1: 2 pixels of 32
SEED = 0
MODE_WEIGHTS = (100, 10, 1)


def digit_net() -> nn.Module:
    """The classifier, freshly initialised: `(N, 1, 32, 32)` float in [0, 1] -> logits `(N, 10)`."""
    return nn.Sequential(
        nn.AvgPool2d(4),
        nn.Conv2d(1, WIDTH, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(WIDTH, 2 * WIDTH, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Dropout(0.5),
        nn.Linear(2 * WIDTH * 4 * 4, 10),
    )


def classifier_path() -> Path:
    """Where the trained classifier is cached."""
    return cache_home() / "classifiers" / CACHE_NAME


def _grey(split: str) -> tuple[torch.Tensor, torch.Tensor]:
    from gan_eval.datasets.digits import digits_images, digits_labels

    pixels = torch.from_numpy(digits_images(split)[..., 0].copy()).float().div(255)[:, None]
    return pixels, torch.from_numpy(digits_labels(split))


def _jittered(batch: torch.Tensor, rng: torch.Generator) -> torch.Tensor:
    """`batch: (N, 1, H, W)`, each image rotated, scaled and shifted at random (bilinear, zeros outside)."""
    n = batch.shape[0]
    u = torch.rand(n, 4, generator=rng) * 2 - 1
    angle = u[:, 0] * math.radians(MAX_ROTATION_DEGREES)
    scale = 1 + u[:, 1] * MAX_SCALE
    theta = torch.zeros(n, 2, 3)
    theta[:, 0, 0] = torch.cos(angle) / scale
    theta[:, 0, 1] = -torch.sin(angle) / scale
    theta[:, 1, 0] = torch.sin(angle) / scale
    theta[:, 1, 1] = torch.cos(angle) / scale
    theta[:, :, 2] = u[:, 2:] * MAX_SHIFT
    grid = F.affine_grid(theta, list(batch.shape), align_corners=False)
    return F.grid_sample(batch, grid, align_corners=False, padding_mode="zeros")


def train_digit_classifier(seed: int = SEED) -> nn.Module:
    """Train the classifier on the digits' train split (module docstring); returns it in eval mode."""
    images, labels = _grey("train")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        # The initial weights and dropout draw from the global generator: seed it without disturbing the caller's.
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            net = digit_net()
            optimiser = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-4)
            rng = torch.Generator().manual_seed(seed)
            net.train()
            for _ in range(EPOCHS):
                order = torch.randperm(images.shape[0], generator=rng)
                for start in range(0, images.shape[0], BATCH):
                    index = order[start : start + BATCH]
                    loss = F.cross_entropy(net(_jittered(images[index], rng)), labels[index])
                    optimiser.zero_grad(set_to_none=True)
                    loss.backward()
                    optimiser.step()
    finally:
        torch.set_num_threads(threads)
    return net.eval()


def _load_cached(path: Path) -> nn.Module | None:
    net = digit_net()
    try:
        net.load_state_dict(load_tensors(path))
    except Exception:  # a missing, damaged, pickled or mismatched file is a cache miss
        return None
    return net.eval()


def load_digit_classifier() -> nn.Module:
    """The cached classifier in eval mode, trained and cached first when absent or unreadable."""
    path = classifier_path()
    net = _load_cached(path)
    if net is None:
        net = train_digit_classifier()
        buffer = io.BytesIO()
        torch.save(net.state_dict(), buffer)
        atomic_write_bytes(path, buffer.getvalue())
    return net


@torch.no_grad()
def classify_digits(net: nn.Module, channels: np.ndarray | torch.Tensor, batch_size: int = 1000) -> np.ndarray:
    """Digit class `(N,)` int64 of each grey image `channels: (N, 32, 32)` uint8."""
    grey = torch.as_tensor(channels)
    labels = [
        net(grey[start : start + batch_size].float().div(255)[:, None]).argmax(dim=1)
        for start in range(0, grey.shape[0], batch_size)
    ]
    return torch.cat(labels).numpy().astype(np.int64) if labels else np.zeros(0, dtype=np.int64)


def classify_rgb_digits(net: nn.Module, images: np.ndarray) -> np.ndarray:
    """Digit class `(N,)` int64 of RGB images `(N, 32, 32, 3)` uint8, read as grey (the rounded channel mean)."""
    return classify_digits(net, np.rint(images.mean(axis=3)).astype(np.uint8))


def held_out_accuracy(net: nn.Module) -> float:
    """Share of the digits' test split (899 images) that `net` classifies correctly."""
    from gan_eval.datasets.digits import digits_images, digits_labels

    predicted = classify_digits(net, digits_images("test")[..., 0])
    return float((predicted == digits_labels("test")).mean())


def stacked_modes(net: nn.Module, images: np.ndarray | torch.Tensor) -> np.ndarray:
    """Mode `100 r + 10 g + b` `(N,)` int64 of RGB images `(N, 3, 32, 32)` uint8, each channel classified."""
    pixels = torch.as_tensor(images)
    if pixels.ndim != 4 or pixels.shape[1:] != (3, 32, 32):
        raise ValueError(f"expected (N, 3, 32, 32) images, got shape {tuple(pixels.shape)}")
    digits = [classify_digits(net, pixels[:, c]) for c in range(3)]
    return sum(weight * d for weight, d in zip(MODE_WEIGHTS, digits, strict=True))
