"""`gan-eval gate` on generators: a TorchScript `--generator` judged on the same images as an array would be,
and one generator judged against itself at other latent seeds.

The images are made here independently (latents
`torch.randn(n, d, generator=torch.Generator().manual_seed(seed))` through the
scripted module) and their FID taken with `gan_eval.fid` as an array in
[-1, 1]; the real network runs on a handful of images. The judgements of one
generator against itself take its results as `gan-eval report --json` writes
them (`Result.to_json`), computed with the stand-in extractor on 500 samples a
seed, and run `gan-eval report` itself on the real network for the refusal.
"""

from __future__ import annotations

import hashlib
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import one_error_line, run_cli
from stand_in import StandInExtractor
from torch import nn

import gan_eval
from gan_eval import MetricOptions, evaluate
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


class ShrunkLatents(TinyGenerator):
    """`TinyGenerator` with its latents shrunk by `scale`: a partly collapsed generator (less diverse images)."""

    def __init__(self, latent_dim: int, scale: float) -> None:
        super().__init__(latent_dim)
        self.scale = scale

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return super().forward(self.scale * z)


@pytest.fixture(scope="module")
def seed_results(tmp_path_factory: pytest.TempPathFactory) -> dict[tuple[str, int], Path]:
    """Result files of `TinyGenerator(7)` ("same") and of it with latents shrunk to 0.7 ("shrunk") at latent
    seeds 1, 2, 3, as `gan-eval report REAL FAKE --ci --json` writes them, and of "same" at seed 1 as
    `report --json` without --ci writes it ("plain"): 500 samples each, against 2,000 images of the same
    generator at latent seed 100 (a generator close to its data), stand-in features."""
    folder = tmp_path_factory.mktemp("seed-results")
    with torch.no_grad():
        images = TinyGenerator(7).eval()(torch.randn(2000, 7, generator=torch.Generator().manual_seed(100)))
    real = ((images + 1) * 127.5).round().clamp(0, 255).to(torch.uint8).numpy()
    paths = {}
    for name, generator, groups in (
        ("same", TinyGenerator(7), 20),
        ("shrunk", ShrunkLatents(7, 0.7), 20),
        ("plain", TinyGenerator(7), 0),
    ):
        for seed in (1, 2, 3) if name != "plain" else (1,):
            result = evaluate(
                real,
                generator,
                ["fid"],
                n=500,
                latent_seed=seed,
                options=MetricOptions(ci_groups=groups),
                extractor=StandInExtractor(),
                progress=False,
                extraction=ExtractionOptions(cache=False),
            )
            paths[name, seed] = folder / f"{name}-{seed}.json"
            paths[name, seed].write_text(json.dumps(result.to_json()))
    return paths


def test_a_generator_passes_the_default_rule_against_itself(
    capsys, tmp_path: Path, seed_results: dict[tuple[str, int], Path], monkeypatch
) -> None:
    """Each of seeds 1, 2, 3 as the baseline, each other seed judged with the default rule: every one passes,
    and the verdict prints the noise it allowed for (text, JSON, job summary). A pair of the same generator
    fails with probability at most about alpha = 1% (tests/test_gate.py measures the rate)."""
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    for base in (1, 2, 3):
        baseline = tmp_path / f"baseline-{base}.json"
        code, out, err = run_cli(
            capsys, "gate", "--result", seed_results["same", base], "--baseline", baseline, "--update-baseline"
        )
        assert code == 0 and "noise" in out, out + err
        for seed in {1, 2, 3} - {base}:
            judged = seed_results["same", seed]
            code, out, err = run_cli(capsys, "gate", "--result", judged, "--baseline", baseline)
            assert code == 0, out + err
            assert re.match(
                r"PASS: fid \S+ \([+-]\S+, within 0 \+ noise \S+ \(t=2\.4\d x sigma \S+, alpha=0\.01\)\)$",
                out.splitlines()[0],
            ), out
            code, out, _ = run_cli(capsys, "gate", "--result", judged, "--baseline", baseline, "--json")
            (check,) = json.loads(out)["checks"]
            noise = check["noise"]
            base_std = json.loads(seed_results["same", base].read_text())["fid_std"]
            now_std = json.loads(judged.read_text())["fid_std"]
            assert noise["sigma"] == pytest.approx(math.hypot(base_std, now_std), rel=1e-12)
            assert noise["quantile"] > 2.4 and noise["margin"] == pytest.approx(noise["quantile"] * noise["sigma"])
    assert "| noise |" in summary.read_text() and "t=2.4" in summary.read_text()


