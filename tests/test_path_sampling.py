"""PPL on a generator, through `evaluate`, against torchmetrics' `perceptual_path_length` and against a naive
transcription of StyleGAN2-ADA's sampler, on the same generator, latents and LPIPS weights.

No pretrained weights can be downloaded here: LPIPS on VGG-16 gets random weights saved in the official formats
(torchvision's VGG-16 state dict and the `lpips` project's v0.1 `vgg.pth`), given to gan-eval through its
environment variables and to each oracle by loading the same files into its own LPIPS (torchmetrics' `_LPIPS`,
the `lpips` package's `LPIPS`).

The comparisons run on float64 generators (gan-eval then runs LPIPS in float64, and so do the oracles): with
ε = 1e-4 a path length is the squared difference of two nearly equal sets of LPIPS features over 1e-8, so float32
rounding alone moves it by about 1e-3 (measured while writing this: gan-eval's float32 value 3.5e-5 and
torchmetrics' 0.8% away from their float64 values on a small MLP generator). Path lengths are compared one by
one on 20 paths; the trimmed mean once through `evaluate` on 101 paths, where torchmetrics' 99th percentile (by
`lower`) and StyleGAN's (by `higher`) are both rank 99. Images stay at 12 to 48 px and LPIPS sees 16 px.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import lpips as lpips_package
import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.functional.image.lpips import _LPIPS
from torchmetrics.functional.image.perceptual_path_length import perceptual_path_length

from gan_eval.errors import GanEvalError
from gan_eval.evaluation import evaluate
from gan_eval.extraction import ExtractionOptions
from gan_eval.metrics.registry import MetricOptions
from gan_eval.paired.lpips.network import SLICE_ENDS, linear_keys, meta_backbone
from gan_eval.path_sampling import SampleSimilarity, load_sample_similarity, path_generator, path_lengths

N_PATHS, N_LENGTHS, LATENT, SEED = 101, 20, 8, 11
REAL = np.random.default_rng(0).integers(0, 256, (4, 16, 16, 3), dtype=np.uint8)
NO_CACHE = ExtractionOptions(cache=False, progress=False)


def vgg16_state(seed: int) -> dict[str, torch.Tensor]:
    """torchvision VGG-16 names with He-scaled random convolutions; the unused classifier constant (small file)."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in meta_backbone("vgg").state_dict().items():
        if key.startswith("classifier"):
            state[key] = torch.full((), 0.01).expand(value.shape)
        elif key.endswith("weight"):
            state[key] = torch.randn(value.shape, generator=g) * (2 / value[0].numel()) ** 0.5
        else:
            state[key] = 0.1 * torch.randn(value.shape, generator=g)
    return state


@pytest.fixture(scope="module")
def lpips_files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(v0.1 linear layers `vgg.pth`, VGG-16 backbone), random, in the official formats."""
    folder = tmp_path_factory.mktemp("lpips")
    g = torch.Generator().manual_seed(2)
    linear = {key: torch.rand(shape, generator=g) for key, shape in linear_keys("vgg").items()}
    torch.save(linear, folder / "vgg.pth")
    torch.save(vgg16_state(4), folder / "vgg16.pth")
    return folder / "vgg.pth", folder / "vgg16.pth"


@pytest.fixture(scope="module", autouse=True)
def lpips_weights(lpips_files: tuple[Path, Path]) -> Iterator[tuple[Path, Path]]:
    """The random LPIPS files, where gan-eval looks first: its environment variables."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("GAN_EVAL_LPIPS_VGG_WEIGHTS", str(lpips_files[0]))
        patch.setenv("GAN_EVAL_VGG16_WEIGHTS", str(lpips_files[1]))
        yield lpips_files


@pytest.fixture(scope="module")
def similarity(lpips_weights: tuple[Path, Path]) -> SampleSimilarity:
    """The registered LPIPS-VGG16 on those files, loaded once (`sample_path_lengths` loads it on each call)."""
    return load_sample_similarity()


