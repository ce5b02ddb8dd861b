"""The CLIP feature spaces against independent computations of the peers' CLIP features.

Random ViT-B/32 image-tower weights are saved as a TorchScript archive in the
layout of OpenAI's `ViT-B-32.pt` (the `visual.*` names, float16 tensors, a
`text_projection` and `logit_scale` beside them). The references below are
the official forward written out in float64 (patch convolution, class
embedding, position embedding, `ln_pre`, blocks with QuickGELU, `ln_post` on
the class token, projection) and the peers' own preprocessing: clean-fid
0.1.35's `img_preprocess_clip`, `ResizeDataset` and `CLIP_fx` called on the
same images, and CMMD's `_center_crop_and_resize` and normalisation
(google-research `cmmd/io_util.py`, `embedding.py`) written out with PIL and
numpy in float32, as JAX computes it.
The ViT-L/14 spaces get the same check on one image, at OpenAI's ViT-L/14 sizes written out here.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import sys
import time
import types
import warnings
from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
import torchvision.transforms as TF
from cli_runner import one_error_line, run_cli
from PIL import Image
from test_dinov2 import _chw, _images
from test_torchscript_archive import MARKER, WithCode, _save
from test_weights import _serving

import gan_eval
from gan_eval.digest import file_sha256
from gan_eval.errors import GanEvalError
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.clip import weights as clip_weights
from gan_eval.extractors.clip.extractor import CROP_THEN_RESIZE, SHORTER_SIDE_THEN_CROP, ClipExtractor
from gan_eval.extractors.clip.network import ARCHS, build_network
from gan_eval.extractors.clip.weights import (
    ClipWeights,
    describe_cached_weights,
    download_weights,
    import_weights,
    load_weights,
    resolve_weights_path,
    weights_cache_dir,
)
from gan_eval.extractors.registry import EXTRACTORS
from gan_eval.feature_types import FEATURES
from gan_eval.weights_catalogue import closest_networks, import_weights_file

VITB32 = ARCHS["vitb32"]
CLIP_MEAN = np.array([0.48145466, 0.4578275, 0.40821073])  # openai/CLIP clip.py `_transform`
CLIP_STD = np.array([0.26862954, 0.26130258, 0.27577711])


# --- an archive in OpenAI's layout ------------------------------------------------------------------------


class _Block(torch.nn.Module):
    def __init__(self, width: int, heads: int) -> None:
        super().__init__()
        self.attn = torch.nn.MultiheadAttention(width, heads)
        self.ln_1 = torch.nn.LayerNorm(width)
        fc, proj = torch.nn.Linear(width, 4 * width), torch.nn.Linear(4 * width, width)
        self.mlp = torch.nn.Sequential(OrderedDict([("c_fc", fc), ("gelu", torch.nn.Identity()), ("c_proj", proj)]))
        self.ln_2 = torch.nn.LayerNorm(width)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.mlp(self.ln_2(x))


class _Transformer(torch.nn.Module):
    def __init__(self, width: int, layers: int, heads: int) -> None:
        super().__init__()
        self.resblocks = torch.nn.Sequential(*[_Block(width, heads) for _ in range(layers)])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.resblocks(x)


class _Visual(torch.nn.Module):
    """The module names of openai/CLIP `model.py` `VisionTransformer` (the forward here is not used)."""

    def __init__(self, patch: int, width: int, layers: int, tokens: int, embed_dim: int) -> None:
        super().__init__()
        self.conv1 = torch.nn.Conv2d(3, width, patch, patch, bias=False)
        self.class_embedding = torch.nn.Parameter(torch.zeros(width))
        self.positional_embedding = torch.nn.Parameter(torch.zeros(tokens, width))
        self.ln_pre = torch.nn.LayerNorm(width)
        self.transformer = _Transformer(width, layers, width // 64)
        self.ln_post = torch.nn.LayerNorm(width)
        self.proj = torch.nn.Parameter(torch.zeros(width, embed_dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.transformer(x)


class _Clip(torch.nn.Module):
    def __init__(self, arch, text_width: int = 512) -> None:
        super().__init__()
        self.visual = _Visual(arch.patch_size, arch.width, arch.layers, arch.tokens, arch.embed_dim)
        self.text_projection = torch.nn.Parameter(torch.zeros(text_width, arch.embed_dim))
        self.logit_scale = torch.nn.Parameter(torch.ones([]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.visual(x)


def random_visual(arch, seed: int) -> dict[str, torch.Tensor]:
    """Random `visual.*` tensors of `arch`'s shapes, rounded to float16 as OpenAI's archives hold them."""
    g = torch.Generator().manual_seed(seed)
    w = arch.width
    module = _Visual(arch.patch_size, w, arch.layers, arch.tokens, arch.embed_dim)
    state = {}
    for name, tensor in module.state_dict().items():
        if name.endswith(("ln_1.weight", "ln_2.weight", "ln_pre.weight", "ln_post.weight")):
            value = 1 + 0.1 * torch.randn(tensor.shape, generator=g)
        elif name in ("class_embedding", "positional_embedding", "proj"):
            value = w**-0.5 * torch.randn(tensor.shape, generator=g)
        else:
            value = 0.02 * torch.randn(tensor.shape, generator=g)
        state[f"visual.{name}"] = value.half()
    return state


def save_openai_archive(arch, visual: dict[str, torch.Tensor], path: Path) -> Path:
    """A TorchScript archive of `_Clip` holding `visual` as given (shapes too; a key not there is None)."""
    model = _Clip(arch).half()
    for key in model.visual.state_dict():
        *parents, name = key.split(".")
        owner = model.visual.get_submodule(".".join(parents))
        value = visual.get(f"visual.{key}")
        setattr(owner, name, None if value is None else torch.nn.Parameter(value, requires_grad=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(model).save(str(path))
    return path


# --- the independent computations -------------------------------------------------------------------------


def official_forward(visual: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
    """openai/CLIP's `VisionTransformer.forward` in float64: `(N, 3, S, S)` -> `(N, embed_dim)`."""
    s = {k.removeprefix("visual."): v.double() for k, v in visual.items()}
    x = x.double()
    width = s["conv1.weight"].shape[0]
    heads, hd = width // 64, 64
    patch = s["conv1.weight"].shape[-1]
    tokens = torch.nn.functional.conv2d(x, s["conv1.weight"], stride=patch).flatten(2).transpose(1, 2)
    n = tokens.shape[0]
    tokens = torch.cat((s["class_embedding"].expand(n, 1, width), tokens), dim=1) + s["positional_embedding"]

    def norm(t: torch.Tensor, name: str) -> torch.Tensor:
        return torch.nn.functional.layer_norm(t, (width,), s[f"{name}.weight"], s[f"{name}.bias"], eps=1e-5)

    tokens = norm(tokens, "ln_pre")
    layers = 1 + max(int(k.split(".")[2]) for k in s if k.startswith("transformer.resblocks."))
    for i in range(layers):
        p = f"transformer.resblocks.{i}"
        qkv = norm(tokens, f"{p}.ln_1") @ s[f"{p}.attn.in_proj_weight"].T + s[f"{p}.attn.in_proj_bias"]
        q, k, v = qkv.reshape(n, -1, 3, heads, hd).permute(2, 0, 3, 1, 4)
        attn = torch.softmax(q @ k.transpose(-2, -1) / hd**0.5, dim=-1)
        out = (attn @ v).transpose(1, 2).reshape(n, -1, width)
        tokens = tokens + out @ s[f"{p}.attn.out_proj.weight"].T + s[f"{p}.attn.out_proj.bias"]
        hidden = norm(tokens, f"{p}.ln_2") @ s[f"{p}.mlp.c_fc.weight"].T + s[f"{p}.mlp.c_fc.bias"]
        hidden = hidden * torch.sigmoid(1.702 * hidden)
        tokens = tokens + hidden @ s[f"{p}.mlp.c_proj.weight"].T + s[f"{p}.mlp.c_proj.bias"]
    return norm(tokens[:, 0], "ln_post") @ s["proj"]


