"""Generators of "Reliability, round three": every latent used once, in order; a DataLoader counted as it yields.

The images are checked exactly against ones made here from the documented
seeding (latents `torch.randn(n, d, generator=torch.Generator().manual_seed(seed))`
through the module, converted as `round((x + 1) * 127.5)` in float64), over
several batches with a short last one, so a batch whose latents are shifted by
one row (one latent used twice, another never) fails. A DataLoader with
`drop_last=True` gives only its whole batches: its count and its images are
those of the first whole batches. A generator that draws noise inside
`forward` gives the same FID through `gan_eval.fid` twice, with the real
network, and drawing its images leaves the caller's random state as it was
(checked with the stand-in extractor: the real network's first forward pass
draws from torch's global generator itself).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from stand_in import StandInExtractor
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import gan_eval
from gan_eval.extraction import ExtractionOptions
from gan_eval.sources import ModuleSource, open_input

REAL = np.random.default_rng(1).integers(0, 256, (40, 3, 8, 8), dtype=np.uint8)
LATENT_DIM = 6


class LinearGenerator(nn.Module):
    """`(B, 6)` latents -> `(B, 3, 8, 8)` in [-1, 1], each image a function of its own latent only."""

    def __init__(self) -> None:
        super().__init__()
        self.latent_dim = LATENT_DIM
        with torch.random.fork_rng():
            torch.manual_seed(0)
            self.linear = nn.Linear(LATENT_DIM, 3 * 8 * 8)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(z)).view(-1, 3, 8, 8)


class NoisyGenerator(LinearGenerator):
    """LinearGenerator that adds noise drawn inside `forward`, as StyleGAN's noise inputs are."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.linear(z)
        return torch.tanh(x + 0.5 * torch.randn_like(x)).view(-1, 3, 8, 8)


def documented_images(generator: nn.Module, n: int, seed: int) -> np.ndarray:
    """`(n, 8, 8, 3)` uint8: `G(z)` for the documented latents, in one call, as `round((x + 1) * 127.5)`."""
    z = torch.randn(n, LATENT_DIM, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        images = generator(z).permute(0, 2, 3, 1).numpy().astype(np.float64)
    return np.rint((images + 1) * 127.5).astype(np.uint8)


def stand_in_fid(real, fake, **kwargs) -> gan_eval.Result:
    return gan_eval.evaluate(
        real,
        fake,
        ["fid"],
        extractor=StandInExtractor(),
        progress=False,
        extraction=ExtractionOptions(cache=False),
        **kwargs,
    )


# --- every latent used once, in order -------------------------------------------------------------------


@pytest.mark.parametrize(("n", "batch_size"), [(23, 5), (17, 4), (9, 8)])
def test_module_images_are_g_of_the_documented_latents_row_by_row(n: int, batch_size: int) -> None:
    generator = LinearGenerator()
    expected = documented_images(generator, n, seed=4)
    source = ModuleSource(generator, n=n, seed=4, batch_size=batch_size)
    assert np.array_equal(source.load_range(0, n), expected)
    # read again across batch boundaries, as the pipeline's chunks may fall
    fresh = ModuleSource(generator, n=n, seed=4, batch_size=batch_size)
    parts = [fresh.load_range(start, min(start + 3, n)) for start in range(0, n, 3)]
    assert np.array_equal(np.concatenate(parts), expected)


def test_module_generator_through_evaluate_over_default_batches() -> None:
    """1,103 images: three batches of the default 500, the last of 103."""
    generator = LinearGenerator()
    result = stand_in_fid(REAL, generator, n=1103, latent_seed=9)
    expected = documented_images(generator, 1103, seed=9).transpose(0, 3, 1, 2).copy()
    assert result.n_fake == 1103
    assert result["fid"] == stand_in_fid(REAL, expected)["fid"]


# --- a DataLoader that drops its last partial batch -----------------------------------------------------


def test_dataloader_with_drop_last_gives_its_whole_batches_only() -> None:
    loader = DataLoader(TensorDataset(torch.from_numpy(REAL)), batch_size=7, drop_last=True)  # 5 batches of 7
    source = open_input(loader)
    assert len(source) == 35
    assert np.array_equal(source.load_range(0, 35), REAL[:35].transpose(0, 2, 3, 1))
    result = stand_in_fid(loader, REAL[::-1].copy())
    assert result.n_real == 35
    assert result["fid"] == stand_in_fid(REAL[:35].copy(), REAL[::-1].copy())["fid"]
    with pytest.raises(gan_eval.GanEvalError, match="holds 35 images; n=36 asked for more"):
        open_input(loader, n=36)


# --- noise drawn inside the generator, through the public function with the real network ----------------


@pytest.mark.inception
@pytest.mark.filterwarnings("ignore:.*covariance is rank-deficient:gan_eval.errors.GanEvalWarning")
def test_noisy_generator_gives_the_same_fid_twice(real_weights: Path) -> None:
    extraction = ExtractionOptions(weights=str(real_weights), device="cpu", cache=False, progress=False)
    generator = NoisyGenerator()
    torch_state = torch.get_rng_state()
    first = gan_eval.fid(REAL[:10], generator, n=10, extraction=extraction)
    assert torch.equal(torch.get_rng_state(), torch_state)  # building the network draws its own random state
    again = gan_eval.fid(REAL[:10], generator, n=10, extraction=extraction)
    assert first.fid == again.fid


def test_noisy_generator_leaves_the_random_state_as_it_was() -> None:
    generator = NoisyGenerator()
    torch_state, numpy_state = torch.get_rng_state(), np.random.get_state()[1].copy()
    first = stand_in_fid(REAL, generator, n=30)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state)
    assert stand_in_fid(REAL, generator, n=30)["fid"] == first["fid"]


def test_a_folder_input_with_decode_workers_leaves_the_random_state_as_it_was(tmp_path: Path, stand_in) -> None:
    """The DataLoader that decodes a folder seeds its workers from its own generator, not the caller's."""
    from PIL import Image

    for i, pixels in enumerate(REAL[:6]):
        Image.fromarray(pixels.transpose(1, 2, 0)).save(tmp_path / f"{i}.png")
    torch_state = torch.get_rng_state()
    extraction = ExtractionOptions(cache=False, progress=False, workers=1)
    gan_eval.evaluate(tmp_path, tmp_path, "fid", extractor=stand_in, extraction=extraction)
    assert torch.equal(torch.get_rng_state(), torch_state)
