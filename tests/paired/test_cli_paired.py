"""`gan-eval paired PRED TARGET` end to end: every printed and written number against an independent computation.

PSNR and the Y/crop convention against NumPy formulas, SSIM against
scikit-image, MS-SSIM against pytorch-msssim, LPIPS against the `lpips`
package on random weights in the official formats, the means and intervals
against NumPy and a naive bootstrap loop. Bad inputs: one `error:` line, exit 2.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import one_error_line, run_cli
from PIL import Image
from pytorch_msssim import ms_ssim as reference_ms_ssim
from test_bootstrap import naive_interval
from test_lpips import backbone_state, linear_state, package_lpips
from test_psnr_ssim import _digit_mosaic, naive_psnr, naive_y, skimage_ssim

from gan_eval.paired.lpips import weights as lpips_weights


def _save(path: Path, image: np.ndarray) -> None:
    """Save `(3, H, W)` uint8 as PNG."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0))).save(path)


def _folders(tmp_path: Path, names: list[str], rows: int, cols: int, seed: int = 0) -> dict[str, np.ndarray]:
    """`pred/` and `target/` under tmp_path with digit mosaics; predictions are targets with noise. Returns them."""
    rng = np.random.default_rng(seed)
    images = {}
    for i, name in enumerate(names):
        target = _digit_mosaic(i * 40, rows, cols)
        pred = np.clip(target + rng.normal(0, 25, target.shape), 0, 255).astype(np.uint8)
        _save(tmp_path / "target" / name, target)
        _save(tmp_path / "pred" / name, pred)
        images[name] = (pred, target)
    return images


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as handle:
        return list(csv.DictReader(handle))


def test_psnr_ssim_per_image_means_and_intervals(tmp_path: Path, capsys) -> None:
    names = ["a.png", "b.png", "sub/c.png"]
    images = _folders(tmp_path, names, 1, 2)
    out = tmp_path / "out"
    code, stdout, _ = run_cli(
        capsys, "paired", tmp_path / "pred", tmp_path / "target", "--json", "--out", out, "--bootstrap", "300"
    )
    assert code == 0
    result = json.loads(stdout)
    psnrs = np.array([naive_psnr(*images[n]) for n in names])
    ssims = np.array([skimage_ssim(*images[n]) for n in names])
    rows = _rows(out / "per_image.csv")
    assert [r["file"] for r in rows] == names
    np.testing.assert_allclose([float(r["psnr"]) for r in rows], psnrs, rtol=0, atol=1e-9)
    np.testing.assert_allclose([float(r["ssim"]) for r in rows], ssims, rtol=0, atol=1e-6)
    assert result["n_real"] == result["n_fake"] == 3 and json.loads((out / "paired.json").read_text()) == result
    assert result["family"] == "paired" and result["metrics"] == ["psnr", "ssim"]
    for metric, values in (("psnr", psnrs), ("ssim", ssims)):
        assert result[f"{metric}_mean"] == pytest.approx(values.mean(), abs=1e-6)
        assert result[f"{metric}_se"] == pytest.approx(values.std(ddof=1) / np.sqrt(3), abs=1e-6)
        low, high = naive_interval(values, 300, 0.95, 0)
        assert (result[f"{metric}_ci_low"], result[f"{metric}_ci_high"]) == pytest.approx((low, high), abs=1e-6)
    assert result["settings"]["bootstrap"] == {"method": "percentile", "resamples": 300, "confidence": 0.95, "seed": 0}
    code, text, _ = run_cli(capsys, "paired", tmp_path / "pred", tmp_path / "target", "--quiet")
    assert code == 0 and f"PSNR (dB): {psnrs.mean():.4f}  95% CI [" in text and "n=3 y_channel=False crop=0" in text


