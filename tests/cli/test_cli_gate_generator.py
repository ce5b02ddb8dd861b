"""`gan-eval gate --generator FILE.pt`: a TorchScript generator, judged on the same images as an array would be.

The images are made here independently (latents
`torch.randn(n, d, generator=torch.Generator().manual_seed(seed))` through the
scripted module) and their FID taken with `gan_eval.fid` as an array in
[-1, 1]; the real network runs on a handful of images.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
import torch
from cli_runner import one_error_line, run_cli
from torch import nn

import gan_eval
from gan_eval.extraction import ExtractionOptions

N = 6


class TinyGenerator(nn.Module):
    """`(B, latent_dim)` latents -> `(B, 3, 16, 16)` images in [-1, 1]."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        torch.manual_seed(0)
        self.linear = nn.Linear(latent_dim, 3 * 16 * 16)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(z)).view(-1, 3, 16, 16)


class NoLatentAttribute(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(5, 3 * 16 * 16)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(z)).view(-1, 3, 16, 16)


def scripted(module: nn.Module, path: Path) -> Path:
    torch.jit.script(module).save(str(path))
    return path


def images_of(module: nn.Module, latent_dim: int, seed: int) -> torch.Tensor:
    latents = torch.randn(N, latent_dim, generator=torch.Generator().manual_seed(seed))
    with torch.no_grad():
        return module.eval()(latents)


def test_torchscript_generator_equals_its_images_as_an_array(capsys, tmp_path: Path, real_weights: Path) -> None:
    generator = scripted(TinyGenerator(7), tmp_path / "g.pt")
    common = ("--weights", real_weights, "--quiet", "--no-cache", "--ci-groups", "0", "--max-fid", "1e9", "--json")
    code, out, err = run_cli(
        capsys, "gate", "--real", "digits-test", "--generator", generator, "-n", N, "--latent-seed", 2, *common
    )
    assert code == 0, err
    result = json.loads(out)["result"]
    expected = gan_eval.fid(
        "digits-test",
        images_of(TinyGenerator(7), 7, 2),
        progress=False,
        extraction=ExtractionOptions(value_range=(-1, 1), weights=str(real_weights)),
    )
    assert result["fid"] == expected.fid
    assert result["n_fake"] == N
    settings = result["settings"]
    assert settings["generator"] == str(generator) and settings["latent_seed"] == 2 and settings["latent_dim"] == 7
    assert settings["generator_sha256"] == hashlib.sha256(generator.read_bytes()).hexdigest()
    assert settings["generated"]["fake"]["kind"] == "module"


def test_torchscript_generator_without_latent_attribute_takes_latent_dim(capsys, tmp_path: Path) -> None:
    generator = scripted(NoLatentAttribute(), tmp_path / "g.pt")
    limits = ("--max-fid", "1e9", "--quiet")
    code, _, err = run_cli(capsys, "gate", "--real", "digits-test", "--generator", generator, "-n", 2, *limits)
    one_error_line(code, err, str(generator), "latent_dim")
    code, _, err = run_cli(
        capsys, "gate", "--real", "digits-test", "--generator", generator, "-n", 2, "--latent-dim", 4, *limits
    )
    one_error_line(code, err, str(generator), "failed on latents of shape (2, 4)")


@pytest.mark.parametrize("content", [b"", b"not a TorchScript archive"])
def test_unreadable_generator_file(capsys, tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "g.pt"
    path.write_bytes(content)
    code, _, err = run_cli(capsys, "gate", "--real", "digits-test", "--generator", path, "-n", 2, "--max-fid", "1")
    one_error_line(code, err, str(path), "not a TorchScript generator")
