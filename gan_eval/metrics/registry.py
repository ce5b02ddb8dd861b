"""The metric registry: each metric by name, the features it needs, what it reports, and how it is computed.

A metric declares its needs as `Need(side, kind, per_sample)`: which input
(`real` or `fake`), which kind of output of the feature space (`FEATURES`,
the embedding: Inception's pool3; `LOGITS`, class logits), and whether
statistics suffice or it needs the per-sample features. The
evaluation gathers the union of all needs, extracts each input once, and
hands the same `InputFeatures` to every metric.

A metric also declares every key it returns, once: its headline numbers as
`ResultKey`s (row of the printed table, the ± beside it, whether lower or
higher is better, the gate's flags and noise estimate) and its other
details by name. The result's JSON keys, the gate's limits and flags and its
noise rule are all read from here. Registration order is table order.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal

from gan_eval.feature_types import FEATURES, LOGITS, InputFeatures
from gan_eval.metrics.cmmd import cmmd
from gan_eval.metrics.fid import fid_from_features, fid_from_stats
from gan_eval.metrics.fid_inf import fid_infinity
from gan_eval.metrics.fid_interval import fid_interval
from gan_eval.metrics.inception_score import inception_score
from gan_eval.metrics.kid import kernel_inception_distance
from gan_eval.metrics.prdc import density_coverage, precision_recall

REAL, FAKE = "real", "fake"
LOWER, HIGHER = "lower", "higher"


@dataclass(frozen=True)
class Need:
    """One input's kind of features (`FEATURES`, `LOGITS`), as statistics (`per_sample=False`) or per sample."""

    side: str
    kind: str
    per_sample: bool


@dataclass(frozen=True)
class MetricOptions:
    """Every setting of the metrics (each changes the numbers, so each is reported).

    `ppl_*`: perceptual path length's paths (count, ε, `z` or `w` space, `lerp`, `slerp` or `slerp_any`,
    `end` or `full` sampling, face crop, LPIPS input size in pixels or 0, paths per generator call; see
    `gan_eval.path_sampling`), drawn from `seed`.
    """

    kid_subsets: int = 100
    kid_subset_size: int = 1000
    pr_k: int = 3
    dc_k: int = 5
    is_splits: int = 10
    fid_inf_points: int = 15
    fid_inf_min_n: int = 5000
    ci_groups: int = 0
    confidence: float = 0.95
    seed: int = 2020
    ppl_samples: int = 10000
    ppl_epsilon: float = 1e-4
    ppl_space: str = "z"
    ppl_interpolation: str = "lerp"
    ppl_sampling: str = "end"
    ppl_crop: bool = False
    ppl_resize: int = 64
    ppl_batch: int = 64
    # the catalogue's metrics (gan_eval.metrics.catalogue): Monte Carlo directions of sliced Wasserstein,
    # samples per set of FLS, C_T's k-means cells and principal components, rarity's k, MiFID's ε
    sw_projections: int = 1000
    fls_samples: int = 10000
    ct_cells: int = 3
    ct_pca_dims: int = 64
    rarity_k: int = 3
    mifid_cosine_eps: float = 0.1

    def to_json(self) -> dict[str, Any]:
        """The options as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class ResultKey:
    """A headline number of a metric: always in the result's JSON (null when not computed), one table row.

    `label` names its row and `spread` the key printed as ± beside it (always
    in the JSON too). `better` (LOWER or HIGHER) lets the gate limit it with
    `flag`: a ceiling when lower is better, a floor when higher is. With
    `increase_flag` the gate also limits its rise over a baseline, beyond the
    noise whose standard error the metric returns under `noise`. `minimum` and
    `maximum` bound every value the estimator can give (None: unbounded); the
    gate refuses a result or baseline holding a value outside them.
    """

    name: str
    label: str
    spread: str | None = None
    better: Literal["lower", "higher"] | None = None
    flag: str | None = None
    increase_flag: str | None = None
    noise: str | None = None
    minimum: float | None = None
    maximum: float | None = None


TableRows = Callable[[dict[str, Any], Callable[[float], str]], list[tuple[str, str, str]]]


def _no_rows(values: dict[str, Any], number: Callable[[float], str]) -> list[tuple[str, str, str]]:
    return []


@dataclass(frozen=True)
class Metric:
    """A registered metric (see the module docstring); `details` are the keys it returns besides `keys`.

    `detail_rows(values, number)` gives the printed table's rows beyond one per headline key, as
    (label, value, note) text, numbers formatted with `number`. `default`: whether it runs when
    no metrics are named (`--metrics` absent).
    """

    name: str
    title: str
    needs: Callable[[MetricOptions], tuple[Need, ...]]
    min_samples: Callable[[MetricOptions], dict[str, int]]
    compute: Callable[[InputFeatures, InputFeatures, MetricOptions, str], dict[str, Any]]
    keys: tuple[ResultKey, ...]
    details: tuple[str, ...] = ()
    detail_rows: TableRows = _no_rows
    default: bool = True

    @property
    def headline_keys(self) -> tuple[str, ...]:
        """The keys always in the result's JSON: each headline number, then its spread."""
        return tuple(k for key in self.keys for k in (key.name, key.spread) if k is not None)

    @property
    def returned_keys(self) -> tuple[str, ...]:
        """Every key `compute` may return: the headline keys, then the details."""
        return self.headline_keys + self.details


