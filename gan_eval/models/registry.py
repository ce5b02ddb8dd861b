"""The reference models by name: objective, optimiser and architecture sizes of each.

Hyper-parameters follow the papers where they fit a small CPU budget:
`gan` Goodfellow et al. 2014 (as the PyTorch MNIST example trains it),
`dcgan` Radford et al. 2016, `wgan` Arjovsky et al. 2017 (Algorithm 1:
RMSprop 5e-5, clipping 0.01, 5 critic steps), `wgan-gp` Gulrajani et al. 2017
(λ = 10, Adam 1e-4 with betas (0.5, 0.9) as in their released code, 5 critic
steps), `lsgan` Mao et al. 2017, `hinge` Lim & Ye 2017 with Miyato et al.
2018's spectrally normalised discriminator, `cgan` Mirza & Osindero 2014 on
the DCGAN nets. Points (2-D sets) always use MLPs; images use the DCGAN
convolutional nets, except `gan`, which stays an MLP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class ModelSpec:
    """How one named model trains: loss, its hyper-parameters, optimiser, critic steps per generator step."""

    loss: str
    optimizer: dict[str, Any]
    n_critic: int = 1
    clip: float | None = None
    gp_weight: float | None = None
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
}

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
