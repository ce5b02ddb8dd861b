"""LPIPS v0.1 against the `lpips` package on the same random weights, and LPIPS's weights files.

Random weights are saved in the official formats: torchvision's AlexNet and
VGG-16 state dicts (every key; the unused classifiers are constant, stored as
expanded tensors so the files stay small) and the `lpips` project's v0.1
linear-layer files (`linN.model.1.weight`, `(1, C, 1, 1)`). The `lpips`
package gets the same files: its trunk is built without ImageNet weights
(`pnet_rand=True`, so nothing is downloaded), its linear layers come from our
file (`model_path`), and the backbone's tensors are copied into its slices.
"""

from __future__ import annotations

import json
from pathlib import Path

import lpips as lpips_package
import numpy as np
import pytest
import torch
from cli_runner import run_cli
from test_weights import _serving

from gan_eval.digest import file_sha256
from gan_eval.errors import GanEvalError
from gan_eval.paired.lpips import weights as lpips_weights
from gan_eval.paired.lpips.network import CHANNELS, MIN_SIZE, SLICE_ENDS, build_network, meta_backbone
from gan_eval.paired.lpips.weights import (
    ALEXNET_FILE_NAME,
    describe_cached_weights,
    import_weights,
    load_alexnet_weights,
    load_linear_weights,
    load_lpips_weights,
    weights_cache_dir,
)
from gan_eval.weights_catalogue import import_weights_file


def backbone_state(net: str, seed: int) -> dict[str, torch.Tensor]:
    """Random torchvision-named weights: He-scaled convolutions, constant (expanded) classifier."""
    g = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in meta_backbone(net).state_dict().items():
        if key.startswith("classifier"):
            state[key] = torch.full((), 0.01).expand(value.shape)
        elif key.endswith("weight"):
            fan_in = value[0].numel()
            state[key] = torch.randn(value.shape, generator=g) * (2 / fan_in) ** 0.5
        else:
            state[key] = 0.1 * torch.randn(value.shape, generator=g)
    return state


def linear_state(net: str, seed: int) -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return {f"lin{i}.model.1.weight": torch.rand(1, c, 1, 1, generator=g) for i, c in enumerate(CHANNELS[net])}


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """`alex`, `vgg` (linear layers), `alexnet`, `vgg16` (backbones): random weights in the official formats."""
    folder = tmp_path_factory.mktemp("lpips-weights")
    paths = {}
    for name, state in (
        ("alex", linear_state("alex", 1)),
        ("vgg", linear_state("vgg", 2)),
        ("alexnet", backbone_state("alex", 3)),
        ("vgg16", backbone_state("vgg", 4)),
    ):
        paths[name] = folder / f"{name}.pth"
        torch.save(state, paths[name])
    return paths


def package_lpips(net: str, linear: Path, backbone: Path) -> torch.nn.Module:
    """The `lpips` package's LPIPS v0.1 with our files: trunk tensors copied into its slices by index."""
    model = lpips_package.LPIPS(net=net, version="0.1", pnet_rand=True, model_path=str(linear), verbose=False)
    state = torch.load(backbone, weights_only=True)
    ends = SLICE_ENDS[net]
    mapped = {}
    for key, value in state.items():
        if key.startswith("features."):
            index = int(key.split(".")[1])
            slice_number = next(k for k, end in enumerate(ends) if index < end) + 1
            mapped[f"slice{slice_number}.{key.removeprefix('features.')}"] = value
    model.net.load_state_dict(mapped, strict=True)
    return model.eval()