def slices_of(backbone: Path) -> dict[str, torch.Tensor]:
    """The backbone's `features.I.*` tensors under the `sliceK.I.*` names both oracles' VGG-16 use."""
    mapped = {}
    for key, value in torch.load(backbone, weights_only=True).items():
        if key.startswith("features."):
            index = int(key.split(".")[1])
            number = next(k for k, end in enumerate(SLICE_ENDS["vgg"]) if index < end) + 1
            mapped[f"slice{number}.{key.removeprefix('features.')}"] = value
    return mapped


@pytest.fixture(scope="module")
def torchmetrics_net(lpips_files: tuple[Path, Path]) -> nn.Module:
    """torchmetrics' `_LPIPS` on VGG-16 with the random files, float64, built once (its `resize` set per test)."""
    model = _LPIPS(pretrained=True, net="vgg", pnet_rand=True, model_path=str(lpips_files[0]))
    model.net.load_state_dict(slices_of(lpips_files[1]), strict=True)
    return model.double().eval()


def resizing(model: nn.Module, resize: int | None) -> nn.Module:
    model.resize = resize
    return model


def package_lpips(files: tuple[Path, Path]) -> nn.Module:
    model = lpips_package.LPIPS(net="vgg", version="0.1", pnet_rand=True, model_path=str(files[0]), verbose=False)
    model.net.load_state_dict(slices_of(files[1]), strict=True)
    return model.double().eval()


def mlp(inputs: int, outputs: int, seed: int) -> nn.Sequential:
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        return nn.Sequential(nn.Linear(inputs, 64), nn.LeakyReLU(0.2), nn.Linear(64, outputs)).double()


class Generator(nn.Module):
    """`z (B, 8)` -> `(B, 3, size, size)` in [-1, 1], float64."""

    def __init__(self, size: int, seed: int = 0) -> None:
        super().__init__()
        self.latent_dim, self.size = LATENT, size
        self.net = mlp(LATENT, 3 * size * size, seed)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.net(z)).view(-1, 3, self.size, self.size)


class MappingGenerator(nn.Module):
    """A StyleGAN-like pair: `mapping` `z (B, 8)` -> `w (B, 16)`, `synthesis` `w` -> images; float64."""

    def __init__(self) -> None:
        super().__init__()
        self.z_dim = LATENT
        self.mapping = mlp(LATENT, 16, 1)
        self.synthesis = Generator(24, seed=2)
        self.synthesis.net[0] = nn.Linear(16, 64).double()


class Oracle(nn.Module):
    """torchmetrics' generator interface: `sample` hands out the given latents in turn, `forward` gives 0..255."""

    def __init__(self, images: nn.Module, latents: list[torch.Tensor]) -> None:
        super().__init__()
        self.images, self.latents = images, list(latents)

    def sample(self, num_samples: int) -> torch.Tensor:
        return self.latents.pop(0)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return (self.images(z) + 1) * 127.5


def documented_latents(n: int, sampling: str = "end") -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The paths as the docs say they are drawn: every z0, then every z1, then t, from one seeded generator."""
    g = torch.Generator().manual_seed(SEED)
    z0, z1 = torch.randn(n, LATENT, generator=g), torch.randn(n, LATENT, generator=g)
    t = torch.rand(n, generator=g) if sampling == "full" else torch.zeros(n)
    return z0.double(), z1.double(), t.double()


def options_of(n: int, batch: int = 8, **options) -> MetricOptions:
    return MetricOptions(ppl_samples=n, ppl_batch=batch, seed=SEED, **options)


def lengths_of(
    similarity: SampleSimilarity, fake, batch: int = 8, latent_dim: int | None = None, **options
) -> np.ndarray:
    """gan-eval's path lengths `(20,)` of a generator (module, pair, module with `.mapping`), seeded with SEED."""
    return path_lengths(path_generator(fake, latent_dim), similarity, options_of(N_LENGTHS, batch, **options))


def torchmetrics_lengths(images: nn.Module, first: torch.Tensor, second: torch.Tensor, sim_net: nn.Module, **kw):
    """torchmetrics' path lengths in path order (nothing discarded), batches of 8 paths."""
    _, _, lengths = perceptual_path_length(
        Oracle(images, [first, second]),
        num_samples=len(first),
        batch_size=8,
        lower_discard=None,
        upper_discard=None,
        sim_net=sim_net,
        **kw,
    )
    return lengths.flatten().numpy()


