"""The `vgg16-torchfidelity` feature space against an independent forward and torch-fidelity's `vgg16`.

Random weights are saved in the layout of torchvision's `vgg16-397923af.pth`
(a plain state dict: `features.N.*`, `classifier.N.*`). The reference below is
written out with plain torch ops in float64: TF1's bilinear resize formula
(source `i * in / out`, lower neighbour, upper one clamped), normalisation on
the 0..255 scale, the thirteen convolutions with ReLU and max-pools, and the
classifier up to fc2. torch-fidelity's own `FeatureExtractorVGG16` runs on the
same file (it unpickles with weights_only=False: it only ever gets the file
this test wrote).
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from cli_runner import run_cli
from naive_metrics import naive_prdc
from test_dinov2 import _chw, _images
from test_weights import _serving
from torch_fidelity.feature_extractor_vgg16 import FeatureExtractorVGG16

import gan_eval
from gan_eval.digest import file_sha256
from gan_eval.errors import GanEvalError
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.registry import EXTRACTORS
from gan_eval.extractors.vgg16 import weights as vgg16_weights
from gan_eval.extractors.vgg16.network import official_shapes
from gan_eval.extractors.vgg16.weights import (
    FILE_NAME,
    describe_cached_weights,
    download_weights,
    import_weights,
    load_weights,
    resolve_weights_path,
    weights_cache_dir,
)
from gan_eval.feature_types import FEATURES
from gan_eval.metrics.registry import MetricOptions

CONVS = [0, 2, 5, 7, 10, 12, 14, 17, 19, 21, 24, 26, 28]  # torchvision's `features` indices of the convolutions
POOL_AFTER = {2, 7, 14, 21, 28}  # a 2x2 max-pool follows these convolutions
SIZES = [(32, 32), (32, 32), (45, 45), (224, 224), (50, 31), (257, 300)]


def official_state_dict(seed: int) -> dict[str, torch.Tensor]:
    """Random weights named and shaped as torchvision's VGG-16 file, He-scaled so activations keep their size."""
    g = torch.Generator().manual_seed(seed)
    channels = [3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    state: dict[str, torch.Tensor] = {}
    for i, index in enumerate(CONVS):
        cin, cout = channels[i], channels[i + 1]
        state[f"features.{index}.weight"] = torch.randn(cout, cin, 3, 3, generator=g) * (2 / (9 * cin)) ** 0.5
        state[f"features.{index}.bias"] = 0.1 * torch.randn(cout, generator=g)
    for index, (cin, cout) in zip((0, 3, 6), ((25088, 4096), (4096, 4096), (4096, 1000)), strict=True):
        state[f"classifier.{index}.weight"] = torch.randn(cout, cin, generator=g) * (2 / cin) ** 0.5
        state[f"classifier.{index}.bias"] = 0.1 * torch.randn(cout, generator=g)
    return state


def tf1_resize(x: torch.Tensor, size: int) -> torch.Tensor:
    """TF1 `resize_bilinear` (align_corners False, no half-pixel centres) of `(N, C, H, W)` float64."""

    def taps(n_in: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        src = torch.arange(size, dtype=torch.float64) * (n_in / size)
        lower = src.floor()
        return lower.long(), (lower.long() + 1).clamp(max=n_in - 1), src - lower

    lo, hi, t = taps(x.shape[3])
    x = x[..., lo] + (x[..., hi] - x[..., lo]) * t
    lo, hi, t = taps(x.shape[2])
    return x[..., lo, :] + (x[..., hi, :] - x[..., lo, :]) * t[:, None]


def reference_fc2(state: dict[str, torch.Tensor], images: list[np.ndarray]) -> torch.Tensor:
    """torch-fidelity's vgg16 protocol written out in float64: `(H, W, 3)` uint8 images -> fc2 `(N, 4096)`."""
    s = {k: v.double() for k, v in state.items()}
    x = torch.cat([tf1_resize(torch.from_numpy(i).permute(2, 0, 1)[None].double(), 224) for i in images])
    mean = 255 * torch.tensor([0.485, 0.456, 0.406], dtype=torch.float64).view(1, 3, 1, 1)
    std = 255 * torch.tensor([0.229, 0.224, 0.225], dtype=torch.float64).view(1, 3, 1, 1)
    x = (x - mean) / std
    for index in CONVS:
        x = F.relu(F.conv2d(x, s[f"features.{index}.weight"], s[f"features.{index}.bias"], padding=1))
        if index in POOL_AFTER:
            x = F.max_pool2d(x, 2)
    x = F.relu(x.flatten(1) @ s["classifier.0.weight"].T + s["classifier.0.bias"])
    return x @ s["classifier.3.weight"].T + s["classifier.3.bias"]


def _relative(ours: torch.Tensor, reference: torch.Tensor) -> float:
    return ((ours.double() - reference.double()).norm(dim=1) / reference.double().norm(dim=1)).max().item()


@pytest.fixture(scope="module")
def vgg_state() -> dict[str, torch.Tensor]:
    return official_state_dict(seed=0)


@pytest.fixture(scope="module")
def vgg_file(vgg_state: dict[str, torch.Tensor], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The random weights as torchvision's state dict (~553 MB), written once."""
    path = tmp_path_factory.mktemp("vgg16") / FILE_NAME
    torch.save(vgg_state, path)
    return path


@pytest.fixture(scope="module")
def vgg_extractor(vgg_file: Path):
    return ExtractionOptions(features="vgg16-torchfidelity", weights=str(vgg_file), device="cpu").load_extractor()


@pytest.fixture(scope="module")
def reference(vgg_state: dict[str, torch.Tensor]) -> torch.Tensor:
    return reference_fc2(vgg_state, _images(2, SIZES))


# --- the features -----------------------------------------------------------------------------------------


def test_state_dict_layout_is_torchvisions(vgg_state: dict[str, torch.Tensor]) -> None:
    from torchvision.models import vgg16

    with torch.device("meta"):
        expected = {k: tuple(v.shape) for k, v in vgg16().state_dict().items()}
    assert official_shapes() == expected == {k: tuple(v.shape) for k, v in vgg_state.items()}
    assert len(expected) == 32


def test_features_equal_the_independent_forward(vgg_extractor, reference: torch.Tensor) -> None:
    images = _images(2, SIZES)
    start = time.perf_counter()
    ours = vgg_extractor.extract(_chw(images), ("fc2", "fc2_relu"))
    seconds = time.perf_counter() - start
    assert ours["fc2"].shape == (6, 4096) and ours["fc2"].dtype == torch.float32
    relative = _relative(ours["fc2"], reference)
    print(f"max relative difference {relative:.2e}; {len(images) / seconds:.2f} images/s")
    assert relative < 1e-5, relative
    assert _relative(ours["fc2_relu"], reference.clamp(min=0)) < 1e-5
    assert (reference < 0).any() and (reference > 0).any()  # the ReLU matters on these weights
    batch = torch.stack(_chw(images[:2]))
    assert _relative(vgg_extractor.extract(batch, ("fc2",))["fc2"], ours["fc2"][:2]) < 1e-5  # batch or list


def test_features_equal_torch_fidelity_vgg16(vgg_file: Path, vgg_extractor, reference: torch.Tensor) -> None:
    peer = FeatureExtractorVGG16("vgg16", ["fc2", "fc2_relu"], feature_extractor_weights_path=str(vgg_file))
    assert (
        peer.get_default_feature_layer_for_metric("prc")
        == "fc2_relu"
        == EXTRACTORS["vgg16-torchfidelity"].head(FEATURES)
    )
    for start, stop in ((0, 2), (2, 3), (5, 6)):  # torch-fidelity takes one size per batch
        batch = torch.stack(_chw(_images(2, SIZES)[start:stop]))
        fc2, fc2_relu = peer(batch)
        ours = vgg_extractor.extract(batch, ("fc2", "fc2_relu"))
        assert _relative(ours["fc2"], fc2) < 1e-5
        assert _relative(ours["fc2_relu"], fc2_relu) < 1e-5
        assert _relative(fc2, reference[start:stop]) < 1e-5


def test_spec_and_settings(vgg_extractor, vgg_file: Path) -> None:
    spec = EXTRACTORS["vgg16-torchfidelity"]
    assert spec.kinds == {FEATURES: "fc2_relu"} and spec.feature_dim == 4096 and spec.extractor == "vgg16-torchfidelity"
    assert vgg_extractor.settings() == {
        "extractor": "vgg16-torchfidelity",
        "weights_sha256": hashlib.sha256(vgg_file.read_bytes()).hexdigest(),
        "resize": "tf1-bilinear-224",
        "precision": "exact",
        "device": "cpu",
    }
    with pytest.raises(GanEvalError, match="has no logits head"):
        vgg_extractor.extract(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), ("logits",))


def test_precision_recall_equal_naive_ones_on_these_features(vgg_file: Path, vgg_extractor) -> None:
    real = np.stack(_images(5, [(32, 32)] * 8))
    fake = np.stack(_images(6, [(32, 32)] * 8))
    extraction = ExtractionOptions(features="vgg16-torchfidelity", weights=str(vgg_file), cache=False, progress=False)
    result = gan_eval.evaluate(real, fake, "pr", extraction=extraction, options=MetricOptions(pr_k=3), device="cpu")
    a = vgg_extractor.extract(torch.from_numpy(real).permute(0, 3, 1, 2))["fc2_relu"].double().numpy()
    b = vgg_extractor.extract(torch.from_numpy(fake).permute(0, 3, 1, 2))["fc2_relu"].double().numpy()
    assert result.settings["extractor"] == "vgg16-torchfidelity"
    naive = naive_prdc(a, b, 3, 5)
    assert {k: result[k] for k in ("precision", "recall")} == {k: naive[k] for k in ("precision", "recall")}


# --- the weights ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("fault", ["missing", "shape", "extra", "integer", "pickled"])
def test_bad_weights_are_one_line_errors(fault: str, vgg_state, tmp_path: Path) -> None:
    state = dict(vgg_state)
    if fault == "missing":
        del state["classifier.6.bias"]
    elif fault == "shape":
        state["features.0.weight"] = state["features.0.weight"][:32]
    elif fault == "extra":
        state["features.1.running_mean"] = torch.zeros(64)
    elif fault == "integer":
        state["features.0.bias"] = torch.zeros(64, dtype=torch.int64)
    path = tmp_path / "w.pth"
    torch.save({"model": object()} if fault == "pickled" else state, path)
    expected = {
        "missing": r"not torchvision's VGG-16 \(missing classifier\.6\.bias\)",
        "shape": r"features\.0\.weight has shape \(32, 3, 3, 3\), expected \(64, 3, 3, 3\)",
        "extra": "unexpected key features.1.running_mean",
        "integer": "features.0.bias has dtype torch.int64",
        "pickled": "not a readable PyTorch state dict",
    }[fault]
    with pytest.raises(GanEvalError, match=expected) as info:
        load_weights(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_import_list_and_resolution_order(vgg_file: Path, tmp_path: Path, monkeypatch) -> None:
    cached = import_weights(vgg_file)
    assert cached == weights_cache_dir() / "vgg16-397923af.pth"
    [entry] = describe_cached_weights()
    assert entry["arch"] == "vgg16" and entry["sha256"] == file_sha256(vgg_file)
    assert resolve_weights_path() == cached
    monkeypatch.setenv("GAN_EVAL_VGG16_WEIGHTS", str(vgg_file))
    assert resolve_weights_path() == vgg_file
    assert resolve_weights_path(tmp_path / "explicit.pth") == tmp_path / "explicit.pth"
    monkeypatch.setenv("GAN_EVAL_VGG16_WEIGHTS", str(tmp_path / "nowhere.pth"))
    with pytest.raises(GanEvalError, match=r"GAN_EVAL_VGG16_WEIGHTS=.* is not a file"):
        resolve_weights_path()


def test_download_from_a_local_server(vgg_file: Path, monkeypatch) -> None:
    sha = file_sha256(vgg_file)
    with _serving(vgg_file) as server:
        official = vgg16_weights.PUBLISHED
        monkeypatch.setattr(vgg16_weights, "PUBLISHED", replace(official, url=f"{server}/good/{FILE_NAME}"))
        # the official file name's checksum, 397923af..., refuses these random weights
        with pytest.raises(GanEvalError, match=f"sha256 {sha[:16]}\\.\\.\\., expected 397923af"):
            resolve_weights_path(progress=False)
        assert not (weights_cache_dir() / FILE_NAME).exists()
        monkeypatch.setattr(vgg16_weights, "PUBLISHED", replace(vgg16_weights.PUBLISHED, sha256=sha[:8]))
        path = resolve_weights_path(progress=False)  # nothing cached: downloads from the official path
        assert path == weights_cache_dir() / FILE_NAME and file_sha256(path) == sha
        path.unlink()
        for kind in ("short", "chunked"):
            with pytest.raises(GanEvalError, match="cut short"):
                download_weights(f"{server}/{kind}/{FILE_NAME}", progress=False)
        with pytest.raises(GanEvalError, match="HTTP 404"):
            download_weights(f"{server}/missing/{FILE_NAME}", progress=False)
    assert not weights_cache_dir().exists() or sorted(p.name for p in weights_cache_dir().iterdir()) == []


def test_cli_weights_import_and_info_handle_the_vgg16_space(vgg_file: Path, capsys) -> None:
    code, out, _ = run_cli(capsys, "weights", "import", str(vgg_file))
    assert code == 0 and FILE_NAME in out and "(vgg16-torchfidelity)" in out
    code, out, _ = run_cli(capsys, "weights", "info", "--json")
    listed = {entry["space"]: entry for entry in json.loads(out)["weights"]}
    assert listed["vgg16-torchfidelity"]["sha256"] == file_sha256(vgg_file)
