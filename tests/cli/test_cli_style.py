"""`gan-eval style`: printed numbers against the float64 forward and NumPy formulas on random VGG-19 weights in the
official layout, the report folder, and one-line refusals (exit 2, nothing on stdout, nothing written)."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import one_error_line, run_cli
from PIL import Image
from style.vgg19_reference import (
    STYLE,
    naive_scores,
    random_state_dict,
    reference_responses,
    relative_difference,
    save_png,
    smooth_image,
    write_weights,
)

TOLERANCE = 1e-4  # float32 network against the float64 forward


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_weights(tmp_path_factory.mktemp("vgg19") / "vgg19-dcbb9e9d.pth", seed=4)


@pytest.fixture(scope="module")
def sets(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`outputs/`, `content/` (two pairs, one in a sub-folder) and `style.png` under one folder."""
    root = tmp_path_factory.mktemp("style-cli")
    for i, (name, size) in enumerate((("x.png", (24, 32)), ("d/y.png", (32, 20)))):
        save_png(smooth_image(40 + i, *size), root / "outputs" / name)
        save_png(smooth_image(50 + i, *size), root / "content" / name)
    save_png(smooth_image(60, 36, 30), root / "style.png")
    return root


@pytest.fixture(scope="module")
def naive(sets: Path) -> dict[str, dict]:
    """Each output's numbers from the float64 forward, by relative path."""
    state = random_state_dict(seed=4)

    def read(path: Path) -> np.ndarray:
        return np.asarray(Image.open(path).convert("RGB"))

    style = reference_responses(state, read(sets / "style.png"))
    return {
        name: naive_scores(state, read(sets / "outputs" / name), read(sets / "content" / name), style)
        for name in ("d/y.png", "x.png")
    }


def _args(sets: Path, weights: Path, *extra: str | Path) -> list[str | Path]:
    inputs = [sets / "outputs", "--style", sets / "style.png", "--content", sets / "content"]
    return ["style", *inputs, "--weights", weights, "--device", "cpu", "--quiet", *extra]


def test_table_prints_the_means(sets: Path, weights_file: Path, naive: dict, capsys) -> None:
    code, out, err = run_cli(capsys, *_args(sets, weights_file))
    assert code == 0, err
    printed = {line.rsplit("  ", 1)[0].strip(): float(line.rsplit(" ", 1)[1]) for line in out.splitlines()[:8]}
    keys = ("style_distance", "content_distance", "content_mse")
    mean = {key: sum(n[key] for n in naive.values()) / 2 for key in keys}
    assert relative_difference(printed["style distance (Gatys eq. 5, mean of E_l)"], mean["style_distance"]) < 1e-5
    assert relative_difference(printed["content distance (Gatys eq. 1, sum)"], mean["content_distance"]) < 1e-5
    assert relative_difference(printed["content MSE (per element)"], mean["content_mse"]) < 1e-5
    for layer in STYLE:
        layer_mean = sum(n["style_layers"][layer] for n in naive.values()) / 2
        assert relative_difference(printed[f"E_l at {layer}"], layer_mean) < 1e-5
    assert out.splitlines()[8].startswith("n=2 network=vgg19-torchvision pooling=max weights=")
    assert "size=native" in out and "(36x30)" in out


def test_json_and_report_folder(sets: Path, weights_file: Path, naive: dict, tmp_path: Path, capsys) -> None:
    out_dir = tmp_path / "report"
    code, out, err = run_cli(capsys, *_args(sets, weights_file, "--json", "--out", out_dir))
    assert code == 0, err
    result = json.loads(out)
    assert json.loads((out_dir / "style.json").read_text()) == result
    assert result["n"] == 2 and [i["output"] for i in result["images"]] == ["d/y.png", "x.png"]
    for image in result["images"]:
        expected = naive[image["output"]]
        for key in ("style_distance", "content_distance", "content_mse"):
            assert relative_difference(image[key], expected[key]) < TOLERANCE, key
        for layer in STYLE:
            assert relative_difference(image["style_layers"][layer], expected["style_layers"][layer]) < TOLERANCE
    assert relative_difference(result["content_mse"], sum(n["content_mse"] for n in naive.values()) / 2) < TOLERANCE
    settings = result["settings"]
    assert settings["content_layer"] == "conv4_2" and settings["style_layers"] == list(STYLE)
    assert settings["style_weights"] == [0.2] * 5 and settings["size"] is None and settings["device"] == "cpu"
    assert settings["pooling"] == "max" and settings["network"] == "vgg19-torchvision"
    with open(out_dir / "style.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["output"] for row in rows] == ["d/y.png", "x.png"]
    for row, image in zip(rows, result["images"], strict=True):
        assert float(row["style_distance"]) == image["style_distance"]
        assert float(row["style_conv3_1"]) == image["style_layers"]["conv3_1"]
        assert float(row["content_mse"]) == image["content_mse"] and int(row["height"]) == image["height"]


def test_missing_style_image(sets: Path, weights_file: Path, tmp_path: Path, capsys) -> None:
    args = _args(sets, weights_file, "--out", tmp_path / "report")
    args[3] = tmp_path / "absent.png"
    code, out, err = run_cli(capsys, *args)
    one_error_line(code, err, "--style", "absent.png", "no such file")
    assert out == "" and not (tmp_path / "report").exists()


@pytest.mark.parametrize("change", ["missing", "extra"])
def test_mismatched_content_set(change: str, sets: Path, weights_file: Path, tmp_path: Path, capsys) -> None:
    content = tmp_path / "content"
    save_png(smooth_image(50, 24, 32), content / "x.png")
    if change == "missing":
        expected = ("outputs/d/y.png", "has no content image", str(content))
    else:
        save_png(smooth_image(51, 32, 20), content / "d" / "y.png")
        save_png(smooth_image(52, 20, 20), content / "z.jpg")
        expected = ("content image", "z.jpg", "has no output")
    args = _args(sets, weights_file, "--json")
    args[5] = content
    code, out, err = run_cli(capsys, *args)
    one_error_line(code, err, *expected)
    assert json.loads(out) == {"error": err.strip().removeprefix("error: ")}


def test_bad_weights_file(sets: Path, tmp_path: Path, capsys) -> None:
    bad = tmp_path / "vgg19.pth"
    bad.write_bytes(b"\x00" * 64)
    code, out, err = run_cli(capsys, *_args(sets, bad))
    one_error_line(code, err, str(bad), "not a readable PyTorch state dict")
    assert out == ""


def test_bad_size_and_missing_options(sets: Path, weights_file: Path, capsys) -> None:
    code, _, err = run_cli(capsys, *_args(sets, weights_file, "--size", "0"))
    one_error_line(code, err, "--size", "must be at least 1")
    code, _, err = run_cli(capsys, *_args(sets, weights_file, "--size", "12"))
    one_error_line(code, err, "--size 12", "at least 16 pixels")
    code, _, err = run_cli(capsys, "style", sets / "outputs", "--content", sets / "content")
    one_error_line(code, err, "--style")
    code, _, err = run_cli(capsys, *_args(sets, weights_file, "--pooling", "median"))
    one_error_line(code, err, "--pooling", "median")