@pytest.fixture
def clean_fid_clip(monkeypatch: pytest.MonkeyPatch) -> types.ModuleType:
    """clean-fid's `cleanfid.clip_features` (it imports openai's `clip`, which only `CLIP_fx.__init__` uses)."""
    monkeypatch.setitem(sys.modules, "clip", types.ModuleType("clip"))
    monkeypatch.delitem(sys.modules, "cleanfid.clip_features", raising=False)
    import cleanfid.clip_features

    return cleanfid.clip_features


def clean_fid_features(module, images: list[np.ndarray], encode_image, tmp_path: Path) -> torch.Tensor:
    """clean-fid's CLIP-FID pipeline on `images`, its network replaced by `encode_image`."""
    from cleanfid.utils import ResizeDataset

    files = []
    for i, image in enumerate(images):
        files.append(tmp_path / f"{i}.npy")
        np.save(files[-1], image)
    dataset = ResizeDataset([str(f) for f in files], mode="clean")
    dataset.fn_resize = module.img_preprocess_clip
    fx = object.__new__(module.CLIP_fx)
    fx.model = types.SimpleNamespace(encode_image=encode_image)
    return torch.cat([fx(dataset[i][None]) for i in range(len(files))])


def cmmd_preprocess(image: np.ndarray, size: int) -> np.ndarray:
    """CMMD's `_center_crop_and_resize`, `/ 255.0` and `normalize_image` in float32: `(size, size, 3)`."""
    im = Image.fromarray(image)
    w, h = im.size
    side = min(w, h)
    top, left = (h - side) // 2, (w - side) // 2
    im = im.crop((left, top, left + side, top + side)).resize((size, size), resample=Image.BICUBIC)
    x = np.asarray(im).astype(np.float32) / 255.0
    # JAX without x64 turns the float64 mean and std into float32
    return (x - CLIP_MEAN.astype(np.float32)) / CLIP_STD.astype(np.float32)


