"""`gan-eval gate --result paired.json`: a paired report is judged like any other result.

The paired report is a `Result` of the paired family (`psnr_mean`, `psnr_se`, ...); the gate reads its
limits from the paired metrics' keys (`--min-psnr`, `--min-ssim`, `--max-lpips`, `--max-lpips-increase`),
compares only with a baseline made with the same paired settings, and its default rule for a paired result
is LPIPS's: no rise beyond the noise (the standard errors of the two means).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import one_error_line, run_cli
from PIL import Image
from test_lpips import backbone_state, linear_state
from test_psnr_ssim import _digit_mosaic


def _pairs(root: Path, noise: float, seed: int, count: int = 6) -> Path:
    """`root/pred`, `root/target`: digit mosaics and the same with Gaussian noise of `noise` grey levels."""
    rng = np.random.default_rng(seed)
    for i in range(count):
        target = _digit_mosaic(i * 7, 2, 2)
        pred = np.clip(target + rng.normal(0, noise, target.shape), 0, 255).astype(np.uint8)
        for side, image in (("target", target), ("pred", pred)):
            (root / side).mkdir(parents=True, exist_ok=True)
            Image.fromarray(np.ascontiguousarray(image.transpose(1, 2, 0))).save(root / side / f"{i}.png")
    return root


def _paired(capsys, root: Path, *args: str | Path) -> Path:
    out = root / "report"
    code, _, err = run_cli(capsys, "paired", root / "pred", root / "target", "--out", out, "--quiet", *args)
    assert code == 0, err
    return out / "paired.json"


def _gate(capsys, result: Path, baseline: Path, *limits: str) -> tuple[int, str, str]:
    return run_cli(capsys, "gate", "--result", result, "--baseline", baseline, *limits)


def test_psnr_floor_and_a_baseline_of_the_same_settings(tmp_path: Path, capsys) -> None:
    good = _paired(capsys, _pairs(tmp_path / "good", 10, 0))
    worse = _paired(capsys, _pairs(tmp_path / "worse", 40, 1))
    baseline = tmp_path / "baseline.json"
    code, out, _ = run_cli(capsys, "gate", "--result", good, "--baseline", baseline, "--update-baseline")
    assert code == 0 and "psnr_mean" in out
    psnr_good = json.loads(good.read_text())["psnr_mean"]
    psnr_worse = json.loads(worse.read_text())["psnr_mean"]
    floor = (psnr_good + psnr_worse) / 2
    code, out, _ = _gate(capsys, good, baseline, "--min-psnr", f"{floor}")
    assert code == 0 and out.startswith("PASS")
    code, out, _ = _gate(capsys, worse, baseline, "--min-psnr", f"{floor}")
    assert code == 1 and f"psnr_mean {psnr_worse:.6g} is below the floor" in out


def test_a_baseline_of_other_paired_settings_is_refused(tmp_path: Path, capsys) -> None:
    plain = _paired(capsys, _pairs(tmp_path / "a", 10, 0))
    cropped = _paired(capsys, _pairs(tmp_path / "b", 10, 0), "--crop", "2")
    baseline = tmp_path / "baseline.json"
    assert run_cli(capsys, "gate", "--result", plain, "--baseline", baseline, "--update-baseline")[0] == 0
    code, _, err = _gate(capsys, cropped, baseline, "--min-psnr", "1")
    one_error_line(code, err, "was made with crop=0, this evaluation has 2")


def test_without_lpips_the_default_rule_is_refused_in_one_line(tmp_path: Path, capsys) -> None:
    result = _paired(capsys, _pairs(tmp_path / "a", 10, 0))
    baseline = tmp_path / "baseline.json"
    assert run_cli(capsys, "gate", "--result", result, "--baseline", baseline, "--update-baseline")[0] == 0
    code, _, err = _gate(capsys, result, baseline)
    one_error_line(code, err, "no LPIPS for the default rule: choose a limit (--min-psnr, --min-ssim)")


@pytest.fixture
def lpips_files(tmp_path: Path) -> tuple[str, ...]:
    linear, backbone = tmp_path / "alex.pth", tmp_path / "alexnet-owt-7be5be79.pth"
    torch.save(linear_state("alex", 5), linear)
    torch.save(backbone_state("alex", 6), backbone)
    return ("--metrics", "lpips,psnr", "--lpips-weights", str(linear), "--lpips-backbone", str(backbone))


def test_the_default_rule_of_a_paired_result_is_lpips_within_its_noise(
    tmp_path: Path, capsys, lpips_files: tuple[str, ...]
) -> None:
    first = _paired(capsys, _pairs(tmp_path / "first", 12, 0), *lpips_files, "--device", "cpu")
    again = _paired(capsys, _pairs(tmp_path / "again", 12, 1), *lpips_files, "--device", "cpu")
    worse = _paired(capsys, _pairs(tmp_path / "worse", 80, 2), *lpips_files, "--device", "cpu")
    baseline = tmp_path / "baseline.json"
    assert run_cli(capsys, "gate", "--result", first, "--baseline", baseline, "--update-baseline")[0] == 0
    code, out, err = _gate(capsys, again, baseline)
    assert code == 0, out + err
    assert "lpips_mean must not rise over the baseline beyond the noise" in err and "+ noise" in out
    code, out, _ = _gate(capsys, worse, baseline)
    values = [json.loads(p.read_text())["lpips_mean"] for p in (first, worse)]
    assert values[1] > values[0] and code == 1 and "lpips_mean" in out


def test_a_feature_baseline_does_not_judge_a_paired_result(tmp_path: Path, capsys) -> None:
    paired = _paired(capsys, _pairs(tmp_path / "a", 10, 0))
    features = tmp_path / "features.json"
    baseline_doc = {
        "gan_eval_baseline": 1,
        "gan_eval_version": "0",
        "values": {"fid": 1.0, "fid_std": 0.1},
        "comparable": {"extractor": "inception-v3-tf-2015-12-05", "n_real": 6, "n_fake": 6},
        "result": {},
    }
    features.write_text(json.dumps(baseline_doc))
    code, _, err = _gate(capsys, paired, features, "--min-psnr", "1")
    one_error_line(code, err, "was made with family=None, this evaluation has 'paired'")
