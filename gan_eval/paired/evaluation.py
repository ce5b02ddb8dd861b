"""Paired image-to-image evaluation (pix2pix, SRGAN): per-image PSNR, SSIM, MS-SSIM, LPIPS and their means.

`evaluate_paired(pred, target, options)` reads the pairs (`pairs.PairedFolders`),
computes each requested metric on each pair, and summarises every metric by
its mean over the images with a percentile bootstrap interval
(`bootstrap.bootstrap_mean_interval`). With `options.y_channel` and
`options.crop` the super-resolution convention applies: PSNR, SSIM and
MS-SSIM on the BT.601 luma of the images with `crop` border pixels removed.
LPIPS always compares RGB (of the cropped images when `crop` is set).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.atomic import atomic_write_files
from gan_eval.devices import parse_device
from gan_eval.errors import GanEvalError
from gan_eval.paired import psnr_ssim
from gan_eval.paired.bootstrap import bootstrap_mean_interval, check_resamples
from gan_eval.paired.keys import METRICS, PAIRED_FAMILY
from gan_eval.paired.lpips.network import MIN_SIZE, NETS, Lpips, build_network
from gan_eval.paired.lpips.weights import load_lpips_weights
from gan_eval.paired.pairs import PairedFolders
from gan_eval.result import Result
from gan_eval.version import __version__

DEFAULT_METRICS = ("psnr", "ssim")
PER_IMAGE_FILE = "per_image.csv"
SUMMARY_FILE = "paired.json"


def parse_metrics(text: str) -> tuple[str, ...]:
    """`--metrics psnr,ssim,...` as a tuple in the given order; unknown or repeated names are errors."""
    names = tuple(name.strip() for name in text.split(",") if name.strip())
    unknown = next((name for name in names if name not in METRICS), None)
    if unknown is not None or not names:
        raise GanEvalError(f"--metrics {text}: choose from {', '.join(METRICS)}")
    if len(set(names)) != len(names):
        raise GanEvalError(f"--metrics {text}: a metric is named twice")
    return names


@dataclass(frozen=True)
class PairedOptions:
    """Everything that changes a paired evaluation's numbers, checked once where it is made.

    `crop`: border pixels removed on each side; `bootstrap`: resamples of the
    interval (at most `bootstrap.MAX_RESAMPLES`, as many as memory holds),
    `confidence` its level, `seed` its generator's seed; `device` runs LPIPS
    (None: CUDA when present); `lpips_weights` and `lpips_backbone`: explicit
    files (else environment variable, cache, download).
    """

    metrics: tuple[str, ...] = DEFAULT_METRICS
    y_channel: bool = False
    crop: int = 0
    resize_to_target: bool = False
    lpips_net: str = "alex"
    lpips_weights: str | None = None
    lpips_backbone: str | None = None
    bootstrap: int = 1000
    confidence: float = 0.95
    seed: int = 0
    device: str | None = None
    progress: bool = True

    def __post_init__(self) -> None:
        parse_metrics(",".join(self.metrics))
        if self.crop < 0:
            raise GanEvalError(f"--crop {self.crop}: must be 0 or more")
        if self.bootstrap < 1:
            raise GanEvalError(f"--bootstrap {self.bootstrap}: must be at least 1")
        check_resamples(self.bootstrap, f"--bootstrap {self.bootstrap}")
        if not 0.0 < self.confidence < 1.0:
            raise GanEvalError(f"--confidence {self.confidence}: must lie strictly between 0 and 1")
        if self.lpips_net not in NETS:
            raise GanEvalError(f"--lpips-net {self.lpips_net}: choose from {', '.join(NETS)}")


@dataclass(frozen=True)
class MetricSummary:
    """A metric over the images: mean and bootstrap interval (nan when a value is infinite)."""

    mean: float
    low: float
    high: float


@dataclass(frozen=True)
class PairedResult:
    """Per-image values (`values[metric]`: `(N,)` float64, in the order of `names`), summaries and settings.

    `as_result()` is the same numbers as a `Result` of the paired family (what `--json` prints, `paired.json`
    holds and `gan-eval gate --result` judges).
    """

    names: tuple[str, ...]
    values: dict[str, np.ndarray]
    summaries: dict[str, MetricSummary]
    settings: dict[str, Any] = field(default_factory=dict)
    seconds: float = 0.0

    def as_result(self) -> Result:
        """Per metric `<name>_mean`, `<name>_se` (standard error of the mean, ddof 1), `<name>_ci_low` and
        `<name>_ci_high` (non-finite numbers as None); n_real = n_fake = the number of pairs."""
        values: dict[str, Any] = {}
        for name, summary in self.summaries.items():
            per_pair = self.values[name]
            se = float(per_pair.std(ddof=1) / math.sqrt(len(per_pair))) if len(per_pair) > 1 else math.nan
            values.update(
                {
                    f"{name}_mean": _finite_or_none(summary.mean),
                    f"{name}_se": _finite_or_none(se),
                    f"{name}_ci_low": _finite_or_none(summary.low),
                    f"{name}_ci_high": _finite_or_none(summary.high),
                }
            )
        n = len(self.names)
        return Result(
            values=values,
            metrics=tuple(self.summaries),
            unavailable={},
            n_real=n,
            n_fake=n,
            settings=dict(self.settings, gan_eval_version=__version__),
            seconds=self.seconds,
            skipped={},
            cached={},
            family=PAIRED_FAMILY,
        )

    def to_json(self) -> dict[str, Any]:
        """`as_result().to_json()`: each metric's mean, standard error and interval, n, settings."""
        return self.as_result().to_json()

    def per_image_csv(self) -> bytes:
        """`file,<metric>...` with one row per pair, full float precision (`inf` for identical images)."""
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(["file", *self.values])
        for i, name in enumerate(self.names):
            writer.writerow([name, *(repr(float(v[i])) for v in self.values.values())])
        return text.getvalue().encode()