def test_a_partly_collapsed_generator_still_fails_the_default_rule(
    capsys, tmp_path: Path, seed_results: dict[tuple[str, int], Path]
) -> None:
    """Latents shrunk to 0.7 (FID about 1.8 against about 0.2) fail against the baseline of seed 1, at every seed."""
    baseline = tmp_path / "baseline.json"
    assert (
        run_cli(capsys, "gate", "--result", seed_results["same", 1], "--baseline", baseline, "--update-baseline")[0]
        == 0
    )
    for seed in (1, 2, 3):
        code, out, err = run_cli(capsys, "gate", "--result", seed_results["shrunk", seed], "--baseline", baseline)
        assert code == 1, out + err
        assert re.match(r"FAIL: fid rose \+\S+ \(\S+ -> \S+\), more than 0 \+ noise \S+ \(t=", out.splitlines()[0]), out


def test_the_default_rule_refuses_a_result_or_baseline_without_noise(
    capsys, tmp_path: Path, seed_results: dict[tuple[str, int], Path]
) -> None:
    """A result saved without a noise estimate (`report --json` without --ci) is refused in one line, exit 2,
    saying how to get one; so is a baseline made from one. An explicit --max-increase X > 0 judges it as a
    plain threshold and says so."""
    plain, same = seed_results["plain", 1], seed_results["same", 2]
    baseline = tmp_path / "baseline.json"
    assert (
        run_cli(capsys, "gate", "--result", seed_results["same", 1], "--baseline", baseline, "--update-baseline")[0]
        == 0
    )
    code, out, err = run_cli(capsys, "gate", "--result", plain, "--baseline", baseline)
    one_error_line(code, err, f"result {plain} carries no noise estimate for fid", "--ci --json")
    assert out == ""
    code, _, err = run_cli(capsys, "gate", "--result", plain, "--baseline", baseline, "--max-increase", "0", "--json")
    one_error_line(code, err, f"result {plain}", "--max-increase 0 needs")

    plain_baseline = tmp_path / "plain-baseline.json"
    code, out, _ = run_cli(capsys, "gate", "--result", plain, "--baseline", plain_baseline, "--update-baseline")
    assert code == 0 and "no noise estimate" in out
    code, _, err = run_cli(capsys, "gate", "--result", same, "--baseline", plain_baseline)
    one_error_line(code, err, f"baseline {plain_baseline} carries no noise estimate for fid", "--update-baseline")

    code, out, err = run_cli(capsys, "gate", "--result", same, "--baseline", plain_baseline, "--max-increase", "5")
    assert code == 0, out + err
    assert "within the plain threshold 5 (no noise estimate" in out.splitlines()[0]


@pytest.mark.inception
def test_report_json_feeds_the_gate_with_ci_only(capsys, tmp_path: Path, real_weights: Path) -> None:
    """`gan-eval report REAL FAKE --json` carries no noise estimate: the default rule refuses it and names
    `--ci`; `report --ci --json` carries it, and the same images pass against their own baseline."""
    fake = tmp_path / "fake.npy"
    images = ((images_of(TinyGenerator(7), 7, 1) + 1) * 127.5).round().clamp(0, 255).to(torch.uint8)
    np.save(fake, images.permute(0, 2, 3, 1).numpy())
    common = ("--metrics", "fid", "--weights", real_weights, "--quiet", "--no-cache")
    outputs = {}
    for name, extra in (("plain", ()), ("ci", ("--ci",))):
        code, out, err = run_cli(capsys, "report", "digits-test", fake, "--json", *common, *extra)
        assert code == 0, err
        outputs[name] = tmp_path / f"{name}.json"
        outputs[name].write_text(out)
    baseline = tmp_path / "baseline.json"
    assert run_cli(capsys, "gate", "--result", outputs["ci"], "--baseline", baseline, "--update-baseline")[0] == 0
    code, _, err = run_cli(capsys, "gate", "--result", outputs["plain"], "--baseline", baseline)
    one_error_line(code, err, str(outputs["plain"]), "no noise estimate", "--ci --json")
    code, out, err = run_cli(capsys, "gate", "--result", outputs["ci"], "--baseline", baseline, "--json")
    assert code == 0, out + err
    assert json.loads(out)["checks"][0]["noise"]["sigma"] > 0
