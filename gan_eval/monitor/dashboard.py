"""The dashboard of a monitored run: one PNG with its losses, D's outputs, gradient norms, metrics and alarms.

Panels, all against the training step, two by two: the logged scalars; the
learning rate of each optimizer and parameter group (log scale, a step
function with a mark where it changed; linear below the smallest rate when a
rate is 0, so that a frozen network shows); D's outputs (mean D(x) and
D(G(z)) as probabilities with r_t = E[sign(D(x_real))], the held-out
D(x_held_out) and r_v when recorded, and the run's `overfit_rt` line, or a
critic's mean scores and their gap); the gradient norms of G and D (log
scale); one panel per metric the record holds (`recorded_metrics`: any
registered metric, with its title, whether lower or higher is better, and
error bars from its noise estimate or spread, such as `fid_std`); and the
spread ratio (the spread tr(Σ) of the samples alone when there is no
reference). Metric lines are labelled at their end with their latest value.
Under the panels, the latest picture of generated samples. Every alarm is a
vertical line on every time panel, in its rule's colour. Rendered with
matplotlib's Agg backend on a `Figure` object; returns PNG bytes.
"""

from __future__ import annotations

import io
import math
import warnings
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from gan_eval.monitor.alarms import RULES, AlarmRules
from gan_eval.monitor.events import RunRecord
from gan_eval.monitor.recorded_metrics import SPREAD_RATIO, SPREAD_TRACE, RecordedMetric, recorded_metrics

_BOOKKEEPING = {"kind", "step", "time"}
_SMOOTH_ABOVE = 200
_PLOTTED_KINDS = ("scalars", "learning_rates", "discriminator", "gradients", "evaluation")
PLOT_LIMIT = 1e100  # beyond, matplotlib's tick and log-scale arithmetic overflows


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def plottable(value: int | float) -> bool:
    """Whether a recorded number can be drawn: finite and within ±`PLOT_LIMIT`."""
    return abs(value) <= PLOT_LIMIT  # False for NaN and infinities; exact for integers of any size


