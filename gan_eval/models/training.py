"""Training the reference generators: one seeded PyTorch loop for every model in `gan_eval.models`.

Each generator step is preceded by `n_critic` discriminator steps (Arjovsky et
al. 2017, Algorithm 1; Gulrajani et al. 2017, Algorithm 1; 1 for the other
losses, as in Goodfellow et al. 2014 with k = 1). The objectives are the pure
functions of `gan_eval.models.losses`; a relativistic one (`rsgan`, `ragan`:
Jolicoeur-Martineau 2019) also reads the discriminator's outputs on a real
batch in the generator step, a fresh batch through the discriminator as it is
after its own step, held constant. A loss with an `r1_weight` γ adds
γ/2 times the R1 penalty on the real batch to the discriminator's loss (2-D
`hinge`). The learning rate is constant, except where the optimizer settings
name a `final_lr` (2-D `wgan-gp` and `hinge`): it then decays exponentially to
it over `config.steps`, so such a run is not the start of a longer one.
Everything random comes from the seed:
the initial weights and dropout/spectral-norm state from `torch.manual_seed`,
the noise, labels and data batches from two CPU `torch.Generator`s, so a seed
gives the same weights bit for bit on one machine and the same noise on any
device.

Front ends plug in without touching the math: `Trainer` exposes `generator`
and `discriminator` before training starts (to attach hooks), and `run` calls
`on_step(step, losses, generator, discriminator)` after every generator step.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gan_eval.datasets.torchvision_disk import parse_spec, torchvision_images
from gan_eval.datasets.toy2d import GRID25, RING8, Mixture2D
from gan_eval.errors import GanEvalError
from gan_eval.models.checkpoint import GeneratorConfig, build_discriminator, build_generator
from gan_eval.models.losses import LOSSES, clip_weights, gradient_penalty, r1_penalty
from gan_eval.models.registry import MODELS, architectures, model_spec
from gan_eval.version import __version__

POINT_BATCH = 256
IMAGE_BATCH = 64

StepCallback = Callable[[int, dict[str, float], nn.Module, nn.Module], None]


@dataclass(frozen=True)
class TrainingData:
    """A training set: `draw(n, rng)` returns `(n, *shape)` float32 samples and `(n,)` int64 labels or None.

    Images are scaled to [-1, 1] (NCHW); points are in data units. `n_classes` is 0
    for unlabelled data.
    """

    name: str
    kind: str
    shape: tuple[int, ...]
    n_classes: int
    draw: Callable[[int, torch.Generator], tuple[torch.Tensor, torch.Tensor | None]]


def image_training_data(name: str, images: np.ndarray, labels: np.ndarray | None, n_classes: int) -> TrainingData:
    """A fixed image set, uint8 `(N, H, W, C)`, drawn from uniformly with replacement."""
    pixels = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1
    targets = None if labels is None else torch.from_numpy(np.asarray(labels, dtype=np.int64))

    def draw(n: int, rng: torch.Generator) -> tuple[torch.Tensor, torch.Tensor | None]:
        index = torch.randint(len(pixels), (n,), generator=rng)
        return pixels[index], None if targets is None else targets[index]

    return TrainingData(name, "images", tuple(pixels.shape[1:]), n_classes, draw)


def point_training_data(mixture: Mixture2D) -> TrainingData:
    """A 2-D mixture, sampled afresh at every draw: `(n, 2)` float32 points, no labels."""
    centres = torch.from_numpy(np.asarray(mixture.centres, dtype=np.float32))

    def draw(n: int, rng: torch.Generator) -> tuple[torch.Tensor, None]:
        modes = torch.randint(mixture.num_modes, (n,), generator=rng)
        return centres[modes] + mixture.sigma * torch.randn(n, 2, generator=rng), None

    return TrainingData(mixture.name, "points", (2,), 0, draw)


def _digits() -> TrainingData:
    from gan_eval.datasets.digits import digits_images, digits_labels

    return image_training_data("digits", digits_images("train"), digits_labels("train"), 10)


def _stacked_digits() -> TrainingData:
    """Stacked digits with uniform modes: per channel a uniform class, then a uniform train image of it.

    The distribution that `stacked-digits:train` is a stratified sample of (`gan_eval.datasets.stacked_digits`).
    """
    from gan_eval.datasets.digits import digits_images, digits_labels

    labels = torch.from_numpy(digits_labels("train"))
    order = torch.argsort(labels, stable=True)
    grey = torch.from_numpy(digits_images("train")[..., 0].copy()).float()[order] / 127.5 - 1
    counts = torch.bincount(labels, minlength=10)
    starts = torch.cumsum(counts, 0) - counts

    def draw(n: int, rng: torch.Generator) -> tuple[torch.Tensor, None]:
        digit = torch.randint(10, (n, 3), generator=rng)
        within = (torch.rand(n, 3, generator=rng, dtype=torch.float64) * counts[digit]).long()
        return grey[starts[digit] + within], None

    return TrainingData("stacked-digits", "images", (3, 32, 32), 0, draw)


def _user_images(path: str) -> np.ndarray:
    """Every image of a folder, `.zip` or array file as `(N, 32, 32, 3)` uint8; other sizes are refused by name."""
    from gan_eval.sources import load_32x32_images, open_input
    from gan_eval.stats import FeatureStats

    source = open_input(path)
    if isinstance(source, FeatureStats):
        raise GanEvalError(f"--data {path}: a statistics file holds no images to train on")
    return load_32x32_images(source, "the reference nets")


TRAINING_SETS: dict[str, Callable[[], TrainingData]] = {
    "ring8": lambda: point_training_data(RING8),
    "grid25": lambda: point_training_data(GRID25),
    "digits": _digits,
    "stacked-digits": _stacked_digits,
}


def training_data(name: str) -> TrainingData:
    """The named training set (`ring8`, `grid25`, `digits` = digits:train, `stacked-digits`, or torchvision's
    MNIST / CIFAR-10 files on disk as `mnist:SPLIT@ROOT`, `cifar10:SPLIT@ROOT`: 32x32 RGB with 10 classes)."""
    if name in TRAINING_SETS:
        return TRAINING_SETS[name]()
    if parse_spec(name) is not None:
        images, labels = torchvision_images(name)
        return image_training_data(name, images, labels, 10)
    if Path(name).exists():
        return image_training_data(name, _user_images(name), None, 0)
    raise GanEvalError(
        f"--data {name}: unknown data set; choose one of {', '.join(TRAINING_SETS)}, "
        "mnist:SPLIT@ROOT or cifar10:SPLIT@ROOT (torchvision's files already on disk), or a folder, .zip or "
        "array of 32x32 images"
    )


def make_config(
    model: str, data: TrainingData, steps: int, seed: int, batch_size: int | None = None
) -> GeneratorConfig:
    """The full description of a training run of `model` on `data`."""
    if model not in MODELS:
        raise GanEvalError(f"unknown model {model!r}; choose one of {', '.join(MODELS)}")
    spec = model_spec(model, data.kind)
    if spec.conditional and data.n_classes == 0:
        raise GanEvalError(f"{model} is class-conditional but data set {data.name} has no labels")
    generator, discriminator = architectures(model, data.kind, data.shape, data.n_classes)
    if batch_size is None:
        batch_size = POINT_BATCH if data.kind == "points" else IMAGE_BATCH
    return GeneratorConfig(
        model=model,
        dataset=data.name,
        data={"kind": data.kind, "shape": list(data.shape), "n_classes": data.n_classes},
        generator=generator,
        discriminator=discriminator,
        loss={
            "name": spec.loss,
            "n_critic": spec.n_critic,
            "clip": spec.clip,
            "gp_weight": spec.gp_weight,
            "r1_weight": spec.r1_weight,
        },
        optimizer=dict(spec.optimizer),
        batch_size=batch_size,
        steps=steps,
        seed=seed,
        gan_eval_version=__version__,
    )


def _dcgan_init(module: nn.Module) -> None:
    """Radford et al. 2016: weights from N(0, 0.02); batch-norm scales from N(1, 0.02)."""
    if isinstance(module, nn.Conv2d | nn.ConvTranspose2d):
        nn.init.normal_(module.weight, 0.0, 0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


def _optimizer(settings: dict, parameters) -> torch.optim.Optimizer:
    if settings["name"] == "adam":
        return torch.optim.Adam(parameters, lr=settings["lr"], betas=tuple(settings["betas"]))
    if settings["name"] == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=settings["lr"])
    raise ValueError(f"unknown optimizer {settings['name']!r}")


class Trainer:
    """Both nets, their optimisers and the random streams of one seeded training run on `device`."""

    def __init__(self, config: GeneratorConfig, data: TrainingData, device: str | torch.device = "cpu") -> None:
        self.config = config
        self.data = data
        self.device = torch.device(device)
        torch.manual_seed(config.seed)
        self.generator = build_generator(config)
        self.discriminator = build_discriminator(config)
        if config.generator["type"] == "conv32":
            self.generator.apply(_dcgan_init)
            self.discriminator.apply(_dcgan_init)
        self.generator.to(self.device).train()
        self.discriminator.to(self.device).train()
        self.opt_g = _optimizer(config.optimizer, self.generator.parameters())
        self.opt_d = _optimizer(config.optimizer, self.discriminator.parameters())
        self.objective = LOSSES[config.loss["name"]]
        self.noise_rng = torch.Generator().manual_seed(config.seed)
        self.data_rng = torch.Generator().manual_seed(config.seed + 1)
        self.step = 0

    def _noise(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        z = torch.randn(n, self.config.latent_dim, generator=self.noise_rng).to(self.device)
        if not self.config.n_classes:
            return z, None
        labels = torch.randint(self.config.n_classes, (n,), generator=self.noise_rng)
        return z, labels.to(self.device)

    def _real_batch(self, n: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        real, labels = self.data.draw(n, self.data_rng)
        labels = None if labels is None or not self.config.n_classes else labels.to(self.device)
        return real.to(self.device), labels

    def _discriminator_step(self) -> dict[str, float]:
        n = self.config.batch_size
        real, real_labels = self._real_batch(n)
        z, fake_labels = self._noise(n)
        with torch.no_grad():
            fake = self.generator(z, fake_labels)
        r1_weight = self.config.loss.get("r1_weight")
        if r1_weight:
            real.requires_grad_(True)
        real_out = self.discriminator(real, real_labels)
        fake_out = self.discriminator(fake, fake_labels)
        loss = self.objective.d_loss(real_out, fake_out)
        stats = {"d_real": real_out.mean().item(), "d_fake": fake_out.mean().item()}
        weight = self.config.loss.get("gp_weight")
        if weight:
            mix = torch.rand(n, generator=self.noise_rng).to(self.device)
            penalty = gradient_penalty(lambda x: self.discriminator(x, real_labels), real, fake, mix)
            loss = loss + weight * penalty
            stats["gradient_penalty"] = penalty.item()
        if r1_weight:
            penalty = r1_penalty(real, real_out)
            loss = loss + r1_weight / 2 * penalty
            stats["r1_penalty"] = penalty.item()
        self.opt_d.zero_grad(set_to_none=True)
        loss.backward()
        self.opt_d.step()
        if self.config.loss.get("clip"):
            clip_weights(self.discriminator, self.config.loss["clip"])
        return {"d_loss": loss.item(), **stats}

    def _generator_step(self) -> float:
        z, labels = self._noise(self.config.batch_size)
        self.discriminator.requires_grad_(False)
        try:
            fake_out = self.discriminator(self.generator(z, labels), labels)
            real_out = None
            if self.objective.generator_reads_real:
                # A fresh real batch through the discriminator as it is after its step (the relativistic
                # GAN's released code does the same); a constant for the generator, so no graph is kept.
                real, real_labels = self._real_batch(self.config.batch_size)
                with torch.no_grad():
                    real_out = self.discriminator(real, real_labels)
            loss = self.objective.g_loss(real_out, fake_out)
            self.opt_g.zero_grad(set_to_none=True)
            loss.backward()
            self.opt_g.step()
        finally:
            self.discriminator.requires_grad_(True)
        return loss.item()

    def learning_rate(self) -> float:
        """The learning rate of both nets at the current step.

        Constant `lr`, or with `final_lr` in the optimizer settings an exponential
        decay from `lr` at step 0 to `final_lr` at step `config.steps`.
        """
        settings = self.config.optimizer
        if "final_lr" not in settings:
            return float(settings["lr"])
        progress = min(self.step / self.config.steps, 1.0)
        return float(settings["lr"] * (settings["final_lr"] / settings["lr"]) ** progress)

    def train_step(self) -> dict[str, float]:
        """`n_critic` discriminator steps, then one generator step; the losses of the last of each."""
        for optimizer in (self.opt_d, self.opt_g):
            for group in optimizer.param_groups:
                group["lr"] = self.learning_rate()
        for _ in range(self.config.loss["n_critic"]):
            losses = self._discriminator_step()
        losses["g_loss"] = self._generator_step()
        self.step += 1
        return losses

    def run(self, steps: int, on_step: StepCallback | None = None, progress: bool = True) -> dict[str, float]:
        """Train `steps` generator steps; returns the last step's losses."""
        from tqdm import tqdm

        losses: dict[str, float] = {}
        with tqdm(total=steps, desc=f"{self.config.model} on {self.data.name}", disable=not progress) as bar:
            for _ in range(steps):
                losses = self.train_step()
                if on_step is not None:
                    on_step(self.step, losses, self.generator, self.discriminator)
                bar.update(1)
                if self.step % 50 == 0 or self.step == steps:
                    bar.set_postfix(d=f"{losses['d_loss']:.3f}", g=f"{losses['g_loss']:.3f}")
        return losses


