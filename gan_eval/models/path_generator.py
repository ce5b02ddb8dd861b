"""A saved generator as perceptual path length's generator: a `gan-eval train` checkpoint folder or a TorchScript
file, for `gan-eval report --generator` (the images it is judged on come from `generator_file`)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import torch

from gan_eval.digest import file_sha256
from gan_eval.errors import GanEvalError
from gan_eval.models.checkpoint import WEIGHTS_FILE, load_generator
from gan_eval.models.generator_file import open_generator_file
from gan_eval.path_sampling import PathGenerator
from gan_eval.sources.generated import MODULE_VALUE_RANGE


def open_path_generator(
    path: str | os.PathLike[str], latent_dim: int | None = None
) -> tuple[PathGenerator, dict[str, Any]]:
    """The generator of a checkpoint folder or TorchScript file as PPL runs it, and the settings that travel with
    its numbers (`generator`: the path, `generator_sha256`: of `generator.pt` or of the file).

    A checkpoint's generator runs on the CPU on `(B, latent_dim)` latents with output in [-1, 1]; a
    class-conditional one gets the balanced labels `i % n_classes` (the same at both ends of path i). A
    TorchScript file is loaded as `generator_file.open_generator_file` loads it (which runs its code).
    """
    folder = Path(path)
    if not folder.is_dir():
        source, settings = open_generator_file(path, 1, latent_dim=latent_dim)
        settings.pop("latent_seed")  # PPL draws its own latents, from MetricOptions.seed
        return PathGenerator.of_source(source), settings
    if latent_dim is not None:
        raise GanEvalError(f"{folder} is a checkpoint folder, whose config.json gives the latent size; drop it")
    generator, config = load_generator(folder)
    if not config.is_images:
        raise GanEvalError(f"generator {folder} makes 2-D points; PPL needs an image generator")
    parameter = next(generator.parameters())
    path_generator = PathGenerator(
        synthesis=generator,
        mapping=None,
        latent_dim=config.latent_dim,
        latent_shape=(config.latent_dim,),
        device=parameter.device,
        dtype=parameter.dtype if parameter.is_floating_point() else torch.float32,
        value_range=MODULE_VALUE_RANGE,
        name=f"generator {folder}",
        n_classes=config.n_classes,
    )
    return path_generator, {"generator": os.fspath(path), "generator_sha256": file_sha256(folder / WEIGHTS_FILE)}
