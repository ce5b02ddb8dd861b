"""Bad outputs and out-of-range values of "Reliability, round two", through the real command line.

Each refusal is exit 2 and one `error:` line naming the culprit, with nothing
written or changed: gate baselines and results holding values no estimator
can give, `plot` records with numbers out of range and damaged sample
pictures, `sample` checkpoints with nonsensical configs or counts beyond the
machine's memory, outputs that are one of the inputs or lie inside an input folder, and long output
names.
"""

from __future__ import annotations

import io
import json
import os
import struct
import warnings
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_harness import CliRun, assert_refused, files_under, image_folder
from PIL import Image

from gan_eval.cli.main import main
from gan_eval.extractors.inception.extractor import INCEPTION_NAME
from gan_eval.models.checkpoint import GeneratorConfig, build_generator, save_generator
from gan_eval.stats import load_stats
from gan_eval.version import __version__

LONG_NAME_BYTES = 250  # legal: NAME_MAX is 255 bytes


def unchanged_after(cli, args: tuple[str | Path, ...], root: Path, *culprits: str | Path, message: str) -> str:
    """Run `gan-eval ARGS`: refused in one line naming the culprits and `message`; no file under `root` changed."""
    before = {p: p.read_bytes() for p in files_under(root)}
    line = assert_refused(cli(*args), *culprits, message=message)
    assert {p: p.read_bytes() for p in files_under(root)} == before
    return line


# --- gate: values outside the range their metric declares ------------------------------------------------


def _result_file(folder: Path, **values: object) -> Path:
    path = folder / "result.json"
    path.write_text(json.dumps({"settings": {"extractor": INCEPTION_NAME}, "n_real": 10, "n_fake": 10, **values}))
    return path


IMPOSSIBLE_VALUES = {
    "negative-fid": ("fid", -2.5, ">= 0"),
    "negative-kid-std": ("kid_std", -0.001, ">= 0"),
    "precision-above-one": ("precision", 1.5, "[0, 1]"),
    "negative-recall": ("recall", -0.1, "[0, 1]"),
    "negative-density": ("density", -0.2, ">= 0"),
    "coverage-above-one": ("coverage", 1.01, "[0, 1]"),
    "negative-fid-noise": ("fid_std", -1.0, ">= 0"),
    "negative-legacy-fid-noise": ("fid_bootstrap_std", -1.0, ">= 0"),
}


@pytest.mark.parametrize("case", IMPOSSIBLE_VALUES)
def test_baseline_with_an_impossible_value_is_refused(cli, tmp_path: Path, case: str) -> None:
    key, value, span = IMPOSSIBLE_VALUES[case]
    result = _result_file(tmp_path, fid=3.0)
    baseline = tmp_path / "baseline.json"
    baseline.write_text(json.dumps({"gan_eval_baseline": 1, "values": {"fid": 2.0, key: value}, "comparable": {}}))
    args = ("gate", "--result", result, "--baseline", baseline, "--max-increase", "1")
    unchanged_after(cli, args, tmp_path, baseline, key, message=f"outside its valid range {span}")


@pytest.mark.parametrize("case", IMPOSSIBLE_VALUES)
def test_result_with_an_impossible_value_is_refused(cli, tmp_path: Path, case: str) -> None:
    key, value, span = IMPOSSIBLE_VALUES[case]
    result = _result_file(tmp_path, **{"fid": 3.0, key: value})
    args = ("gate", "--result", result, "--baseline", tmp_path / "new-baseline.json", "--update-baseline")
    unchanged_after(cli, args, tmp_path, result, key, message=f"outside its valid range {span}")
    assert not (tmp_path / "new-baseline.json").exists()


def test_values_at_the_ends_of_their_ranges_and_a_negative_kid_pass(cli, tmp_path: Path) -> None:
    """KID's unbiased estimate can be below 0, and 0 and 1 are values precision and coverage take."""
    values = {"fid": 0.0, "kid_mean": -0.0004, "kid_std": 0.0, "precision": 1.0, "recall": 0.0, "coverage": 1.0}
    result = _result_file(tmp_path, density=0.0, **values)
    run = cli("gate", "--result", result, "--max-fid", "1", "--max-kid", "1", "--min-precision", "0.5")
    assert run.code == 0, run.err


# --- an output that is one of the inputs -------------------------------------------------------------------


