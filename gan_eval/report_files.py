"""A report folder: `report.json` and, with matplotlib, figures of FID∞ and precision/recall.

- `fid_inf.png`: FID_N against 1/N at the measured sample sizes, the
  least-squares line, and its intercept FID∞ at 1/N = 0 (Chong & Forsyth 2020).
- `precision_recall.png`: the (recall, precision) pair in the unit square,
  with density and coverage beside it when they were computed.

Every file is rendered in memory first, and the files are written together
atomically (all replaced or none), so a failure leaves no partial report.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

import numpy as np

from gan_eval.atomic import atomic_write_files
from gan_eval.errors import GanEvalError
from gan_eval.metrics.registry import METRICS
from gan_eval.result import Result


def _key_names(metric: str) -> tuple[str, ...]:
    """The headline keys of the registered metric `metric`, in the order it declares them."""
    return tuple(key.name for key in METRICS[metric].keys)


# The keys each figure draws, read from the metric registry (a metric whose keys change shape fails here).
FID_INF, FID_INF_SLOPE = _key_names("fid_inf")
FID_INF_SIZES, FID_INF_FIDS = METRICS["fid_inf"].details
PRECISION, RECALL = _key_names("pr")
DENSITY, COVERAGE = _key_names("dc")


def _png(figure) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=120, bbox_inches="tight")
    return buffer.getvalue()


def fid_inf_figure(sizes: list[int], fids: list[float], fid_inf: float, slope: float) -> bytes:
    """PNG bytes: FID_N against 1/N with the fitted line extrapolated to 1/N = 0."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    inv = 1.0 / np.asarray(sizes, dtype=np.float64)
    figure = Figure(figsize=(5.5, 3.8))
    axes = figure.add_subplot()
    axes.plot(inv, fids, "o", color="tab:blue", label="FID at N samples")
    line_x = np.linspace(0.0, inv.max() * 1.05, 50)
    axes.plot(line_x, fid_inf + slope * line_x, "-", color="tab:orange", label=f"fit: {fid_inf:.3f} + {slope:.4g}/N")
    axes.plot([0.0], [fid_inf], "*", markersize=12, color="tab:red", label=f"FID∞ = {fid_inf:.3f}")
    axes.set_xlabel("1 / N (generated samples)")
    axes.set_ylabel("FID")
    axes.set_xlim(left=0.0)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8)
    axes.set_title("FID against 1/N and its extrapolation")
    return _png(figure)


def precision_recall_figure(
    precision: float, recall: float, density: float | None = None, coverage: float | None = None
) -> bytes:
    """PNG bytes: the (recall, precision) point, with density and coverage bars when given."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    with_dc = density is not None and coverage is not None
    figure = Figure(figsize=(8.5 if with_dc else 4.5, 4.2))
    axes = figure.add_subplot(1, 2 if with_dc else 1, 1)
    axes.plot([recall], [precision], "o", markersize=10, color="tab:blue")
    label = f"P={precision:.3f}\nR={recall:.3f}"
    offset = (-70, -30) if recall > 0.6 else (10, -30)
    axes.annotate(
        label, (recall, precision), textcoords="offset points", xytext=offset, bbox={"fc": "white", "alpha": 0.8}
    )
    axes.plot([0, 1], [0, 1], ":", color="grey", linewidth=0.8)
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.02)
    axes.set_aspect("equal")
    axes.set_xlabel("recall (diversity: real covered by fake)")
    axes.set_ylabel("precision (fidelity: fake inside real)")
    axes.set_title("Improved precision and recall")
    axes.grid(alpha=0.3)
    if with_dc:
        bars = figure.add_subplot(1, 2, 2)
        bars.bar([DENSITY, COVERAGE], [density, coverage], color=["tab:green", "tab:purple"])
        bars.axhline(1.0, color="grey", linestyle=":", linewidth=0.8)
        for x, value in enumerate((density, coverage)):
            bars.text(x, value, f"{value:.3f}", ha="center", va="bottom")
        bars.set_ylim(0, max(1.1, density * 1.15))
        bars.set_title("Density and coverage")
    return _png(figure)


def report_files(result: Result) -> dict[str, bytes]:
    """The files of a report folder, by name, rendered in memory."""
    files = {"report.json": (json.dumps(result.to_json(), indent=2) + "\n").encode()}
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return files
    values = result.values
    if FID_INF in values:
        files["fid_inf.png"] = fid_inf_figure(
            values[FID_INF_SIZES], values[FID_INF_FIDS], values[FID_INF], values[FID_INF_SLOPE]
        )
    if PRECISION in values:
        files["precision_recall.png"] = precision_recall_figure(
            values[PRECISION], values[RECALL], values.get(DENSITY), values.get(COVERAGE)
        )
    return files


def check_output_folder(folder: str | os.PathLike[str]) -> Path:
    """`folder` as a Path, refusing one that exists as a file or cannot be created (before any work)."""
    path = Path(folder)
    if path.exists() and not path.is_dir():
        raise GanEvalError(f"--out {folder}: exists and is not a folder")
    parent = path if path.exists() else path.parent
    while not parent.exists():
        parent = parent.parent
    if not os.access(parent, os.W_OK):
        raise GanEvalError(f"--out {folder}: cannot write into {parent} (permission denied)")
    return path


def write_report(result: Result, folder: str | os.PathLike[str]) -> list[Path]:
    """Write `report.json` and the figures into `folder` (created if needed), all or none; returns the paths."""
    path = check_output_folder(folder)
    files = {path / name: data for name, data in report_files(result).items()}
    atomic_write_files(files)
    return list(files)


def write_space_reports(results: dict[str, Result], folder: str | os.PathLike[str]) -> list[Path]:
    """`write_report` for several feature spaces: `folder/<space>/report.json` and figures, all or none."""
    path = check_output_folder(folder)
    files = {
        path / space / name: data for space, result in results.items() for name, data in report_files(result).items()
    }
    atomic_write_files(files)
    return list(files)