# --- fixtures ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def vitb32_visual() -> dict[str, torch.Tensor]:
    return random_visual(VITB32, seed=0)


@pytest.fixture(scope="module")
def vitb32_file(vitb32_visual, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random ViT-B/32 tower in an OpenAI-layout TorchScript archive (~180 MB), written once."""
    return save_openai_archive(VITB32, vitb32_visual, tmp_path_factory.mktemp("clip") / "ViT-B-32.pt")


@pytest.fixture(scope="module")
def vitb32_extractor(vitb32_file: Path):
    return ExtractionOptions(features="clip-vitb32", weights=str(vitb32_file), device="cpu").load_extractor()


# --- the features -----------------------------------------------------------------------------------------


def test_archive_reads_as_torch_jit_load_does(vitb32_file: Path, vitb32_visual) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        theirs = torch.jit.load(str(vitb32_file), map_location="cpu").state_dict()
    weights = load_weights(vitb32_file, VITB32)
    assert set(weights.visual) == set(vitb32_visual) and weights.visual["visual.proj"].dtype == torch.float32
    for key, value in vitb32_visual.items():
        assert torch.equal(theirs[key], value) and torch.equal(weights.visual[key], value.float()), key


def test_features_equal_clean_fid_with_the_official_forward(
    vitb32_visual, vitb32_extractor, clean_fid_clip, tmp_path: Path, one_thread
) -> None:
    images = _images(2, [(32, 32), (32, 32), (64, 48), (224, 224), (45, 300), (257, 300)])
    seen: list[torch.Tensor] = []

    def encode_image(x: torch.Tensor) -> torch.Tensor:
        seen.append(x)
        return official_forward(vitb32_visual, x)

    reference = clean_fid_features(clean_fid_clip, images, encode_image, tmp_path)
    torch.testing.assert_close(vitb32_extractor.preprocess(_chw(images)), torch.cat(seen), rtol=0, atol=0)
    start = time.perf_counter()
    ours = vitb32_extractor.extract(_chw(images), ("embedding",))["embedding"]
    print(f"ViT-B/32: {len(images) / (time.perf_counter() - start):.1f} images/s (1 thread, first call builds it)")
    assert ours.shape == (6, 512) and ours.dtype == torch.float32
    relative = ((ours.double() - reference).norm(dim=1) / reference.norm(dim=1)).max().item()
    print(f"max relative difference to the official forward: {relative:.2e}")
    assert relative < 1e-5, relative
    batch = torch.stack(_chw(images[:2]))
    torch.testing.assert_close(vitb32_extractor.extract(batch)["embedding"], ours[:2], rtol=1e-5, atol=1e-6)


# OpenAI's ViT-L/14 towers as openai/CLIP `clip/model.py` `build_model` reads them from the archives (width
# 1024, 24 layers, patch 14, a 768-d projection; 16x16 or 24x24 patches), written here, not read from ARCHS.
VITL14_TOWERS = {
    "clip-vitl14": (
        "ViT-L-14.pt",
        types.SimpleNamespace(patch_size=14, width=1024, layers=24, tokens=257, embed_dim=768),
    ),
    "clip-vitl14-336": (
        "ViT-L-14-336px.pt",
        types.SimpleNamespace(patch_size=14, width=1024, layers=24, tokens=577, embed_dim=768),
    ),
}


@pytest.mark.parametrize("space", ["clip-vitl14", "clip-vitl14-336"])
def test_vitl14_spaces_equal_the_official_forward(space: str, clean_fid_clip, tmp_path: Path, one_thread) -> None:
    """One image through each registered ViT-L/14 space, random weights in OpenAI's layout at OpenAI's sizes,
    against the peer's own preprocessing (clean-fid's, CMMD's) and the official forward in float64. About
    19 s (224 px) and 26 s (336 px) on a 2-core machine, the two forwards of the 24 blocks most of it."""
    name, tower = VITL14_TOWERS[space]
    visual = random_visual(tower, seed=4)
    path = save_openai_archive(tower, visual, tmp_path / name)
    extractor = ExtractionOptions(features=space, weights=str(path), device="cpu").load_extractor()
    image = _images(5, [(45, 40)])
    if space == "clip-vitl14":
        reference = clean_fid_features(clean_fid_clip, image, lambda x: official_forward(visual, x), tmp_path)
    else:
        reference = official_forward(visual, torch.from_numpy(cmmd_preprocess(image[0], 336).transpose(2, 0, 1))[None])
    ours = extractor.extract(_chw(image))["embedding"]
    assert ours.shape == (1, 768) and ours.dtype == torch.float32
    relative = ((ours.double() - reference).norm(dim=1) / reference.norm(dim=1)).max().item()
    assert relative < 1e-5, relative


def test_network_equals_torch_fidelity_build_model(vitb32_visual, one_thread) -> None:
    from torch_fidelity.feature_extractor_clip import build_model

    state = {**{k: v.clone() for k, v in vitb32_visual.items()}, "text_projection": torch.zeros(512, 512).half()}
    theirs = build_model(state, torch.float32).visual
    ours = build_network(VITB32, {k: v.float() for k, v in vitb32_visual.items()})
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(3))
    with torch.inference_mode():
        torch.testing.assert_close(ours(x), theirs(x), rtol=1e-5, atol=1e-5)


def test_cmmd_preprocessing_equals_the_authors(tmp_path: Path) -> None:
    """The ViT-L/14@336px space's input, without building its network (it is built on first use)."""
    weights = ClipWeights(tmp_path / "unused.pt", "0" * 64, ARCHS["vitl14-336"], {})
    extractor = ClipExtractor(weights, CROP_THEN_RESIZE)
    images = _images(4, [(32, 32), (64, 48), (48, 65), (336, 336), (400, 401), (300, 199)])
    ours = extractor.preprocess(_chw(images))
    expected = np.stack([cmmd_preprocess(i, 336) for i in images]).transpose(0, 3, 1, 2)
    torch.testing.assert_close(ours, torch.from_numpy(expected), rtol=0, atol=0)
    assert extractor.settings()["resize"] == "centre-crop-pil-bicubic-336"


@pytest.mark.parametrize("space", ["vitb32", "vitl14"])
def test_centre_crop_of_odd_margins_equals_torchvision(space: str, tmp_path: Path) -> None:
    """Margins of 4k + 1 and 4k + 3 pixels after the resize (half-offsets k + 0.5 and k + 1.5): torchvision's
    `CenterCrop` rounds them half to even, which truncation or rounding half up would miss on one of the two."""
    weights = ClipWeights(tmp_path / "unused.pt", "0" * 64, ARCHS[space], {})
    extractor = ClipExtractor(weights, SHORTER_SIDE_THEN_CROP)
    sizes = [(32, 33), (33, 32), (32, 35), (35, 32), (64, 65), (65, 64), (40, 41), (224, 227), (227, 224)]
    images = [Image.fromarray(i) for i in _images(13, sizes)]
    resize = TF.Resize(224, TF.InterpolationMode.BICUBIC)
    assert {(max(resize(i).size) - 224) % 4 for i in images} == {1, 3}
    crop = TF.Compose([resize, TF.CenterCrop(224)])
    expected = np.stack([np.asarray(crop(i)) for i in images]).transpose(0, 3, 1, 2)
    ours = extractor.resized(_chw([np.asarray(i) for i in images]))
    torch.testing.assert_close(ours, torch.from_numpy(expected).float(), rtol=0, atol=0)


def test_specs_and_settings(vitb32_extractor, vitb32_file: Path) -> None:
    assert {n: (EXTRACTORS[n].feature_dim, EXTRACTORS[n].kinds) for n in EXTRACTORS if n.startswith("clip")} == {
        "clip-vitb32": (512, {FEATURES: "embedding"}),
        "clip-vitl14": (768, {FEATURES: "embedding"}),
        "clip-vitl14-336": (768, {FEATURES: "embedding"}),
    }
    assert EXTRACTORS["clip-vitl14"].resize == "pil-bicubic-shorter-side-224-centre-crop"
    assert vitb32_extractor.settings() == {
        "extractor": "clip-vitb32",
        "weights_sha256": hashlib.sha256(vitb32_file.read_bytes()).hexdigest(),
        "resize": "pil-bicubic-shorter-side-224-centre-crop",
        "precision": "exact",
        "device": "cpu",
    }


def test_cli_fid_in_the_clip_space(vitb32_file: Path, tmp_path: Path, capsys) -> None:
    for name, seed in (("a", 8), ("b", 9)):
        (tmp_path / name).mkdir()
        for i, image in enumerate(_images(seed, [(32, 32)] * 3)):
            Image.fromarray(image).save(tmp_path / name / f"{i}.png")
    code, out, err = run_cli(
        capsys, "fid", tmp_path / "a", tmp_path / "b", "--features", "clip-vitb32", "--weights", vitb32_file,
        "--device", "cpu", "--no-cache", "--quiet", "--json",
    )  # fmt: skip
    assert code == 0, err
    assert '"clip-vitb32"' in out


# --- the weights ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["missing", "shape", "extra"])
def test_bad_archives_are_one_line_errors(fault: str, vitb32_visual, tmp_path: Path) -> None:
    arch = dataclasses.replace(VITB32, layers=2)
    visual = {k: v for k, v in vitb32_visual.items() if not k.startswith("visual.transformer.resblocks.")} | {
        k: v
        for k, v in vitb32_visual.items()
        if k.startswith(("visual.transformer.resblocks.0.", "visual.transformer.resblocks.1."))
    }
    if fault == "missing":
        del visual["visual.transformer.resblocks.1.ln_2.bias"]
    elif fault == "shape":
        visual["visual.positional_embedding"] = visual["visual.positional_embedding"][:17]
    path = save_openai_archive(arch, visual, tmp_path / "ViT-B-32.pt")
    if fault == "extra":
        arch = dataclasses.replace(arch, layers=1)
    expected = {
        "missing": r"not the official CLIP ViT-B-32\.pt \(missing visual\.transformer\.resblocks\.1\.ln_2\.bias\)",
        "shape": r"visual\.positional_embedding has shape \(17, 768\), expected \(50, 768\)",
        "extra": r"unexpected key visual\.transformer\.resblocks\.1\.",
    }[fault]
    with pytest.raises(GanEvalError, match=expected) as info:
        load_weights(path, arch)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_an_archive_carrying_code_is_refused_without_running_it(tmp_path: Path, capfd) -> None:
    path = _save(WithCode(), tmp_path / "ViT-B-32.pt")
    with pytest.raises(GanEvalError, match=r"not the official CLIP ViT-B-32\.pt") as info:
        load_weights(path, VITB32)
    assert str(path) in str(info.value) and MARKER not in capfd.readouterr().out
    with pytest.raises(GanEvalError, match="holds none of the tensors of the known networks"):
        import_weights_file(str(path))
    assert MARKER not in capfd.readouterr().out


def test_import_list_and_resolution_order(vitb32_file: Path, tmp_path: Path, monkeypatch) -> None:
    assert closest_networks(str(vitb32_file))[0][0] == "clip-vitb32"
    cached = import_weights(vitb32_file, VITB32)
    assert cached == weights_cache_dir() / "ViT-B-32.pt"
    [entry] = describe_cached_weights(VITB32)
    assert entry["sha256"] == file_sha256(vitb32_file) and entry["official"] is False
    assert resolve_weights_path(VITB32) == cached
    monkeypatch.setenv("GAN_EVAL_CLIP_VITB32_WEIGHTS", str(vitb32_file))
    assert resolve_weights_path(VITB32) == vitb32_file
    assert resolve_weights_path(VITB32, tmp_path / "explicit.pt") == tmp_path / "explicit.pt"
    monkeypatch.setenv("GAN_EVAL_CLIP_VITB32_WEIGHTS", str(tmp_path / "nowhere.pt"))
    with pytest.raises(GanEvalError, match=r"GAN_EVAL_CLIP_VITB32_WEIGHTS=.* is not a file"):
        resolve_weights_path(VITB32)


def test_download_from_a_local_server(vitb32_file: Path, monkeypatch) -> None:
    sha = file_sha256(vitb32_file)
    arch = dataclasses.replace(VITB32, sha256=sha)  # the official URL's folder is the file's sha256
    with _serving(vitb32_file) as server:
        monkeypatch.setattr(clip_weights, "BASE_URL", f"{server}/good")
        path = resolve_weights_path(arch, progress=False)  # nothing cached: downloads from <sha256>/ViT-B-32.pt
        assert path == weights_cache_dir() / "ViT-B-32.pt" and file_sha256(path) == sha
        path.unlink()
        with pytest.raises(GanEvalError, match=f"sha256 {sha[:16]}\\.\\.\\., expected {VITB32.sha256[:16]}"):
            download_weights(VITB32, progress=False)  # the official checksum: this file is not OpenAI's
        for kind in ("short", "chunked"):
            with pytest.raises(GanEvalError, match="cut short"):
                download_weights(arch, f"{server}/{kind}/ViT-B-32.pt", progress=False)
        with pytest.raises(GanEvalError, match="HTTP 404"):
            download_weights(arch, f"{server}/missing/ViT-B-32.pt", progress=False)
    assert not weights_cache_dir().exists() or sorted(p.name for p in weights_cache_dir().iterdir()) == []


def test_missing_weights_say_how_to_get_them(tmp_path: Path, capsys, monkeypatch) -> None:
    monkeypatch.setattr(clip_weights, "BASE_URL", "http://127.0.0.1:9")
    (tmp_path / "a").mkdir()
    for i, image in enumerate(_images(10, [(32, 32)] * 2)):
        Image.fromarray(image).save(tmp_path / "a" / f"{i}.png")
    code, _, err = run_cli(capsys, "fid", tmp_path / "a", tmp_path / "a", "--features", "clip-vitl14-336", "--quiet")
    one_error_line(code, err, "ViT-L-14-336px.pt", "--weights", "GAN_EVAL_CLIP_VITL14_336_WEIGHTS")


def test_cli_weights_import_and_info_handle_the_clip_space(vitb32_file: Path, capsys) -> None:
    code, out, _ = run_cli(capsys, "weights", "import", str(vitb32_file))
    assert code == 0 and "ViT-B-32.pt" in out and "(clip-vitb32)" in out
    code, out, _ = run_cli(capsys, "weights", "info", "--json")
    listed = {entry["space"]: entry for entry in json.loads(out)["weights"]}
    assert listed["clip-vitb32"]["sha256"] == file_sha256(vitb32_file)
    assert listed["clip-vitb32"]["official"] is False


def test_evaluate_cmmd_on_these_features(vitb32_file: Path, vitb32_extractor, one_thread) -> None:
    """`evaluate(..., "cmmd")` in a CLIP space equals the paper's estimator on the extractor's embeddings."""
    real, fake = np.stack(_images(11, [(32, 32)] * 5)), np.stack(_images(12, [(40, 40)] * 4))
    extraction = ExtractionOptions(features="clip-vitb32", weights=str(vitb32_file), cache=False, progress=False)
    result = gan_eval.evaluate(real, fake, "cmmd", extraction=extraction, device="cpu")
    x, y = (
        vitb32_extractor.extract(torch.from_numpy(v).permute(0, 3, 1, 2))["embedding"].double().numpy()
        for v in (real, fake)
    )
    x, y = x / np.linalg.norm(x, axis=1, keepdims=True), y / np.linalg.norm(y, axis=1, keepdims=True)

    def mean_kernel(p: np.ndarray, q: np.ndarray) -> float:
        return float(np.exp(-((p[:, None] - q[None]) ** 2).sum(-1) / (2 * 10.0**2)).mean())

    expected = 1000 * (mean_kernel(x, x) + mean_kernel(y, y) - 2 * mean_kernel(x, y))
    assert result.metrics == ("cmmd",) and result.settings["extractor"] == "clip-vitb32"
    assert result["cmmd"] == pytest.approx(expected, rel=1e-9)