def generator_config(**generator: object) -> GeneratorConfig:
    """The config of a small MLP generator of 3x8x8 images, with `generator`'s entries replaced."""
    description = {"type": "mlp", "latent_dim": 4, "hidden": [8], "out_shape": [3, 8, 8], "output": "tanh"}
    return GeneratorConfig(
        model="gan",
        dataset="digits",
        data={"kind": "images", "shape": [3, 8, 8], "n_classes": 0},
        generator={**description, **generator},
        discriminator={"type": "mlp", "in_shape": [3, 8, 8], "hidden": [8], "n_classes": 0},
        loss={"name": "nonsaturating", "n_critic": 1, "clip": None, "gp_weight": None},
        optimizer={"name": "adam", "lr": 2e-4, "betas": [0.5, 0.999]},
        batch_size=8,
        steps=0,
        seed=0,
        gan_eval_version=__version__,
    )


def checkpoint(folder: Path) -> Path:
    """A checkpoint folder of a small image generator (`generator_config()`)."""
    torch.manual_seed(0)
    config = generator_config()
    return save_generator(folder, build_generator(config), config)


def images_npz(path: Path, count: int = 2) -> Path:
    """An `.npz` of `count` random uint8 8x8 RGB images."""
    np.savez(path, images=np.random.default_rng(0).integers(0, 256, (count, 8, 8, 3), dtype=np.uint8))
    return path


def test_stats_output_that_is_its_input_is_refused(cli, tmp_path: Path, real_weights: Path) -> None:
    images = images_npz(tmp_path / "imgs.npz")
    args = ("stats", images, "-o", images, "--weights", real_weights, "--quiet")
    line = unchanged_after(cli, args, tmp_path, message="is the input PATH")
    assert line.count(str(images)) == 2


def test_stats_output_that_is_a_hard_link_to_its_input_is_refused(cli, tmp_path: Path, real_weights: Path) -> None:
    images = images_npz(tmp_path / "imgs.npz")
    os.link(images, tmp_path / "link.npz")
    args = ("stats", images, "-o", tmp_path / "link.npz", "--weights", real_weights, "--quiet")
    unchanged_after(cli, args, tmp_path, tmp_path / "link.npz", images, message="refusing to overwrite an input")


def test_report_out_that_is_an_input_folder_is_refused(cli, tmp_path: Path, real_weights: Path) -> None:
    real, fake = image_folder(tmp_path / "real", 2), image_folder(tmp_path / "fake", 2, seed=5)
    args = ("report", real, fake, "--out", tmp_path / "fake" / ".", "--metrics", "fid", "--weights", real_weights)
    unchanged_after(cli, args, tmp_path, fake, message="is the input FAKE")


@pytest.mark.parametrize("command", ["report", "stats", "paired"])
def test_an_output_inside_an_input_folder_is_refused(cli, tmp_path: Path, real_weights: Path, command: str) -> None:
    real, fake = image_folder(tmp_path / "real", 2), image_folder(tmp_path / "fake", 2, seed=5)
    inside = tmp_path / "fake" / "results"
    args = {
        "report": ("report", real, fake, "--out", inside, "--metrics", "fid", "--weights", real_weights),
        "stats": ("stats", fake, "-o", tmp_path / "fake" / "stats.npz", "--weights", real_weights),
        "paired": ("paired", fake, real, "--out", inside),
    }[command]
    flag = {"report": "FAKE", "stats": "PATH", "paired": "PRED"}[command]
    unchanged_after(cli, args, tmp_path, fake, message=f"is inside the input folder {flag}")
    assert sorted(p.name for p in fake.iterdir()) == ["000.png", "001.png"]


def test_samples_may_go_inside_their_checkpoint_folder(cli, tmp_path: Path) -> None:
    folder = checkpoint(tmp_path / "ckpt")
    result = cli("sample", folder, "-n", "2", "-o", folder / "samples.npy")
    assert result.code == 0, result.err
    assert np.load(folder / "samples.npy").shape[0] == 2


def test_sample_output_that_is_in_the_checkpoint_is_refused(cli, tmp_path: Path) -> None:
    folder = checkpoint(tmp_path / "ckpt")
    target = tmp_path / "samples.npy"
    target.symlink_to(folder / "generator.pt")
    unchanged_after(cli, ("sample", folder, "-n", "2", "-o", target), tmp_path, target, message="is the input DIR")