METRICS: dict[str, Metric] = {}


def register_metric(
    name: str,
    title: str,
    needs: Callable[[MetricOptions], tuple[Need, ...]],
    min_samples: Callable[[MetricOptions], dict[str, int]],
    keys: tuple[ResultKey, ...],
    details: tuple[str, ...] = (),
    detail_rows: TableRows = _no_rows,
    default: bool = True,
) -> Callable:
    """Decorator adding `compute(real, fake, options, device) -> values` to `METRICS` under `name`."""

    def add(compute: Callable[[InputFeatures, InputFeatures, MetricOptions, str], dict[str, Any]]) -> Callable:
        METRICS[name] = Metric(name, title, needs, min_samples, compute, keys, details, detail_rows, default)
        return compute

    return add


def gated_keys() -> tuple[tuple[str, ResultKey], ...]:
    """(metric name, key) for every headline number the gate can limit, in registration order."""
    return tuple((metric.name, key) for metric in METRICS.values() for key in metric.keys if key.better)


def _feature_stats_both(options: MetricOptions) -> tuple[Need, ...]:
    needs = (Need(REAL, FEATURES, False), Need(FAKE, FEATURES, False))
    if options.ci_groups:
        needs += (Need(FAKE, FEATURES, True),)
    return needs


def _features_both(options: MetricOptions) -> tuple[Need, ...]:
    return (Need(REAL, FEATURES, True), Need(FAKE, FEATURES, True))


def _fid_interval_row(values: dict[str, Any], number: Callable[[float], str]) -> list[tuple[str, str, str]]:
    """The confidence interval's row, when one was computed (`--ci`)."""
    if values.get("fid_ci_low") is None:
        return []
    level = round(values["fid_ci_level"] * 100, 2)
    interval = f"[{number(values['fid_ci_low'])}, {number(values['fid_ci_high'])}]"
    method = f"{values['fid_ci_method']}, {values['fid_ci_groups']} groups, se {number(values['fid_std'])}"
    return [(f"FID {level:g}% CI", interval, method)]


