"""The dashboard: the plotted data is the record's, alarms are marked on every time panel, odd records survive."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scheduled_training import SCHEDULED_STEPS, scheduled_rate

from gan_eval.monitor import Monitor, read_run
from gan_eval.monitor.alarms import NON_FINITE, RULES
from gan_eval.monitor.dashboard import (
    dashboard_figure,
    dashboard_png,
    latest_sample_picture,
    latest_samples,
    picture_problem,
    rolling_mean,
    series,
    values_beyond_limit,
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


def _panel(figure, name: str):
    """The dashboard's panel called `name` (its axes' label)."""
    return next(axes for axes in figure.axes if axes.get_label() == name)


def test_panels_plot_the_record_and_mark_the_alarms(small_run):
    record = read_run(small_run)
    figure = dashboard_figure(record, small_run)
    losses, _, d_outputs, gradients = figure.axes[:4]
    distances, picture = _panel(figure, "metric fid"), _panel(figure, "samples")
    time_panels = [axes for axes in figure.axes if axes is not picture]
    assert [axes.get_label() for axes in time_panels[4:]] == [
        "metric fid",
        "metric kid",
        "metric pr",
        "metric dc",
        "spread",
    ]
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
    for axes in time_panels:
        marks = [line for line in axes.get_lines() if list(line.get_xdata()) == [45, 45]]
        assert len(marks) == 1 and marks[0].get_color() == RULES[NON_FINITE].colour
    assert picture.get_title() == "generated samples at step 40" and len(picture.get_images()) == 1
    assert "1 alarm" in figure.get_suptitle()


def test_png_has_the_figure_size(small_run):
    from io import BytesIO

    from PIL import Image

    with Image.open(BytesIO(dashboard_png(read_run(small_run), small_run, dpi=50))) as image:
        assert image.size == (13 * 50, 16 * 50)


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
    assert texts.count("nothing recorded") == 6 and "no sample picture" in texts


def _lines(axes) -> dict:
    return {line.get_label(): line for line in axes.get_lines()}


def test_learning_rates_are_drawn_as_steps_with_marks_where_they_changed(scheduled_run):
    figure = dashboard_figure(read_run(scheduled_run), scheduled_run)
    rates = figure.axes[1]
    assert rates.get_yscale() == "log"
    lines = _lines(rates)
    for name in ("G", "D/group0", "D/group1"):
        line = lines[f"lr {name}"]
        assert line.get_drawstyle() == "steps-post"
        steps, values = np.asarray(line.get_xdata()), np.asarray(line.get_ydata())
        assert steps[-1] == SCHEDULED_STEPS - 1
        # The drawn step function: the value at step s is that of the last vertex at or before s.
        drawn = [values[np.searchsorted(steps, s, side="right") - 1] for s in range(SCHEDULED_STEPS)]
        assert drawn == pytest.approx([scheduled_rate(name, s) for s in range(SCHEDULED_STEPS)], rel=1e-12)
        marks = next(m for m in rates.get_lines() if m.get_gid() == f"rate changes {name}")
        changed = [s for s in range(1, SCHEDULED_STEPS) if scheduled_rate(name, s) != scheduled_rate(name, s - 1)]
        assert list(marks.get_xdata()) == changed
        assert list(marks.get_ydata()) == pytest.approx([scheduled_rate(name, s) for s in changed], rel=1e-12)
    assert {t.get_text() for t in rates.get_legend().get_texts()} == {"lr G", "lr D/group0", "lr D/group1"}


def test_a_record_without_learning_rates_still_plots(small_run):
    record = read_run(small_run)
    old = RunRecord([e for e in record.events if e["kind"] != "learning_rates"], 0)
    assert len(old.events) < len(record.events)
    figure = dashboard_figure(old, small_run)
    assert [t.get_text() for t in figure.axes[1].texts] == ["nothing recorded"]
    assert "loss_d" in _lines(figure.axes[0])
    assert dashboard_png(old, small_run, dpi=30).startswith(b"\x89PNG")


def test_fid_and_kid_have_panels_of_their_own_with_their_noise_as_error_bars(small_run):
    """FID and KID once shared a panel on twin autoscaled axes, where their lines coincided, and `fid_std` was
    recorded but not drawn."""
    record = read_run(small_run)
    figure = dashboard_figure(record, small_run)
    fid, kid = _panel(figure, "metric fid"), _panel(figure, "metric kid")
    assert len(figure.axes) == 10  # nine time panels and the picture: no twin axes
    assert [k for k in _lines(fid) if not k.startswith("_")] == ["FID"]
    assert [k for k in _lines(kid) if not k.startswith("_")] == ["KID"]
    assert "lower is better" in fid.get_title() and "lower is better" in kid.get_title()
    for axes, key, noise in ((fid, "fid", "fid_std"), (kid, "kid_mean", "kid_std")):
        _, values = series(record.events, "evaluation", key)
        _, errors = series(record.events, "evaluation", noise)
        low, high = axes.get_ylim()
        assert low <= values.min() and values.max() <= high
        bars = next(c for c in axes.collections if c.get_gid() == f"error bars {noise}")
        ends = [(segment[0][1], segment[1][1]) for segment in bars.get_segments()]
        assert ends == pytest.approx(list(zip(values - errors, values + errors, strict=True)), rel=1e-12)


def test_held_out_outputs_are_drawn(tmp_path):
    """r_v (and D(x_held_out)) given to the Monitor were recorded but not drawn."""
    rng = np.random.default_rng(0)
    with Monitor(tmp_path, tensorboard=False, stderr=False) as monitor:
        for step in range(5):
            real, fake, held = (torch.from_numpy(rng.normal(m, 1.0, 64)) for m in (1.0, -1.0, 0.2))
            monitor.discriminator(step, real, fake, kind="logits", held_out=held)
    record = read_run(tmp_path)
    lines = _lines(dashboard_figure(record, tmp_path).axes[2])
    for label, name in (("r_v = E[sign D(x_held_out)]", "r_v"), ("D(x_held_out)", "d_held_out")):
        np.testing.assert_array_equal(lines[label].get_ydata(), series(record.events, "discriminator", name)[1])


def test_a_learning_rate_of_0_is_drawn(tmp_path):
    """A frozen G (rate 0) vanished from the log-scale panel; the scale is now linear below the smallest rate."""
    events = [
        {"kind": "learning_rates", "step": 0, "G": 1e-4, "D": 1e-3},
        {"kind": "learning_rates", "step": 5, "G": 0.0},
        {"kind": "scalars", "step": 9, "loss": 1.0},
    ]
    rates = dashboard_figure(RunRecord(events, 0), tmp_path).axes[1]
    line = _lines(rates)["lr G"]
    assert list(line.get_xdata()) == [0, 5, 9] and list(line.get_ydata()) == [1e-4, 0.0, 0.0]
    assert rates.get_yscale() == "symlog" and rates.get_ylim()[0] <= 0.0
    marks = next(m for m in rates.get_lines() if m.get_gid() == "rate changes G")
    assert list(marks.get_xdata()) == [5] and list(marks.get_ydata()) == [0.0]


def _evaluations(values: dict[str, list[float]]) -> RunRecord:
    steps = range(len(next(iter(values.values()))))
    return RunRecord([{"kind": "evaluation", "step": 10 * s, **{k: v[s] for k, v in values.items()}} for s in steps], 0)


def test_end_labels_of_equal_metrics_do_not_overlap(tmp_path):
    same = [0.0, 0.02, 0.01]
    record = _evaluations({k: same for k in ("precision", "recall", "density", "coverage")} | {"spread_ratio": same})
    figure = dashboard_figure(record, tmp_path)
    figure.savefig(tmp_path / "dashboard.png", dpi=72)
    renderer = figure.canvas.get_renderer()
    panels = [_panel(figure, name) for name in ("metric pr", "metric dc", "spread")]
    labels = {axes.get_label(): [t for t in axes.texts if t.get_gid() == "end label"] for axes in panels}
    assert {name: sorted(t.get_text() for t in found) for name, found in labels.items()} == {
        "metric pr": ["precision 0.01", "recall 0.01"],
        "metric dc": ["coverage 0.01", "density 0.01"],
        "spread": ["spread ratio 0.01"],
    }
    for found in labels.values():
        boxes = [t.get_window_extent(renderer) for t in found]
        for i, a in enumerate(boxes):
            for b in boxes[i + 1 :]:
                assert not a.overlaps(b), (a, b)
    assert all(axes.get_legend() is None for axes in panels)


def test_the_spread_panel_shows_the_spread_without_a_reference(tmp_path):
    torch.manual_seed(0)
    generator = torch.nn.Linear(2, 2)
    with Monitor(tmp_path, reference=None, every=5, n_samples=50, tensorboard=False, stderr=False) as monitor:
        for step in range(11):
            monitor.evaluate(step, generator, latent_shape=2)
    record = read_run(tmp_path)
    coverage = dashboard_figure(record, tmp_path).axes[5]
    assert "nothing recorded" not in [t.get_text() for t in coverage.texts]
    line = _lines(coverage)["spread tr(Σ)"]
    steps, traces = series(record.events, "evaluation", "spread_trace")
    assert steps.tolist() == [0, 5, 10]
    np.testing.assert_array_equal(line.get_xdata(), steps)
    np.testing.assert_array_equal(line.get_ydata(), traces)


def test_values_that_cannot_be_drawn_become_gaps_and_those_beyond_the_limit_are_counted():
    big = 10**400  # a whole number JSON reads exactly, beyond any float
    events = [{"kind": "scalars", "step": i, "loss": v} for i, v in enumerate([1.0, math.inf, math.nan, 1e101, big])]
    events.append({"kind": "alarm", "step": 1, "values": {"loss": math.inf}})  # not plotted: not counted
    steps, values = series(events, "scalars", "loss")
    assert steps.tolist() == [0, 1, 2, 3, 4] and values[0] == 1.0 and np.isnan(values[1:]).all()
    assert values_beyond_limit(events) == 2  # 1e101 and 10**400; NaN and Inf are a Monitor's own gaps
    assert dashboard_png(RunRecord(events, 0), ".", dpi=20).startswith(b"\x89PNG")


def test_a_sample_picture_that_does_not_decode_is_named_and_left_out(tmp_path):
    (tmp_path / "s.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"rest")
    events = [{"kind": "evaluation", "step": 4, "samples": "s.png"}]
    picture = latest_sample_picture(tmp_path, events)
    assert (picture.step, picture.path) == (4, tmp_path.resolve() / "s.png")
    assert picture_problem(picture.png) is not None
    figure = dashboard_figure(RunRecord(events, 0), tmp_path)
    assert any(t.get_text().startswith("sample picture left out") for a in figure.axes for t in a.texts)