def test_super_resolution_convention(tmp_path: Path, capsys) -> None:
    images = _folders(tmp_path, ["x.png", "y.png"], 2, 1, seed=1)
    out = tmp_path / "out"
    code, _, _ = run_cli(
        capsys, "paired", tmp_path / "pred", tmp_path / "target", "--y-channel", "--crop", "4", "--out", out, "--quiet"
    )
    assert code == 0
    from skimage.metrics import structural_similarity

    for row in _rows(out / "per_image.csv"):
        pred, target = (naive_y(x)[4:-4, 4:-4] for x in images[row["file"]])
        assert float(row["psnr"]) == pytest.approx(naive_psnr(pred, target), abs=1e-9)
        expected = structural_similarity(
            pred, target, gaussian_weights=True, sigma=1.5, use_sample_covariance=False, data_range=255
        )
        assert float(row["ssim"]) == pytest.approx(expected, abs=1e-6)


def test_all_four_metrics_with_lpips_weights_given(tmp_path: Path, capsys) -> None:
    images = _folders(tmp_path, ["p.png", "q.png"], 6, 6, seed=2)  # 192 x 192: MS-SSIM's 5 scales fit
    linear, backbone = tmp_path / "alex.pth", tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save(linear_state("alex", 5), linear)
    torch.save(backbone_state("alex", 6), backbone)
    out = tmp_path / "out"
    args = ["--metrics", "lpips,psnr,ms_ssim,ssim", "--lpips-weights", linear, "--lpips-backbone", backbone]
    code, stdout, _ = run_cli(
        capsys, "paired", tmp_path / "pred", tmp_path / "target", *args, "--device", "cpu", "--out", out, "--json"
    )
    assert code == 0
    result = json.loads(stdout)
    assert result["metrics"] == ["lpips", "psnr", "ms_ssim", "ssim"]
    assert result["settings"]["lpips"]["net"] == "alex" and result["settings"]["lpips"]["version"] == "0.1"
    reference = package_lpips("alex", linear, backbone)
    rows = _rows(out / "per_image.csv")
    assert list(rows[0]) == ["file", "lpips", "psnr", "ms_ssim", "ssim"]
    for row in rows:
        pred, target = (torch.from_numpy(x)[None] for x in images[row["file"]])
        with torch.inference_mode():
            expected = reference(pred.float() / 127.5 - 1, target.float() / 127.5 - 1).item()
        assert float(row["lpips"]) == pytest.approx(expected, rel=1e-5)
        ms = reference_ms_ssim(pred.double(), target.double(), data_range=255).item()
        assert float(row["ms_ssim"]) == pytest.approx(ms, abs=1e-6)
        assert float(row["psnr"]) == pytest.approx(naive_psnr(*images[row["file"]]), abs=1e-9)
    assert result["lpips_mean"] == pytest.approx(np.mean([float(r["lpips"]) for r in rows]), abs=1e-9)


def test_grayscale_prediction_is_compared_as_rgb(tmp_path: Path, capsys) -> None:
    gray = np.random.default_rng(3).integers(0, 256, (24, 20)).astype(np.uint8)
    (tmp_path / "pred").mkdir()
    Image.fromarray(gray, mode="L").save(tmp_path / "pred" / "g.png")
    _save(tmp_path / "target" / "g.png", np.repeat(gray[None], 3, axis=0))
    code, stdout, _ = run_cli(capsys, "paired", tmp_path / "pred", tmp_path / "target", "--json")
    result = json.loads(stdout)
    assert code == 0
    assert [result[f"psnr_{k}"] for k in ("mean", "se", "ci_low", "ci_high")] == [None, None, None, None]
    assert result["ssim_mean"] == pytest.approx(1.0, abs=1e-12)
    code, text, _ = run_cli(capsys, "paired", tmp_path / "pred", tmp_path / "target", "--quiet")
    assert "PSNR (dB): inf  95% CI (none: infinite values)" in text


