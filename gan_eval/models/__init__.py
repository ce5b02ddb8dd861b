"""Reference GAN generators: architectures, losses, checkpoints and sampling.

`load_generator(folder)` rebuilds a trained generator from its checkpoint
folder; `sample(generator, config, n, seed)` draws from it. Training lives in
`gan_eval.models.training`.
"""

from gan_eval.models.checkpoint import (
    GeneratorConfig,
    build_discriminator,
    build_generator,
    load_generator,
    save_generator,
)
from gan_eval.models.registry import MODELS, ModelSpec
from gan_eval.models.sampling import balanced_labels, sample

__all__ = [
    "MODELS",
    "GeneratorConfig",
    "ModelSpec",
    "balanced_labels",
    "build_discriminator",
    "build_generator",
    "load_generator",
    "sample",
    "save_generator",
]
