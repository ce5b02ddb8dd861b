"""torchvision's VGG-19 weights file: the checks, import, look-up order, `gan-eval weights`, and the checked
download against a local HTTP server (the official URL cannot be reached here)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import pytest
import torch
from cli_runner import run_cli
from style.vgg19_reference import random_state_dict, write_weights
from test_weights import _serving

from gan_eval.digest import file_sha256
from gan_eval.errors import GanEvalError
from gan_eval.style import weights as vgg19_weights
from gan_eval.style.weights import (
    FILE_NAME,
    describe_cached_weights,
    download_weights,
    import_weights,
    load_weights,
    resolve_weights_path,
    weights_cache_dir,
    weights_url,
)
from gan_eval.weights_catalogue import closest_networks, import_weights_file


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    return random_state_dict(seed=0)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_weights(tmp_path_factory.mktemp("vgg19") / FILE_NAME, seed=0)


def test_official_name_url_and_what_is_kept(weights_file: Path, state: dict[str, torch.Tensor]) -> None:
    assert weights_url() == "https://download.pytorch.org/models/vgg19-dcbb9e9d.pth"
    weights = load_weights(weights_file)
    assert weights.sha256 == file_sha256(weights_file)
    assert set(weights.features) == {k for k in state if k.startswith("features.")} and len(weights.features) == 32
    assert all(torch.equal(weights.features[k], state[k]) for k in weights.features)
    assert closest_networks(str(weights_file))[0][0] == "vgg19"


@pytest.mark.parametrize("fault", ["missing", "shape", "extra", "integer", "pickled", "nan", "vgg16"])
def test_bad_weights_are_one_line_errors(fault: str, state: dict[str, torch.Tensor], tmp_path: Path) -> None:
    state = dict(state)
    if fault == "missing":
        del state["classifier.6.bias"]
    elif fault == "shape":
        state["features.0.weight"] = state["features.0.weight"][:32]
    elif fault == "extra":
        state["features.1.running_mean"] = torch.zeros(64)
    elif fault == "integer":
        state["features.0.bias"] = torch.zeros(64, dtype=torch.int64)
    elif fault == "nan":
        state["features.28.weight"] = state["features.28.weight"].clone()
        state["features.28.weight"][0, 0, 0, 0] = float("nan")
    elif fault == "vgg16":  # VGG-16's file has no conv3_4, conv4_4, conv5_4: its later indices differ
        del state["features.34.weight"], state["features.34.bias"]
    path = tmp_path / "w.pth"
    torch.save({"model": object()} if fault == "pickled" else state, path)
    expected = {
        "missing": r"not torchvision's VGG-19 \(missing classifier\.6\.bias\)",
        "shape": r"features\.0\.weight has shape \(32, 3, 3, 3\), expected \(64, 3, 3, 3\)",
        "extra": "unexpected key features.1.running_mean",
        "integer": "features.0.bias has dtype torch.int64",
        "pickled": "not a readable PyTorch state dict",
        "nan": "has non-finite values in features.28.weight",
        "vgg16": r"not torchvision's VGG-19 \(missing features\.34\.weight\)",
    }[fault]
    with pytest.raises(GanEvalError, match=expected) as info:
        load_weights(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(GanEvalError) as imported:  # claimed, then refused by the full check; or VGG-19 the closest
        import_weights_file(str(path))
    refused_by_the_check = str(imported.value) == str(info.value)
    assert fault == "pickled" or refused_by_the_check or "; the closest is VGG-19, " in str(imported.value)


def test_import_list_and_resolution_order(weights_file: Path, tmp_path: Path, monkeypatch) -> None:
    cached = import_weights(weights_file)
    assert cached == weights_cache_dir() / "vgg19-dcbb9e9d.pth" and file_sha256(cached) == file_sha256(weights_file)
    [entry] = describe_cached_weights()
    assert entry == {
        "path": str(cached),
        "sha256": file_sha256(weights_file),
        "format": "state-dict",
        "arch": "vgg19",
        "official": False,  # random weights: their sha256 does not start with dcbb9e9d
    }
    assert resolve_weights_path() == cached
    monkeypatch.setenv("GAN_EVAL_VGG19_WEIGHTS", str(weights_file))
    assert resolve_weights_path() == weights_file
    assert resolve_weights_path(tmp_path / "explicit.pth") == tmp_path / "explicit.pth"
    monkeypatch.setenv("GAN_EVAL_VGG19_WEIGHTS", str(tmp_path / "nowhere.pth"))
    with pytest.raises(GanEvalError, match=r"GAN_EVAL_VGG19_WEIGHTS=.* is not a file"):
        resolve_weights_path()
    cached.write_bytes(b"truncated")
    [entry] = describe_cached_weights()
    assert "not a readable PyTorch state dict" in entry["error"]


def test_download_from_a_local_server(weights_file: Path, monkeypatch) -> None:
    sha = file_sha256(weights_file)
    with _serving(weights_file) as server:
        official = vgg19_weights.PUBLISHED
        monkeypatch.setattr(vgg19_weights, "PUBLISHED", replace(official, url=f"{server}/good/{FILE_NAME}"))
        # the official file name's checksum, dcbb9e9d..., refuses these random weights
        with pytest.raises(GanEvalError, match=f"sha256 {sha[:16]}\\.\\.\\., expected dcbb9e9d") as info:
            resolve_weights_path(progress=False)
        assert "GAN_EVAL_VGG19_WEIGHTS" in str(info.value) and "gan-eval weights import" in str(info.value)
        assert not (weights_cache_dir() / FILE_NAME).exists()
        monkeypatch.setattr(vgg19_weights, "PUBLISHED", replace(vgg19_weights.PUBLISHED, sha256=sha[:8]))
        path = resolve_weights_path(progress=False)  # nothing cached: downloads from the official path
        assert path == weights_cache_dir() / FILE_NAME and file_sha256(path) == sha
        path.unlink()
        for kind in ("short", "chunked"):
            with pytest.raises(GanEvalError, match="cut short"):
                download_weights(f"{server}/{kind}/{FILE_NAME}", progress=False)
        with pytest.raises(GanEvalError, match="HTTP 404"):
            download_weights(f"{server}/missing/{FILE_NAME}", progress=False)
    assert not weights_cache_dir().exists() or sorted(p.name for p in weights_cache_dir().iterdir()) == []


def test_a_download_that_is_not_vgg19_leaves_nothing(tmp_path: Path) -> None:
    other = tmp_path / FILE_NAME
    torch.save({"features.0.weight": torch.zeros(64, 3, 3, 3)}, other)
    with _serving(other) as server, pytest.raises(GanEvalError, match=r"not usable: .*missing"):
        download_weights(f"{server}/good/{FILE_NAME}", sha256=file_sha256(other), progress=False)
    assert not weights_cache_dir().exists() or list(weights_cache_dir().iterdir()) == []


def test_cli_weights_info_lists_vgg19(weights_file: Path, capsys) -> None:
    import_weights(weights_file)
    code, out, _ = run_cli(capsys, "weights", "info", "--json")
    listed = {entry["space"]: entry for entry in json.loads(out)["weights"]}
    assert code == 0 and listed["vgg19"]["sha256"] == file_sha256(weights_file)
    code, out, _ = run_cli(capsys, "weights", "info")
    assert code == 0 and f"{weights_cache_dir() / FILE_NAME}" in out and "space vgg19" in out


def test_cli_weights_import_routes_a_vgg19_file_to_vgg19(weights_file: Path, capsys) -> None:
    code, out, err = run_cli(capsys, "weights", "import", str(weights_file))
    assert code == 0 and FILE_NAME in out and "(vgg19)" in out, err