def _images(seed: int, n: int, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    rng = np.random.default_rng(seed)
    a = rng.integers(0, 256, (n, 3, height, width)).astype(np.uint8)
    b = np.clip(a + rng.normal(0, 40, a.shape), 0, 255).astype(np.uint8)
    return torch.from_numpy(a), torch.from_numpy(b)


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_lpips_equals_the_lpips_package(net: str, files: dict[str, Path], one_thread: None) -> None:
    backbone = files["alexnet" if net == "alex" else "vgg16"]
    weights = load_lpips_weights(net, files[net], backbone)
    ours = build_network(net, weights.backbone, weights.linear)
    reference = package_lpips(net, files[net], backbone)
    for seed, (height, width) in enumerate([(64, 48), (MIN_SIZE[net], MIN_SIZE[net] + 5)]):
        a, b = _images(seed, 2, height, width)
        with torch.inference_mode():
            expected = reference(a.float() / 127.5 - 1, b.float() / 127.5 - 1).flatten()
            value = ours(a, b)
        assert value.shape == (2,) and (value > 0).all()
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-7)
        assert ours(a, a).abs().max() < 1e-6
    with pytest.raises(RuntimeError):  # the smallest size is the network's: one pixel less fails
        ours(*_images(0, 1, MIN_SIZE[net] - 1, MIN_SIZE[net] - 1))


@pytest.mark.parametrize(
    ("fault", "expected"),
    [
        ("missing", "missing lin4.model.1.weight"),
        ("shape", r"lin1.model.1.weight has shape \(1, 128, 1, 1\), expected \(1, 192, 1, 1\)"),
        ("nan", "non-finite values in lin0.model.1.weight"),
        ("not a state dict", "does not hold a state dict of tensors"),
    ],
)
def test_bad_linear_files_are_one_line_errors(fault: str, expected: str, tmp_path: Path) -> None:
    state = linear_state("alex", 0)
    if fault == "missing":
        del state["lin4.model.1.weight"]
    elif fault == "shape":
        state["lin1.model.1.weight"] = torch.ones(1, 128, 1, 1)
    elif fault == "nan":
        state["lin0.model.1.weight"][0, 3] = float("nan")
    path = tmp_path / "alex.pth"
    torch.save([1, 2] if fault == "not a state dict" else state, path)
    with pytest.raises(GanEvalError, match=expected) as info:
        load_linear_weights(path, "alex")
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_a_vgg16_file_is_not_alexnet(files: dict[str, Path]) -> None:
    with pytest.raises(GanEvalError, match="is not torchvision's AlexNet"):
        load_alexnet_weights(files["vgg16"])
    with pytest.raises(GanEvalError, match=r"neither LPIPS v0\.1 linear layers nor torchvision's AlexNet"):
        import_weights(files["vgg16"])


def test_import_list_and_resolution_order(files: dict[str, Path], tmp_path: Path, monkeypatch) -> None:
    assert import_weights_file(str(files["alex"])) == ("lpips", weights_cache_dir() / "alex.pth")
    assert import_weights_file(str(files["vgg"])) == ("lpips", weights_cache_dir() / "vgg.pth")
    assert import_weights_file(str(files["alexnet"])) == ("lpips", weights_cache_dir() / ALEXNET_FILE_NAME)
    listed = {entry["arch"]: entry for entry in describe_cached_weights()}
    assert listed["lpips-v0.1-alex"]["sha256"] == file_sha256(files["alex"])
    assert listed["lpips-v0.1-vgg"]["sha256"] == file_sha256(files["vgg"])
    assert listed["alexnet"]["sha256"] == file_sha256(files["alexnet"])
    cached = load_lpips_weights("alex")  # both from the cache
    assert cached.linear_path == weights_cache_dir() / "alex.pth"
    assert cached.backbone_path == weights_cache_dir() / ALEXNET_FILE_NAME
    monkeypatch.setenv("GAN_EVAL_LPIPS_ALEX_WEIGHTS", str(files["alex"]))
    monkeypatch.setenv("GAN_EVAL_ALEXNET_WEIGHTS", str(files["alexnet"]))
    from_env = load_lpips_weights("alex")
    assert (from_env.linear_path, from_env.backbone_path) == (files["alex"], files["alexnet"])
    monkeypatch.setenv("GAN_EVAL_VGG16_WEIGHTS", str(files["vgg16"]))
    vgg = load_lpips_weights("vgg")  # linear layers cached, the backbone from VGG-16's variable
    assert vgg.backbone_sha256 == file_sha256(files["vgg16"]) and vgg.linear_sha256 == file_sha256(files["vgg"])
    monkeypatch.setenv("GAN_EVAL_LPIPS_ALEX_WEIGHTS", str(tmp_path / "nowhere.pth"))
    with pytest.raises(GanEvalError, match=r"GAN_EVAL_LPIPS_ALEX_WEIGHTS=.* is not a file"):
        load_lpips_weights("alex")


