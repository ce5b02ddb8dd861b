"""A saved generator as an input: a `gan-eval train` checkpoint folder or a TorchScript generator file.

What the gate's `--generator` opens: `n` seeded images as an image source,
with the settings (path, sha256, latent seed and size) that travel with
numbers made from them.
"""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import torch

from gan_eval.digest import file_sha256
from gan_eval.errors import GanEvalError
from gan_eval.models.checkpoint import WEIGHTS_FILE, load_generator
from gan_eval.models.sampling import sample
from gan_eval.sources.arrays import ArraySource
from gan_eval.sources.base import ImageSource
from gan_eval.sources.generated import ModuleSource


def open_generator_file(
    path: str | os.PathLike[str],
    n: int,
    latent_seed: int = 0,
    latent_dim: int | None = None,
) -> tuple[ImageSource, dict[str, Any]]:
    """`n` images of a saved generator, and the settings that travel with numbers made from them.

    `path`: a `gan-eval train` checkpoint folder (sampled as `gan-eval sample`
    does), or a TorchScript file of a generator `G(z)` with outputs in
    [-1, 1] (loaded with `torch.jit.load`, which runs the file's code; its
    latent size is `latent_dim` or the module's attribute). Settings:
    `generator` (the path), `generator_sha256` (of `generator.pt`, or of the
    file) and `latent_seed`.
    """
    settings: dict[str, Any] = {"latent_seed": latent_seed, "generator": os.fspath(path)}
    path = Path(path)
    if path.is_dir():
        if latent_dim is not None:
            raise GanEvalError(
                f"{path} is a checkpoint folder, whose config.json gives the latent size; drop the latent size"
            )
        generator, config = load_generator(path)
        if not config.is_images:
            raise GanEvalError(f"generator {path} makes 2-D points; only image generators can be evaluated")
        try:
            samples = sample(generator, config, n, latent_seed=latent_seed)
        except GanEvalError as exc:  # NaN or out-of-range output: name the checkpoint it came from
            raise GanEvalError(f"generator {path}: {exc}") from None
        settings["generator_sha256"] = file_sha256(path / WEIGHTS_FILE)
        return ArraySource(samples, f"samples of {path}"), settings
    if not path.is_file():
        raise GanEvalError(f"generator {path} does not exist (expected a checkpoint folder or a TorchScript file)")
    try:
        with warnings.catch_warnings():  # torch marks TorchScript deprecated; the user's file is TorchScript
            warnings.simplefilter("ignore", FutureWarning)
            module = torch.jit.load(str(path), map_location="cpu")
    except Exception as exc:  # torch reports unreadable archives with several exception types
        reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise GanEvalError(f"{path}: not a TorchScript generator ({reason[:200]})") from None
    source = ModuleSource(module, n, latent_seed, latent_dim, name=f"generator {path}")
    settings.update(generator_sha256=file_sha256(path), latent_dim=source.latent_dim)
    return source, settings
