"""The DINOv2 feature spaces against an independent computation of dgm-eval's FD_DINOv2 features.

Random ViT-S/14 weights are saved in the official checkpoint's layout (names
of `dinov2_vits14_pretrain.pth`, 518-px position embedding of 1 + 37x37
tokens). The reference below runs dgm-eval's preprocessing (torchvision's
`Resize((224, 224), BICUBIC)` on PIL images, `ToTensor`, `Normalize`) and the
official forward written out in float64 (patch convolution, class token, the
position embedding resized by a hand-written bicubic with DINOv2's 0.1
offset, pre-norm blocks with LayerScale, final norm, class token).
"""

from __future__ import annotations

import hashlib
import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms as TF
from cli_runner import one_error_line, run_cli
from naive_metrics import naive_fid_small_n, naive_kid, naive_prdc
from PIL import Image
from test_weights import _serving

import gan_eval
from gan_eval.digest import file_sha256
from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.dinov2 import weights as dinov2_weights
from gan_eval.extractors.dinov2.network import ARCHS, interpolate_pos_embed
from gan_eval.extractors.dinov2.weights import (
    describe_cached_weights,
    download_weights,
    import_weights,
    load_weights,
    resolve_weights_path,
    weights_cache_dir,
)
from gan_eval.extractors.pil_resize import resize_bicubic_pil
from gan_eval.extractors.registry import EXTRACTORS
from gan_eval.feature_types import FEATURES
from gan_eval.metrics.registry import MetricOptions
from gan_eval.stats import load_stats, save_stats

VITS14 = ARCHS["vits14"]
OFFICIAL_GRID = 37  # 518 px / 14


def official_state_dict(dim: int, depth: int, seed: int, qkv_scale: float = 0.1) -> dict[str, torch.Tensor]:
    """Random weights named and shaped as the official DINOv2 `*_pretrain.pth` files (written out here).

    `qkv_scale`: the spread of the attention's q/k/v weights; at width 1024, 0.1 gives attention logits of
    spread about 10, a saturated softmax that turns float32 rounding into differences of 4e-4 after 24 blocks.
    """
    g = torch.Generator().manual_seed(seed)

    def rand(*shape: int, scale: float = 0.05, mean: float = 0.0) -> torch.Tensor:
        return mean + scale * torch.randn(*shape, generator=g)

    state = {
        "cls_token": rand(1, 1, dim, scale=0.1),
        "pos_embed": rand(1, 1 + OFFICIAL_GRID**2, dim, scale=0.1),
        "mask_token": rand(1, dim),
        "patch_embed.proj.weight": rand(dim, 3, 14, 14),
        "patch_embed.proj.bias": rand(dim),
    }
    for i in range(depth):
        p = f"blocks.{i}."
        state |= {
            p + "norm1.weight": rand(dim, mean=1.0, scale=0.1),
            p + "norm1.bias": rand(dim),
            p + "attn.qkv.weight": rand(3 * dim, dim, scale=qkv_scale),
            p + "attn.qkv.bias": rand(3 * dim),
            p + "attn.proj.weight": rand(dim, dim),
            p + "attn.proj.bias": rand(dim),
            p + "ls1.gamma": rand(dim, mean=0.5, scale=0.2),
            p + "norm2.weight": rand(dim, mean=1.0, scale=0.1),
            p + "norm2.bias": rand(dim),
            p + "mlp.fc1.weight": rand(4 * dim, dim),
            p + "mlp.fc1.bias": rand(4 * dim),
            p + "mlp.fc2.weight": rand(dim, 4 * dim),
            p + "mlp.fc2.bias": rand(dim),
            p + "ls2.gamma": rand(dim, mean=0.5, scale=0.2),
        }
    state |= {"norm.weight": rand(dim, mean=1.0, scale=0.1), "norm.bias": rand(dim)}
    return state