@register_metric(
    "fid",
    "Fréchet Inception Distance",
    _feature_stats_both,
    lambda o: {REAL: 2, FAKE: 2},
    keys=(
        ResultKey(
            "fid", "FID", better=LOWER, flag="--max-fid", increase_flag="--max-increase", noise="fid_std", minimum=0.0
        ),
    ),
    details=("fid_ci_low", "fid_ci_high", "fid_ci_level", "fid_std", "fid_ci_groups", "fid_ci_method"),
    detail_rows=_fid_interval_row,
)
def _fid(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    fake_features = fake.features.get(FEATURES)
    if fake_features is not None and len(fake_features) <= fake_features.shape[1]:
        value = fid_from_features(real.stats[FEATURES], fake_features, device)  # n x n route, same value
    else:
        value = fid_from_stats(real.stats[FEATURES], fake.stats[FEATURES], device)
    values: dict[str, Any] = {"fid": value}
    if options.ci_groups:
        interval = fid_interval(
            real.stats[FEATURES],
            fake.features[FEATURES],
            options.ci_groups,
            options.confidence,
            options.seed,
            estimate=value,
        )
        values.update(
            fid_ci_low=interval.low,
            fid_ci_high=interval.high,
            fid_ci_level=interval.level,
            fid_std=interval.std,
            fid_ci_groups=interval.groups,
            fid_ci_method=interval.method,
        )
    return values


@register_metric(
    "fid_inf",
    "FID∞ (Chong & Forsyth 2020)",
    lambda o: (Need(REAL, FEATURES, False), Need(FAKE, FEATURES, True)),
    lambda o: {REAL: 2, FAKE: 20},
    keys=(
        ResultKey("fid_inf", "FID∞", better=LOWER, flag="--max-fid-inf"),
        ResultKey("fid_inf_slope", "FID∞ slope (FID·N)"),
    ),
    details=("fid_inf_sizes", "fid_inf_fids"),
)
def _fid_inf(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    result = fid_infinity(
        real.stats[FEATURES], fake.features[FEATURES], options.fid_inf_points, options.fid_inf_min_n, options.seed
    )
    return {
        "fid_inf": result.fid_inf,
        "fid_inf_slope": result.slope,
        "fid_inf_sizes": list(result.sizes),
        "fid_inf_fids": list(result.fids),
    }


@register_metric(
    "is",
    "Inception Score",
    lambda o: (Need(FAKE, LOGITS, True),),
    lambda o: {FAKE: o.is_splits},
    keys=(ResultKey("is_mean", "IS", spread="is_std", better=HIGHER, flag="--min-is"),),
    details=("is_splits",),
)
def _is(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    result = inception_score(fake.features[LOGITS], options.is_splits, seed=options.seed)
    return {"is_mean": result.mean, "is_std": result.std, "is_splits": result.splits}


def _kid_whole_sets_row(values: dict[str, Any], number: Callable[[float], str]) -> list[tuple[str, str, str]]:
    """Why KID's spread is 0, when every subset was the whole of both sets."""
    if not values.get("kid_whole_sets"):
        return []
    return [("KID subsets", f"{values['kid_subset_size']}", "every subset is the whole of both sets: std 0")]


@register_metric(
    "kid",
    "Kernel Inception Distance",
    _features_both,
    lambda o: {REAL: 2, FAKE: 2},
    keys=(
        ResultKey(
            "kid_mean",
            "KID",
            spread="kid_std",
            better=LOWER,
            flag="--max-kid",
            increase_flag="--max-kid-increase",
            noise="kid_std",
        ),
    ),
    details=("kid_subset_size", "kid_whole_sets"),
    detail_rows=_kid_whole_sets_row,
)
def _kid(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    result = kernel_inception_distance(
        real.features[FEATURES],
        fake.features[FEATURES],
        options.kid_subsets,
        options.kid_subset_size,
        options.seed,
        device,
    )
    return {
        "kid_mean": result.mean,
        "kid_std": result.std,
        "kid_subset_size": result.subset_size,
        "kid_whole_sets": result.whole_sets,
    }


@register_metric(
    "pr",
    "Improved precision and recall",
    _features_both,
    lambda o: {REAL: o.pr_k + 1, FAKE: o.pr_k + 1},
    keys=(
        ResultKey("precision", "precision", better=HIGHER, flag="--min-precision", minimum=0.0, maximum=1.0),
        ResultKey("recall", "recall", better=HIGHER, flag="--min-recall", minimum=0.0, maximum=1.0),
    ),
)
def _pr(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    result = precision_recall(real.features[FEATURES], fake.features[FEATURES], options.pr_k, device=device)
    return {"precision": result.precision, "recall": result.recall}


@register_metric(
    "dc",
    "Density and coverage",
    _features_both,
    lambda o: {REAL: o.dc_k + 1, FAKE: 1},
    keys=(
        ResultKey("density", "density", better=HIGHER, flag="--min-density", minimum=0.0),
        ResultKey("coverage", "coverage", better=HIGHER, flag="--min-coverage", minimum=0.0, maximum=1.0),
    ),
)
def _dc(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    result = density_coverage(real.features[FEATURES], fake.features[FEATURES], options.dc_k, device=device)
    return {"density": result.density, "coverage": result.coverage}


@register_metric(
    "cmmd",
    "CMMD (CLIP MMD, Jayasumana et al. 2024)",
    _features_both,
    lambda o: {REAL: 1, FAKE: 1},
    keys=(ResultKey("cmmd", "CMMD", better=LOWER, flag="--max-cmmd"),),
    # run when named: the paper's CMMD is in the clip-vitl14-336 space, and its float64 N x N kernel costs time
    default=False,
)
def _cmmd(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    return {"cmmd": cmmd(real.features[FEATURES], fake.features[FEATURES], device)}


from gan_eval.metrics import catalogue, ppl, sfid  # noqa: E402, F401  (they register themselves with the functions above)