def test_gate_baseline_that_is_its_result_is_refused(cli, tmp_path: Path) -> None:
    result = _result_file(tmp_path, fid=3.0)
    args = ("gate", "--result", result, "--baseline", result, "--update-baseline")
    unchanged_after(cli, args, tmp_path, result, message="is the input --result")


def test_plot_output_that_is_the_record_is_refused(cli, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "events.jsonl").write_text('{"kind": "scalars", "step": 1, "loss": 0.5}\n')
    out = tmp_path / "out"
    out.mkdir()
    (out / "report.html").symlink_to(run / "events.jsonl")
    unchanged_after(cli, ("plot", run, "--out", out), tmp_path, out / "report.html", message="is the input RUN_DIR")


def test_train_out_that_is_the_monitor_folder_is_refused(cli, tmp_path: Path) -> None:
    args = ("train", "gan", "--data", "ring8", "--steps", "1", "--out", tmp_path / "x", "--monitor", tmp_path / "x")
    unchanged_after(cli, args, tmp_path, tmp_path / "x", message="is also --out")
    assert not (tmp_path / "x").exists()


# --- long output names --------------------------------------------------------------------------------------


def long_name(suffix: str = "", size: int = LONG_NAME_BYTES) -> str:
    """A legal file name of `size` bytes ending in `suffix`."""
    return "n" * (size - len(suffix)) + suffix


def test_stats_writes_an_output_of_a_250_byte_name(cli, tmp_path: Path, real_weights: Path) -> None:
    target = tmp_path / long_name(".npz")
    run = cli("stats", images_npz(tmp_path / "imgs.npz"), "-o", target, "--weights", real_weights, "--quiet")
    assert run.code == 0, run.err
    assert load_stats(target).count == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["imgs.npz", target.name])


@pytest.mark.parametrize("suffix", [".npy", ""])
def test_sample_writes_an_output_of_a_250_byte_name(cli, tmp_path: Path, suffix: str) -> None:
    folder = checkpoint(tmp_path / "ckpt")
    target = tmp_path / long_name(suffix)
    run = cli("sample", folder, "-n", "3", "-o", target)
    assert run.code == 0, run.err
    assert (len(np.load(target)) if suffix else len(list(target.iterdir()))) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["ckpt", target.name])


def test_report_writes_a_folder_of_a_250_byte_name(cli, tmp_path: Path, real_weights: Path) -> None:
    real, fake = image_folder(tmp_path / "real", 2), image_folder(tmp_path / "fake", 2, seed=5)
    target = tmp_path / long_name()
    run = cli("report", real, fake, "--out", target, "--metrics", "fid", "--weights", real_weights, "--quiet")
    assert run.code == 0, run.err
    assert json.loads((target / "report.json").read_text())["fid"] >= 0


def test_names_over_name_max_are_refused_before_any_work(cli, tmp_path: Path, real_weights: Path) -> None:
    images, checkpoint_folder = images_npz(tmp_path / "imgs.npz"), checkpoint(tmp_path / "ckpt")
    too_long = long_name(size=300)
    for args in (
        ("stats", images, "-o", tmp_path / (too_long + ".npz"), "--weights", real_weights),
        ("sample", checkpoint_folder, "-n", "2", "-o", tmp_path / (too_long + ".npy")),
        ("report", images, images, "--out", tmp_path / too_long / "report", "--weights", real_weights),
        ("gate", "--result", _result_file(tmp_path, fid=1.0), "--baseline", tmp_path / too_long, "--update-baseline"),
    ):
        unchanged_after(cli, args, tmp_path, too_long, message="bytes, over the 255 bytes the file system allows")


# --- sample: nonsensical configs and counts beyond memory ----------------------------------------------------


def patched_checkpoint(folder: Path, part: str, key: str, value: object) -> Path:
    """`checkpoint(folder)` with `config.json`'s `part.key` set to `value`."""
    checkpoint(folder)
    config = json.loads((folder / "config.json").read_text())
    config[part][key] = value
    (folder / "config.json").write_text(json.dumps(config))
    return folder