def _cubic(t: float) -> float:
    """PyTorch's bicubic kernel (Keys, A = -0.75)."""
    a, t = -0.75, abs(t)
    if t <= 1:
        return ((a + 2) * t - (a + 3)) * t * t + 1
    if t < 2:
        return ((a * t - 5 * a) * t + 8 * a) * t - 4 * a
    return 0.0


def _bicubic_matrix(size: int, out: int, scale_factor: float) -> np.ndarray:
    """`(out, size)` weights of torch's bicubic (align_corners False) given `scale_factor`: src = (i + .5) / s - .5."""
    m = np.zeros((out, size))
    for i in range(out):
        src = (i + 0.5) / scale_factor - 0.5
        base = math.floor(src)
        frac = src - base
        weights = (_cubic(frac + 1), _cubic(frac), _cubic(1 - frac), _cubic(2 - frac))
        for tap, w in zip(range(base - 1, base + 3), weights, strict=True):
            m[i, min(max(tap, 0), size - 1)] += w
    return m


def official_pos_embed(pos_embed: torch.Tensor, grid: int) -> torch.Tensor:
    """The official `interpolate_pos_encoding` for a `grid` x `grid` input, written out in float64."""
    m = _bicubic_matrix(OFFICIAL_GRID, grid, (grid + 0.1) / OFFICIAL_GRID)
    patches = pos_embed[0, 1:].double().numpy().reshape(OFFICIAL_GRID, OFFICIAL_GRID, -1)
    resized = np.einsum("ia,jb,abd->ijd", m, m, patches).reshape(grid * grid, -1)
    return torch.cat((pos_embed[0, :1].double(), torch.from_numpy(resized)))[None]


def dgm_eval_preprocess(image: np.ndarray) -> torch.Tensor:
    """dgm-eval's DINOv2 transform (clean_resize False) of an `(H, W, 3)` uint8 image: `(3, 224, 224)` float32."""
    resized = TF.Compose([TF.Resize((224, 224), TF.InterpolationMode.BICUBIC), TF.ToTensor()])(Image.fromarray(image))
    return TF.Normalize(np.array([0.485, 0.456, 0.406]), np.array([0.229, 0.224, 0.225]))(resized)


