"""Perceptual path length's samples (Karras et al. 2019, "A Style-Based Generator Architecture for Generative
Adversarial Networks"): the LPIPS distance between a generator's images at t and t + ε along latent paths.

For each of `ppl_samples` paths, two latents z0, z1 ~ N(0, I) are drawn (all of
them at once, on the CPU, from `torch.Generator().manual_seed(seed)`: first
every z0, then every z1, then every t), and t is 0 (`end` sampling) or
uniform in [0, 1) (`full`). The path runs between z0 and z1 (`z` space) or
between w0 = mapping(z0) and w1 = mapping(z1) (`w` space), by

- `lerp`: a + (b - a) t (torch-fidelity, torchmetrics; StyleGAN's w space);
- `slerp`: the great circle between a / |a| and b / |b|, a unit vector
  (Karras et al.'s z space, as StyleGAN2-ADA's `slerp`);
- `slerp_any`: sin((1 - t) ω) / sin ω · a + sin(t ω) / sin ω · b, ω the
  angle between a and b, norms kept (torch-fidelity's and torchmetrics'
  `slerp_any`; lerp where a or b is zero or they are collinear).

Both ends of a batch of paths go through the generator in one call, under the
seeded, isolated random state of `gan_eval.sources.generated` (seed
`batch_seed(seed, b)` for batch b). The images, mapped from the generator's
value range to 0..255 (one channel repeated to three), are cropped to the
face region (`ppl_crop`, StyleGAN's `[3c:7c, 2c:6c]` with c = H // 8),
resized to `ppl_resize` pixels (area when both sides are larger,
bilinear otherwise, as torch-fidelity and torchmetrics do; 0: not resized)
and compared by the sample similarity, LPIPS v0.1 on VGG-16. A path's length
is that distance / ε². The similarity runs on the generator's device, in
float64 for a float64 generator and in float32 otherwise; the distances are
returned in float64.

The similarity is registered by name (`SAMPLE_SIMILARITIES`, as torch-fidelity
registers its sample similarities): LPIPS lives in the paired family, above
the evaluation that samples the paths, so `gan_eval.ppl_lpips` registers it
from above when the package is imported.
"""

from __future__ import annotations

import contextlib
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from gan_eval.errors import GanEvalError
from gan_eval.feature_types import PATH_LENGTHS
from gan_eval.metrics.registry import MetricOptions
from gan_eval.sources.generated import LATENT_ATTRIBUTES, ModuleSource, batch_seed, evaluating, seeded_random_state
from gan_eval.stats import FeatureStats

SPACES = ("z", "w")
INTERPOLATIONS = ("lerp", "slerp", "slerp_any")
SAMPLINGS = ("end", "full")
PPL_SIMILARITY = "lpips-vgg16"  # Karras et al.'s: LPIPS v0.1 on VGG-16
NORM_FLOOR = 1e-7  # torch-fidelity's: below it a latent counts as zero, and |cos| above 1 - it as collinear
GENERATOR_FORMS = "an nn.Module G(z), a (mapping, synthesis) pair, or a module with .mapping and .synthesis"


@dataclass(frozen=True)
class SampleSimilarity:
    """A perceptual distance of image pairs: `network(a, b)` of `(N, 3, H, W)` RGB 0..255 float images gives
    `(N,)`, for sides of at least `min_size` px; `settings` (its name, its weights' sha256) travel with the
    path lengths."""

    network: nn.Module
    min_size: int
    settings: dict[str, str]


SAMPLE_SIMILARITIES: dict[str, Callable[[bool], SampleSimilarity]] = {}


def register_sample_similarity(name: str, load: Callable[[bool], SampleSimilarity]) -> None:
    """Add `load(progress) -> SampleSimilarity` (its weights found, checked and loaded) under `name`."""
    SAMPLE_SIMILARITIES[name] = load


def load_sample_similarity(name: str = PPL_SIMILARITY, progress: bool = False) -> SampleSimilarity:
    """The registered similarity `name`, loaded; one line naming the registered ones when it is not."""
    if name not in SAMPLE_SIMILARITIES:
        known = ", ".join(SAMPLE_SIMILARITIES) or "none"
        raise GanEvalError(
            f"no sample similarity {name!r} for PPL (registered: {known}; "
            f"importing gan_eval registers {PPL_SIMILARITY})"
        )
    return SAMPLE_SIMILARITIES[name](progress)


class MappedGenerator(nn.Module):
    """A `(mapping, synthesis)` pair as one generator: `forward(z) = synthesis(mapping(z))`.

    Its latent size is `latent_dim`, else the mapping's `latent_dim`, `nz` or `z_dim` attribute, when it has one.
    """

    def __init__(
        self, mapping: Callable[..., Any], synthesis: Callable[..., Any], latent_dim: int | None = None
    ) -> None:
        super().__init__()
        self.mapping = mapping
        self.synthesis = synthesis
        latent_dim = latent_dim or _latent_attribute(mapping)
        if latent_dim is not None:
            self.latent_dim = latent_dim

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.synthesis(self.mapping(z))


