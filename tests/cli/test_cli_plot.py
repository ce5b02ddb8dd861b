"""`gan-eval plot RUN_DIR`: dashboard.png and report.html, --out, and one-line errors that write nothing."""

from __future__ import annotations

import base64
import math
import re
from io import BytesIO
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_runner import run_cli
from PIL import Image

from gan_eval.monitor import Monitor


@pytest.fixture
def run_dir(tmp_path: Path) -> Path:
    """A record with losses, critic outputs, two evaluations against a reference and one NaN alarm."""
    folder = tmp_path / "run"
    generator = torch.nn.Linear(2, 2)
    reference = np.random.default_rng(0).normal(size=(200, 2))
    with Monitor(folder, reference=reference, every=5, n_samples=100, tensorboard=False, stderr=False) as monitor:
        for step in range(10):
            monitor.log(step, loss_d=math.nan if step == 7 else 1.0 / (step + 1))
            monitor.discriminator(step, torch.randn(8), torch.randn(8), kind="critic")
            monitor.evaluate(step, generator, latent_shape=2)
    return folder


def _files(folder: Path) -> set[str]:
    return {p.name for p in folder.iterdir() if p.is_file()}


def test_plot_writes_the_dashboard_and_the_page_into_the_run_folder(capsys, run_dir):
    code, out, err = run_cli(capsys, "plot", run_dir)
    assert code == 0 and err == ""
    assert out.strip() == (
        f"wrote {run_dir / 'dashboard.png'} and {run_dir / 'report.html'} "
        f"({len((run_dir / 'events.jsonl').read_text().splitlines())} records, 1 alarm)"
    )
    dashboard = (run_dir / "dashboard.png").read_bytes()
    with Image.open(BytesIO(dashboard)) as image:
        assert image.size == (13 * 90, 16 * 90)  # 13 x 16 inches at the default 90 dpi
    page = (run_dir / "report.html").read_text(encoding="utf-8")
    images = dict(re.findall(r'<img id="(\w+)"[^>]* src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page))
    assert base64.b64decode(images["dashboard"]) == dashboard
    assert base64.b64decode(images["samples"]) == (run_dir / "samples" / "step_00000005.png").read_bytes()
    assert "non_finite" in page and "loss_d=nan" in page


def test_out_folder_is_created_and_the_run_folder_left_alone(capsys, run_dir, tmp_path):
    before = _files(run_dir)
    code, _, _ = run_cli(capsys, "plot", run_dir, "--out", tmp_path / "plots" / "a")
    assert code == 0
    assert _files(tmp_path / "plots" / "a") == {"dashboard.png", "report.html"}
    assert _files(run_dir) == before


def test_damaged_lines_are_skipped_and_reported(capsys, run_dir):
    with open(run_dir / "events.jsonl", "ab") as handle:
        handle.write(b'{"kind": "scal')
    code, out, _ = run_cli(capsys, "plot", run_dir)
    assert code == 0 and "skipped 1 damaged line(s)" in out


@pytest.mark.parametrize("case", ["missing", "no record", "out is a file", "page is a folder"])
def test_errors_are_one_line_and_write_nothing(capsys, run_dir, tmp_path, case):
    args: list[str | Path] = ["plot", run_dir]
    if case == "missing":
        args = ["plot", tmp_path / "nowhere"]
        named = tmp_path / "nowhere"
    elif case == "no record":
        (tmp_path / "empty").mkdir()
        args = ["plot", tmp_path / "empty"]
        named = tmp_path / "empty"
    elif case == "out is a file":
        (tmp_path / "file").write_text("x")
        args += ["--out", tmp_path / "file"]
        named = tmp_path / "file"
    else:
        (run_dir / "report.html").mkdir()
        named = run_dir / "report.html"
    before = {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")}
    code, out, err = run_cli(capsys, *args)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and str(named) in err and "Traceback" not in err
    assert {p: p.stat().st_mtime_ns for p in tmp_path.rglob("*")} == before
