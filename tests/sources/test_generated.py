"""The user's own generator as an input: a callable, an `nn.Module`, a DataLoader (stand-in extractor).

Each FID is checked against the FID of the same images given as an array,
the images made here from the documented seeding (latents
`torch.randn(n, d, generator=torch.Generator().manual_seed(seed))`, a
callable's batch `b` seeded by `SeedSequence([seed, b])`).
"""

from __future__ import annotations

import random

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
from gan_eval.models.dcgan import ConvGenerator
from gan_eval.sources import BatchIterableSource, CallableSource, ModuleSource, open_input

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


# --- randomness drawn inside the generator --------------------------------------------------------------


class NoisyGenerator(TinyGenerator):
    """TinyGenerator that adds noise inside `forward` from torch's global generator, as StyleGAN's noise inputs do."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = self.linear(z)
        return torch.tanh(x + torch.randn_like(x)).view(-1, 3, 8, 8)


def noisy_images(n: int, seed: int) -> torch.Tensor:
    """A callable that ignores its seed and draws from torch's, NumPy's and Python's global generators."""
    noise = torch.rand(n, 3, 8, 8) + torch.from_numpy(np.random.rand(n, 3, 8, 8)).float() + random.random()
    return noise / 3


def global_random_states() -> tuple:
    """torch's CPU, NumPy's and Python's global random states, comparable with `==`."""
    kind, keys, position, has_gauss, gauss = np.random.get_state()
    return torch.get_rng_state().tolist(), (kind, keys.tolist(), position, has_gauss, gauss), random.getstate()


@pytest.mark.parametrize("make", [NoisyGenerator, lambda: noisy_images], ids=["module", "callable"])
def test_noise_inside_the_generator_is_seeded_and_leaves_the_global_state(make) -> None:
    generator = make()
    before = global_random_states()
    first = open_input(generator, n=30, latent_seed=2).load_range(0, 30)
    again = open_input(generator, n=30, latent_seed=2).load_range(0, 30)
    assert global_random_states() == before
    assert np.array_equal(first, again)
    assert not np.array_equal(open_input(generator, n=30, latent_seed=3).load_range(0, 30), first)
    assert fid(REAL, generator, n=30)["fid"] == fid(REAL, generator, n=30)["fid"]
    assert global_random_states() == before


def test_noise_of_a_batch_does_not_depend_on_the_batches_drawn_before() -> None:
    """Each batch's random state is seeded from `batch_seed(seed, b)`, so a batch drawn again is the same."""
    source = ModuleSource(NoisyGenerator(), n=30, seed=2, batch_size=8)
    whole = source.load_range(0, 30)
    assert np.array_equal(source.load_range(16, 24), whole[16:24])
    assert np.array_equal(source.load_range(0, 8), whole[:8])


def test_module_modes_are_restored_one_by_one() -> None:
    """A generator trained with a frozen (eval-mode) part keeps that part in eval mode after it is sampled."""
    generator = nn.Sequential(nn.Linear(4, 3 * 8 * 8), nn.Dropout(0.5), nn.Tanh(), nn.Unflatten(1, (3, 8, 8)))
    generator[1].eval()
    fid(REAL, generator, latent_dim=4)
    assert [m.training for m in generator] == [True, False, True, True]


# --- dtypes and devices ---------------------------------------------------------------------------------


def bfloat16_images(n: int, seed: int) -> torch.Tensor:
    return (torch.from_numpy(random_images(n, seed)).float() / 255).bfloat16()


def test_bfloat16_images_are_read_as_their_float32_values() -> None:
    source = CallableSource(bfloat16_images, n=30, seed=5, batch_size=8)
    seeds = [int(np.random.SeedSequence([5, b]).generate_state(1)[0]) for b in range(4)]
    values = torch.cat([bfloat16_images(k, s).float() for k, s in zip((8, 8, 8, 6), seeds, strict=True)])
    expected = np.rint(values.permute(0, 2, 3, 1).numpy().astype(np.float64) * 255).astype(np.uint8)
    assert np.array_equal(source.load_range(0, 30), expected)
    batches = DataLoader(TensorDataset(values.bfloat16()), batch_size=7)
    assert np.array_equal(BatchIterableSource(batches).load_range(0, 30), expected)
    again = CallableSource(bfloat16_images, n=30, seed=5, batch_size=8)
    assert fid(REAL, again)["fid"] == fid(REAL, expected.transpose(0, 3, 1, 2).copy())["fid"]


def test_bfloat16_images_outside_the_value_range_are_refused() -> None:
    with pytest.raises(
        GanEvalError, match=r"<lambda> \(images 0..39\): float values span \[2, 2\], outside the declared range"
    ):
        fid(REAL, lambda n, seed: torch.full((n, 3, 8, 8), 2.0, dtype=torch.bfloat16))