def official_forward(state: dict[str, torch.Tensor], x: torch.Tensor, heads: int) -> torch.Tensor:
    """The hub model's forward (`x_norm_clstoken`) in float64: `(N, 3, 224, 224)` -> `(N, D)`."""
    s = {k: v.double() for k, v in state.items()}
    x = x.double()
    depth = 1 + max(int(k.split(".")[1]) for k in s if k.startswith("blocks."))
    tokens = torch.nn.functional.conv2d(x, s["patch_embed.proj.weight"], s["patch_embed.proj.bias"], stride=14)
    tokens = tokens.flatten(2).transpose(1, 2)
    n, _, dim = tokens.shape
    tokens = torch.cat((s["cls_token"].expand(n, -1, -1), tokens), dim=1)
    tokens = tokens + official_pos_embed(state["pos_embed"], x.shape[-1] // 14)

    def norm(t: torch.Tensor, name: str) -> torch.Tensor:
        return torch.nn.functional.layer_norm(t, (dim,), s[f"{name}.weight"], s[f"{name}.bias"], eps=1e-6)

    def linear(t: torch.Tensor, name: str) -> torch.Tensor:
        return t @ s[f"{name}.weight"].T + s[f"{name}.bias"]

    hd = dim // heads
    for i in range(depth):
        p = f"blocks.{i}"
        q, k, v = (
            linear(norm(tokens, f"{p}.norm1"), f"{p}.attn.qkv").reshape(n, -1, 3, heads, hd).permute(2, 0, 3, 1, 4)
        )
        attn = torch.softmax((q * hd**-0.5) @ k.transpose(-2, -1), dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(n, -1, dim)
        tokens = tokens + s[f"{p}.ls1.gamma"] * linear(out, f"{p}.attn.proj")
        hidden = torch.nn.functional.gelu(linear(norm(tokens, f"{p}.norm2"), f"{p}.mlp.fc1"))
        tokens = tokens + s[f"{p}.ls2.gamma"] * linear(hidden, f"{p}.mlp.fc2")
    return norm(tokens, "norm")[:, 0]


def _images(seed: int, sizes: list[tuple[int, int]]) -> list[np.ndarray]:
    """Smooth random uint8 `(H, W, 3)` images of the given sizes."""
    rng = np.random.default_rng(seed)
    out = []
    for h, w in sizes:
        coarse = rng.integers(0, 256, (max(h // 4, 2), max(w // 4, 2), 3), dtype=np.uint8)
        img = np.asarray(Image.fromarray(coarse).resize((w, h), Image.BILINEAR))
        out.append(np.clip(img.astype(int) + rng.integers(-20, 21, img.shape), 0, 255).astype(np.uint8))
    return out


def _chw(images: list[np.ndarray]) -> list[torch.Tensor]:
    return [torch.from_numpy(img).permute(2, 0, 1).contiguous() for img in images]


@pytest.fixture(scope="module")
def vits14_state() -> dict[str, torch.Tensor]:
    return official_state_dict(VITS14.embed_dim, VITS14.depth, seed=0)


@pytest.fixture(scope="module")
def vits14_file(vits14_state: dict[str, torch.Tensor], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random ViT-S/14 weights as an official-layout state dict (~88 MB), written once."""
    path = tmp_path_factory.mktemp("dinov2") / "dinov2_vits14_pretrain.pth"
    torch.save(vits14_state, path)
    return path


@pytest.fixture(scope="module")
def vits14_extractor(vits14_file: Path):
    return ExtractionOptions(features="dinov2-vits14", weights=str(vits14_file), device="cpu").load_extractor()


# --- the resize -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "size", [(32, 32), (17, 17), (45, 45), (224, 224), (300, 300), (1024, 1024), (224, 50), (31, 224), (50, 31)]
)
def test_resize_equals_pil_bicubic(size: tuple[int, int]) -> None:
    rng = np.random.default_rng(sum(size))
    noise = rng.integers(0, 256, (*size, 3), dtype=np.uint8)  # overshoots and clips at both ends
    for image in [noise, *_images(1, [size])]:
        expected = np.asarray(Image.fromarray(image).resize((224, 224), Image.BICUBIC))
        ours = resize_bicubic_pil(torch.from_numpy(image).permute(2, 0, 1)[None], (224, 224))
        np.testing.assert_array_equal(ours[0].permute(1, 2, 0).numpy(), expected)


def test_position_embedding_is_the_official_interpolation(vits14_state: dict[str, torch.Tensor]) -> None:
    ours = interpolate_pos_embed(vits14_state["pos_embed"])
    expected = official_pos_embed(vits14_state["pos_embed"], 16)
    assert ours.shape == (1, 1 + 16 * 16, VITS14.embed_dim) and ours.dtype == torch.float32
    # torch's kernel runs in float32 (coordinates and weights too): about 1e-6 on values of size 0.1
    torch.testing.assert_close(ours.double(), expected, rtol=0, atol=5e-6)
    # the 0.1 offset matters: sampling at (i + .5) * 37 / 16 - .5 gives other values
    plain = _bicubic_matrix(OFFICIAL_GRID, 16, 16 / OFFICIAL_GRID)
    assert not np.allclose(plain, _bicubic_matrix(OFFICIAL_GRID, 16, 16.1 / OFFICIAL_GRID), atol=1e-3)


# --- the features -----------------------------------------------------------------------------------------


def test_features_equal_the_official_forward(vits14_state, vits14_extractor, one_thread) -> None:
    images = _images(2, [(32, 32), (32, 32), (45, 45), (224, 224), (50, 31), (257, 300)])
    reference = official_forward(vits14_state, torch.stack([dgm_eval_preprocess(i) for i in images]), heads=6)
    ours = vits14_extractor.extract(_chw(images), ("cls",))["cls"]
    assert ours.shape == (6, 384) and ours.dtype == torch.float32
    relative = ((ours.double() - reference).norm(dim=1) / reference.norm(dim=1)).max().item()
    assert relative < 1e-5, relative
    batch = torch.stack(_chw(images[:2]))
    torch.testing.assert_close(vits14_extractor.extract(batch, ("cls",))["cls"], ours[:2], rtol=1e-5, atol=1e-6)


def test_preprocess_equals_dgm_eval_transform(vits14_extractor) -> None:
    images = _images(3, [(32, 32), (64, 48), (300, 199)])
    ours = vits14_extractor.preprocess(_chw(images))
    torch.testing.assert_close(ours, torch.stack([dgm_eval_preprocess(i) for i in images]), rtol=0, atol=0)


def test_spec_and_settings(vits14_extractor, vits14_file: Path) -> None:
    spec = EXTRACTORS["dinov2-vitl14"]
    assert spec.kinds == {FEATURES: "cls"} and spec.feature_dim == 1024 and spec.extractor == "dinov2-vitl14"
    assert EXTRACTORS["dinov2-vits14"].feature_dim == 384
    sha = hashlib.sha256(vits14_file.read_bytes()).hexdigest()
    assert vits14_extractor.settings() == {
        "extractor": "dinov2-vits14",
        "weights_sha256": sha,
        "resize": "pil-bicubic-224",
        "precision": "exact",
        "device": "cpu",
    }


def test_vitl14_features_equal_the_official_forward(tmp_path: Path, one_thread) -> None:
    """The registered dinov2-vitl14 space on one image, random weights at the official ViT-L/14 sizes (width
    1024, 24 blocks, 16 heads of 64: written here, not read from the registry) against dgm-eval's transform
    and the official forward in float64. About 20 s on a 2-core machine, the two forwards most of it."""
    path = tmp_path / "dinov2_vitl14_pretrain.pth"
    state = official_state_dict(1024, 24, seed=1, qkv_scale=0.05)
    torch.save(state, path)
    extractor = ExtractionOptions(features="dinov2-vitl14", weights=str(path), device="cpu").load_extractor()
    image = _images(4, [(40, 45)])
    ours = extractor.extract(_chw(image), ("cls",))["cls"]
    reference = official_forward(state, torch.stack([dgm_eval_preprocess(i) for i in image]), heads=16)
    assert ours.shape == (1, 1024) and ours.dtype == torch.float32
    relative = ((ours.double() - reference).norm(dim=1) / reference.norm(dim=1)).max().item()
    assert relative < 1e-5, relative


def test_metrics_equal_naive_ones_on_these_features(vits14_file: Path, vits14_extractor, one_thread) -> None:
    real = np.stack(_images(5, [(32, 32)] * 12))
    fake = np.stack(_images(6, [(32, 32)] * 12))
    options = MetricOptions(kid_subsets=5, kid_subset_size=10)
    extraction = ExtractionOptions(features="dinov2-vits14", weights=str(vits14_file), cache=False, progress=False)
    with pytest.warns(GanEvalWarning, match="rank-deficient"):
        result = gan_eval.evaluate(real, fake, "fid,kid,pr", extraction=extraction, options=options, device="cpu")
    a = vits14_extractor.extract(torch.from_numpy(real).permute(0, 3, 1, 2), ("cls",))["cls"].double().numpy()
    b = vits14_extractor.extract(torch.from_numpy(fake).permute(0, 3, 1, 2), ("cls",))["cls"].double().numpy()
    assert result.settings["extractor"] == "dinov2-vits14"
    assert result["fid"] == pytest.approx(naive_fid_small_n(a, b), rel=1e-5)
    kid_mean, kid_std = naive_kid(a, b, 5, 10, 2020)
    assert result["kid_mean"] == pytest.approx(kid_mean, rel=1e-5)
    assert result["kid_std"] == pytest.approx(kid_std, rel=1e-4)
    naive = naive_prdc(a, b, 3, 5)
    assert {k: result[k] for k in ("precision", "recall")} == {k: naive[k] for k in ("precision", "recall")}


def test_dinov2_statistics_are_refused_in_another_space(vits14_file: Path, tmp_path: Path, one_thread) -> None:
    extraction = ExtractionOptions(features="dinov2-vits14", weights=str(vits14_file), cache=False, progress=False)
    stats = gan_eval.compute_statistics(np.stack(_images(7, [(32, 32)] * 3)), extraction=extraction, device="cpu")
    path = tmp_path / "dinov2-stats.npz"
    save_stats(stats, path)
    inception = EXTRACTORS["inception"].extractor
    with pytest.raises(GanEvalError, match=f"made with extractor dinov2-vits14, not {inception}"):
        load_stats(path, expected_extractor=inception)
    assert load_stats(path, expected_extractor="dinov2-vits14", expected_dim=384).dim == 384


def test_cli_fid_in_the_dinov2_space(vits14_file: Path, tmp_path: Path, capsys) -> None:
    for name, seed in (("a", 8), ("b", 9)):
        (tmp_path / name).mkdir()
        for i, image in enumerate(_images(seed, [(32, 32)] * 3)):
            Image.fromarray(image).save(tmp_path / name / f"{i}.png")
    code, out, err = run_cli(
        capsys, "fid", tmp_path / "a", tmp_path / "b", "--features", "dinov2-vits14", "--weights", vits14_file,
        "--device", "cpu", "--no-cache", "--quiet", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert '"dinov2-vits14"' in out


# --- the weights ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["missing", "shape", "extra", "pickled", "not-a-dict"])
def test_bad_weights_are_one_line_errors(fault: str, vits14_state, tmp_path: Path) -> None:
    state = dict(vits14_state)
    if fault == "missing":
        del state["blocks.3.ls1.gamma"]
    elif fault == "shape":
        state["pos_embed"] = state["pos_embed"][:, :257]
    elif fault == "extra":
        state["register_tokens"] = torch.zeros(1, 4, 384)
    path = tmp_path / "w.pth"
    torch.save({"model": object()} if fault == "pickled" else [1, 2] if fault == "not-a-dict" else state, path)
    expected = {
        "missing": r"not the official dinov2_vits14 \(missing blocks\.3\.ls1\.gamma\)",
        "shape": r"pos_embed has shape \(1, 257, 384\), expected \(1, 1370, 384\)",
        "extra": "unexpected key register_tokens",
        "pickled": "not a readable PyTorch state dict",
        "not-a-dict": "does not hold a state dict of tensors",
    }[fault]
    with pytest.raises(GanEvalError, match=expected) as info:
        load_weights(path, VITS14)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_import_list_and_resolution_order(vits14_file: Path, tmp_path: Path, monkeypatch) -> None:
    cached = import_weights(vits14_file, VITS14)
    assert cached == weights_cache_dir() / "dinov2_vits14_pretrain.pth"
    [entry] = describe_cached_weights(VITS14)
    assert entry["arch"] == "dinov2_vits14" and entry["sha256"] == load_weights(vits14_file, VITS14).sha256
    assert resolve_weights_path(VITS14) == cached
    monkeypatch.setenv("GAN_EVAL_DINOV2_VITS14_WEIGHTS", str(vits14_file))
    assert resolve_weights_path(VITS14) == vits14_file
    assert resolve_weights_path(VITS14, tmp_path / "explicit.pth") == tmp_path / "explicit.pth"
    monkeypatch.setenv("GAN_EVAL_DINOV2_VITS14_WEIGHTS", str(tmp_path / "nowhere.pth"))
    with pytest.raises(GanEvalError, match=r"GAN_EVAL_DINOV2_VITS14_WEIGHTS=.* is not a file"):
        resolve_weights_path(VITS14)


def test_download_from_a_local_server(vits14_file: Path, monkeypatch) -> None:
    sha = hashlib.sha256(vits14_file.read_bytes()).hexdigest()
    with _serving(vits14_file) as server:
        monkeypatch.setattr(dinov2_weights, "BASE_URL", f"{server}/good")
        path = resolve_weights_path(VITS14, progress=False)  # nothing cached: downloads from the official path
        assert path == weights_cache_dir() / "dinov2_vits14_pretrain.pth"
        assert hashlib.sha256(path.read_bytes()).hexdigest() == sha
        path.unlink()
        assert download_weights(VITS14, sha256=sha[:16], progress=False) == path
        path.unlink()
        with pytest.raises(GanEvalError, match=f"sha256 {sha[:16]}\\.\\.\\., expected 0123abcd"):
            download_weights(VITS14, sha256="0123abcd", progress=False)
        for kind in ("short", "chunked"):
            with pytest.raises(GanEvalError, match="cut short"):
                download_weights(VITS14, f"{server}/{kind}/dinov2_vits14_pretrain.pth", progress=False)
        with pytest.raises(GanEvalError, match=r"not usable: .*not a readable PyTorch state dict"):
            download_weights(VITS14, f"{server}/mismatch/dinov2_vits14_pretrain.pth", progress=False)
        with pytest.raises(GanEvalError, match="HTTP 404"):
            download_weights(VITS14, f"{server}/missing/dinov2_vits14_pretrain.pth", progress=False)
    assert not weights_cache_dir().exists() or sorted(p.name for p in weights_cache_dir().iterdir()) == []


def test_missing_weights_say_how_to_get_them(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(dinov2_weights, "BASE_URL", "http://127.0.0.1:9")
    (tmp_path / "a").mkdir()
    for i, image in enumerate(_images(10, [(32, 32)] * 2)):
        Image.fromarray(image).save(tmp_path / "a" / f"{i}.png")
    code, _, err = run_cli(capsys, "fid", tmp_path / "a", tmp_path / "a", "--features", "dinov2-vitl14", "--quiet")
    one_error_line(code, err, "dinov2_vitl14_pretrain.pth", "--weights", "GAN_EVAL_DINOV2_VITL14_WEIGHTS")


def test_cli_weights_import_and_info_handle_the_dinov2_space(vits14_file: Path, real_weights: Path, capsys) -> None:
    """`weights import` recognises an official DINOv2 file; `weights info` lists it beside Inception's."""
    code, out, _ = run_cli(capsys, "weights", "import", str(vits14_file))
    assert code == 0 and "dinov2_vits14_pretrain.pth" in out and "(dinov2-vits14)" in out
    code, out, _ = run_cli(capsys, "weights", "import", str(real_weights))
    assert code == 0 and "(inception)" in out
    code, out, _ = run_cli(capsys, "weights", "info", "--json")
    listed = {entry["space"]: entry for entry in json.loads(out)["weights"]}
    assert set(listed) == {"inception", "dinov2-vits14"}
    assert listed["dinov2-vits14"]["sha256"] == file_sha256(vits14_file)
    assert listed["inception"]["sha256"] == file_sha256(real_weights)


def test_cli_refuses_dinov2_statistics_against_inception_features_by_name(
    vits14_file: Path, tmp_path: Path, capsys
) -> None:
    stats = gan_eval.compute_statistics(
        np.zeros((3, 16, 16, 3), np.uint8),
        extraction=ExtractionOptions(features="dinov2-vits14", weights=str(vits14_file), cache=False, progress=False),
    )
    save_stats(stats, tmp_path / "dino.npz")
    np.save(tmp_path / "images.npy", np.zeros((3, 16, 16, 3), np.uint8))
    code, _, err = run_cli(capsys, "fid", tmp_path / "dino.npz", tmp_path / "images.npy", "--no-cache", "--quiet")
    one_error_line(code, err, "dino.npz", "extractor dinov2-vits14")
