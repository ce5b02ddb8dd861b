"""The dashboard: the plotted data is the record's, alarms are marked on every time panel, odd records survive."""

from __future__ import annotations

import math

import numpy as np

from gan_eval.monitor import read_run
from gan_eval.monitor.dashboard import (
    ALARM_COLOURS,
    dashboard_figure,
    dashboard_png,
    latest_samples,
    rolling_mean,
    series,
)
from gan_eval.monitor.events import RunRecord


def test_rolling_mean_equals_a_loop():
    values = np.array([1.0, np.nan, 3.0, 4.0, np.inf, 6.0, np.nan, np.nan, np.nan, 2.0])
    window = 3
    expected = []
    for i in range(len(values)):
        chunk = [v for v in values[max(0, i + 1 - window) : i + 1] if math.isfinite(v)]
        expected.append(sum(chunk) / len(chunk) if chunk else math.nan)
    np.testing.assert_allclose(rolling_mean(values, window), expected, equal_nan=True)


def test_series_keeps_numbers_of_one_kind_with_integer_steps():
    events = [
        {"kind": "scalars", "step": 0, "loss": 1.0},
        {"kind": "scalars", "step": 1, "loss": True},
        {"kind": "scalars", "step": None, "loss": 2.0},
        {"kind": "gradients", "step": 2, "loss": 3.0},
        {"kind": "scalars", "step": 3, "loss": math.nan},
        {"kind": "scalars", "step": 4},
    ]
    steps, values = series(events, "scalars", "loss")
    assert steps.tolist() == [0, 3] and values[0] == 1.0 and math.isnan(values[1])


def test_panels_plot_the_record_and_mark_the_alarms(small_run):
    record = read_run(small_run)
    figure = dashboard_figure(record, small_run)
    losses, d_outputs, gradients, distances, coverage, picture = figure.axes[:6]
    lines = {line.get_label(): line for line in losses.get_lines()}
    steps, loss_d = series(record.events, "scalars", "loss_d")
    np.testing.assert_array_equal(lines["loss_d"].get_xdata(), steps)
    np.testing.assert_array_equal(lines["loss_d"].get_ydata(), loss_d)
    d_real = {line.get_label(): line for line in d_outputs.get_lines()}["D(x)"]
    np.testing.assert_array_equal(d_real.get_ydata(), series(record.events, "discriminator", "d_real")[1])
    g_norm = {line.get_label(): line for line in gradients.get_lines()}["G gradient norm"]
    np.testing.assert_array_equal(g_norm.get_ydata(), series(record.events, "gradients", "g_norm")[1])
    fid = {line.get_label(): line for line in distances.get_lines()}["FID"]
    assert fid.get_xdata().tolist() == [0, 20, 40]
    alarms = [e for e in record.events if e["kind"] == "alarm"]
    assert [(a["rule"], a["step"]) for a in alarms] == [("non_finite", 45)]
    for axes in (losses, d_outputs, gradients, distances, coverage):
        marks = [line for line in axes.get_lines() if list(line.get_xdata()) == [45, 45]]
        assert len(marks) == 1 and marks[0].get_color() == ALARM_COLOURS["non_finite"]
    assert picture.get_title() == "generated samples at step 40" and len(picture.get_images()) == 1
    assert "1 alarm" in figure.get_suptitle()


def test_png_has_the_figure_size(small_run):
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(dashboard_png(read_run(small_run), small_run, dpi=50))) as image:
        assert image.size == (13 * 50, 12 * 50)


def test_latest_samples_stay_inside_the_run_folder(tmp_path):
    png = b"\x89PNG\r\n\x1a\n" + b"rest"
    (tmp_path / "run" / "samples").mkdir(parents=True)
    (tmp_path / "run" / "samples" / "a.png").write_bytes(png)
    (tmp_path / "outside.png").write_bytes(png)
    (tmp_path / "run" / "samples" / "b.png").write_bytes(b"not a png")
    events = [
        {"kind": "evaluation", "step": 1, "samples": "samples/a.png"},
        {"kind": "evaluation", "step": 2, "samples": "../outside.png"},
        {"kind": "evaluation", "step": 3, "samples": "samples/b.png"},
        {"kind": "evaluation", "step": 4, "samples": "samples/missing.png"},
    ]
    assert latest_samples(tmp_path / "run", events) == (1, png)


def test_an_empty_record_still_draws(tmp_path):
    figure = dashboard_figure(RunRecord([], 0), tmp_path)
    texts = [t.get_text() for axes in figure.axes for t in axes.texts]
    assert texts.count("nothing recorded") == 5 and "no sample picture" in texts
