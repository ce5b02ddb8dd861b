"""The dashboard of a monitored run: one PNG with its losses, D's outputs, gradient norms, metrics and alarms.

Panels, all against the training step: the logged scalars; the learning
rate of each optimizer and parameter group (log scale, a step function with a
mark where it changed); D's outputs
(mean D(x) and D(G(z)) as probabilities with r_t = E[sign(D(x_real))] and
the run's `overfit_rt` line, or a critic's mean scores and their gap); the gradient norms of
G and D (log scale); FID and KID; precision, recall, density, coverage and
the spread ratio, each line labelled at its end (the spread tr(Σ) of the
samples alone when there is no reference); and the latest picture of
generated samples. Every alarm is
a vertical line on every time panel, in its rule's colour. Rendered with
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
        threshold = _overfit_rt(events)
        axes.axhline(threshold, color="tab:green", linestyle=":", linewidth=0.8)
        axes.set_ylim(-1.05, 1.05)
        axes.set_title(f"D's outputs (probabilities; r_t with its {threshold:g} line)")
        return True
    steps, _ = series(events, "discriminator", "critic_gap")
    if len(steps):
        for name, label, colour in (
            ("real_mean", "E[D(x)]", "tab:blue"),
            ("fake_mean", "E[D(G(z))]", "tab:orange"),
            ("critic_gap", "gap (Wasserstein estimate)", "tab:green"),
        ):
            _plot_line(axes, *series(events, "discriminator", name), label, colour)
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
    """Each rate as a step function up to the run's last step (log scale), ▼ where it changed."""
    names = series_names(events, "learning_rates")
    last = max((e["step"] for e in events if isinstance(e.get("step"), int)), default=0)
    for name, colour in zip(names, _colours(len(names)), strict=True):
        steps, values = series(events, "learning_rates", name)
        if not len(steps):
            continue
        steps, values = np.append(steps, max(last, steps[-1])), np.append(values, values[-1])
        positive = np.where(values > 0, values, np.nan)
        axes.plot(steps, positive, color=colour, linewidth=1.2, drawstyle="steps-post", label=f"lr {name}")
        change_steps, change_values = rate_changes(events, name)
        marks = axes.plot(change_steps, np.where(change_values > 0, change_values, np.nan), linestyle="none")
        marks[0].set(marker="v", markersize=5, color=colour, label=f"_rate changes {name}", gid=f"rate changes {name}")
    if names:
        axes.set_yscale("log")
    axes.set_title("learning rates (log scale; ▼ where a rate changed)")
    return bool(names)


def _distances(axes, events: list[dict[str, Any]]) -> bool:
    steps, fid = series(events, "evaluation", "fid")
    if not len(steps):
        axes.set_title("FID and KID")
        return False
    lines = axes.plot(steps, fid, color="tab:red", marker="o", markersize=3, label="FID")
    axes.set_ylabel("FID", color="tab:red")
    k_steps, kid = series(events, "evaluation", "kid_mean")
    if len(k_steps):
        twin = axes.twinx()
        lines += twin.plot(k_steps, kid, color="tab:blue", marker="s", markersize=3, label="KID")
        twin.set_ylabel("KID", color="tab:blue")
    # KID is drawn on the twin axes, whose lines the main axes' own legend would leave out.
    axes.legend(handles=lines, fontsize=7, loc="best")
    axes.set_title("FID (left) and KID (right) against the reference")
    return True


_COVERAGE_NAMES = ("precision", "recall", "density", "coverage", "spread_ratio")


def _coverage(axes, events: list[dict[str, Any]]) -> bool:
    """The k-NN metrics and the spread ratio; without a reference, the spread tr(Σ) of the samples alone."""
    drawn = []
    for name, colour in zip(_COVERAGE_NAMES, _colours(len(_COVERAGE_NAMES)), strict=True):
        steps, values = series(events, "evaluation", name)
        if len(steps):
            drawn += axes.plot(steps, values, color=colour, marker="o", markersize=3, label=name)
    if drawn:
        axes.axhline(1.0, color="grey", linestyle=":", linewidth=0.8)
    else:
        steps, values = series(events, "evaluation", "spread_trace")
        if len(steps):
            drawn += axes.plot(steps, values, color="C4", marker="o", markersize=3, label="spread tr(Σ)")
            axes.set_ylabel("tr(Σ) of the samples' features (no reference)")
    for line in drawn:
        _end_label(axes, line)
    axes.set_title("fidelity, diversity and spread of the samples")
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


def dashboard_figure(record: RunRecord, run_dir: str | Path, title: str | None = None) -> Any:
    """The dashboard as a matplotlib `Figure` (13 x 16 inches): six time panels and the latest samples."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.lines import Line2D

    events = record.events
    alarms = [e for e in events if e.get("kind") == "alarm"]
    figure = Figure(figsize=(13, 16), layout="constrained")
    FigureCanvasAgg(figure)  # a renderer, to measure the end labels
    grid = figure.add_gridspec(4, 2, height_ratios=(1, 1, 1, 1.1))
    draws = (_losses, _learning_rates, _d_outputs, _gradients, _distances, _coverage)
    panels = [(figure.add_subplot(grid[i // 2, i % 2]), draw) for i, draw in enumerate(draws)]
    picture = figure.add_subplot(grid[3, :])
    for axes, draw in panels:
        if draw(axes, events):
            _alarm_lines(axes, alarms)
            if axes.get_legend() is None and draw is not _coverage:  # the coverage panel labels its lines' ends
                axes.legend(fontsize=7, loc="best")
        else:
            _empty(axes, "nothing recorded")
        axes.set_xlabel("step")
        axes.grid(alpha=0.3)
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
    _spread_end_labels(figure, panels[-1][0])
    return figure