class StandIn:
    """No feature extractor runs for PPL; `evaluate` still wants one to record (its settings)."""

    name, heads, kinds, dims, device = "none", (), {"features": "none"}, {"none": 1}, torch.device("cpu")

    def settings(self) -> dict[str, str]:
        return {"extractor": "none", "weights_sha256": "-", "resize": "-", "precision": "-", "device": "cpu"}

    def extract(self, images, heads):
        raise AssertionError("PPL extracts no features")


@pytest.mark.parametrize(
    ("method", "size", "resize"),
    [("lerp", 24, 16), ("slerp_any", 12, 16), ("lerp", 16, 0)],
    ids=["lerp-area-down", "slerp_any-bilinear-up", "lerp-no-resize"],
)
def test_z_space_lengths_equal_torchmetrics(
    method: str, size: int, resize: int, similarity, torchmetrics_net, one_thread
) -> None:
    generator = Generator(size)
    z0, z1, _ = documented_latents(N_LENGTHS)
    sim_net = resizing(torchmetrics_net, resize or None)
    expected = torchmetrics_lengths(generator, z0, z1, sim_net, interpolation_method=method)
    ours = lengths_of(similarity, generator, ppl_interpolation=method, ppl_resize=resize)
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


def test_ppl_through_evaluate_equals_torchmetrics(torchmetrics_net, one_thread) -> None:
    """101 paths: the trimmed mean too (torchmetrics' 99th percentile by `lower` is rank 99 as StyleGAN's)."""
    generator = Generator(16)
    z0, z1, _ = documented_latents(N_PATHS)
    expected, _, _ = perceptual_path_length(
        Oracle(generator, [z0, z1]), num_samples=N_PATHS, batch_size=25, sim_net=resizing(torchmetrics_net, None)
    )
    options = options_of(N_PATHS, batch=25, ppl_resize=0)
    result = evaluate(REAL, generator, ["ppl"], options=options, extraction=NO_CACHE, extractor=StandIn())
    assert result["ppl"] == pytest.approx(float(expected), rel=1e-5)


def test_w_space_lengths_equal_torchmetrics_interpolating_w(similarity, torchmetrics_net, one_thread) -> None:
    """torchmetrics' generator is given w = mapping(z) as its latents: its lerp between them is PPL in w."""
    generator = MappingGenerator()
    z0, z1, _ = documented_latents(N_LENGTHS)
    with torch.no_grad():
        w0, w1 = generator.mapping(z0), generator.mapping(z1)
    expected = torchmetrics_lengths(generator.synthesis, w0, w1, resizing(torchmetrics_net, 16))
    as_module = lengths_of(similarity, generator, ppl_space="w", ppl_resize=16)
    np.testing.assert_allclose(as_module, expected, rtol=1e-6)
    pair = (generator.mapping, generator.synthesis)  # a pair has no latent size attribute: it is given
    np.testing.assert_array_equal(
        lengths_of(similarity, pair, latent_dim=LATENT, ppl_space="w", ppl_resize=16), as_module
    )
    in_z = lengths_of(similarity, generator, ppl_space="z", ppl_resize=16)  # z space: its points are mapped
    assert not np.allclose(in_z, as_module, rtol=1e-3)


