"""The user's own generator as an input: a callable, an `nn.Module`, a DataLoader (stand-in extractor).

Each FID is checked against the FID of the same images given as an array,
the images made here from the documented seeding (latents
`torch.randn(n, d, generator=torch.Generator().manual_seed(seed))`, a
callable's batch `b` seeded by `SeedSequence([seed, b])`).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from stand_in import StandInExtractor
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

import gan_eval
from gan_eval.cache import FeatureCache
from gan_eval.errors import GanEvalError
from gan_eval.extraction import ExtractionOptions
from gan_eval.sources import CallableSource, ModuleSource, open_input

REAL = np.random.default_rng(0).integers(0, 256, (40, 3, 8, 8), dtype=np.uint8)


class TinyGenerator(nn.Module):
    """`(B, 4)` latents -> `(B, 3, 8, 8)` in [-1, 1]; records every batch's size, mode and gradient mode."""

    def __init__(self, latent_dim: int = 4) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        torch.manual_seed(0)
        self.linear = nn.Linear(latent_dim, 3 * 8 * 8)
        self.batches: list[int] = []
        self.modes: set[tuple[bool, bool]] = set()

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        self.batches.append(len(z))
        self.modes.add((self.training, torch.is_grad_enabled()))
        return torch.tanh(self.linear(z)).view(-1, 3, 8, 8)


def random_images(n: int, seed: int) -> np.ndarray:
    """A callable generator: `n` uint8 `(3, 8, 8)` images from `seed`."""
    return np.random.default_rng(seed).integers(0, 256, (n, 3, 8, 8), dtype=np.uint8)


def fid(real, fake, extraction: ExtractionOptions | None = None, **kwargs) -> gan_eval.Result:
    return gan_eval.evaluate(
        real,
        fake,
        ["fid"],
        extractor=StandInExtractor(),
        progress=False,
        extraction=(extraction or ExtractionOptions()).with_changes(cache=False),
        **kwargs,
    )


