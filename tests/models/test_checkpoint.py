"""Checkpoints: an exact round trip through `generator.pt` (weights_only) and `config.json`, and one-line errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch

from gan_eval.errors import GanEvalError
from gan_eval.models.checkpoint import (
    CONFIG_FILE,
    WEIGHTS_FILE,
    GeneratorConfig,
    build_generator,
    load_generator,
    read_config,
    save_generator,
)
from gan_eval.models.training import make_config, training_data


@pytest.fixture(scope="module", params=["dcgan", "gan", "cgan"])
def config(request: pytest.FixtureRequest) -> GeneratorConfig:
    data = "ring8" if request.param == "gan" else "digits"
    return make_config(request.param, training_data(data), steps=3, seed=7)


def trained_like(config: GeneratorConfig) -> torch.nn.Module:
    """A generator with non-default weights and batch-norm statistics, as after training."""
    torch.manual_seed(1)
    generator = build_generator(config)
    with torch.no_grad():
        for tensor in generator.state_dict().values():
            if tensor.is_floating_point():
                tensor.add_(torch.rand_like(tensor) * 0.1)
    return generator


def test_round_trip_is_exact(config: GeneratorConfig, tmp_path: Path) -> None:
    generator = trained_like(config)
    save_generator(tmp_path, generator, config)
    assert sorted(p.name for p in tmp_path.iterdir()) == [CONFIG_FILE, WEIGHTS_FILE]

    state = torch.load(tmp_path / WEIGHTS_FILE, map_location="cpu", weights_only=True)
    original = generator.state_dict()
    assert state.keys() == original.keys()
    for name, tensor in original.items():
        assert torch.equal(state[name], tensor), name

    loaded, loaded_config = load_generator(tmp_path)
    assert loaded_config == config
    assert not loaded.training
    z = torch.randn(5, config.latent_dim, generator=torch.Generator().manual_seed(0))
    labels = torch.arange(5) % config.n_classes if config.n_classes else None
    with torch.no_grad():
        assert torch.equal(loaded(z, labels), generator.eval()(z, labels))


def test_config_json_is_plain_and_complete(config: GeneratorConfig, tmp_path: Path) -> None:
    save_generator(tmp_path, trained_like(config), config)
    data = json.loads((tmp_path / CONFIG_FILE).read_text())
    assert data["format"] == "gan-eval-generator/1"
    assert data["model"] == config.model and data["steps"] == 3 and data["seed"] == 7
    assert data["generator"]["latent_dim"] == config.latent_dim
    assert GeneratorConfig.from_json(data, "x") == config


@pytest.fixture
def saved(tmp_path: Path) -> Path:
    config = make_config("dcgan", training_data("digits"), steps=1, seed=0)
    return save_generator(tmp_path / "ckpt", trained_like(config), config)


def test_missing_folder_and_files(tmp_path: Path, saved: Path) -> None:
    with pytest.raises(GanEvalError, match="does not exist"):
        load_generator(tmp_path / "nope")
    (saved / WEIGHTS_FILE).unlink()
    with pytest.raises(GanEvalError, match=f"{WEIGHTS_FILE} is missing"):
        load_generator(saved)
    (saved / CONFIG_FILE).unlink()
    with pytest.raises(GanEvalError, match=f"{CONFIG_FILE} is missing"):
        read_config(saved)


class Payload:
    """Any class: its pickle must not be loaded."""


def test_pickled_objects_are_refused(saved: Path) -> None:
    torch.save({"weight": Payload()}, saved / WEIGHTS_FILE)
    with pytest.raises(GanEvalError, match="not a readable state dict"):
        load_generator(saved)


def test_damaged_and_mismatched_weights(saved: Path) -> None:
    (saved / WEIGHTS_FILE).write_bytes(b"not a zip archive")
    with pytest.raises(GanEvalError, match="not a readable state dict"):
        load_generator(saved)
    torch.save({"net.0.weight": torch.zeros(2)}, saved / WEIGHTS_FILE)
    with pytest.raises(GanEvalError, match="does not match the architecture"):
        load_generator(saved)
    torch.save({"net.0.weight": 3}, saved / WEIGHTS_FILE)
    with pytest.raises(GanEvalError, match="state dict of tensors"):
        load_generator(saved)


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d.update(format="other/1"), "format"),
        (lambda d: d.pop("generator"), "missing generator"),
        (lambda d: d["generator"].update(type="transformer"), "unknown generator type"),
        (lambda d: d["generator"].update(width="wide"), "bad generator description"),
        (lambda d: d["data"].update(kind="audio"), "data kind"),
    ],
)
def test_bad_configs(saved: Path, edit, message: str) -> None:
    path = saved / CONFIG_FILE
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))
    with pytest.raises(GanEvalError, match=message):
        load_generator(saved)


def test_unreadable_json(saved: Path) -> None:
    (saved / CONFIG_FILE).write_text("{")
    with pytest.raises(GanEvalError, match="unreadable JSON"):
        load_generator(saved)


def test_out_is_a_file(tmp_path: Path) -> None:
    config = make_config("gan", training_data("ring8"), steps=1, seed=0)
    (tmp_path / "file").write_text("x")
    with pytest.raises(GanEvalError, match="is a file"):
        save_generator(tmp_path / "file", build_generator(config), config)
