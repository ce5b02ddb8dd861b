"""`gan-eval train` in-process: the checkpoint it writes, the same weights as the library, monitoring, errors."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from cli_runner import one_error_line, run_cli

from gan_eval.models.checkpoint import load_generator
from gan_eval.models.sampling import sample
from gan_eval.models.training import Trainer, train


@pytest.fixture(autouse=True)
def restore_threads() -> Iterator[None]:
    """`gan-eval train --threads` sets torch's thread count for the process; put it back after each test."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def test_checkpoint_matches_the_library_run(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    out = tmp_path / "ckpt"
    code, stdout, err = run_cli(
        capsys, "train", "hinge", "--data", "ring8", "--steps", "6", "--seed", "3", "--out", out
    )
    assert code == 0, err
    assert str(out) in stdout and "6 steps" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["config.json", "generator.pt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt"]  # no staging folder left behind
    generator, config = load_generator(out)
    assert (config.model, config.dataset, config.steps, config.seed) == ("hinge", "ring8", 6, 3)
    assert config.training["threads"] == 1 and config.training["device"] == "cpu"

    torch.set_num_threads(1)
    expected, _ = train("hinge", "ring8", steps=6, seed=3, device="cpu", progress=False)
    for name, tensor in expected.state_dict().items():
        assert torch.equal(generator.state_dict()[name], tensor), name
    assert sample(generator, config, 10, latent_seed=0).shape == (10, 2)


def test_json_and_images(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    args = ("train", "dcgan", "--data", "digits", "--steps", "2", "--batch-size", "4", "--out", tmp_path / "d")
    code, stdout, err = run_cli(capsys, *args, "--json", "--quiet")
    assert code == 0, err
    config = json.loads(stdout)
    assert config["model"] == "dcgan" and config["batch_size"] == 4 and config["data"]["shape"] == [3, 32, 32]
    assert err == ""  # --quiet: no progress bar


def test_monitor_records_every_step(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    run_dir = tmp_path / "run"
    args = ("train", "lsgan", "--data", "grid25", "--steps", "5", "--batch-size", "16", "--out", tmp_path / "c")
    code, _, err = run_cli(capsys, *args, "--monitor", run_dir, "--quiet")
    assert code == 0, err
    events = [json.loads(line) for line in (run_dir / "events.jsonl").read_text().splitlines()]
    scalars = [e for e in events if e["kind"] == "scalars"]
    assert [e["step"] for e in scalars] == [1, 2, 3, 4, 5]
    assert all({"d_loss", "g_loss", "d_real", "d_fake"} <= set(e) for e in scalars)
    assert any(e["kind"] == "gradients" and e["step"] == 1 for e in events)


def test_refusals_write_nothing(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    taken = tmp_path / "taken"
    taken.mkdir()
    (taken / "keep.txt").write_text("mine")
    code, _, err = run_cli(capsys, "train", "gan", "--data", "ring8", "--steps", "2", "--out", taken)
    one_error_line(code, err, str(taken), "not empty")
    assert sorted(p.name for p in taken.iterdir()) == ["keep.txt"]

    (tmp_path / "file").write_text("x")
    code, _, err = run_cli(capsys, "train", "gan", "--data", "ring8", "--steps", "2", "--out", tmp_path / "file")
    one_error_line(code, err, "file", "is a file")

    code, _, err = run_cli(capsys, "train", "cgan", "--data", "ring8", "--steps", "2", "--out", tmp_path / "c")
    one_error_line(code, err, "class-conditional")
    assert not (tmp_path / "c").exists()

    for bad in (("vae", "--data", "ring8"), ("gan", "--data", "mnist"), ("gan", "--data", "ring8", "--steps", "0")):
        code, _, err = run_cli(capsys, "train", *bad, "--out", tmp_path / "x")
        one_error_line(code, err)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["file", "taken"]


def test_an_interrupted_run_leaves_no_checkpoint(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    original = Trainer.train_step

    def interrupted(self: Trainer) -> dict[str, float]:
        if self.step == 2:
            raise KeyboardInterrupt
        return original(self)

    monkeypatch.setattr(Trainer, "train_step", interrupted)
    code, _, err = run_cli(
        capsys, "train", "gan", "--data", "ring8", "--steps", "5", "--out", tmp_path / "c", "--quiet"
    )
    assert code == 130 and "interrupted" in err
    assert list(tmp_path.iterdir()) == []


def test_trains_on_a_users_folder_and_names_a_wrong_size(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    """`--data FOLDER`: every 32x32 image of the folder is the training set; another size is refused by name."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "mine"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(6):
        Image.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)).save(folder / f"{i}.png")
    common = ("--steps", "2", "--seed", "0", "--threads", "1", "--quiet", "--batch-size", "4")
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", folder, *common, "--out", tmp_path / "ok")
    assert code == 0, err
    _, config = load_generator(tmp_path / "ok")
    assert config.dataset == str(folder)

    Image.fromarray(np.zeros((16, 16, 3), dtype=np.uint8)).save(folder / "9-small.png")
    code, _, err = run_cli(capsys, "train", "dcgan", "--data", folder, *common, "--out", tmp_path / "bad")
    one_error_line(code, err, "9-small.png", "32x32")
    assert not (tmp_path / "bad").exists()