def test_generator_on_the_meta_device_is_refused() -> None:
    with torch.device("meta"):
        generator = TinyGenerator()
    message = r"^generator TinyGenerator: its parameters are on the meta device; move it to cpu or cuda first"
    with pytest.raises(GanEvalError, match=message):
        gan_eval.fid(REAL, generator, n=10)
    with pytest.raises(GanEvalError, match=message):
        gan_eval.compute_statistics(generator, n=10, extraction=ExtractionOptions(cache=False))
    with pytest.raises(GanEvalError, match=message):
        ModuleSource(generator, n=10)


# --- latents of another shape: the classic DCGAN generator ----------------------------------------------


class ClassicDCGAN(nn.Module):
    """The DCGAN generator of the PyTorch examples, narrow: `(B, nz, 1, 1)` -> `(B, 3, 32, 32)` in [-1, 1]."""

    def __init__(self, nz: int = 100, width: int = 8) -> None:
        super().__init__()
        self.nz = nz
        torch.manual_seed(0)
        layers: list[nn.Module] = [nn.ConvTranspose2d(nz, 4 * width, 4, 1, 0, bias=False)]
        for c_in, c_out in ((4 * width, 2 * width), (2 * width, width)):
            layers += [nn.BatchNorm2d(c_in), nn.ReLU(True), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=False)]
        layers += [nn.BatchNorm2d(width), nn.ReLU(True), nn.ConvTranspose2d(width, 3, 4, 2, 1, bias=False), nn.Tanh()]
        self.main = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.main(z)


def as_uint8(images: torch.Tensor) -> np.ndarray:
    """`(B, 3, H, W)` floats in [-1, 1] as `(B, H, W, 3)` uint8: `round((x + 1) * 127.5)` in float64."""
    return np.rint((images.permute(0, 2, 3, 1).numpy().astype(np.float64) + 1) * 127.5).astype(np.uint8)


def test_classic_dcgan_generator_gets_its_latents_as_nz_by_1_by_1() -> None:
    generator = ClassicDCGAN()
    source = ModuleSource(generator, n=30, seed=3, batch_size=8)
    z = torch.randn(30, 100, generator=torch.Generator().manual_seed(3))
    with torch.no_grad():
        expected = as_uint8(generator.eval()(z.view(30, 100, 1, 1)))
    images = source.load_range(0, 30)
    assert images.shape == (30, 32, 32, 3)
    assert np.array_equal(images, expected)
    assert source.generation_settings()["latent_shape"] == [100, 1, 1]
    assert fid(REAL, source)["fid"] == fid(REAL, expected.transpose(0, 3, 1, 2).copy())["fid"]


@pytest.mark.filterwarnings("ignore:`torch.jit.*` is deprecated:FutureWarning")
def test_torchscript_dcgan_generator_gets_its_latents_as_nz_by_1_by_1(tmp_path) -> None:
    generator = ClassicDCGAN()
    torch.jit.script(generator).save(str(tmp_path / "g.pt"))
    scripted = torch.jit.load(str(tmp_path / "g.pt"))
    expected = ModuleSource(generator, n=12, seed=1, batch_size=5).load_range(0, 12)
    assert np.array_equal(ModuleSource(scripted, n=12, seed=1, batch_size=5).load_range(0, 12), expected)


def test_latent_shape_given_explicitly() -> None:
    generator = ClassicDCGAN().main  # a Sequential: no nz attribute to read
    expected = ModuleSource(ClassicDCGAN(), n=12, seed=1, batch_size=5).load_range(0, 12)
    for shape in ((100, 1, 1), [100, 1, 1]):
        assert np.array_equal(
            ModuleSource(generator, n=12, seed=1, batch_size=5, latent_shape=shape).load_range(0, 12), expected
        )
    with pytest.raises(GanEvalError, match=r"latent_dim=64 but latent_shape=\(100, 1, 1\) holds 100 values"):
        ModuleSource(generator, n=12, latent_dim=64, latent_shape=(100, 1, 1))


def test_generator_that_shapes_its_own_latents_still_gets_them_flat() -> None:
    """gan-eval's own ConvGenerator starts with a ConvTranspose2d of latent_dim channels but takes `(B, d)`."""
    generator = ConvGenerator(latent_dim=16, width=4)
    source = ModuleSource(generator, n=10, seed=0)
    z = torch.randn(10, 16, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        expected = as_uint8(generator.eval()(z))
    assert np.array_equal(source.load_range(0, 10), expected)
    assert "latent_shape" not in source.generation_settings()


def test_generator_refusing_its_latents_says_how_to_give_their_shape() -> None:
    generator = ClassicDCGAN(nz=64)
    with pytest.raises(
        GanEvalError,
        match=r"failed on latents of shape \(40, 100\): Expected .*; "
        r"if it takes latents of another shape, give latent_shape=",
    ):
        fid(REAL, generator, latent_dim=100)