def stylegan_slerp(a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """StyleGAN2-ADA's `slerp` (metrics/perceptual_path_length.py), in NumPy float64."""
    a = a / np.linalg.norm(a, axis=-1, keepdims=True)
    b = b / np.linalg.norm(b, axis=-1, keepdims=True)
    d = (a * b).sum(-1, keepdims=True)
    p = t * np.arccos(d)
    c = b - d * a
    c = c / np.linalg.norm(c, axis=-1, keepdims=True)
    d = a * np.cos(p) + c * np.sin(p)
    return d / np.linalg.norm(d, axis=-1, keepdims=True)


def naive_stylegan_lengths(generator: nn.Module, files: tuple[Path, Path], epsilon: float, resize: int) -> np.ndarray:
    """One path at a time: Karras et al.'s slerp at t and t + ε, the face crop, an area resize and the `lpips`
    package, as StyleGAN2-ADA's PPL sampler does (its dynamic range step, then LPIPS's own [-1, 1])."""
    z0, z1, t = (x.numpy() for x in documented_latents(N_LENGTHS, "full"))
    distance = package_lpips(files)
    lengths = []
    for i in range(N_LENGTHS):
        ends = [stylegan_slerp(z0[i : i + 1], z1[i : i + 1], t[i] + step) for step in (0.0, epsilon)]
        with torch.no_grad():
            images = generator(torch.from_numpy(np.concatenate(ends)))
            c = images.shape[2] // 8
            images = (images[:, :, c * 3 : c * 7, c * 2 : c * 6] + 1) * (255 / 2)
            images = F.interpolate(images, (resize, resize), mode="area") / 127.5 - 1
            lengths.append(float(distance(images[:1], images[1:])) / epsilon**2)
    return np.array(lengths)


def test_full_sampling_slerp_and_crop_equal_stylegan_transcription(similarity, lpips_weights, one_thread) -> None:
    generator = Generator(48)
    expected = naive_stylegan_lengths(generator, lpips_weights, 1e-4, 16)
    ours = lengths_of(
        similarity, generator, ppl_sampling="full", ppl_interpolation="slerp", ppl_crop=True, ppl_resize=16
    )
    np.testing.assert_allclose(ours, expected, rtol=1e-6)


class Noisy(Generator):
    """Draws noise of its own inside `forward`, as StyleGAN's noise inputs do."""

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return super().forward(z + 0.1 * torch.randn_like(z))


def test_seeded_batches_and_the_callers_random_state(similarity, one_thread) -> None:
    plain, noisy = Generator(16), Noisy(16)
    torch.manual_seed(5)
    np.random.seed(5)
    before = (torch.get_rng_state(), np.random.get_state()[1].copy())
    np.testing.assert_allclose(
        lengths_of(similarity, plain, batch=7, ppl_resize=0), lengths_of(similarity, plain, batch=20, ppl_resize=0)
    )
    np.testing.assert_array_equal(
        lengths_of(similarity, noisy, ppl_resize=0), lengths_of(similarity, noisy, ppl_resize=0)
    )
    assert torch.equal(torch.get_rng_state(), before[0]) and np.array_equal(np.random.get_state()[1], before[1])
    assert plain.training and noisy.training  # eval mode while sampling, its own mode back after


def test_refused_before_any_extraction_without_a_generator(stand_in) -> None:
    images = np.zeros((4, 16, 16, 3), np.uint8)
    refused = r"^Perceptual path length .*\(ppl\) cannot be computed: it needs the generator itself .*ndarray"
    with pytest.raises(GanEvalError, match=refused) as info:
        evaluate(REAL, images, ["fid", "ppl"], extractor=StandIn(), extraction=NO_CACHE)
    assert "\n" not in str(info.value)
    with pytest.raises(GanEvalError, match=r"in w space it needs a mapping network.*has none"):
        evaluate(REAL, Generator(16), ["ppl"], options=MetricOptions(ppl_space="w"), extractor=StandIn())
    with pytest.raises(GanEvalError, match=r"^ppl_interpolation 'cubic': choose one of lerp, slerp, slerp_any$"):
        evaluate(REAL, Generator(16), ["ppl"], options=MetricOptions(ppl_interpolation="cubic"), extractor=StandIn())
    result = evaluate(REAL, REAL.copy(), ["fid"], extractor=stand_in, extraction=NO_CACHE)
    assert "ppl" not in result.unavailable  # not a default metric: never tried unasked


def test_result_carries_the_options_and_the_lpips_weights(lpips_weights, one_thread) -> None:
    from gan_eval.digest import file_sha256

    options = options_of(N_LENGTHS, ppl_resize=0)
    result = evaluate(REAL, Generator(16), ["ppl"], options=options, extraction=NO_CACHE, extractor=StandIn())
    assert result.metrics == ("ppl",) and result.n_fake == N_LENGTHS and result.n_real == 0
    assert result.settings["metric_options"]["ppl_samples"] == N_LENGTHS
    assert result["ppl_lpips_sha256"] == file_sha256(lpips_weights[0])
    assert result["ppl_lpips_backbone_sha256"] == file_sha256(lpips_weights[1])
    assert result["ppl_kept"] == N_LENGTHS and result["ppl_std"] > 0  # ranks 0 and 19 of 20: none dropped
