"""A style report folder: `style.json` (what `--json` prints) and `style.csv` (one row per output), written
together atomically, and the human-readable table of the means."""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

from gan_eval.atomic import atomic_write_files
from gan_eval.report_files import check_output_folder
from gan_eval.style.evaluation import StyleResult
from gan_eval.style.network import STYLE_LAYERS

JSON_NAME = "style.json"
CSV_NAME = "style.csv"
CSV_COLUMNS = (
    "output",
    "content",
    "height",
    "width",
    "style_distance",
    *(f"style_{layer}" for layer in STYLE_LAYERS),
    "content_distance",
    "content_mse",
)


def _csv(result: StyleResult) -> bytes:
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for s in result.scores:
        layers = [repr(s.style_layers[layer]) for layer in STYLE_LAYERS]
        row = [s.output, s.content, s.height, s.width, repr(s.style_distance), *layers]
        writer.writerow([*row, repr(s.content_distance), repr(s.content_mse)])
    return buffer.getvalue().encode()


def write_style_report(result: StyleResult, folder: str | os.PathLike[str]) -> list[Path]:
    """Write `style.json` and `style.csv` into `folder` (created if needed), both or neither; returns the paths."""
    path = check_output_folder(folder)
    files = {path / JSON_NAME: (result.to_json_text() + "\n").encode(), path / CSV_NAME: _csv(result)}
    atomic_write_files(files)
    return list(files)


def format_table(result: StyleResult) -> str:
    """The means over the outputs, one aligned row each (the style distance's layers indented), then the settings."""
    rows = [("style distance (Gatys eq. 5, mean of E_l)", result.means["style_distance"])]
    rows += [(f"  E_l at {layer}", result.layer_means[layer]) for layer in STYLE_LAYERS]
    rows += [
        ("content distance (Gatys eq. 1, sum)", result.means["content_distance"]),
        ("content MSE (per element)", result.means["content_mse"]),
    ]
    width = max(len(label) for label, _ in rows)
    lines = [f"{label:<{width}}  {value:.6g}" for label, value in rows]
    s = result.settings
    size = "native" if s["size"] is None else f"longer side {s['size']}"
    lines.append(
        f"n={len(result.scores)} network={s['network']} pooling={s['pooling']} weights={s['weights_sha256'][:8]} "
        f"size={size} "
        f"style={s['style_image']} ({s['style_size'][0]}x{s['style_size'][1]}) device={s['device']}"
    )
    return "\n".join(lines)
