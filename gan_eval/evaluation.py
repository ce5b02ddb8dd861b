"""The library's front door: statistics of an input, and FID between two inputs.

Inputs are anything `gan_eval.sources.open_input` accepts: folders, zip
archives, `.npy`/`.npz` arrays, arrays and tensors, built-in set names, and
statistics files (or `FeatureStats`). Every result carries the settings that
produced it.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

import torch

from gan_eval.errors import GanEvalError
from gan_eval.extractors.inception import INCEPTION_NAME, RESIZE_MODE, InceptionExtractor
from gan_eval.metrics.fid import fid_from_stats
from gan_eval.pipeline import extract
from gan_eval.sources import Input, open_input
from gan_eval.stats import FeatureStats
from gan_eval.version import __version__
from gan_eval.weights import HEAD_POOL3, load_weights, resolve_weights_path

POOL3_DIM = 2048


@dataclass(frozen=True)
class FidResult:
    """An FID value with the sample sizes and every setting that changes it."""

    fid: float
    n_a: int
    n_b: int
    extractor: str
    weights_sha256: str
    resize: str
    precision: str
    device: str
    seconds: float
    skipped: int
    version: str = __version__

    def to_json(self) -> dict[str, Any]:
        """The result as a JSON-ready dict."""
        return asdict(self)


def default_device() -> torch.device:
    """`cuda` when a GPU is present, else `cpu`."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def parse_device(device: str | torch.device | None) -> torch.device:
    """A torch device from `cpu`, `cuda` or `cuda:i`, with a clear error otherwise."""
    if device is None:
        return default_device()
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise GanEvalError(f"--device {device}: use cpu, cuda or cuda:INDEX") from None
    if parsed.type not in ("cpu", "cuda"):
        raise GanEvalError(f"--device {device}: use cpu, cuda or cuda:INDEX")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise GanEvalError(f"--device {device}: CUDA is not available on this machine")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise GanEvalError(f"--device {device}: only {torch.cuda.device_count()} GPU(s) present")
    return parsed


def load_extractor(
    weights: str | None = None,
    device: str | torch.device | None = None,
    precision: str | None = None,
    progress: bool = True,
) -> InceptionExtractor:
    """The standard Inception extractor on `device` with resolved weights."""
    device = parse_device(device)
    return InceptionExtractor(load_weights(resolve_weights_path(weights, progress)), device, precision)


def _settings_meta(extractor: InceptionExtractor, source_name: str) -> dict[str, Any]:
    return dict(extractor.settings(), source=source_name, gan_eval_version=__version__)


def compute_statistics(
    spec: Input,
    extractor: InceptionExtractor | None = None,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    progress: bool = True,
    skip_bad: bool = False,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> FeatureStats:
    """pool3 statistics of an input (extracting features unless it already is statistics)."""
    opened = open_input(spec, value_range, INCEPTION_NAME, POOL3_DIM)
    if isinstance(opened, FeatureStats):
        return opened
    extractor = extractor or load_extractor(progress=progress)
    result = extract(
        opened,
        extractor,
        (HEAD_POOL3,),
        batch_size=batch_size,
        workers=workers,
        progress=progress,
        skip_bad=skip_bad,
    )
    stats = result.stats[HEAD_POOL3]
    stats.meta.update(_settings_meta(extractor, opened.name), skipped=len(result.skipped))
    return stats


def _check_comparable(stats: FeatureStats) -> None:
    resize = stats.meta.get("resize")
    if resize is not None and resize != RESIZE_MODE:
        raise GanEvalError(f"statistics {stats.meta.get('source')} were made with resize {resize}, not {RESIZE_MODE}")


def fid(
    a: Input,
    b: Input,
    *,
    weights: str | None = None,
    device: str | torch.device | None = None,
    precision: str | None = None,
    batch_size: int = 64,
    workers: int | None = None,
    progress: bool = True,
    skip_bad: bool = False,
    value_range: tuple[float, float] = (0.0, 1.0),
) -> FidResult:
    """The standard FID between two inputs (images or statistics), with its settings."""
    start = time.perf_counter()
    opened = [open_input(x, value_range, INCEPTION_NAME, POOL3_DIM) for x in (a, b)]
    for x in opened:
        if not isinstance(x, FeatureStats) and len(x) < 2:
            raise GanEvalError(f"FID needs at least 2 images per set; {x.name} has {len(x)}")
    needs_network = any(not isinstance(x, FeatureStats) for x in opened)
    extractor = load_extractor(weights, device, precision, progress) if needs_network else None
    stats = [
        compute_statistics(
            x,
            extractor,
            batch_size=batch_size,
            workers=workers,
            progress=progress,
            skip_bad=skip_bad,
            value_range=value_range,
        )
        for x in opened
    ]
    settings = extractor.settings() if extractor else {}
    for s in stats:
        _check_comparable(s)
    value = fid_from_stats(stats[0], stats[1])
    first_meta = stats[0].meta if stats[0].meta.get("extractor") else stats[1].meta
    return FidResult(
        fid=value,
        n_a=stats[0].count,
        n_b=stats[1].count,
        extractor=settings.get("extractor", first_meta.get("extractor", INCEPTION_NAME)),
        weights_sha256=settings.get("weights_sha256", first_meta.get("weights_sha256", "unknown")),
        resize=settings.get("resize", first_meta.get("resize", RESIZE_MODE)),
        precision=settings.get("precision", first_meta.get("precision", "unknown")),
        device=settings.get("device", "cpu"),
        seconds=round(time.perf_counter() - start, 3),
        skipped=sum(int(s.meta.get("skipped", 0)) for s in stats),
    )