def as_generator(spec: Any) -> Any:
    """`spec`, with a `(mapping, synthesis)` pair of callables, or a module with `.mapping` and `.synthesis`,
    made one `MappedGenerator` (the module's latent size attribute kept)."""
    if isinstance(spec, (tuple, list)) and len(spec) == 2 and all(_is_network(part) for part in spec):
        return MappedGenerator(*spec)
    parts = getattr(spec, "mapping", None), getattr(spec, "synthesis", None)
    if isinstance(spec, nn.Module) and not isinstance(spec, MappedGenerator) and all(map(_is_network, parts)):
        return MappedGenerator(*parts, latent_dim=_latent_attribute(spec))
    return spec


def _latent_attribute(network: Any) -> int | None:
    sizes = [getattr(network, a) for a in LATENT_ATTRIBUTES if isinstance(getattr(network, a, None), int)]
    return sizes[0] if sizes else None


def _is_network(part: Any) -> bool:
    return callable(part) and not isinstance(part, (torch.Tensor, np.ndarray, type))


@dataclass(frozen=True)
class PathGenerator:
    """A generator as PPL runs it: images = `synthesis(mapping(z))`, or `synthesis(z)` without a mapping.

    `z`: `(B, latent_dim)`, given to the first network as `(B, *latent_shape)`, in `dtype` on `device`.
    The images: `(B, C, H, W)` float in `value_range`. With `n_classes` > 0, `synthesis(z, labels)` gets
    labels `i % n_classes` for path i, the same at both ends (the balanced labels of `gan-eval sample`).
    """

    synthesis: Callable[..., torch.Tensor]
    mapping: Callable[..., torch.Tensor] | None
    latent_dim: int
    latent_shape: tuple[int, ...]
    device: torch.device
    dtype: torch.dtype
    value_range: tuple[float, float]
    name: str
    n_classes: int = 0

    @classmethod
    def of_source(cls, source: ModuleSource) -> PathGenerator:
        """The generator behind an opened generator input (its latent size, shape, placement and value range)."""
        module = source.module
        mapping, synthesis = getattr(module, "mapping", None), getattr(module, "synthesis", None)
        split = callable(mapping) and callable(synthesis)
        return cls(
            synthesis=synthesis if split else module,
            mapping=mapping if split else None,
            latent_dim=source.latent_dim,
            latent_shape=tuple(source.latent_shape),
            device=source.device,
            dtype=source.dtype,
            value_range=source.value_range,
            name=source.name,
        )

    def modules(self) -> list[nn.Module]:
        """The networks among its callables (put in eval mode while it runs)."""
        return [part for part in (self.mapping, self.synthesis) if isinstance(part, nn.Module)]

    def cuda_devices(self) -> list[int]:
        """The CUDA devices whose random state its noise may use."""
        return [self.device.index or 0] if self.device.type == "cuda" else []


def path_generator(
    spec: Any,
    latent_dim: int | None = None,
    value_range: tuple[float, float] | None = None,
) -> PathGenerator:
    """The generator PPL runs from what a user gives: a `PathGenerator`, an opened generator input
    (`ModuleSource`), or a module, `(mapping, synthesis)` pair or module with `.mapping` and `.synthesis`
    (checked by drawing one image). Anything else is refused in one line."""
    if isinstance(spec, PathGenerator):
        return spec
    if isinstance(spec, ModuleSource):
        return PathGenerator.of_source(spec)
    spec = as_generator(spec)
    if not isinstance(spec, nn.Module):
        raise GanEvalError(f"generator= is a {type(spec).__name__}; PPL takes {GENERATOR_FORMS}")
    kwargs = {} if value_range is None else {"value_range": value_range}
    return PathGenerator.of_source(ModuleSource(spec, 1, latent_dim=latent_dim, **kwargs))


def check_path_options(options: MetricOptions) -> None:
    """Refuse, in one line, PPL options that name no known setting or are out of range."""
    for flag, value, known in (
        ("ppl_space", options.ppl_space, SPACES),
        ("ppl_interpolation", options.ppl_interpolation, INTERPOLATIONS),
        ("ppl_sampling", options.ppl_sampling, SAMPLINGS),
    ):
        if value not in known:
            raise GanEvalError(f"{flag} {value!r}: choose one of {', '.join(known)}")
    if options.ppl_samples < 2:
        raise GanEvalError(f"ppl_samples {options.ppl_samples}: PPL needs at least 2 paths")
    if options.ppl_batch < 1:
        raise GanEvalError(f"ppl_batch {options.ppl_batch}: must be at least 1")
    if not (0 < options.ppl_epsilon < 1) or not math.isfinite(options.ppl_epsilon):
        raise GanEvalError(f"ppl_epsilon {options.ppl_epsilon}: must be between 0 and 1")
    if options.ppl_resize < 0:
        raise GanEvalError(f"ppl_resize {options.ppl_resize}: a size in pixels, or 0 for none")