def test_download_from_a_local_server(files: dict[str, Path], monkeypatch) -> None:
    linear_sha, alexnet_sha = file_sha256(files["alex"]), file_sha256(files["alexnet"])
    with _serving(files["alex"]) as linear_server, _serving(files["alexnet"]) as alexnet_server:
        monkeypatch.setattr(lpips_weights, "LINEAR_BASE_URL", f"{linear_server}/good")
        monkeypatch.setattr(lpips_weights, "ALEXNET_BASE_URL", f"{alexnet_server}/good")
        # the official checksums refuse these random weights, and nothing stays in the cache
        with pytest.raises(GanEvalError, match=f"sha256 {linear_sha[:16]}\\.\\.\\., expected df73285e"):
            load_lpips_weights("alex", progress=False)
        monkeypatch.setitem(lpips_weights.LINEAR_SHA256, "alex", linear_sha)
        with pytest.raises(GanEvalError, match=f"sha256 {alexnet_sha[:16]}\\.\\.\\., expected 7be5be79"):
            load_lpips_weights("alex", progress=False)
        monkeypatch.setattr(lpips_weights, "ALEXNET_SHA256_PREFIX", alexnet_sha[:8])
        downloaded = load_lpips_weights("alex", progress=False)
        assert downloaded.linear_path == weights_cache_dir() / "alex.pth"
        assert downloaded.backbone_path == weights_cache_dir() / ALEXNET_FILE_NAME
        assert (downloaded.linear_sha256, downloaded.backbone_sha256) == (linear_sha, alexnet_sha)
        downloaded.linear_path.unlink()
        with pytest.raises(GanEvalError, match="cut short"):
            lpips_weights.download_linear_weights("alex", f"{linear_server}/short/alex.pth", progress=False)
        monkeypatch.setattr(lpips_weights, "LINEAR_BASE_URL", f"{linear_server}/missing")
        with pytest.raises(GanEvalError, match="HTTP 404") as info:
            lpips_weights.resolve_linear_path("vgg", progress=False)
        for advice in ("pass --lpips-weights PATH", "set GAN_EVAL_LPIPS_VGG_WEIGHTS", "gan-eval weights import"):
            assert advice in str(info.value)
    assert sorted(p.name for p in weights_cache_dir().iterdir()) == [ALEXNET_FILE_NAME]


def test_cli_weights_import_and_info_handle_lpips(files: dict[str, Path], capsys) -> None:
    code, out, _ = run_cli(capsys, "weights", "import", str(files["vgg"]))
    assert code == 0 and "vgg.pth" in out and "(lpips)" in out
    code, out, _ = run_cli(capsys, "weights", "info", "--json")
    [entry] = [e for e in json.loads(out)["weights"] if e["space"] == "lpips"]
    assert entry["arch"] == "lpips-v0.1-vgg" and entry["sha256"] == file_sha256(files["vgg"])


@pytest.mark.parametrize("net", ["alex", "vgg"])
def test_the_files_the_lpips_package_ships_pass_and_have_the_recorded_sha256(net: str) -> None:
    shipped = Path(lpips_package.__file__).parent / "weights" / "v0.1" / f"{net}.pth"
    _, sha, state = load_linear_weights(shipped, net)
    assert sha == lpips_weights.LINEAR_SHA256[net] and len(state) == 5
    assert import_weights(shipped) == weights_cache_dir() / f"{net}.pth"