def _finite_or_none(value: float) -> float | None:
    return value if math.isfinite(value) else None


def _chw(image: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(image.transpose(2, 0, 1)))[None]


def _check_size(name: str, height: int, width: int, options: PairedOptions) -> None:
    """Refuse, naming the pair, images too small for the crop or a requested metric."""
    if height <= 0 or width <= 0:
        raise GanEvalError(f"--crop {options.crop} leaves no pixels of {name}")
    for metric, ms in (("ssim", False), ("ms_ssim", True)):
        reason = psnr_ssim.check_sizes(height, width, ms) if metric in options.metrics else None
        if reason is not None:
            raise GanEvalError(f"{name}: {reason}{' after --crop' if options.crop else ''}")
    needed = MIN_SIZE[options.lpips_net]
    if "lpips" in options.metrics and min(height, width) < needed:
        raise GanEvalError(
            f"{name}: LPIPS on {options.lpips_net} needs at least {needed} pixels on each side, "
            f"the images are {height}x{width}"
        )


def pair_values(
    pred: torch.Tensor, target: torch.Tensor, options: PairedOptions, lpips: Lpips | None
) -> dict[str, float]:
    """Every requested metric of one pair of `(1, 3, H, W)` uint8 images (already cropped)."""
    if options.y_channel:
        a, b = psnr_ssim.to_y_channel(pred), psnr_ssim.to_y_channel(target)
    else:
        a, b = pred.to(torch.float64), target.to(torch.float64)
    functions = {"psnr": psnr_ssim.psnr, "ssim": psnr_ssim.ssim, "ms_ssim": psnr_ssim.ms_ssim}
    values = {m: float(functions[m](a, b)[0]) for m in options.metrics if m in functions}
    if lpips is not None:
        device = lpips.shift.device
        with torch.inference_mode():
            values["lpips"] = float(lpips(pred.to(device), target.to(device))[0])
    return {m: values[m] for m in options.metrics}


def load_lpips(options: PairedOptions) -> tuple[Lpips, dict[str, Any]]:
    """The LPIPS network of `options` on its device, and its settings (net, version, both files' sha256)."""
    weights = load_lpips_weights(options.lpips_net, options.lpips_weights, options.lpips_backbone, options.progress)
    network = build_network(weights.net, weights.backbone, weights.linear).to(parse_device(options.device))
    settings = {
        "net": weights.net,
        "version": "0.1",
        "backbone_sha256": weights.backbone_sha256,
        "linear_sha256": weights.linear_sha256,
    }
    return network, settings


def evaluate_paired(
    pred: str | os.PathLike[str], target: str | os.PathLike[str], options: PairedOptions | None = None
) -> PairedResult:
    """Paired metrics of the PRED folder against the TARGET folder (matched by relative path)."""
    from tqdm import tqdm

    start = time.perf_counter()
    options = options or PairedOptions()
    pairs = PairedFolders(pred, target, options.resize_to_target)
    lpips, lpips_settings = load_lpips(options) if "lpips" in options.metrics else (None, None)
    rows = []
    for index in tqdm(range(len(pairs)), desc="pairs", unit="pair", disable=not options.progress):
        pair = pairs.load(index)
        a = psnr_ssim.crop_border(_chw(pair.pred), options.crop)
        b = psnr_ssim.crop_border(_chw(pair.target), options.crop)
        _check_size(pair.name, a.shape[-2], a.shape[-1], options)
        rows.append(pair_values(a, b, options, lpips))
    values = {m: np.array([row[m] for row in rows], dtype=np.float64) for m in options.metrics}
    summaries = {
        m: MetricSummary(
            float(v.mean()), *bootstrap_mean_interval(v, options.bootstrap, options.confidence, options.seed)
        )
        for m, v in values.items()
    }
    seconds = round(time.perf_counter() - start, 3)
    return PairedResult(tuple(pairs.names), values, summaries, _settings(options, lpips_settings), seconds)


def _settings(options: PairedOptions, lpips_settings: dict[str, Any] | None) -> dict[str, Any]:
    settings: dict[str, Any] = {
        "metrics": list(options.metrics),
        "y_channel": options.y_channel,
        "crop": options.crop,
        "resize_to_target": options.resize_to_target,
        "data_range": psnr_ssim.DATA_RANGE,
        "bootstrap": {
            "method": "percentile",
            "resamples": options.bootstrap,
            "confidence": options.confidence,
            "seed": options.seed,
        },
    }
    if "ssim" in options.metrics or "ms_ssim" in options.metrics:
        settings["ssim_window"] = {"size": psnr_ssim.WINDOW_SIZE, "sigma": psnr_ssim.WINDOW_SIGMA}
    if lpips_settings is not None:
        settings["lpips"] = dict(lpips_settings, device=str(parse_device(options.device)))
    return settings


def write_paired_outputs(result: PairedResult, folder: str | os.PathLike[str]) -> list[Path]:
    """Write `per_image.csv` and `paired.json` (the `to_json` object) into `folder`, all or none."""
    path = Path(folder)
    files = {
        path / PER_IMAGE_FILE: result.per_image_csv(),
        path / SUMMARY_FILE: (json.dumps(result.to_json(), indent=2) + "\n").encode(),
    }
    atomic_write_files(files)
    return list(files)
