"""report.html: self-contained (images inlined), escaped, and rendered with its plots by a real headless chromium."""

from __future__ import annotations

import base64
import json
import re
import shutil
import subprocess
from io import BytesIO

import numpy as np
import pytest
from PIL import Image

from gan_eval.monitor import read_run
from gan_eval.monitor.dashboard import dashboard_png, latest_samples
from gan_eval.monitor.events import RunRecord
from gan_eval.monitor.html_report import report_html

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DATA_URL = re.compile(r'<img id="(\w+)"[^>]* src="data:image/png;base64,([A-Za-z0-9+/=]+)"')


def _page(run_dir) -> tuple[str, bytes, tuple[int, bytes]]:
    record = read_run(run_dir)
    dashboard = dashboard_png(record, run_dir, dpi=60)
    samples = latest_samples(run_dir, record.events)
    return report_html(record, "small run", dashboard, samples), dashboard, samples


def test_page_inlines_the_dashboard_and_the_latest_samples(small_run):
    page, dashboard, samples = _page(small_run)
    images = dict(DATA_URL.findall(page))
    assert set(images) == {"dashboard", "samples"}
    assert base64.b64decode(images["dashboard"]) == dashboard
    assert (
        samples[0] == 40
        and base64.b64decode(images["samples"]) == (small_run / "samples/step_00000040.png").read_bytes()
    )
    assert 'src="http' not in page and "href=" not in page  # nothing to fetch
    assert "non_finite" in page and "loss_d=nan" in page and "Latest evaluation (step 40)" in page
    assert "steps 0–59, 1 session, " in page


def test_record_text_is_escaped():
    alarm = {"kind": "alarm", "step": 3, "rule": "<b>r</b>", "subject": "s&t", "message": "<script>x</script>"}
    page = report_html(RunRecord([alarm], 2), "<run>", b"\x89PNG", None)
    assert "<script>x" not in page and "&lt;script&gt;x&lt;/script&gt;" in page
    assert "&lt;b&gt;r&lt;/b&gt; ×1" in page and "s&amp;t" in page and "<title>gan-eval monitor: &lt;run&gt;" in page
    assert "2 damaged lines skipped" in page and "No evaluation was recorded." in page


def test_no_alarm_says_so():
    page = report_html(RunRecord([{"kind": "scalars", "step": 0, "loss": 1.0}], 0), "quiet", b"\x89PNG", None)
    assert 'id="no-alarms"' in page and '<table id="alarms">' not in page


# Appended to a copy of the page for the test only: lists every image as the browser decoded it.
PROBE = """<script>
window.addEventListener("load", () => {
  const found = Array.from(document.images).map(i => [i.id, i.complete, i.naturalWidth, i.naturalHeight]);
  const out = document.createElement("pre");
  out.id = "probe";
  out.textContent = JSON.stringify(found);
  document.body.appendChild(out);
});
</script>"""


def _chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    command = [
        CHROMIUM,
        "--headless",
        "--no-sandbox",  # tests may run as root in a container
        "--disable-gpu",
        "--disable-dev-shm-usage",
        "--no-first-run",
        f"--user-data-dir={tmp_path / 'profile'}",
        "--virtual-time-budget=10000",
        *args,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=120, check=False)


@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (.ci/setup installs it on Debian)")
def test_chromium_renders_the_page_with_its_plots(small_run, tmp_path):
    page, dashboard, samples = _page(small_run)
    probe = tmp_path / "probe.html"
    probe.write_text(page.replace("</body>", PROBE + "\n</body>"), encoding="utf-8")
    dom = _chromium(tmp_path, "--dump-dom", probe.as_uri())
    found = re.search(r'<pre id="probe">(.*?)</pre>', dom.stdout)
    assert found, f"no probe output; chromium said: {dom.stderr[-2000:]}"
    decoded = {name: (complete, width, height) for name, complete, width, height in json.loads(found.group(1))}
    with Image.open(BytesIO(dashboard)) as image:
        assert decoded["dashboard"] == (True, *image.size)
    with Image.open(BytesIO(samples[1])) as image:
        assert decoded["samples"] == (True, *image.size)

    # The page itself, unmodified: a screenshot shows the dashboard's line colours (matplotlib's C0 and C1).
    page_file = tmp_path / "report.html"
    page_file.write_text(page, encoding="utf-8")
    shot = tmp_path / "shot.png"
    _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1600", page_file.as_uri())
    with Image.open(shot) as image:
        pixels = np.asarray(image.convert("RGB")).reshape(-1, 3).astype(int)
    for colour in ((0x1F, 0x77, 0xB4), (0xFF, 0x7F, 0x0E)):
        near = np.abs(pixels - np.array(colour)).sum(axis=1) < 30
        assert near.sum() > 200, f"colour {colour} not on the screenshot"