BAD_CONFIGS = {
    "negative-latent-size": (
        "generator",
        "latent_dim",
        -3,
        "generator.latent_dim -3: must be a whole number between 1 and 4096",
    ),
    "huge-latent-size": ("generator", "latent_dim", 10**9, "generator.latent_dim 1000000000: must be"),
    "latent-size-as-text": ("generator", "latent_dim", "64", "generator.latent_dim '64': must be a whole number"),
    "fractional-latent-size": ("generator", "latent_dim", 4.5, "generator.latent_dim 4.5: must be"),
    "zero-image-size": ("data", "shape", [3, 0, 8], "data.shape[1] 0: must be a whole number between 1 and 4096"),
    "negative-output-size": ("generator", "out_shape", [3, -8, 8], "generator.out_shape[1] -8: must be"),
    "huge-hidden-layer": ("generator", "hidden", [10**7], "generator.hidden[0] 10000000: must be"),
    "shape-not-a-list": ("data", "shape", "3x8x8", "data.shape '3x8x8': must be a list of sizes"),
    "unknown-model": ("generator", "type", "stylegan9", "unknown generator type 'stylegan9'"),
    "negative-class-count": ("generator", "n_classes", -1, "generator.n_classes -1: must be"),
}


@pytest.mark.parametrize("case", BAD_CONFIGS)
def test_sample_refuses_a_nonsensical_config(cli, tmp_path: Path, case: str) -> None:
    part, key, value, message = BAD_CONFIGS[case]
    folder = patched_checkpoint(tmp_path / "ckpt", part, key, value)
    args = ("sample", folder, "-n", "2", "-o", tmp_path / "samples.npy")
    unchanged_after(cli, args, tmp_path, folder / "config.json", message=message)


@pytest.mark.parametrize("case", ["negative-latent-size", "zero-image-size", "unknown-model"])
def test_gate_refuses_a_generator_with_a_nonsensical_config(cli, tmp_path: Path, case: str) -> None:
    part, key, value, message = BAD_CONFIGS[case]
    folder = patched_checkpoint(tmp_path / "ckpt", part, key, value)
    real = images_npz(tmp_path / "real.npz")
    args = ("gate", "--real", real, "--generator", folder, "-n", "2", "--max-fid", "1e9", "--ci-groups", "0")
    unchanged_after(cli, args, tmp_path, folder / "config.json", message=message)


