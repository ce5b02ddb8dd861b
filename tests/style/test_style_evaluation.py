"""`evaluate_style` on folders of PNGs with random VGG-19 weights in the official file layout, every number against
the float64 forward and NumPy formulas of `vgg19_reference`; pairing by relative path and the one-line refusals."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch
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

from gan_eval.digest import file_sha256
from gan_eval.errors import GanEvalError
from gan_eval.style.evaluation import StyleOptions, evaluate_style, resize_longer_side

TOLERANCE = 1e-4  # float32 network against the float64 forward
# output path -> (content path, image size): a sub-folder, one PNG output paired with a JPEG-named content file
PAIRS = {"a.png": ("a.png", (32, 32)), "sub/b.png": ("sub/b.jpg", (40, 24)), "c.png": ("c.png", (21, 37))}


@pytest.fixture(scope="module")
def state() -> dict[str, torch.Tensor]:
    return random_state_dict(seed=0)


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_weights(tmp_path_factory.mktemp("vgg19") / "vgg19-dcbb9e9d.pth", seed=0)


@pytest.fixture(scope="module")
def folders(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    """(outputs folder, style image, content folder); content images are PNG bytes even when named .jpg."""
    root = tmp_path_factory.mktemp("style-sets")
    for i, (output, (content, size)) in enumerate(PAIRS.items()):
        save_png(smooth_image(10 + i, *size), root / "outputs" / output)
        path = root / "content" / content
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(smooth_image(20 + i, *size)).save(path, format="PNG")
    return root / "outputs", save_png(smooth_image(30, 44, 52), root / "style.png"), root / "content"


def _read(path: Path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_every_number_equals_the_naive_float64_computation(state, weights_file, folders) -> None:
    outputs, style, content = folders
    result = evaluate_style(outputs, style, content, StyleOptions(weights=str(weights_file), device="cpu"))
    pairs = [(s.output, s.content) for s in result.scores]
    assert pairs == [("a.png", "a.png"), ("c.png", "c.png"), ("sub/b.png", "sub/b.jpg")]
    style_responses = reference_responses(state, _read(style))
    naive = {
        s.output: naive_scores(state, _read(outputs / s.output), _read(content / s.content), style_responses)
        for s in result.scores
    }
    for s in result.scores:
        expected = naive[s.output]
        assert (s.height, s.width) == PAIRS[s.output][1]
        for key in ("style_distance", "content_distance", "content_mse"):
            assert relative_difference(getattr(s, key), expected[key]) < TOLERANCE, (s.output, key)
        for layer in STYLE:
            assert relative_difference(s.style_layers[layer], expected["style_layers"][layer]) < TOLERANCE
    for key in ("style_distance", "content_distance", "content_mse"):
        mean = sum(n[key] for n in naive.values()) / 3
        assert relative_difference(result.means[key], mean) < TOLERANCE
    for layer in STYLE:
        mean = sum(n["style_layers"][layer] for n in naive.values()) / 3
        assert relative_difference(result.layer_means[layer], mean) < TOLERANCE
    assert result.settings["weights_sha256"] == file_sha256(weights_file)
    assert result.settings["resize"] == "none" and result.settings["style_size"] == [44, 52]
    assert result.to_json()["images"][2]["style_layers"]["conv5_1"] == result.scores[2].style_layers["conv5_1"]


def test_identical_images_score_zero(weights_file, tmp_path: Path) -> None:
    image = smooth_image(5, 24, 24)
    save_png(image, tmp_path / "out" / "x.png")
    save_png(image, tmp_path / "content" / "x.png")
    style = save_png(image, tmp_path / "style.png")
    [score] = evaluate_style(
        tmp_path / "out", style, tmp_path / "content", StyleOptions(weights=str(weights_file), device="cpu")
    ).scores
    assert score.style_distance == 0 and score.content_distance == 0 and score.content_mse == 0


def test_size_and_average_pooling(state, weights_file, folders) -> None:
    """`size` resizes the longer side with PIL's bicubic filter; `pooling="avg"` runs 2x2 average pools."""
    outputs, style, content = folders
    options = StyleOptions(size=48, pooling="avg", weights=str(weights_file), device="cpu")
    result = evaluate_style(outputs, style, content, options)
    assert [(s.height, s.width) for s in result.scores] == [(48, 48), (27, 48), (48, 29)]
    assert result.settings["style_size"] == [41, 48] and result.settings["resize"] == "pil-bicubic-longer-side"
    assert result.settings["pooling"] == "avg" and result.settings["size"] == 48
    s = result.scores[1]

    def resized(path: Path) -> np.ndarray:
        image = Image.open(path).convert("RGB")
        w, h = image.size
        scale = 48 / max(w, h)
        return np.asarray(image.resize((round(w * scale), round(h * scale)), Image.BICUBIC))

    style_responses = reference_responses(state, resized(style), "avg")
    expected = naive_scores(state, resized(outputs / s.output), resized(content / s.content), style_responses, "avg")
    for key in ("style_distance", "content_distance", "content_mse"):
        assert relative_difference(getattr(s, key), expected[key]) < TOLERANCE, key