def test_resize_to_target(tmp_path: Path, capsys) -> None:
    target = _digit_mosaic(0, 1, 1)
    small = np.asarray(Image.fromarray(target.transpose(1, 2, 0)).resize((20, 16), Image.BILINEAR))
    (tmp_path / "pred").mkdir()
    Image.fromarray(small).save(tmp_path / "pred" / "d.png")
    _save(tmp_path / "target" / "d.png", target)
    code, _, err = run_cli(capsys, "paired", tmp_path / "pred", tmp_path / "target", "--quiet")
    one_error_line(code, err, str(tmp_path / "pred" / "d.png"), str(tmp_path / "target" / "d.png"), "20x16", "32x32")
    assert "--resize-to-target" in err
    code, stdout, _ = run_cli(capsys, "paired", tmp_path / "pred", tmp_path / "target", "--resize-to-target", "--json")
    upscaled = np.asarray(Image.fromarray(small).resize((32, 32), Image.BICUBIC)).transpose(2, 0, 1)
    assert code == 0 and json.loads(stdout)["settings"]["resize_to_target"] is True
    assert json.loads(stdout)["psnr_mean"] == pytest.approx(naive_psnr(upscaled, target), abs=1e-9)


@pytest.mark.parametrize(
    "fault",
    [
        "extra",
        "missing",
        "not an image",
        "not a folder",
        "crop",
        "ms_ssim small",
        "metric",
        "out is a file",
        "out is pred",
    ],
)
def test_bad_inputs_are_one_error_line(fault: str, tmp_path: Path, capsys) -> None:
    _folders(tmp_path, ["a.png", "sub/b.png"], 1, 1)
    pred, target = tmp_path / "pred", tmp_path / "target"
    args: list[str | Path] = [pred, target]
    names: tuple[str, ...]
    if fault == "extra":
        _save(pred / "sub" / "z.png", _digit_mosaic(0, 1, 1))
        names = (str(pred / "sub" / "z.png"), "no counterpart in TARGET")
    elif fault == "missing":
        (pred / "sub" / "b.png").unlink()
        names = (str(target / "sub" / "b.png"), "no counterpart in PRED")
    elif fault == "not an image":
        (pred / "a.png").write_bytes(b"not a png")
        names = (str(pred / "a.png"), "not a readable image")
    elif fault == "not a folder":
        args = [tmp_path / "nowhere", target]
        names = ("PRED", "nowhere", "is not a folder")
    elif fault == "crop":
        args += ["--crop", "16"]
        names = ("--crop 16", "leaves no pixels", "a.png")
    elif fault == "ms_ssim small":
        args += ["--metrics", "psnr,ms_ssim"]
        names = ("a.png", "MS-SSIM needs at least 161 pixels", "32x32")
    elif fault == "metric":
        args += ["--metrics", "psnr,fid"]
        names = ("--metrics psnr,fid", "choose from psnr, ssim, ms_ssim, lpips")
    elif fault == "out is a file":
        (tmp_path / "file").write_text("x")
        args += ["--out", tmp_path / "file"]
        names = ("--out", "not a folder")
    else:
        args += ["--out", pred]
        names = ("--out", "refusing to overwrite an input")
    if not fault.startswith("out"):
        args += ["--out", tmp_path / "out"]  # checked, then never written: the failure comes before the writes
    code, out, err = run_cli(capsys, "paired", *args, "--quiet")
    one_error_line(code, err, *names)
    assert out == "" and not (tmp_path / "out").exists()
    code, out, err = run_cli(capsys, "paired", *args, "--json")
    assert code == 2 and json.loads(out)["error"] == err.strip().removeprefix("error: ")


def test_lpips_without_weights_says_how_to_provide_them(tmp_path: Path, capsys, monkeypatch) -> None:
    _folders(tmp_path, ["a.png"], 1, 1)
    monkeypatch.setattr(lpips_weights, "LINEAR_BASE_URL", "http://127.0.0.1:9/nothing")
    code, _, err = run_cli(capsys, "paired", tmp_path / "pred", tmp_path / "target", "--metrics", "lpips", "--quiet")
    one_error_line(code, err, "cannot download weights", "--lpips-weights PATH", "GAN_EVAL_LPIPS_ALEX_WEIGHTS")
