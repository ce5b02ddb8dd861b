"""The reference models by name: objective, optimiser and architecture sizes of each.

Hyper-parameters follow the papers where they fit a small CPU budget:
`gan` Goodfellow et al. 2014 (as the PyTorch MNIST example trains it),
`dcgan` Radford et al. 2016, `wgan` Arjovsky et al. 2017 (Algorithm 1:
RMSprop 5e-5, clipping 0.01, 5 critic steps), `wgan-gp` Gulrajani et al. 2017
(λ = 10, Adam 1e-4 with betas (0.5, 0.9) as in their released code, 5 critic
steps), `lsgan` Mao et al. 2017, `hinge` Lim & Ye 2017 with Miyato et al.
2018's spectrally normalised discriminator, `cgan` Mirza & Osindero 2014 on
the DCGAN nets, `rsgan` and `ragan` Jolicoeur-Martineau 2019 (relativistic
standard and relativistic average GAN) with the setting of the authors'
released CIFAR-10 commands: Adam 2e-4, betas (0.5, 0.999), one discriminator
step, spectral normalisation in place of the discriminator's batch norm.
Points (2-D sets) always use MLPs; images use the DCGAN convolutional nets,
except `gan`, which stays an MLP.

On the 2-D mixtures `wgan-gp` trains as in Gulrajani et al. 2017's toy
experiments (their released `gan_toy.py`: λ = 0.1, not 10; Adam betas
(0.5, 0.9), 5 critic steps, batch 256), with a start learning rate of 1e-3
decayed exponentially to 1e-5 over the run. The image setting (λ = 10,
constant 1e-4) left the generator off the ring (0 of 8 modes after 4,000
steps): with σ = 0.01 a sample is high-quality only within 0.03 of a centre,
and a constant step size keeps the samples' spread several σ wide; the
decay brings it down to the data's own: 8 of 8 ring modes, 90.7% high
quality after 8,000 steps. On grid25 this setting stays at 20 of 25 modes
and 14.1% high quality.

On the 2-D mixtures `hinge` trains with the zero-centred R1 penalty on the
real data (Mescheder et al. 2018, γ = 1) in place of spectral normalisation
(which only the convolutional nets have), one discriminator step per
generator step, and the same Adam setting and decay as 2-D `wgan-gp`. It is
the grid25 reference: 25 of 25 modes, 94.5% high quality after 40,000 steps
(about 4 CPU minutes); see docs/reference-generators.md.

On the 2-D mixtures `rsgan` and `ragan` train with the 2-D `hinge` setting
(R1 with γ = 1, Adam 1e-3 decayed to 1e-5, betas (0.5, 0.9)). The paper's
setting (constant 2e-4, betas (0.5, 0.999), no penalty) collapsed on both sets
after 8,000 steps (seed 0): `rsgan` 1 of 8 ring modes and 14 of 25 grid modes,
`ragan` 1 of 8 and 10 of 25. With the 2-D `hinge` setting 8,000 steps reach
8 of 8 ring modes, 88.5% (`rsgan`) and 89.7% (`ragan`) high quality, and
40,000 steps 25 of 25 grid modes, 95.6% and 95.9%, none collapsed.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """How one named model trains: loss, its hyper-parameters, optimiser, critic steps per generator step."""

    loss: str
    optimizer: dict[str, Any]
    n_critic: int = 1
    clip: float | None = None
    gp_weight: float | None = None
    r1_weight: float | None = None
    conditional: bool = False
    conv_norm: str = "batch"
    mlp_style: str = "relu"


_ADAM_DCGAN = {"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]}

MODELS: dict[str, ModelSpec] = {
    "gan": ModelSpec("nonsaturating", _ADAM_DCGAN, mlp_style="classic"),
    "dcgan": ModelSpec("nonsaturating", _ADAM_DCGAN),
    "wgan": ModelSpec("wasserstein", {"name": "rmsprop", "lr": 5e-5}, n_critic=5, clip=0.01),
    "wgan-gp": ModelSpec(
        "wasserstein", {"name": "adam", "lr": 1e-4, "betas": [0.5, 0.9]}, n_critic=5, gp_weight=10.0, conv_norm="none"
    ),
    "lsgan": ModelSpec("least-squares", _ADAM_DCGAN),
    "hinge": ModelSpec("hinge", _ADAM_DCGAN, conv_norm="spectral"),
    "cgan": ModelSpec("nonsaturating", _ADAM_DCGAN, conditional=True),
    "rsgan": ModelSpec("relativistic", _ADAM_DCGAN, conv_norm="spectral"),
    "ragan": ModelSpec("relativistic-average", _ADAM_DCGAN, conv_norm="spectral"),
}

# Settings that replace MODELS' on the 2-D sets (see the module docstring).
POINT_MODELS: dict[str, ModelSpec] = {
    "wgan-gp": replace(
        MODELS["wgan-gp"],
        optimizer={"name": "adam", "lr": 1e-3, "final_lr": 1e-5, "betas": [0.5, 0.9]},
        gp_weight=0.1,
    ),
    "hinge": replace(
        MODELS["hinge"],
        optimizer={"name": "adam", "lr": 1e-3, "final_lr": 1e-5, "betas": [0.5, 0.9]},
        r1_weight=1.0,
    ),
    "rsgan": replace(
        MODELS["rsgan"],
        optimizer={"name": "adam", "lr": 1e-3, "final_lr": 1e-5, "betas": [0.5, 0.9]},
        r1_weight=1.0,
    ),
    "ragan": replace(
        MODELS["ragan"],
        optimizer={"name": "adam", "lr": 1e-3, "final_lr": 1e-5, "betas": [0.5, 0.9]},
        r1_weight=1.0,
    ),
}


def model_spec(model: str, kind: str) -> ModelSpec:
    """How `model` trains on data of `kind` (`points` or `images`)."""
    if kind == "points" and model in POINT_MODELS:
        return POINT_MODELS[model]
    return MODELS[model]


POINT_LATENT_DIM = 8
POINT_HIDDEN = (128, 128, 128)
IMAGE_LATENT_DIM = 64
CONV_WIDTH = 32
CLASSIC_LATENT_DIM = 100
CLASSIC_G_HIDDEN = (256, 512, 1024)
CLASSIC_D_HIDDEN = (1024, 512, 256)
CLASSIC_DROPOUT = 0.3


def architectures(
    model: str, kind: str, shape: tuple[int, ...], n_classes: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Generator and discriminator descriptions (`{"type": ..., **constructor arguments}`) for `model` on data.

    `kind` is `points` or `images`; `shape` one sample's shape (`(2,)` or `(3, 32, 32)`);
    `n_classes` the label count of a conditional model (0 otherwise).
    """
    spec = MODELS[model]
    classes = n_classes if spec.conditional else 0
    if spec.mlp_style == "classic":
        points = kind == "points"
        generator = {
            "type": "mlp",
            "latent_dim": POINT_LATENT_DIM if points else CLASSIC_LATENT_DIM,
            "hidden": list(POINT_HIDDEN if points else CLASSIC_G_HIDDEN),
            "out_shape": list(shape),
            "activation": "leaky_relu",
            "output": "linear" if points else "tanh",
            "n_classes": classes,
        }
        discriminator = {
            "type": "mlp",
            "in_shape": list(shape),
            "hidden": list(POINT_HIDDEN if points else CLASSIC_D_HIDDEN),
            "activation": "leaky_relu",
            "dropout": CLASSIC_DROPOUT,
            "n_classes": classes,
        }
    elif kind == "points":
        generator = {
            "type": "mlp",
            "latent_dim": POINT_LATENT_DIM,
            "hidden": list(POINT_HIDDEN),
            "out_shape": list(shape),
            "activation": "relu",
            "output": "linear",
            "n_classes": classes,
        }
        discriminator = {
            "type": "mlp",
            "in_shape": list(shape),
            "hidden": list(POINT_HIDDEN),
            "activation": "relu",
            "dropout": 0.0,
            "n_classes": classes,
        }
    else:
        generator = {
            "type": "conv32",
            "latent_dim": IMAGE_LATENT_DIM,
            "width": CONV_WIDTH,
            "channels": shape[0],
            "n_classes": classes,
        }
        discriminator = {
            "type": "conv32",
            "width": CONV_WIDTH,
            "channels": shape[0],
            "norm": spec.conv_norm,
            "n_classes": classes,
        }
    return generator, discriminator