def test_resize_longer_side_keeps_an_image_of_that_size() -> None:
    image = smooth_image(1, 30, 20)
    assert resize_longer_side(image, 30) is image
    assert resize_longer_side(image, 15).shape == (15, 10, 3)
    assert resize_longer_side(smooth_image(1, 20, 50), 25).shape == (10, 25, 3)
    assert resize_longer_side(smooth_image(1, 20, 36), 18).shape == (10, 18, 3)  # 10.0 exactly
    assert resize_longer_side(smooth_image(1, 36, 10), 18).shape == (18, 5, 3)  # 5.0
    assert resize_longer_side(smooth_image(1, 100, 5), 20).shape == (20, 1, 3)  # 1.0
    assert resize_longer_side(smooth_image(1, 100, 1), 20).shape == (20, 1, 3)  # 0.2 -> at least 1
    assert resize_longer_side(smooth_image(1, 40, 10), 18).shape == (18, 5, 3)  # 4.5 rounds up


def _sets(root: Path, outputs: list[str], contents: list[str], size: tuple[int, int] = (20, 20)) -> tuple[Path, Path]:
    for name in outputs:
        save_png(smooth_image(1, *size), root / "out" / name)
    for name in contents:
        save_png(smooth_image(2, *size), root / "content" / name)
    return root / "out", root / "content"


@pytest.mark.parametrize(
    ("outputs", "contents", "message"),
    [
        (["a.png", "b.png"], ["a.png"], r"out/b\.png has no content image in .*content \(looked for b\.\*\)"),
        (["a.png"], ["a.png", "d/e.png"], r"content image .*content/d/e\.png has no output in .*out$"),
        (["a.png", "a.jpg"], ["a.png"], r"out/a\.jpg and .*out/a\.png differ only in their extension"),
    ],
)
def test_mismatched_sets_are_one_line_errors_naming_the_file(tmp_path: Path, outputs, contents, message) -> None:
    out, content = _sets(tmp_path, outputs, contents)
    style = save_png(smooth_image(3, 20, 20), tmp_path / "style.png")
    # the sets are checked before the weights are looked for: this file does not exist
    options = StyleOptions(weights=str(tmp_path / "absent.pth"), device="cpu")
    with pytest.raises(GanEvalError, match=message) as info:
        evaluate_style(out, style, content, options)
    assert "\n" not in str(info.value)


def test_bad_images_and_sizes_are_one_line_errors(weights_file, tmp_path: Path) -> None:
    options = StyleOptions(weights=str(weights_file), device="cpu")
    out, content = _sets(tmp_path / "one", ["a.png"], ["a.png"])
    with pytest.raises(GanEvalError, match=r"--style .*nowhere\.png: no such file"):
        evaluate_style(out, tmp_path / "nowhere.png", content, options)
    (tmp_path / "broken.png").write_bytes(b"not an image")
    with pytest.raises(GanEvalError, match=r"--style .*broken\.png: not a readable image"):
        evaluate_style(out, tmp_path / "broken.png", content, options)
    style = save_png(smooth_image(3, 20, 20), tmp_path / "style.png")
    save_png(smooth_image(4, 20, 24), tmp_path / "two" / "content" / "a.png")
    save_png(smooth_image(4, 20, 20), tmp_path / "two" / "out" / "a.png")
    mismatch = r"two/out/a\.png is 20x20 pixels but its content image .*two/content/a\.png is 20x24; give --size"
    with pytest.raises(GanEvalError, match=mismatch):
        evaluate_style(tmp_path / "two" / "out", style, tmp_path / "two" / "content", options)
    tiny, tiny_content = _sets(tmp_path / "three", ["t.png"], ["t.png"], size=(15, 40))
    too_small = r"three/out/t\.png and its content image .*three/content/t\.png: 15x40 pixels is too small"
    with pytest.raises(GanEvalError, match=too_small):
        evaluate_style(tiny, style, tiny_content, options)
    with pytest.raises(GanEvalError, match=r"--style .*tiny\.png: 12x30 pixels is too small for VGG-19's conv5_1"):
        evaluate_style(out, save_png(smooth_image(3, 12, 30), tmp_path / "tiny.png"), content, options)
    with pytest.raises(GanEvalError, match=r"their aspect ratios differ \(--size 16\)"):
        evaluate_style(tmp_path / "two" / "out", style, tmp_path / "two" / "content", replace(options, size=16))
    with pytest.raises(GanEvalError, match="--size 8: VGG-19's conv5_1 needs images of at least 16 pixels"):
        StyleOptions(size=8)
    with pytest.raises(GanEvalError, match="--pooling median: choose from max, avg"):
        StyleOptions(pooling="median")
