"""Metric objects for training loops: `update` per batch, `compute`, `reset`, mergeable across ranks.

The torchmetrics shape (`m = FID(); m.update(x, real=True); m.compute()`) over
the library's own pipeline: images are prepared as array inputs are (uint8
`(B, 3, H, W)`, or float in a declared value range), go through the same
feature extractor, and feed the same float64 `FeatureStats` accumulators; the
per-sample features are kept only for a side a requested metric needs them
for (KID, precision/recall, density/coverage). `compute` hands both sides to
the registered metric functions, so it returns the numbers `gan_eval.evaluate`
gives on the same images.

The real side is kept by `reset()` (computed once, at the start of training)
or fixed from precomputed statistics with `set_real`. Two objects `merge` by
adding their accumulators; under `torch.distributed` `compute` first sums the
statistics and gathers the features of every rank (`synced`), so every rank
gets the numbers of all ranks' images together.
"""

from __future__ import annotations

import os
import time
import warnings
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np
import torch

from gan_eval import distributed
from gan_eval.errors import GanEvalError, caller_stacklevel
from gan_eval.evaluation import check_statistics_settings, parse_metrics
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.feature_types import FEATURES, InputFeatures, from_statistics
from gan_eval.metrics.registry import FAKE, METRICS, REAL, MetricOptions
from gan_eval.pipeline import Extraction, combine_ranks
from gan_eval.result import Result
from gan_eval.sources import open_input
from gan_eval.sources.arrays import ArraySource
from gan_eval.sources.references import reference_names
from gan_eval.stats import FeatureStats, load_stats
from gan_eval.version import __version__

SIDES = (REAL, FAKE)
# The extractor settings that change the features: saved with the state, and compared when it is loaded.
# Not the device, which moves features by rounding only (a checkpoint made on a GPU resumes on a CPU).
STATE_PROVENANCE = ("extractor", "weights_sha256", "resize", "precision")


@dataclass
class _Side:
    """One side's accumulators: statistics per kind (`FEATURES`, `LOGITS`), per-sample feature batches per kept kind.

    `fixed`: set from precomputed statistics (`set_real`); neither updated nor summed across ranks.
    """

    stats: dict[str, FeatureStats]
    kept: dict[str, list[np.ndarray]] = field(default_factory=dict)
    fixed: bool = False

    @property
    def count(self) -> int:
        return self.stats[FEATURES].count


def prepare_images(images: torch.Tensor | np.ndarray, value_range: tuple[float, float]) -> torch.Tensor:
    """`(B, 3, H, W)` uint8 CPU tensor from `(B, C, H, W)` images, C in {1, 3}, uint8 or float in `value_range`.

    The conversion is the array sources' (`round((x - lo) / (hi - lo) * 255)`,
    grayscale repeated), so a batch gives the features its array would.
    """
    if not isinstance(images, (torch.Tensor, np.ndarray)):
        raise GanEvalError(f"update takes a (B, 3, H, W) tensor or array, not {type(images).__name__}")
    if images.ndim != 4 or images.shape[1] not in (1, 3):
        raise GanEvalError(f"update takes images of shape (B, 3, H, W), got {tuple(images.shape)}")
    if isinstance(images, torch.Tensor):
        images = images.detach()
        if images.dtype in (torch.bfloat16, torch.float16):  # NumPy has no bfloat16
            images = images.float()
    nhwc = images.permute(0, 2, 3, 1) if isinstance(images, torch.Tensor) else images.transpose(0, 2, 3, 1)
    source = ArraySource(nhwc, name="update", value_range=value_range)
    chunk = source.load_range(0, len(source))
    return torch.from_numpy(np.ascontiguousarray(chunk)).permute(0, 3, 1, 2).contiguous()


