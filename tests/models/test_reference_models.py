"""The shipped checkpoints in reference_models/: loadable pickle-free, as documented, and sampled reproducibly."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from gan_eval.models.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_generator
from gan_eval.models.sampling import sample

ROOT = Path(__file__).resolve().parents[2] / "reference_models"


@pytest.mark.parametrize(
    ("name", "model", "dataset", "steps"),
    [
        ("dcgan-digits", "dcgan", "digits", 4000),
        ("dcgan-digits-degraded", "dcgan", "digits", 1000),
        ("wgan-gp-stacked-digits", "wgan-gp", "stacked-digits", 1500),
    ],
)
def test_shipped_checkpoint(name: str, model: str, dataset: str, steps: int) -> None:
    folder = ROOT / name
    assert sorted(p.name for p in folder.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]
    assert (folder / WEIGHTS_FILE).stat().st_size < 2 * 2**20
    generator, config = load_generator(folder)
    assert (config.model, config.dataset, config.steps, config.seed) == (model, dataset, steps, 0)
    assert config.training["threads"] == 1
    images = sample(generator, config, 16, latent_seed=0)
    assert images.shape == (16, 3, 32, 32) and images.dtype == torch.uint8
    assert torch.equal(images, sample(generator, config, 16, latent_seed=0, batch_size=5))
    # Not a constant image: the generator's output varies with the noise.
    assert images.float().std(dim=0).mean() > 10


def test_the_two_checkpoints_share_the_architecture_not_the_weights() -> None:
    full, full_config = load_generator(ROOT / "dcgan-digits")
    degraded, degraded_config = load_generator(ROOT / "dcgan-digits-degraded")
    assert full_config.generator == degraded_config.generator
    assert full.state_dict().keys() == degraded.state_dict().keys()
    assert not torch.equal(full.state_dict()["net.0.weight"], degraded.state_dict()["net.0.weight"])
