"""The Monitor's evaluations: samples of G from fixed noise, their features, the registered metrics against the
reference, and a picture of the samples.

Samples come from `generator(z)` (or `sample(z)`), `z` of shape
`(n_samples, *latent_shape)` drawn once from `latent_seed`, so evaluations are
paired; G runs in eval mode under `torch.no_grad()` with the global random
state saved and restored, and its train/eval modes are put back.

Metrics come from the metric registry (`gan_eval.metrics.registry.METRICS`),
the same `compute` functions `gan_eval.evaluate` runs: any registered metric
by name (default: FID, KID, improved precision and recall with k = 3, density
and coverage with k = 5), each recording every key it declares, its headline
numbers with their spreads and noise estimates (`fid_std`, FID's jackknife
standard error over 20 groups). A metric that cannot run on this reference (KID on
statistics without per-sample features, say) is left out of the default set,
and is an error when named. The Monitor's one adaptation: metrics whose k-NN
radii depend on the set sizes (precision/recall, density/coverage) see a
fixed seeded subset of the reference as large as the generated set, so equal
sizes keep them comparable between the two sides; the others see the whole
reference, and KID's subsets are min(1000, n_samples, n_reference). Beside
them, the Monitor-only spread ratio tr(Σ_fake) / tr(Σ_ref), which falls
towards 0 when the generated features collapse.
"""

from __future__ import annotations

import math
import sys
import time
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from tqdm import tqdm

from gan_eval.atomic import atomic_write_bytes
from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.extraction import ExtractionOptions
from gan_eval.feature_types import FEATURES, InputFeatures
from gan_eval.metrics import registry
from gan_eval.metrics.fid_interval import DEFAULT_GROUPS
from gan_eval.metrics.registry import FAKE, REAL, Metric, MetricOptions
from gan_eval.monitor.recorded_metrics import (
    COVERAGE,
    FID,
    FID_NOISE,
    RECALL,
    SPREAD_RATIO,
    SPREAD_TRACE,
    RecordedMetric,
)
from gan_eval.monitor.reference import (
    FeatureSpace,
    Reference,
    ReferenceInput,
    feature_space,
    feature_stats,
    images_to_uint8,
    open_reference_set,
)
from gan_eval.monitor.samples import image_grid_png, scatter_png

DEFAULT_METRICS = ("fid", "kid", "pr", "dc")
EQUAL_SIZE_METRICS = ("pr", "dc")  # their k-NN radii depend on the set sizes
KID_SUBSET_SIZE = 1000
PR_K = 3
DC_K = 5
METRIC_DEVICE = "cpu"
SAMPLES_DIR = "samples"
PROGRESS_STEPS = 10  # the progress bar of an image evaluation moves at least this many times


def registered_metrics(metrics: str | Sequence[str] | None) -> tuple[dict[str, Metric], bool]:
    """The registered metrics `metrics` names (a sequence, or names joined by commas), by name, and whether
    they were named; None is `DEFAULT_METRICS`. An unknown name is a one-line error listing the registry."""
    known = registry.METRICS
    if metrics is None:
        return {name: known[name] for name in DEFAULT_METRICS}, False
    names = tuple(metrics.split(",")) if isinstance(metrics, str) else tuple(metrics)
    unknown = [name for name in names if name not in known]
    if unknown:
        raise GanEvalError(f"metrics: unknown metric {unknown[0]!r}; choose from {', '.join(known)}")
    return {name: known[name] for name in names}, True


def metric_options(n_reference: int | None, n_generated: int, kid_subsets: int, seed: int) -> MetricOptions:
    """The registry's options for the Monitor's metrics of `n_generated` samples against `n_reference`.

    KID: `kid_subsets` subsets of min(1000, n_generated, n_reference) samples
    (clipped here, so KID does not warn at each evaluation); k = 3 for
    precision/recall and 5 for density/coverage; `seed` draws
    the KID subsets and the groups of FID's jackknife standard error (20
    groups), the noise of FID at the Monitor's sample size.
    """
    size = min(KID_SUBSET_SIZE, n_generated, n_reference or n_generated)
    return MetricOptions(
        kid_subsets=kid_subsets,
        kid_subset_size=size,
        pr_k=PR_K,
        dc_k=DC_K,
        seed=seed,
        ci_groups=DEFAULT_GROUPS if n_generated >= 3 else 0,
    )


