"""`gan-eval report --generator`: a saved generator (a `gan-eval train` checkpoint) scored with PPL, the same number
as `evaluate` gives on the generator it loads; and the one-line refusals of the generator options.

LPIPS on VGG-16 gets the random official-format weights of tests/test_path_sampling.py, through its environment
variables. `report` loads the Inception weights (the network does not run for PPL alone).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import one_error_line, run_cli
from test_path_sampling import vgg16_state

from gan_eval.digest import file_sha256
from gan_eval.evaluation import evaluate
from gan_eval.extraction import ExtractionOptions
from gan_eval.metrics.registry import MetricOptions
from gan_eval.models.path_generator import open_path_generator
from gan_eval.paired.lpips.network import linear_keys

CHECKPOINT = Path(__file__).resolve().parents[2] / "reference_models" / "dcgan-digits"


@pytest.fixture
def lpips_weights(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path_factory.mktemp("lpips")
    g = torch.Generator().manual_seed(2)
    torch.save({key: torch.rand(shape, generator=g) for key, shape in linear_keys("vgg").items()}, folder / "vgg.pth")
    torch.save(vgg16_state(4), folder / "vgg16.pth")
    monkeypatch.setenv("GAN_EVAL_LPIPS_VGG_WEIGHTS", str(folder / "vgg.pth"))
    monkeypatch.setenv("GAN_EVAL_VGG16_WEIGHTS", str(folder / "vgg16.pth"))


@pytest.fixture
def real(tmp_path: Path) -> Path:
    path = tmp_path / "real.npy"
    np.save(path, np.random.default_rng(0).integers(0, 256, (8, 32, 32, 3), dtype=np.uint8))
    return path


@pytest.mark.inception
def test_a_reference_model_is_scored_with_ppl(real_weights: Path, real: Path, lpips_weights, capsys) -> None:
    ppl = ("--ppl-samples", "21", "--ppl-resize", "16", "--ppl-interpolation", "slerp", "--seed", "3")
    code, out, err = run_cli(
        capsys, "report", real, "--generator", CHECKPOINT, "-n", "8", "--metrics", "ppl", *ppl,
        "--json", "--weights", real_weights, "--no-cache", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    printed = json.loads(out)
    generator, _ = open_path_generator(CHECKPOINT)
    options = MetricOptions(ppl_samples=21, ppl_resize=16, ppl_interpolation="slerp", seed=3)
    extraction = ExtractionOptions(weights=str(real_weights), cache=False, progress=False)
    expected = evaluate(str(real), str(real), ["ppl"], options=options, extraction=extraction, generator=generator)
    assert printed["metrics"] == ["ppl"] and printed["ppl"] == expected["ppl"] > 0
    settings = printed["settings"]
    assert settings["generator"] == str(CHECKPOINT) and settings["latent_seed"] == 0
    assert settings["generator_sha256"] == file_sha256(CHECKPOINT / "generator.pt")
    assert settings["metric_options"]["ppl_interpolation"] == "slerp" and printed["n_fake"] == 21


def test_ppl_without_a_generator_is_refused_naming_it(real: Path, capsys) -> None:
    code, _, err = run_cli(capsys, "report", real, real, "--metrics", "ppl", "--no-cache")
    one_error_line(code, err, "ppl", "generator itself", "--generator")


@pytest.mark.parametrize(
    ("args", "named"),
    [
        ((), "give FAKE, or --generator"),
        (("--generator", CHECKPOINT), "needs -n N"),
        (("FAKE", "--generator", CHECKPOINT, "-n", "4"), "FAKE is given"),
        (("FAKE", "-n", "4"), "-n belongs to --generator"),
        (("FAKE", "--latent-dim", "4"), "--latent-dim belongs to --generator"),
        (("--generator", CHECKPOINT, "-n", "4", "--latent-dim", "4"), "drop it"),
        (("FAKE", "--ppl-space", "w", "--generator", CHECKPOINT), "in w space it needs a mapping network"),
    ],
)
def test_generator_options_are_refused_in_one_line(args, named: str, real: Path, capsys) -> None:
    args = [real if a == "FAKE" else a for a in args]
    code, _, err = run_cli(capsys, "report", real, *args, "--metrics", "ppl", "--no-cache")
    one_error_line(code, err, named)


@pytest.mark.inception
def test_the_gate_scores_a_generator_with_ppl(real_weights: Path, real: Path, lpips_weights, monkeypatch) -> None:
    """`gate --generator CKPT --max-ppl X` runs PPL on the checkpoint's paths (it refused: no generator), the
    same number as `evaluate` gives on the generator it loads. The path count is made small for the test."""
    import functools

    from gan_eval import gate

    small = functools.partial(MetricOptions, ppl_samples=21, ppl_resize=16)
    monkeypatch.setattr(gate, "MetricOptions", small)
    extraction = ExtractionOptions(weights=str(real_weights), cache=False, progress=False)
    limits = gate.Limits(maximum={"ppl": 1e9})
    result = gate.evaluate_for_gate(
        str(real), generator=CHECKPOINT, n=8, limits=limits, ci_groups=0, extraction=extraction
    )
    generator, _ = open_path_generator(CHECKPOINT)
    expected = evaluate(str(real), str(real), ["ppl"], options=small(), extraction=extraction, generator=generator)
    assert result["ppl"] == expected["ppl"] > 0
    assert gate.compare(result, None, limits).passed
