"""A run served from the feature cache reads no weights file and builds no network.

`gan-eval report --features inception,dinov2-vits14` on four small images, with the real Inception weights
and random ViT-S/14 weights in the official layout: the first run extracts and records both files; the
second, with every weights loader, the file hash and both network builders replaced by functions that
fail, gives the same numbers from the cache. An extractor's settings (its weights sha256 among them) come
from the record, its network from the first `extract`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import run_cli
from PIL import Image
from test_dinov2 import official_state_dict

from gan_eval.digest import file_sha256
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors import weights_files
from gan_eval.extractors.dinov2 import extractor as dinov2_extractor
from gan_eval.extractors.dinov2 import weights as dinov2_weights
from gan_eval.extractors.dinov2.network import ARCHS
from gan_eval.extractors.inception import weights as inception_weights
from gan_eval.extractors.inception.network import InceptionV3TF

pytestmark = pytest.mark.inception

VITS14 = ARCHS["vits14"]
NETWORK_READERS = [
    (inception_weights, "load_weights"),
    (inception_weights, "read_torchscript_tensors"),
    (inception_weights, "read_state_dict"),
    (inception_weights, "file_sha256"),
    (InceptionV3TF, "__init__"),
    (dinov2_weights, "load_weights"),
    (dinov2_extractor, "build_network"),
    (weights_files, "read_state_dict"),
    (weights_files, "file_sha256"),
]


@pytest.fixture(scope="module")
def dinov2_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("lazy") / "dinov2_vits14_pretrain.pth"
    torch.save(official_state_dict(VITS14.embed_dim, VITS14.depth, seed=3), path)
    return path


@pytest.fixture
def images(tmp_path: Path) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    folders = (tmp_path / "real", tmp_path / "fake")
    for folder in folders:
        folder.mkdir()
        for i in range(4):
            Image.fromarray(rng.integers(0, 256, (16, 16, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    return folders


def _refuse_reading_weights(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    calls: list[str] = []
    for module, name in NETWORK_READERS:

        def refuse(*args: object, _name: str = f"{module.__name__}.{name}", **kwargs: object) -> None:
            calls.append(_name)
            raise AssertionError(f"{_name} was called")

        monkeypatch.setattr(module, name, refuse)
    return calls


def test_a_cached_rerun_reads_no_weights_and_builds_no_network(
    real_weights: Path,
    dinov2_file: Path,
    images: tuple[Path, Path],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.setenv("GAN_EVAL_WEIGHTS", str(real_weights))
    monkeypatch.setenv("GAN_EVAL_DINOV2_VITS14_WEIGHTS", str(dinov2_file))
    command = ("report", *images, "--features", "inception,dinov2-vits14", "--metrics", "fid,kid")
    command += ("--kid-subset-size", "4", "--device", "cpu", "--quiet", "--json")
    code, first, err = run_cli(capsys, *command)
    assert code == 0, err

    calls = _refuse_reading_weights(monkeypatch)
    code, second, err = run_cli(capsys, *command)
    assert code == 0, err
    assert calls == []
    first_spaces, second_spaces = json.loads(first)["spaces"], json.loads(second)["spaces"]
    for space in ("inception", "dinov2-vits14"):
        assert second_spaces[space]["cached"] == {"real": True, "fake": True}
        assert (second_spaces[space]["fid"], second_spaces[space]["kid_mean"]) == (
            first_spaces[space]["fid"],
            first_spaces[space]["kid_mean"],
        )
        assert second_spaces[space]["settings"]["weights_sha256"] == first_spaces[space]["settings"]["weights_sha256"]
    assert second_spaces["dinov2-vits14"]["settings"]["weights_sha256"] == file_sha256(dinov2_file)


def test_the_network_is_read_on_the_first_extract(dinov2_file: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    extraction = ExtractionOptions(features="dinov2-vits14", weights=str(dinov2_file), device="cpu")
    # The first run checks the file whole, and records it once its network is built (a file outside the cache).
    extraction.load_extractor().extract(torch.zeros((1, 3, 16, 16), dtype=torch.uint8))
    sha256 = file_sha256(dinov2_file)
    calls = _refuse_reading_weights(monkeypatch)
    extractor = extraction.load_extractor()
    assert extractor.settings()["weights_sha256"] == sha256 and calls == []
    monkeypatch.undo()
    features = extractor.extract(torch.zeros((2, 3, 16, 16), dtype=torch.uint8))["cls"]
    assert features.shape == (2, VITS14.embed_dim) and bool(torch.isfinite(features).all())