def train(
    model: str,
    data: str | TrainingData,
    steps: int,
    seed: int = 0,
    device: str | torch.device = "cpu",
    batch_size: int | None = None,
    on_step: StepCallback | None = None,
    progress: bool = True,
    on_start: Callable[[nn.Module, nn.Module], None] | None = None,
) -> tuple[nn.Module, GeneratorConfig]:
    """Train `model` on `data` (a name or a `TrainingData`); returns the generator (eval mode) and its config.

    `on_start(generator, discriminator)` runs once the nets exist, before the
    first step (to attach hooks); `on_step` after every generator step. The
    config's `training` entry records the device, the wall time in seconds,
    the intra-op thread count, the torch version and the last step's losses.
    """
    if steps < 1:
        raise GanEvalError(f"--steps {steps}: must be at least 1")
    if isinstance(data, str):
        data = training_data(data)
    config = make_config(model, data, steps, seed, batch_size)
    trainer = Trainer(config, data, device)
    if on_start is not None:
        on_start(trainer.generator, trainer.discriminator)
    start = time.perf_counter()
    losses = trainer.run(steps, on_step=on_step, progress=progress)
    record = {
        "device": str(trainer.device),
        "seconds": round(time.perf_counter() - start, 2),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "final_losses": {k: round(v, 6) for k, v in losses.items()},
    }
    return trainer.generator.eval(), replace(config, training=record)