def test_a_config_far_larger_than_its_weights_is_refused_before_allocating(
    cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 40 hidden layers of 4096 (each size legal): 2.7 GB of float32 weights that generator.pt does not hold.
    folder = patched_checkpoint(tmp_path / "ckpt", "generator", "hidden", [4096] * 40)
    initialised: list[str] = []
    kaiming = torch.nn.init.kaiming_uniform_

    def spy(tensor: torch.Tensor, *args, **kwargs) -> torch.Tensor:
        initialised.append(tensor.device.type)
        return kaiming(tensor, *args, **kwargs)

    monkeypatch.setattr(torch.nn.init, "kaiming_uniform_", spy)
    args = ("sample", folder, "-n", "2", "-o", tmp_path / "samples.npy")
    unchanged_after(cli, args, tmp_path, folder / "generator.pt", message="does not match the architecture")
    assert initialised and set(initialised) == {"meta"}  # the large network was only ever built without memory


def test_sample_count_beyond_memory_is_refused_before_allocating(cli, tmp_path: Path) -> None:
    folder = checkpoint(tmp_path / "ckpt")
    args = ("sample", folder, "-n", str(10**12), "-o", tmp_path / "samples.npy")
    line = unchanged_after(cli, args, tmp_path, "-n 1000000000000", message="more than the machine's memory")
    # Per image: float32 latents (4 x 4 bytes), float32 output twice and uint8 twice (10 x 192): 1936 bytes.
    assert "1e+12 images of 3x8x8 need 1.94 PB" in line


# --- plot: numbers out of range, damaged sample pictures ---------------------------------------------------


def run_folder(folder: Path, *records: str, picture: bytes | None = None) -> Path:
    """A run folder whose `events.jsonl` holds two good loss records, then `records`; `s.png` when given."""
    folder.mkdir()
    good = ['{"kind": "scalars", "step": 1, "loss": 0.5}', '{"kind": "scalars", "step": 2, "loss": 0.4}']
    (folder / "events.jsonl").write_text("\n".join([*good, *records]) + "\n")
    if picture is not None:
        (folder / "s.png").write_bytes(picture)
    return folder


def plot(folder: Path, capsys: pytest.CaptureFixture[str]) -> CliRun:
    """`gan-eval plot FOLDER` in this process, its warnings shown as the command line shows them."""
    capsys.readouterr()
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        code = main(["plot", str(folder)])
    captured = capsys.readouterr()
    return CliRun(code, captured.out, captured.err)


BAD_STEPS = {
    "step-of-10-to-the-30": ("1" + "0" * 30, "step 1000000000000000000000000000000 is not a step"),
    "negative-step": ("-5", "step -5 is not a step"),
    "fractional-step": ("2.5", "step 2.5 is not a step"),
    "step-as-text": ('"3"', "step '3' is not a step"),
    "step-beyond-2-to-the-53": (str(2**53 + 1), "is not a step (a whole number from 0 to 2**53, or null)"),
}


@pytest.mark.parametrize("case", BAD_STEPS)
def test_plot_refuses_a_record_whose_step_is_out_of_range(cli, tmp_path: Path, case: str) -> None:
    step, message = BAD_STEPS[case]
    folder = run_folder(tmp_path / "run", f'{{"kind": "scalars", "step": {step}, "loss": 0.3}}')
    unchanged_after(cli, ("plot", folder), tmp_path, folder / "events.jsonl", "line 3", message=message)


NON_FINITE = {
    "loss-of-10-to-the-400": '{"kind": "scalars", "step": 3, "loss": 1e400}',
    "nan-loss": '{"kind": "scalars", "step": 3, "loss": NaN}',
    "infinite-fid": '{"kind": "evaluation", "step": 3, "fid": "inf", "precision": 0.5}',
}
BEYOND_THE_LIMIT = {
    "whole-number-of-400-digits": '{"kind": "scalars", "step": 3, "loss": 1' + "0" * 400 + "}",
    "huge-gradient-norm": '{"kind": "gradients", "step": 3, "g_norm": 1e308, "d_norm": 1.0}',
    "huge-coverage": '{"kind": "evaluation", "step": 3, "fid": 2.0, "coverage": -1e200}',
}


@pytest.mark.parametrize("case", [*NON_FINITE, *BEYOND_THE_LIMIT])
def test_plot_draws_a_record_with_a_value_out_of_range(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    """NaN and infinities (1e400 reads as inf) are gaps, as a diverged loss always was; finite values beyond
    ±1e100, which matplotlib's arithmetic overflows on, are gaps too, with one warning line."""
    folder = run_folder(tmp_path / "run", NON_FINITE.get(case) or BEYOND_THE_LIMIT[case])
    run = plot(folder, capsys)
    assert run.code == 0, run.err
    warning = f"warning: {folder / 'events.jsonl'}: 1 value(s) beyond ±1e+100 left out of the plots"
    assert run.err.splitlines() == ([warning] if case in BEYOND_THE_LIMIT else [])
    assert (folder / "dashboard.png").read_bytes().startswith(b"\x89PNG")
    assert "<html" in (folder / "report.html").read_text()


def png_bytes(size: int = 32) -> bytes:
    """A PNG of random pixels (which do not compress to a few bytes)."""
    buffer = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (size, size, 3), np.uint8)).save(buffer, format="PNG")
    return buffer.getvalue()


def png_declaring(width: int, height: int) -> bytes:
    """A PNG header declaring `width` x `height` RGB pixels, with a little pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\0" * 1000)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


BAD_PICTURES = {
    "truncated-png": (png_bytes()[:1000], "image file is truncated"),
    "100000-by-100000-png": (png_declaring(100_000, 100_000), "image is over the decompression-bomb limit"),
}


@pytest.mark.parametrize("case", BAD_PICTURES)
def test_plot_leaves_out_a_sample_picture_that_does_not_decode(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, case: str
) -> None:
    picture, reason = BAD_PICTURES[case]
    evaluation = '{"kind": "evaluation", "step": 2, "fid": 3.0, "samples": "s.png"}'
    folder = run_folder(tmp_path / "run", evaluation, picture=picture)
    run = plot(folder, capsys)
    assert run.code == 0, run.err
    assert run.err.splitlines() == [f"warning: {folder.resolve() / 's.png'}: sample picture left out ({reason})"]
    assert 'id="samples"' not in (folder / "report.html").read_text()
    assert (folder / "dashboard.png").read_bytes().startswith(b"\x89PNG")