def missing_generator_reason(generator: PathGenerator | None, options: MetricOptions, fake_name: str) -> str | None:
    """Why PPL cannot run with this generator (None: no generator was given), or None when it can."""
    check_path_options(options)
    if generator is None:
        return (
            f"it needs the generator itself ({GENERATOR_FORMS}; CLI: --generator CKPT), "
            f"and the generated input {fake_name} is not one"
        )
    if options.ppl_space == "w" and generator.mapping is None:
        return (
            f"in w space it needs a mapping network ((mapping, synthesis), or a module with .mapping and "
            f".synthesis); {generator.name} has none (ppl_space 'z' works on any generator)"
        )
    return None


def _broadcast(t: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    """`t` `(B,)` as `(B, 1, ..., 1)` against latents `(B, ..., d)`."""
    return t.to(like.dtype).reshape(-1, *([1] * (like.dim() - 1)))


def _unit(x: torch.Tensor) -> torch.Tensor:
    return x / x.square().sum(-1, keepdim=True).sqrt().clamp_min(NORM_FLOOR)


def interpolate(a: torch.Tensor, b: torch.Tensor, t: torch.Tensor, method: str) -> torch.Tensor:
    """The point at `t` `(B,)` between latents `a` and `b` `(B, ..., d)` by `lerp`, `slerp` or `slerp_any`
    (see the module docstring), along the last dimension."""
    t = _broadcast(t, a)
    if method == "lerp":
        return a + (b - a) * t
    if method == "slerp":
        a, b = a / a.norm(dim=-1, keepdim=True), b / b.norm(dim=-1, keepdim=True)
        cos = (a * b).sum(-1, keepdim=True)
        angle = t * torch.acos(cos)
        towards = b - cos * a
        towards = towards / towards.norm(dim=-1, keepdim=True)
        point = a * torch.cos(angle) + towards * torch.sin(angle)
        return point / point.norm(dim=-1, keepdim=True)
    if method == "slerp_any":
        a_unit, b_unit = _unit(a), _unit(b)
        cos = (a_unit * b_unit).sum(-1, keepdim=True)
        degenerate = (a_unit.norm(dim=-1, keepdim=True) < NORM_FLOOR) | (b_unit.norm(dim=-1, keepdim=True) < NORM_FLOOR)
        degenerate |= (cos > 1 - NORM_FLOOR) | (cos < -1 + NORM_FLOOR)
        omega = cos.acos()
        sin_omega = omega.sin().clamp_min(NORM_FLOOR)
        point = ((1 - t) * omega).sin() / sin_omega * a + (t * omega).sin() / sin_omega * b
        return torch.where(degenerate, a + (b - a) * t, point)
    raise GanEvalError(f"ppl_interpolation {method!r}: choose one of {', '.join(INTERPOLATIONS)}")


@dataclass(frozen=True)
class PathLatents:
    """The drawn paths: ends `z0`, `z1` `(N, latent_dim)` float32 and positions `t` `(N,)` on the CPU."""

    z0: torch.Tensor
    z1: torch.Tensor
    t: torch.Tensor


def draw_paths(n: int, latent_dim: int, sampling: str, seed: int) -> PathLatents:
    """`n` seeded paths: every z0, then every z1 (standard normal), then t (0 for `end`, U[0, 1) for `full`)."""
    generator = torch.Generator().manual_seed(seed)
    z0 = torch.randn(n, latent_dim, generator=generator)
    z1 = torch.randn(n, latent_dim, generator=generator)
    t = torch.rand(n, generator=generator) if sampling == "full" else torch.zeros(n)
    return PathLatents(z0, z1, t)


def _synthesis_inputs(
    generator: PathGenerator, paths: PathLatents, rows: slice, options: MetricOptions
) -> tuple[torch.Tensor, torch.Tensor]:
    """What the synthesis network gets at t and t + ε for the paths `rows`: interpolated w in `w` space;
    interpolated latents in `z` space (mapped, when the generator has a mapping network)."""
    z0, z1 = (z[rows].to(generator.device, generator.dtype) for z in (paths.z0, paths.z1))
    t = paths.t[rows].to(generator.device, torch.float64)  # t + ε exact before the latents' own rounding
    count, shape, method = len(z0), generator.latent_shape, options.ppl_interpolation
    if options.ppl_space == "w":
        assert generator.mapping is not None
        w0, w1 = generator.mapping(torch.cat([z0, z1]).view(2 * count, *shape)).chunk(2)
        return interpolate(w0, w1, t, method), interpolate(w0, w1, t + options.ppl_epsilon, method)
    start, end = (interpolate(z0, z1, at, method).view(count, *shape) for at in (t, t + options.ppl_epsilon))
    if generator.mapping is not None:
        start, end = generator.mapping(torch.cat([start, end])).chunk(2)
    return start, end


def _for_similarity(
    images: Any, generator: PathGenerator, options: MetricOptions, dtype: torch.dtype, min_size: int
) -> torch.Tensor:
    """Generator output as the similarity compares it: RGB 0..255 in `dtype`, face-cropped and resized as asked."""
    if not isinstance(images, torch.Tensor) or images.dim() != 4 or images.shape[1] not in (1, 3):
        shape = tuple(images.shape) if isinstance(images, torch.Tensor) else type(images).__name__
        raise GanEvalError(f"{generator.name} gave {shape}; PPL needs images (B, 1 or 3, H, W)")
    if not torch.isfinite(images).all():
        raise GanEvalError(f"{generator.name}: its images hold NaN or Inf values")
    low, high = generator.value_range
    images = (images.to(dtype) - low) * (255 / (high - low))
    if images.shape[1] == 1:
        images = images.repeat(1, 3, 1, 1)
    if options.ppl_crop:
        height, width = images.shape[2:]
        if height != width:
            raise GanEvalError(f"ppl_crop: the face crop needs square images; {generator.name} gives {height}x{width}")
        c = height // 8
        images = images[:, :, 3 * c : 7 * c, 2 * c : 6 * c]
    size = options.ppl_resize
    if size:
        larger = images.shape[2] > size and images.shape[3] > size
        mode = {"mode": "area"} if larger else {"mode": "bilinear", "align_corners": False}
        images = F.interpolate(images, (size, size), **mode)
    if min(images.shape[2:]) < min_size:
        raise GanEvalError(
            f"{generator.name}: PPL compares images of {tuple(images.shape[2:])} px, smaller than the "
            f"{min_size} px its similarity needs; give ppl_resize (e.g. 64)"
        )
    return images


@torch.no_grad()
def path_lengths(
    generator: PathGenerator, similarity: SampleSimilarity, options: MetricOptions, progress: bool = False
) -> np.ndarray:
    """Each path's distance between t and t + ε, over ε², `(ppl_samples,)` float64 (see the module doc)."""
    from tqdm import tqdm

    check_path_options(options)
    n, batch = options.ppl_samples, options.ppl_batch
    paths = draw_paths(n, generator.latent_dim, options.ppl_sampling, options.seed)
    dtype = torch.float64 if generator.dtype == torch.float64 else torch.float32
    distance_of = similarity.network.to(generator.device, dtype)
    lengths = []
    with contextlib.ExitStack() as stack:
        for module in generator.modules():
            stack.enter_context(evaluating(module))
        bar = stack.enter_context(
            tqdm(total=n, unit="path", desc=f"PPL {generator.name}", disable=not progress, file=sys.stderr)
        )
        for b, first in enumerate(range(0, n, batch)):
            rows = slice(first, min(first + batch, n))
            count = rows.stop - rows.start
            labels = None
            if generator.n_classes:
                labels = (torch.arange(rows.start, rows.stop) % generator.n_classes).repeat(2).to(generator.device)
            with seeded_random_state(batch_seed(options.seed, b), generator.cuda_devices()):
                start, end = _synthesis_inputs(generator, paths, rows, options)
                inputs = torch.cat([start, end])
                images = generator.synthesis(inputs) if labels is None else generator.synthesis(inputs, labels)
            images = _for_similarity(images, generator, options, dtype, similarity.min_size)
            distance = distance_of(images[:count], images[count:])
            lengths.append((distance.double() / options.ppl_epsilon**2).cpu().numpy())
            bar.update(count)
    return np.concatenate(lengths)


def sample_path_lengths(generator: PathGenerator, options: MetricOptions, progress: bool = False) -> FeatureStats:
    """The path lengths of `generator` as the `PATH_LENGTHS` kind: `FeatureStats` of `(N, 1)` float64 values,
    which it also carries (`features`), with the similarity's settings (name, weights' sha256) in `meta`."""
    check_path_options(options)
    similarity = load_sample_similarity(PPL_SIMILARITY, progress)
    lengths = path_lengths(generator, similarity, options, progress)[:, None]
    stats = FeatureStats(1)
    stats.update(lengths)
    stats.features = lengths
    stats.meta.update(similarity.settings, kind=PATH_LENGTHS, source=generator.name)
    return stats