class StreamingMetrics:
    """Metrics of generated images against real ones, fed batch by batch (see the module docstring).

    `metrics`: registered names (`fid`, `kid`, `pr`, `dc`, `is`, `fid_inf`) or
    `"fid,kid"`; default the class's `default_metrics`. `extraction`: the
    feature space, weights, device and precision (as `gan_eval.evaluate`
    takes them; `device` and `value_range` override its fields) and the value
    range of float images, (0, 1) by default or (-1, 1). `extractor`: a feature extractor
    to use instead of loading one. `options`: the metrics' settings.
    """

    default_metrics: ClassVar[tuple[str, ...]] = ("fid",)

    def __init__(
        self,
        metrics: str | list[str] | tuple[str, ...] | None = None,
        *,
        extraction: ExtractionOptions | None = None,
        extractor: FeatureExtractor | None = None,
        device: str | torch.device | None = None,
        value_range: tuple[float, float] | None = None,
        options: MetricOptions | None = None,
    ) -> None:
        self.metrics, _ = parse_metrics(self.default_metrics if metrics is None else metrics)
        self.options = options or MetricOptions()
        extraction = (extraction or ExtractionOptions()).with_changes(
            device=device, progress=False, value_range=value_range
        )
        self.value_range = extraction.value_range or (0.0, 1.0)
        self.extractor = extractor or extraction.load_extractor()
        needs = [need for name in self.metrics for need in METRICS[name].needs(self.options)]
        for need in needs:
            head = self.extractor.kinds.get(need.kind)
            if head not in self.extractor.heads:
                title = next(METRICS[n].title for n in self.metrics if need in METRICS[n].needs(self.options))
                raise GanEvalError(f"{title} needs the {need.kind} head; extractor {self.extractor.name} has none")
        # FEATURES statistics always: they count the samples and cost one (D, D) product per batch.
        self._kinds = {
            side: tuple(dict.fromkeys((FEATURES, *(n.kind for n in needs if n.side == side)))) for side in SIDES
        }
        self._per_sample = {
            side: tuple(
                k for k in self._kinds[side] if any(n.side == side and n.kind == k and n.per_sample for n in needs)
            )
            for side in SIDES
        }
        self._sides = {side: self._empty(side) for side in SIDES}

    def _empty(self, side: str) -> _Side:
        return _Side(
            {k: FeatureStats(self._dim(k), meta=self._meta()) for k in self._kinds[side]},
            {k: [] for k in self._per_sample[side]},
        )

    def _dim(self, kind: str) -> int:
        return self.extractor.dims[self.extractor.kinds[kind]]

    def _meta(self) -> dict:
        return dict(self.extractor.settings(), source="streamed images", gan_eval_version=__version__)

    @property
    def n_real(self) -> int:
        """Real samples accumulated on this process (or behind the statistics of `set_real`)."""
        return self._sides[REAL].count

    @property
    def n_fake(self) -> int:
        """Generated samples accumulated on this process."""
        return self._sides[FAKE].count

    def update(self, images: torch.Tensor | np.ndarray, real: bool) -> None:
        """Add a batch `(B, 3, H, W)` (uint8, or float in `value_range`) to the real or the generated side."""
        side = REAL if real else FAKE
        if self._sides[side].fixed:
            raise GanEvalError("the real side is set from statistics; call reset(real=True) before feeding real images")
        if len(images) == 0:
            return
        batch = prepare_images(images, self.value_range)
        features = self.extractor.extract(batch, tuple(self.extractor.kinds[k] for k in self._kinds[side]))
        accumulators = self._sides[side]
        for kind in self._kinds[side]:
            values = features[self.extractor.kinds[kind]]
            accumulators.stats[kind].update(values)
            if kind in accumulators.kept:
                accumulators.kept[kind].append(values.cpu().numpy())

    def set_real(self, statistics: FeatureStats | str | os.PathLike[str]) -> None:
        """Fix the real side to precomputed `FEATURES` statistics: a `FeatureStats`, a statistics file, or a
        shipped reference's name (`"digits-test"`; `gan_eval.sources.references.reference_names()`).

        Enough for FID; KID, precision/recall and density/coverage also need
        the per-sample features, which only statistics that carry them have
        (the shipped references do).
        """
        dim = self._dim(FEATURES)
        if isinstance(statistics, FeatureStats):
            stats = statistics
        elif not os.path.exists(statistics) and str(statistics) in reference_names():
            stats = open_input(str(statistics), None, self.extractor.name, dim)
        else:
            stats = load_stats(statistics, expected_extractor=self.extractor.name, expected_dim=dim)
        if stats.dim != dim:
            raise GanEvalError(f"statistics of {stats.dim}-d features; extractor {self.extractor.name} gives {dim}-d")
        check_statistics_settings(stats, self.extractor.settings())
        needing = [
            name
            for name in self.metrics
            if any(
                n.side == REAL and (n.kind != FEATURES or (n.per_sample and stats.features is None))
                for n in METRICS[name].needs(self.options)
            )
        ]
        if needing:
            raise GanEvalError(f"{', '.join(needing)} need the real images' features; these statistics hold none")
        self._sides[REAL] = _Side({FEATURES: stats}, fixed=True)

    def reset(self, real: bool = False) -> None:
        """Forget the generated images; with `real=True` the real side too (images or `set_real` statistics)."""
        self._sides[FAKE] = self._empty(FAKE)
        if real:
            self._sides[REAL] = self._empty(REAL)

    def merge(self, other: StreamingMetrics) -> None:
        """Add `other`'s samples to this object's, in place (this object's samples first).

        A side fixed by `set_real` is kept as it is; the other object's side must then be
        the same fixed statistics' or empty.
        """
        if (other.metrics, other.options, other.extractor.settings()) != (
            self.metrics,
            self.options,
            self.extractor.settings(),
        ):
            raise ValueError("cannot merge metric objects with different metrics, options or extractors")
        for side in SIDES:
            mine, theirs = self._sides[side], other._sides[side]
            if mine.fixed or theirs.fixed:
                if (mine.fixed and not theirs.fixed and theirs.count) or (
                    theirs.fixed and not mine.fixed and mine.count
                ):
                    raise ValueError("cannot merge a real side set from statistics with one fed images")
                if theirs.fixed and not mine.fixed:
                    self._sides[side] = theirs
                continue
            self._sides[side] = _Side(
                {h: mine.stats[h].merge(theirs.stats[h]) for h in mine.stats},
                {h: mine.kept[h] + theirs.kept[h] for h in mine.kept},
            )

    def state_dict(self) -> dict[str, np.ndarray]:
        """The accumulators as flat arrays for a checkpoint (`np.savez`, `torch.save`): the real side survives.

        Keys `metrics`, the extractor's settings that change the features (`STATE_PROVENANCE`), and
        `{side}.{kind}.count|total|outer|features` (kind `features` or `logits`); a side set from statistics
        has `mu` and `sigma` instead of `total` and `outer`.
        """
        settings = self.extractor.settings()
        state = {"metrics": np.array(",".join(self.metrics))}
        state.update({key: np.array(settings[key]) for key in STATE_PROVENANCE})
        for side, accumulators in self._sides.items():
            state[f"{side}.fixed"] = np.array(accumulators.fixed)
            for head, stats in accumulators.stats.items():
                key = f"{side}.{head}"
                state[f"{key}.count"] = np.array(stats.count)
                if accumulators.fixed:
                    state[f"{key}.mu"], state[f"{key}.sigma"] = stats.mean(), stats.covariance()
                elif stats.count:
                    state[f"{key}.total"], state[f"{key}.outer"] = stats.total.copy(), stats.outer.copy()
                features = stats.features if accumulators.fixed else self._input_features(side).features.get(head)
                if features is not None:
                    state[f"{key}.features"] = features
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Replace the accumulators by those of `state_dict()` from an object with the same metrics and extractor.

        State of other metrics, or saved with another extractor name, weights, resize or precision, is refused
        (features of two extractors would be summed as one); so is state that does not record them.
        """
        made = (str(state["metrics"]), str(state["extractor"]))
        if made != (",".join(self.metrics), self.extractor.name):
            raise GanEvalError(
                f"state of metrics {made[0]} with extractor {made[1]}; this object computes "
                f"{','.join(self.metrics)} with {self.extractor.name}"
            )
        self._check_provenance(state)
        for side in SIDES:
            accumulators = self._empty(side)
            accumulators.fixed = bool(state[f"{side}.fixed"])
            for head, stats in accumulators.stats.items():
                key = f"{side}.{head}"
                count, features = int(state[f"{key}.count"]), state.get(f"{key}.features")
                if accumulators.fixed:
                    stats = FeatureStats.from_moments(state[f"{key}.mu"], state[f"{key}.sigma"], count, stats.meta)
                    stats.features = features
                    accumulators.stats[head] = stats
                elif count:
                    stats.count = count
                    stats.total, stats.outer = np.array(state[f"{key}.total"]), np.array(state[f"{key}.outer"])
                    if head in accumulators.kept:
                        accumulators.kept[head] = [np.array(features)]
            self._sides[side] = accumulators

    def _check_provenance(self, state: dict[str, np.ndarray]) -> None:
        """Refuse state whose extractor settings differ from this object's extractor, or are not recorded."""
        missing = [key for key in STATE_PROVENANCE if key not in state]
        if missing:
            raise GanEvalError(
                f"state without its extractor's {', '.join(missing)} (saved by gan-eval 0.1.0 or older): "
                f"it cannot be checked against extractor {self.extractor.name}; feed the images again"
            )
        settings = self.extractor.settings()
        for key in STATE_PROVENANCE:
            saved, expected = str(state[key]), str(settings[key])
            if saved != expected:
                if key == "weights_sha256":
                    saved, expected = f"{saved[:8]}...", f"{expected[:8]}..."
                raise GanEvalError(f"state was saved with {key} {saved}; this object's extractor has {expected}")

    def synced(self) -> StreamingMetrics:
        """A copy holding the samples of every `torch.distributed` rank (this object when not distributed).

        Statistics are merged over ranks (`FeatureStats.merge`), per-sample features gathered
        in rank order. Every rank must call it (`compute` does), and the real
        side must be fixed by `set_real` on all ranks or on none.
        """
        if not distributed.active():
            return self
        fixed = distributed.all_gather_objects(self._sides[REAL].fixed)
        if len(set(fixed)) > 1:
            raise GanEvalError("the real side is set from statistics on some ranks only; call set_real on every rank")
        copy = object.__new__(type(self))
        copy.__dict__.update(self.__dict__, _sides={})
        for side, mine in self._sides.items():
            if mine.fixed:
                copy._sides[side] = mine
                continue
            stats = {h: FeatureStats(s.dim, s.count, s.total, s.outer, dict(s.meta)) for h, s in mine.stats.items()}
            whole = Extraction(stats=stats, count=mine.count)
            kept = {h: list(mine.kept.get(h, [])) for h in stats}
            dims = {k: self._dim(k) for k in stats}
            combine_ranks(whole, kept, dims, keep_features=bool(mine.kept))
            for s in stats.values():
                if s.count == 0:
                    s.total = s.outer = None
            copy._sides[side] = _Side(stats, {h: kept[h] for h in mine.kept})
        return copy

    def _input_features(self, side: str) -> InputFeatures:
        accumulators = self._sides[side]
        if accumulators.fixed:
            return from_statistics(accumulators.stats[FEATURES])
        features = {
            h: np.concatenate(parts) if parts else np.zeros((0, self._dim(h)), np.float32)
            for h, parts in accumulators.kept.items()
        }
        return InputFeatures("streamed images", dict(accumulators.stats), features)

    def _warn_once(self, caught: list[warnings.WarningMessage]) -> None:
        """Re-issue each warning of a `compute` the first time this object sees it (a training loop computes
        every few thousand steps, and the same rank warning each time says nothing new)."""
        seen = self.__dict__.setdefault("_warned", set())
        for warning in caught:
            key = (warning.category, str(warning.message))
            if key not in seen:
                seen.add(key)
                warnings.warn(warning.message, warning.category, stacklevel=caller_stacklevel())

    def compute(self) -> Result:
        """Every requested metric on the samples so far (of all ranks under `torch.distributed`), as a `Result`."""
        start = time.perf_counter()
        state = self.synced()
        for side in SIDES:
            accumulators = state._sides[side]
            if accumulators.count == 0 and not accumulators.fixed:
                kind = "real" if side == REAL else "generated"
                raise GanEvalError(f"no {kind} images yet: call update(images, real={side == REAL}) before compute()")
        for name in self.metrics:
            for side, needed in METRICS[name].min_samples(self.options).items():
                count = state._sides[side].stats[FEATURES].known_count  # None: a pytorch-fid file omits n
                if count is not None and count < needed:
                    raise GanEvalError(
                        f"{METRICS[name].title} ({name}) needs at least {needed} {side} images; got {count}"
                    )
        inputs = {side: state._input_features(side) for side in SIDES}
        device = str(self.extractor.device)
        values: dict = {}
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            for name in self.metrics:
                values.update(METRICS[name].compute(inputs[REAL], inputs[FAKE], self.options, device))
        self._warn_once(caught)
        return Result(
            values=values,
            metrics=self.metrics,
            unavailable={},
            n_real=inputs[REAL].stats[FEATURES].known_count,  # None for a peer's file that does not say
            n_fake=inputs[FAKE].count,
            settings=dict(
                self.extractor.settings(), gan_eval_version=__version__, metric_options=self.options.to_json()
            ),
            seconds=round(time.perf_counter() - start, 3),
            skipped={REAL: 0, FAKE: 0},
            cached={REAL: False, FAKE: False},
        )


class FID(StreamingMetrics):
    """Fréchet Inception Distance, fed batch by batch: `compute()["fid"]`."""

    default_metrics = ("fid",)


class KID(StreamingMetrics):
    """Kernel Inception Distance, fed batch by batch: `compute()["kid_mean"]`, `["kid_std"]`."""

    default_metrics = ("kid",)


class PrecisionRecall(StreamingMetrics):
    """Improved precision and recall, fed batch by batch: `compute()["precision"]`, `["recall"]`."""

    default_metrics = ("pr",)


class DensityCoverage(StreamingMetrics):
    """Density and coverage, fed batch by batch: `compute()["density"]`, `["coverage"]`."""

    default_metrics = ("dc",)