def knn_subset(reference: Reference, n_generated: int, seed: int) -> np.ndarray | None:
    """Sorted indices of the reference samples the k-NN metrics see: `n_generated` of them drawn with `seed`.

    None (every sample) when the reference has no per-sample features or no
    more samples than the generated set.
    """
    if reference.features is None or reference.count <= n_generated:
        return None
    rng = np.random.default_rng(seed)
    return np.sort(rng.choice(reference.count, n_generated, replace=False))


def compute_metric(metric: Metric, real: InputFeatures, fake: InputFeatures, options: MetricOptions) -> dict[str, Any]:
    """A registered metric's recorded keys (headline numbers, spreads, noise estimates); its other details, such
    as KID's subset size, are the Monitor's settings."""
    with warnings.catch_warnings():
        # Every evaluation has the same n_samples, which is what the rank-deficiency warning asks for.
        warnings.filterwarnings("ignore", message=".*rank-deficient", category=GanEvalWarning)
        values = metric.compute(real, fake, options, METRIC_DEVICE)
    return {key: values[key] for key in RecordedMetric.of(metric).recorded_keys if key in values}


class Evaluator:
    """Evaluates generators for a Monitor (see the module docstring); the Monitor's settings of the same names."""

    def __init__(
        self,
        out_dir: Path,
        reference: ReferenceInput | None,
        features: Any,
        metrics: str | Sequence[str] | None,
        n_samples: int,
        latent_seed: int,
        value_range: tuple[float, float],
        kid_subsets: int,
        batch_size: int,
        progress: bool,
    ) -> None:
        self.metrics, self._named = registered_metrics(metrics)
        self.out_dir = out_dir
        self.n_samples = n_samples
        self.latent_seed = latent_seed
        self.value_range = value_range
        self.kid_subsets = kid_subsets
        self.batch_size = batch_size
        self._progress = progress
        self._reference_spec = reference
        self._features_spec = features
        self._noise: dict[tuple[int, ...], torch.Tensor] = {}
        self._extraction = ExtractionOptions(device="cpu", progress=False, workers=0)
        self._space: FeatureSpace | None = None
        self._reference: Reference | None = None
        self._options: MetricOptions | None = None
        self._knn_subset: np.ndarray | None = None
        self._chosen: tuple[str, ...] = ()
        self._fake_kinds: tuple[str, ...] = (FEATURES,)

    def evaluate(
        self,
        step: int,
        generator: nn.Module,
        shape: tuple[int, ...],
        sample: Callable[[torch.Tensor], torch.Tensor] | None = None,
    ) -> dict[str, Any]:
        """The values of one evaluation at `step`: the metrics, the picture's path and the seconds it took."""
        start = time.perf_counter()
        outputs = self._generate(generator, shape, sample)
        values = self._measure(outputs)
        values["samples"] = self._save_picture(step, outputs, values)
        values["seconds"] = round(time.perf_counter() - start, 3)
        return values

    def _generate(
        self, generator: nn.Module, shape: tuple[int, ...], sample: Callable[[torch.Tensor], torch.Tensor] | None
    ) -> torch.Tensor:
        """Generated samples from the fixed noise, on CPU; training state and random state untouched."""
        device = next(generator.parameters(), torch.empty(0)).device
        if shape not in self._noise:
            noise_rng = torch.Generator().manual_seed(self.latent_seed)
            self._noise[shape] = torch.randn((self.n_samples, *shape), generator=noise_rng)
        noise = self._noise[shape]
        modes = [(m, m.training) for m in generator.modules()]
        devices = [device] if device.type == "cuda" else []
        try:
            with torch.random.fork_rng(devices=devices), torch.no_grad():
                generator.eval()
                call = sample or generator
                chunks = [
                    call(noise[i : i + self.batch_size].to(device)).detach().float().cpu()
                    for i in range(0, self.n_samples, self.batch_size)
                ]
        finally:
            for module, training in modes:
                module.training = training
        outputs = torch.cat(chunks)
        if outputs.dim() not in (2, 4) or (outputs.dim() == 4 and outputs.shape[1] not in (1, 3)):
            raise GanEvalError(
                f"generator output of shape {tuple(outputs.shape)}: expected points (N, D) "
                "or images (N, C, H, W) with C = 1 or 3"
            )
        return outputs

    def _measure(self, outputs: torch.Tensor) -> dict[str, Any]:
        images = outputs.dim() == 4
        if self._space is None:
            self._space = feature_space(self._features_spec, images, self._extraction)
            self._fake_kinds = self._kinds_needed(FAKE)
        finite = torch.isfinite(outputs.flatten(1)).all(dim=1)
        values: dict[str, Any] = {
            "n_samples": outputs.shape[0],
            "features": self._space.name,
            "noise_seed": self.latent_seed,
            "nonfinite_samples": int((~finite).sum()),
        }
        if values["nonfinite_samples"]:
            return values
        fake = self._generated_features(outputs, images)
        values[SPREAD_TRACE] = float(fake[FEATURES].var(axis=0, ddof=1).sum())
        if self._options is None:
            self._prepare(tuple(outputs.shape[1:]), fake[FEATURES].shape[1])
        if self._reference is not None:
            values["reference"] = self._reference.name
            values["n_reference"] = self._reference.count
        values.update(self._metrics(fake))
        return values

    def _kinds_needed(self, side: str) -> tuple[str, ...]:
        """`FEATURES` and every other kind the requested metrics need of `side` that the space gives."""
        needs = {
            need.kind for metric in self.metrics.values() for need in metric.needs(MetricOptions()) if need.side == side
        }
        return (FEATURES, *(kind for kind in self._space.kinds if kind in needs and kind != FEATURES))

    def _generated_features(self, outputs: torch.Tensor, images: bool) -> dict[str, np.ndarray]:
        """Features `(N, F)` float64 of the samples for each kind the metrics need; images under a progress bar
        that moves at least `PROGRESS_STEPS` times."""
        batches = images_to_uint8(outputs, self.value_range) if images else outputs
        if images and batches.shape[1] == 1:
            batches = batches.expand(-1, 3, -1, -1)
        chunk = min(self.batch_size, math.ceil(len(batches) / PROGRESS_STEPS)) if images else self.batch_size
        parts = []
        with tqdm(
            total=len(batches),
            unit="img",
            desc="gan-eval monitor: features",
            disable=not (self._progress and images),
            leave=False,
            file=sys.stderr,
            dynamic_ncols=True,
            mininterval=0,  # at most about PROGRESS_STEPS updates: show each
        ) as bar:
            for i in range(0, len(batches), chunk):
                parts.append(self._space.features(batches[i : i + chunk], self._fake_kinds))
                bar.update(len(parts[-1][FEATURES]))
        return {kind: np.concatenate([part[kind] for part in parts]) for kind in self._fake_kinds}

    def _prepare(self, sample_shape: tuple[int, ...], dim: int) -> None:
        """At the first evaluation: read the reference, fix the metric options and the k-NN metrics' subset of the
        reference, and choose the metrics that can run."""
        if self._reference_spec is not None:
            self._reference = open_reference_set(
                self._reference_spec,
                self._space,
                sample_shape,
                self.value_range,
                self._extraction,
                self.batch_size,
                dim,
            )
            self._knn_subset = knn_subset(self._reference, self.n_samples, self.latent_seed)
        n_reference = None if self._reference is None else self._reference.count
        self._options = metric_options(n_reference, self.n_samples, self.kid_subsets, self.latent_seed)
        chosen = []
        for name, metric in self.metrics.items():
            reason = self._unavailable_reason(metric)
            if reason is None:
                chosen.append(name)
            elif self._named:
                raise GanEvalError(f"{metric.title} ({name}) cannot be computed by this Monitor: {reason}")
        self._chosen = tuple(chosen)

    def _unavailable_reason(self, metric: Metric) -> str | None:
        """Why `metric` cannot run on these samples and this reference, or None."""
        reference = self._reference
        for need in metric.needs(self._options):
            if need.side not in (FAKE, REAL):
                return f"it needs a {need.side} set, which the Monitor does not have"
            if need.side == FAKE and need.kind not in self._fake_kinds:
                return f"it needs {need.kind} of the samples, which {self._space.name} does not give"
            if need.side == REAL and reference is None:
                return "it needs a reference"
            if need.side == REAL and need.kind != FEATURES:
                return f"it needs {need.kind} of the reference, and the Monitor's reference gives {FEATURES} only"
            if need.side == REAL and need.per_sample and reference.features is None:
                return f"it needs per-sample features of the reference {reference.name}, a statistics file"
        counts = {FAKE: self.n_samples, REAL: reference.count if reference is not None else None}
        for side, needed in metric.min_samples(self._options).items():
            if counts.get(side) and counts[side] < needed:
                return f"it needs at least {needed} samples per set; the {side} set has {counts[side]}"
        return None

    def _metrics(self, fake: dict[str, np.ndarray]) -> dict[str, Any]:
        """The chosen metrics of the generated features against the reference, and the spread ratio."""
        reference = self._reference
        if reference is not None and fake[FEATURES].shape[1] != reference.stats.dim:
            raise GanEvalError(
                f"generated features are {fake[FEATURES].shape[1]}-d but the reference {reference.name} is "
                f"{reference.stats.dim}-d"
            )
        generated = InputFeatures("generated", {kind: feature_stats(v) for kind, v in fake.items()}, fake)
        values: dict[str, Any] = {}
        for name in self._chosen:
            real = self._real_side(name)
            values.update(compute_metric(self.metrics[name], real, generated, self._options))
        if reference is not None:
            ref_trace = np.trace(reference.stats.covariance())
            spread = np.trace(generated.stats[FEATURES].covariance())
            values[SPREAD_RATIO] = float(spread / ref_trace) if ref_trace > 0 else float("nan")
        return values

    def _real_side(self, name: str) -> InputFeatures:
        """The reference as metric `name` sees it: its features, or the k-NN metrics' subset of them."""
        reference = self._reference
        if reference is None:
            return InputFeatures("no reference", {})
        features = reference.features
        if features is not None and name in EQUAL_SIZE_METRICS and self._knn_subset is not None:
            features = features[self._knn_subset]
        per_sample = {} if features is None else {FEATURES: features}
        return InputFeatures(reference.name, {FEATURES: reference.stats}, per_sample)

    def _save_picture(self, step: int, outputs: torch.Tensor, values: dict[str, Any]) -> str | None:
        if outputs.dim() == 4:
            data = image_grid_png(images_to_uint8(outputs, self.value_range))
        elif outputs.shape[1] == 2:
            points = self._reference.points if self._reference is not None else None
            title = f"step {step}"
            if COVERAGE in values and RECALL in values and math.isfinite(values[COVERAGE]):
                title += f": coverage {values[COVERAGE]:.2f}, recall {values[RECALL]:.2f}"
            data = scatter_png(outputs.numpy(), points, title)
        else:
            return None
        name = f"{SAMPLES_DIR}/step_{step:08d}.png"
        atomic_write_bytes(self.out_dir / name, data)
        return name


def first_evaluation_note(step: int, n_samples: int, every: int | None) -> str:
    """What the Monitor says before its first evaluation."""
    how_often = f"every={every} steps" if every is not None else "at every evaluate() call"
    return f"step {step}: evaluating n_samples={n_samples} generated samples {how_often}"


def cost_note(values: dict[str, Any], elapsed: float) -> str:
    """What the first evaluation cost, against the wall time `elapsed` since the Monitor started, and FID's noise."""
    seconds = values["seconds"]
    note = (
        f"the evaluation took {seconds:.1f} s, {100 * seconds / max(elapsed, seconds, 1e-9):.0f}% of the "
        f"{elapsed:.1f} s since the Monitor started; fewer samples or a larger every= make it cheaper"
    )
    if values.get(FID_NOISE) is not None:
        note += f"; at n_samples={values['n_samples']} FID {values[FID]:.4g} has standard error {values[FID_NOISE]:.2g}"
    return note