def series(events: list[dict[str, Any]], kind: str, name: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps `(K,)` int64 and values `(K,)` float64 of field `name` in the events of `kind` that have it; values
    that are not `plottable` are NaN (a gap in the line)."""
    pairs = [
        (e["step"], float(e[name]) if plottable(e[name]) else np.nan)
        for e in events
        if e.get("kind") == kind and isinstance(e.get("step"), int) and _is_number(e.get(name))
    ]
    if not pairs:
        return np.zeros(0, dtype=np.int64), np.zeros(0)
    steps, values = zip(*pairs, strict=True)
    return np.asarray(steps, dtype=np.int64), np.asarray(values, dtype=np.float64)


def values_beyond_limit(events: list[dict[str, Any]]) -> int:
    """How many finite numbers of the plotted records are beyond ±`PLOT_LIMIT`, left out of the plots.

    NaN and infinities are not counted: a Monitor records them on purpose (a
    diverged loss), and they are gaps in the plots as they always were.
    """
    return sum(
        1
        for e in events
        if e.get("kind") in _PLOTTED_KINDS
        for key, value in e.items()
        if key not in _BOOKKEEPING and _is_number(value) and not plottable(value) and not _non_finite(value)
    )


def _non_finite(value: int | float) -> bool:
    return isinstance(value, float) and not math.isfinite(value)


def series_names(events: list[dict[str, Any]], kind: str) -> list[str]:
    """The series in the records of `kind` (`scalars`: names given to `Monitor.log`; `learning_rates`), in order
    of first appearance."""
    names: dict[str, None] = {}
    for event in events:
        if event.get("kind") == kind:
            names.update((k, None) for k in event if k not in _BOOKKEEPING)
    return list(names)


def rolling_mean(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing mean of the last `window` finite values at each position `(K,)` (NaN where none)."""
    finite = np.isfinite(values)
    sums = np.concatenate([[0.0], np.cumsum(np.where(finite, values, 0.0))])
    counts = np.concatenate([[0], np.cumsum(finite)])
    lo = np.maximum(np.arange(1, len(values) + 1) - window, 0)
    hi = np.arange(1, len(values) + 1)
    n = counts[hi] - counts[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, (sums[hi] - sums[lo]) / np.maximum(n, 1), np.nan)


def _plot_line(axes, steps: np.ndarray, values: np.ndarray, label: str, colour: str) -> None:
    if len(values) > _SMOOTH_ABOVE:
        axes.plot(steps, values, color=colour, alpha=0.25, linewidth=0.6)
        window = max(len(values) // 100, 5)
        axes.plot(steps, rolling_mean(values, window), color=colour, linewidth=1.3, label=f"{label} (mean of {window})")
    else:
        axes.plot(steps, values, color=colour, linewidth=1.2, marker="." if len(values) < 30 else None, label=label)


def _empty(axes, text: str) -> None:
    axes.text(0.5, 0.5, text, ha="center", va="center", transform=axes.transAxes, color="grey")


def _colours(n: int) -> list[str]:
    return [f"C{i % 10}" for i in range(n)]


def _losses(axes, events: list[dict[str, Any]]) -> bool:
    names = series_names(events, "scalars")
    for name, colour in zip(names, _colours(len(names)), strict=True):
        steps, values = series(events, "scalars", name)
        _plot_line(axes, steps, values, name, colour)
    axes.set_title("logged values (losses)")
    return bool(names)


def _overfit_rt(events: list[dict[str, Any]]) -> float:
    """The r_t threshold of the discriminator-overfitting alarm in the run's latest session, else the default."""
    for event in reversed(events):
        rules = event.get("rules") if event.get("kind") == "session" else None
        if isinstance(rules, dict) and _is_number(rules.get("overfit_rt")) and plottable(rules["overfit_rt"]):
            return float(rules["overfit_rt"])
    return AlarmRules().overfit_rt


def _d_outputs(axes, events: list[dict[str, Any]]) -> bool:
    steps, d_real = series(events, "discriminator", "d_real")
    _, d_fake = series(events, "discriminator", "d_fake")
    if len(steps):
        _plot_line(axes, steps, d_real, "D(x)", "tab:blue")
        _plot_line(axes, steps, d_fake, "D(G(z))", "tab:orange")
        r_steps, r_t = series(events, "discriminator", "r_t")
        _plot_line(axes, r_steps, r_t, "r_t = E[sign D(x)]", "tab:green")
        held_steps, d_held = series(events, "discriminator", "d_held_out")
        if len(held_steps):
            _plot_line(axes, held_steps, d_held, "D(x_held_out)", "tab:cyan")
            _plot_line(axes, *series(events, "discriminator", "r_v"), "r_v = E[sign D(x_held_out)]", "tab:olive")
        threshold = _overfit_rt(events)
        axes.axhline(threshold, color="tab:green", linestyle=":", linewidth=0.8)
        axes.set_ylim(-1.05, 1.05)
        held = " and r_v" if len(held_steps) else ""
        axes.set_title(f"D's outputs (probabilities; r_t{held} with the {threshold:g} line)")
        return True
    steps, _ = series(events, "discriminator", "critic_gap")
    if len(steps):
        for name, label, colour in (
            ("real_mean", "E[D(x)]", "tab:blue"),
            ("fake_mean", "E[D(G(z))]", "tab:orange"),
            ("critic_gap", "gap (Wasserstein estimate)", "tab:green"),
            ("held_out_mean", "E[D(x_held_out)]", "tab:cyan"),
        ):
            held_or_not = series(events, "discriminator", name)
            if len(held_or_not[0]):
                _plot_line(axes, *held_or_not, label, colour)
        axes.set_title("critic's scores")
        return True
    axes.set_title("D's outputs")
    return False


def _gradients(axes, events: list[dict[str, Any]]) -> bool:
    drawn = False
    for net, colour in (("g", "tab:blue"), ("d", "tab:orange")):
        steps, norms = series(events, "gradients", f"{net}_norm")
        if len(steps):
            positive = np.where(norms > 0, norms, np.nan)
            _plot_line(axes, steps, positive, f"{net.upper()} gradient norm", colour)
            drawn = True
    if drawn:
        axes.set_yscale("log")
    axes.set_title("gradient norms (L2, per optimizer step)")
    return drawn


def rate_changes(events: list[dict[str, Any]], name: str) -> tuple[np.ndarray, np.ndarray]:
    """Steps `(K,)` and new rates `(K,)` where the rate of series `name` changed (its first record excluded)."""
    steps, values = series(events, "learning_rates", name)
    changed = np.flatnonzero(values[1:] != values[:-1]) + 1
    return steps[changed], values[changed]


def _learning_rates(axes, events: list[dict[str, Any]]) -> bool:
    """Each rate as a step function up to the run's last step (log scale), ▼ where it changed. When a rate is 0
    (a frozen network), the scale is linear below the smallest positive rate, so that 0 is drawn too."""
    names = series_names(events, "learning_rates")
    last = max((e["step"] for e in events if isinstance(e.get("step"), int)), default=0)
    rates = [v for name in names for v in series(events, "learning_rates", name)[1]]
    positive = [v for v in rates if v > 0]
    frozen = any(v == 0 for v in rates)
    shown = (lambda v: np.where(v >= 0, v, np.nan)) if frozen else (lambda v: np.where(v > 0, v, np.nan))
    for name, colour in zip(names, _colours(len(names)), strict=True):
        steps, values = series(events, "learning_rates", name)
        if not len(steps):
            continue
        steps, values = np.append(steps, max(last, steps[-1])), np.append(values, values[-1])
        axes.plot(steps, shown(values), color=colour, linewidth=1.2, drawstyle="steps-post", label=f"lr {name}")
        change_steps, change_values = rate_changes(events, name)
        marks = axes.plot(change_steps, shown(change_values), linestyle="none")
        marks[0].set(marker="v", markersize=5, color=colour, label=f"_rate changes {name}", gid=f"rate changes {name}")
    if frozen:
        linear = min(positive, default=1.0)
        axes.set_yscale("symlog", linthresh=linear, linscale=0.5)
        axes.axhline(0.0, color="grey", linestyle=":", linewidth=0.8)
        axes.set_title(f"learning rates (log scale, linear below {linear:g}: a rate of 0 shows; ▼ where it changed)")
    else:
        if names:
            axes.set_yscale("log")
        axes.set_title("learning rates (log scale; ▼ where a rate changed)")
    return bool(names)


def _direction(metric: RecordedMetric) -> str:
    """Whether lower or higher is better, for each headline key of `metric` that says."""
    said = {key.label: key.better for key in metric.keys if key.better}
    if len(set(said.values())) == 1:
        return f"{next(iter(said.values()))} is better"
    return "; ".join(f"{label}: {better} is better" for label, better in said.items())


def _error_bars(events: list[dict[str, Any]], key: Any, steps: np.ndarray) -> tuple[str, np.ndarray] | None:
    """The recorded noise estimate (else spread) of headline `key` at `steps`, NaN where missing, with its name."""
    for name in (key.noise, key.spread):
        if name is None:
            continue
        error_steps, errors = series(events, "evaluation", name)
        if len(error_steps):
            at = dict(zip(error_steps.tolist(), errors.tolist(), strict=True))
            return name, np.array([at.get(s, np.nan) for s in steps.tolist()])
    return None


def _metric_panel(metric: RecordedMetric) -> Any:
    """A panel drawing `metric`: a line per headline key, with error bars from its noise estimate or spread."""

    def draw(axes, events: list[dict[str, Any]]) -> bool:
        drawn = []
        for key, colour in zip(metric.keys, _colours(len(metric.keys)), strict=True):
            steps, values = series(events, "evaluation", key.name)
            if not len(steps):
                continue
            drawn += axes.plot(steps, values, color=colour, marker="o", markersize=3, label=key.label)
            bars = _error_bars(events, key, steps)
            if bars is not None:
                axes.errorbar(
                    steps,
                    values,
                    yerr=bars[1],
                    fmt="none",
                    ecolor=colour,
                    elinewidth=0.8,
                    capsize=2,
                    gid=f"error bars {bars[0]}",
                )
        for line in drawn:
            _end_label(axes, line)
        spaces = list(
            dict.fromkeys(
                str(e["features"])
                for e in events
                if e.get("kind") == "evaluation" and "features" in e and any(k.name in e for k in metric.keys)
            )
        )
        where = f" in {', '.join(spaces)}" if spaces else ""
        axes.set_title(f"{metric.title}{where} ({_direction(metric)})", fontsize=10)
        return bool(drawn)

    draw.panel = f"metric {metric.name}"
    return draw


def _no_metric(axes, events: list[dict[str, Any]]) -> bool:
    axes.set_title("metrics against the reference")
    return False


def _spread(axes, events: list[dict[str, Any]]) -> bool:
    """The spread ratio; without a reference, the spread tr(Σ) of the samples alone."""
    drawn = []
    steps, values = series(events, "evaluation", SPREAD_RATIO)
    if len(steps):
        drawn += axes.plot(steps, values, color="C4", marker="o", markersize=3, label="spread ratio")
        axes.axhline(1.0, color="grey", linestyle=":", linewidth=0.8)
        axes.set_title("spread ratio tr(Σ_generated) / tr(Σ_reference) (1: the reference's spread)")
    else:
        steps, values = series(events, "evaluation", SPREAD_TRACE)
        if len(steps):
            drawn += axes.plot(steps, values, color="C4", marker="o", markersize=3, label="spread tr(Σ)")
            axes.set_ylabel("tr(Σ) of the samples' features (no reference)")
        axes.set_title("spread of the samples' features")
    for line in drawn:
        _end_label(axes, line)
    return bool(drawn)


def _end_label(axes, line) -> None:
    """Name and last finite value of `line`, right of the axes at that value's height (spread apart later)."""
    values = np.asarray(line.get_ydata(), dtype=float)
    finite = np.isfinite(values)
    if not finite.any():
        return
    value = values[finite][-1]
    axes.annotate(
        f"{line.get_label()} {value:.3g}",
        xy=(1.0, value),
        xycoords=axes.get_yaxis_transform(),
        xytext=(4, 0),
        textcoords="offset points",
        ha="left",
        va="center",
        fontsize=7,
        color=line.get_color(),
        gid="end label",
    )


def _spread_end_labels(figure, axes) -> None:
    """Move the end labels of `axes` apart vertically so that no two overlap (lines often end at one value)."""
    labels = [t for t in axes.texts if t.get_gid() == "end label"]
    if len(labels) < 2:
        return
    figure.draw_without_rendering()  # lay the figure out, so that heights on screen are known
    renderer = figure.canvas.get_renderer()
    gap = 1.25 * max(t.get_window_extent(renderer).height for t in labels)
    to_screen = axes.get_yaxis_transform()
    ys = [to_screen.transform((1.0, t.xy[1]))[1] for t in labels]
    order = np.argsort(ys, kind="stable")
    placed = np.asarray(ys, dtype=float)[order]
    for i in range(1, len(placed)):
        placed[i] = max(placed[i], placed[i - 1] + gap)
    # Centre the stack on the values it labels, so that a pushed-up pile does not drift off the panel.
    placed += (np.mean(np.asarray(ys)[order]) - np.mean(placed)) / 2
    for i in range(1, len(placed)):
        placed[i] = max(placed[i], placed[i - 1] + gap)
    for label, y in zip([labels[i] for i in order], placed, strict=True):
        label.xyann = (4, (y - to_screen.transform((1.0, label.xy[1]))[1]) * 72 / figure.dpi)


def alarm_colour(rule: Any) -> str:
    """The colour a registered rule declares, grey for a rule this process does not know."""
    return RULES[rule].colour if rule in RULES else "grey"


def _alarm_lines(axes, alarms: list[dict[str, Any]]) -> None:
    for alarm in alarms:
        if isinstance(alarm.get("step"), int):
            colour = alarm_colour(alarm.get("rule"))
            axes.axvline(alarm["step"], color=colour, linestyle="--", linewidth=1.0, alpha=0.8)


@dataclass(frozen=True)
class SamplePicture:
    """A sample picture the record names: its step, its path inside the run folder and its PNG bytes."""

    step: int
    path: Path
    png: bytes


def latest_sample_picture(run_dir: str | Path, events: list[dict[str, Any]]) -> SamplePicture | None:
    """The newest sample picture the record names inside `run_dir`, if readable and a PNG (decoded or not)."""
    root = Path(run_dir).resolve()
    for event in reversed(events):
        name = event.get("samples") if event.get("kind") == "evaluation" else None
        if not isinstance(name, str):
            continue
        try:
            path = (root / name).resolve()
            if not path.is_relative_to(root) or not path.is_file():
                continue  # a record names files of its own folder only
            data = path.read_bytes()
        except (OSError, ValueError):  # unreadable, or a name the system refuses (a NUL byte, too long)
            continue
        if data.startswith(b"\x89PNG\r\n\x1a\n"):
            return SamplePicture(event["step"], path, data)
    return None


def latest_samples(run_dir: str | Path, events: list[dict[str, Any]]) -> tuple[int, bytes] | None:
    """Step and PNG bytes of `latest_sample_picture`."""
    found = latest_sample_picture(run_dir, events)
    return None if found is None else (found.step, found.png)


def picture_problem(png: bytes) -> str | None:
    """Why `png` cannot be drawn (cut short, over Pillow's decompression-bomb limit, ...), or None when it decodes."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(png)) as image:
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return "image is over the decompression-bomb limit"
    except Exception as exc:  # Pillow's decoders raise OSError, SyntaxError, ValueError, struct.error, ...
        return str(exc).splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
    return None


def dashboard_png(record: RunRecord, run_dir: str | Path, title: str | None = None, dpi: int = 90) -> bytes:
    """The dashboard of the run in `run_dir` (see the module docstring) as PNG bytes, `dpi` dots per inch."""
    buffer = io.BytesIO()
    dashboard_figure(record, run_dir, title).savefig(buffer, format="png", dpi=dpi)
    return buffer.getvalue()


_FIXED_PANELS = (
    ("logged values", _losses),
    ("learning rates", _learning_rates),
    ("discriminator", _d_outputs),
    ("gradients", _gradients),
)
_ROWS_IN_16_INCHES = 5


def _panels(events: list[dict[str, Any]]) -> list[tuple[str, Any]]:
    """(name, draw) of every time panel: the fixed four, one per recorded metric (or one saying there is none),
    and the spread."""
    metrics = [(draw.panel, draw) for draw in map(_metric_panel, recorded_metrics(events))]
    return [*_FIXED_PANELS, *(metrics or [("metrics", _no_metric)]), ("spread", _spread)]


def dashboard_figure(record: RunRecord, run_dir: str | Path, title: str | None = None) -> Any:
    """The dashboard as a matplotlib `Figure` 13 inches wide: the time panels two by two, the latest samples
    under them. Each panel's axes are labelled with its name (`Axes.get_label()`: "logged values", "learning
    rates", "discriminator", "gradients", "metric <name>", "spread", "samples"). 16 inches tall for up to
    five rows of panels (the default four metrics), 3 more per further row."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    events = record.events
    alarms = [e for e in events if e.get("kind") == "alarm"]
    panels = _panels(events)
    rows = math.ceil(len(panels) / 2)
    figure = Figure(figsize=(13, 16 + 3 * max(0, rows - _ROWS_IN_16_INCHES)), layout="constrained")
    FigureCanvasAgg(figure)  # a renderer, to measure the end labels
    grid = figure.add_gridspec(rows + 1, 2, height_ratios=(1,) * rows + (1.6,))
    drawn = []
    for i, (name, draw) in enumerate(panels):
        last_alone = i == len(panels) - 1 and i % 2 == 0
        axes = figure.add_subplot(grid[i // 2, :] if last_alone else grid[i // 2, i % 2], label=name)
        if draw(axes, events):
            _alarm_lines(axes, alarms)
            if axes.get_legend() is None and not _has_end_labels(axes):
                axes.legend(fontsize=7, loc="best")
        else:
            _empty(axes, "nothing recorded")
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
        drawn.append(axes)
    picture = figure.add_subplot(grid[rows, :], label="samples")
    picture.axis("off")
    found = latest_samples(run_dir, events)
    problem = None if found is None else picture_problem(found[1])
    if found is None or problem is not None:
        _empty(picture, "no sample picture" if found is None else f"sample picture left out ({problem})")
    else:
        from PIL import Image

        with Image.open(io.BytesIO(found[1])) as image:
            picture.imshow(np.asarray(image.convert("RGB")), interpolation="nearest")
        picture.set_title(f"generated samples at step {found[0]}")
    counts = Counter(a.get("rule") for a in alarms)
    if counts:
        handles = [
            Line2D([], [], color=alarm_colour(rule), linestyle="--", label=f"alarm: {rule} ×{n}")
            for rule, n in counts.items()
        ]
        figure.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 3), fontsize=9)
    steps = [e["step"] for e in events if isinstance(e.get("step"), int)]
    span = f"steps {min(steps)}–{max(steps)}" if steps else "no steps"
    alarm_text = f"{len(alarms)} alarm{'s' if len(alarms) != 1 else ''}" if alarms else "no alarms"
    figure.suptitle(f"{title or Path(run_dir).name}: {span}, {alarm_text}", fontsize=13)
    for axes in drawn:
        _spread_end_labels(figure, axes)
    return figure


def _has_end_labels(axes) -> bool:
    return any(text.get_gid() == "end label" for text in axes.texts)