def module_images(generator: nn.Module, n: int, seed: int, latent_dim: int = 4) -> np.ndarray:
    latents = torch.randn(n, latent_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return generator(latents).numpy()


def test_module_generator_equals_its_images_as_an_array() -> None:
    generator = TinyGenerator()
    result = fid(REAL, generator, latent_seed=3)
    assert result.n_fake == len(REAL)  # default n: as many as the other side
    expected = fid(
        REAL, module_images(TinyGenerator(), len(REAL), 3), extraction=ExtractionOptions(value_range=(-1, 1))
    )
    assert result["fid"] == expected["fid"]
    assert result.settings["generated"] == {
        "fake": {
            "generator": "generator TinyGenerator",
            "kind": "module",
            "n": 40,
            "batch_size": 500,
            "latent_seed": 3,
            "latent_dim": 4,
            "value_range": [-1.0, 1.0],
        }
    }


def test_callable_equals_its_images_as_an_array() -> None:
    source = CallableSource(random_images, n=30, seed=5, batch_size=8)
    seeds = [int(np.random.SeedSequence([5, b]).generate_state(1)[0]) for b in range(4)]
    expected = np.concatenate([random_images(k, s) for k, s in zip((8, 8, 8, 6), seeds, strict=True)])
    assert fid(REAL, source)["fid"] == fid(REAL, expected)["fid"]


def test_dataloader_equals_its_images_as_an_array() -> None:
    dataset = TensorDataset(torch.from_numpy(REAL).float() / 255, torch.zeros(len(REAL)))
    loader = DataLoader(dataset, batch_size=7)  # (images, labels) batches, the last one short
    result = fid(loader, REAL[::-1].copy())
    assert result.n_real == len(REAL)
    assert result["fid"] == fid(REAL, REAL[::-1].copy())["fid"]
    assert result.settings["generated"]["real"]["kind"] == "iterable"


def test_iterable_of_unknown_length_needs_n_and_gives_its_first_n() -> None:
    batches = (torch.from_numpy(REAL[i : i + 16]) for i in range(0, 40, 16))
    with pytest.raises(GanEvalError, match="give n="):
        open_input(batches)
    batches = (torch.from_numpy(REAL[i : i + 16]) for i in range(0, 40, 16))
    assert fid(batches, REAL, n=20)["fid"] == fid(REAL[:20], REAL)["fid"]


def test_seeded_runs_are_equal_and_seeds_differ() -> None:
    first, again = fid(REAL, TinyGenerator(), n=30), fid(REAL, TinyGenerator(), n=30)
    assert first["fid"] == again["fid"]
    assert fid(REAL, TinyGenerator(), n=30, latent_seed=1)["fid"] != first["fid"]
    assert fid(REAL, random_images, n=30)["fid"] == fid(REAL, random_images, n=30)["fid"]


def test_n_is_respected_and_defaults_to_the_other_side() -> None:
    assert fid(REAL, TinyGenerator(), n=25).n_fake == 25
    assert fid(random_images, REAL[:33]).n_real == 33
    statistics = gan_eval.compute_statistics(
        REAL[:35], StandInExtractor(), progress=False, extraction=ExtractionOptions(cache=False)
    )
    assert fid(statistics, random_images).n_fake == 35
    with pytest.raises(GanEvalError, match="give n="):
        fid(random_images, TinyGenerator())


def test_module_generator_holds_one_batch_at_a_time() -> None:
    generator = TinyGenerator()
    source = ModuleSource(generator, n=2000, batch_size=100)
    result = fid(REAL, source, extraction=ExtractionOptions(batch_size=64))
    assert result.n_fake == 2000
    assert generator.batches == [100] * 20  # each batch drawn once, never more than one batch's latents
    assert source._last is not None and len(source._last[1]) == 100  # only the last batch is kept
    assert generator.modes == {(False, False)}  # eval mode, no gradients
    assert generator.training  # back to the mode it had


def test_module_needs_a_latent_size() -> None:
    generator = nn.Sequential(nn.Linear(4, 3 * 8 * 8), nn.Tanh(), nn.Unflatten(1, (3, 8, 8)))
    with pytest.raises(GanEvalError, match=r"generator Sequential: cannot tell its latent size .* give latent_dim="):
        fid(REAL, generator)
    assert fid(REAL, generator, latent_dim=4).n_fake == len(REAL)


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (
            lambda n, seed: torch.full((n, 3, 8, 8), float("nan")),
            r"generator <lambda> \(images 0..39\): array holds NaN",
        ),
        (lambda n, seed: torch.full((n, 3, 8, 8), 2.0), r"generator <lambda> \(images 0..39\): float values span"),
        (lambda n, seed: np.zeros((n - 1, 3, 8, 8), np.uint8), "gave 39 images for 40 asked"),
        (lambda n, seed: "images", "generator <lambda> .* is a str; expected images as an array or tensor"),
    ],
)
def test_bad_generator_output_names_the_generator(make, message: str) -> None:
    with pytest.raises(GanEvalError, match=message):
        fid(REAL, make)


@pytest.mark.parametrize("spec", [5, 2.5, None, b"bytes", {"a": 1}])
def test_other_types_are_refused_with_what_is_accepted(spec) -> None:
    accepted = (
        "accepted: a path, a built-in set name, an array or tensor, statistics, a callable \\(n, seed\\) -> images, "
        "an nn.Module generator, or an iterable of image batches"
    )
    with pytest.raises(GanEvalError, match=f"is a {type(spec).__name__}; {accepted}"):
        fid(REAL, spec)


def test_generated_inputs_are_never_cached(tmp_path) -> None:
    cache = FeatureCache(tmp_path / "cache")
    gan_eval.evaluate(
        REAL,
        random_images,
        ["fid"],
        extractor=StandInExtractor(),
        progress=False,
        extraction=ExtractionOptions(cache=cache),
    )
    assert len(cache.entries()) == 1  # the array only
