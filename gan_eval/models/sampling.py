"""Drawing samples from a trained generator: seeded, batch-size independent, balanced labels.

The noise is drawn on the CPU from `latent_seed`, so a seed gives the same latents
on every device; images come back as uint8 NCHW (the pipeline's input
format), 2-D points as float32 `(N, 2)`. A class-conditional generator gets
labels `0, 1, ..., K-1, 0, 1, ...` so every class has `n // K` or one more.

The result does not depend on `batch_size`. Float32 matrix products do, in
their last bit (small batches take other kernels), so point generators run in
float64 and the result is rounded to float32, where differences of ~1e-16
vanish; images are quantised to 8 bits, which hides float32's.
"""

from __future__ import annotations

import copy
import math
import warnings

import torch
from torch import nn

from gan_eval.count_limits import check_count
from gan_eval.errors import GanEvalError
from gan_eval.models.checkpoint import GeneratorConfig


def balanced_labels(n: int, n_classes: int) -> torch.Tensor:
    """`(n,)` int64 labels cycling through `0..n_classes-1`."""
    return torch.arange(n) % n_classes


def images_to_uint8(images: torch.Tensor) -> torch.Tensor:
    """Generator output in [-1, 1] (any float shape) -> uint8 0..255, rounded, clipped."""
    return ((images.float() + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)


def sample_bytes(config: GeneratorConfig, n: int) -> int:
    """Bytes `sample` holds at once for `n` samples: the float32 latents, the float32 output batches and their
    concatenation, and the uint8 images with the `(N, H, W, C)` copy a writer makes (points: float32 twice)."""
    values = math.prod(config.data["shape"])
    per_sample = 4 * config.latent_dim + 8 * values + (2 * values if config.is_images else 4 * values)
    return n * per_sample


def check_sample_memory(config: GeneratorConfig, n: int, what: str | None = None) -> None:
    """Refuse, before allocating, `n` samples that `sample_bytes` says cannot fit in the machine's memory.

    `what` names the count in the error (default `n samples`; the CLI says `-n N`).
    """
    kind = "images of " + "x".join(map(str, config.data["shape"])) if config.is_images else "2-D points"
    check_count(what or f"{n} samples", n, sample_bytes(config, n), f"{n:.3g} {kind}")


@torch.no_grad()
def sample(
    generator: nn.Module,
    config: GeneratorConfig,
    n: int,
    latent_seed: int = 0,
    batch_size: int = 500,
    seed: int | None = None,
) -> torch.Tensor:
    """`n` samples on the CPU: uint8 `(n, C, H, W)` images, or float32 `(n, 2)` points.

    `seed=` is the former name of `latent_seed` (a `DeprecationWarning`; it goes away in the next release).

    The generator runs where its parameters are, in eval mode (batch norm with
    its running statistics, no dropout), and is put back in its former mode
    afterwards. Output with NaN or Inf, or images outside [-1, 1] (beyond half
    a pixel level), raise `GanEvalError` instead of being clipped into pixels,
    and so does an `n` whose samples cannot fit in memory (`check_sample_memory`).
    """
    if seed is not None:
        warnings.warn(
            "sample(seed=) is now sample(latent_seed=); seed= goes away in the next release",
            DeprecationWarning,
            stacklevel=2,
        )
        latent_seed = seed
    if n < 1:
        raise ValueError(f"n must be at least 1, got {n}")
    check_sample_memory(config, n)
    device = next(generator.parameters()).device
    z = torch.randn(n, config.latent_dim, generator=torch.Generator().manual_seed(latent_seed))
    labels = balanced_labels(n, config.n_classes) if config.n_classes else None
    net = generator if config.is_images else copy.deepcopy(generator).double()
    dtype = torch.float32 if config.is_images else torch.float64
    was_training = generator.training
    net.eval()
    try:
        parts = []
        for start in range(0, n, batch_size):
            batch_labels = None if labels is None else labels[start : start + batch_size].to(device)
            parts.append(net(z[start : start + batch_size].to(device, dtype), batch_labels).float().cpu())
    finally:
        generator.train(was_training)
    out = torch.cat(parts)
    _check_output(out, config.is_images)
    return images_to_uint8(out) if config.is_images else out


# Half a pixel level of [-1, 1] (one level is 2/255): values within it of the range round to 0 or 255 anyway.
_RANGE_SLACK = 1 / 255


def _check_output(out: torch.Tensor, images: bool) -> None:
    """Refuse what would otherwise be judged on wrong numbers: NaN/Inf anywhere, images outside [-1, 1]."""
    if not torch.isfinite(out).all():
        raise GanEvalError(f"the generator's output holds NaN or Inf values ({int((~torch.isfinite(out)).sum())})")
    if images and (out.min() < -1 - _RANGE_SLACK or out.max() > 1 + _RANGE_SLACK):
        low, high = float(out.min()), float(out.max())
        raise GanEvalError(f"the generator's images span [{low:.4g}, {high:.4g}], outside the range [-1, 1]")
