"""Registrations of the metrics computed from two or three feature sets beyond the standard report.

Vendi score, sliced Wasserstein, energy distance, authenticity %, FLS, the
C_T data-copying test, rarity score and MiFID: each one's math is a pure
function in its own module; here each declares what it needs and reports
(see `gan_eval.metrics.registry`). None runs by default (`--metrics` names
them): several cost an N×N pass over the features.

FLS and C_T need a third input, the generator's training set (side `TRAIN`:
`train=` of `gan_eval.evaluate`, `--train` of `gan-eval report`); REAL is
then held-out test data of the same distribution. The memorisation metrics
with one reference (authenticity, MiFID, rarity) compare FAKE with REAL,
which should then be the training set itself, as in dgm-eval and torchmetrics.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from gan_eval.errors import GanEvalError
from gan_eval.feature_types import FEATURES, InputFeatures
from gan_eval.metrics.authpct import authpct
from gan_eval.metrics.data_copying import MIN_FAKE_PER_CELL, data_copying_ct
from gan_eval.metrics.energy import energy_distance
from gan_eval.metrics.feature_likelihood import feature_likelihood_score, fls_subsets
from gan_eval.metrics.mifid import mifid
from gan_eval.metrics.rarity import rarity_scores
from gan_eval.metrics.registry import FAKE, HIGHER, LOWER, REAL, MetricOptions, Need, ResultKey, register_metric
from gan_eval.metrics.sliced_wasserstein import random_directions, sliced_wasserstein, sliced_wasserstein_approx
from gan_eval.metrics.vendi import vendi_score

TRAIN = "train"


def _both(options: MetricOptions) -> tuple[Need, ...]:
    return (Need(REAL, FEATURES, True), Need(FAKE, FEATURES, True))


def _with_train(options: MetricOptions) -> tuple[Need, ...]:
    return (Need(TRAIN, FEATURES, True), Need(REAL, FEATURES, True), Need(FAKE, FEATURES, True))


@register_metric(
    "vendi",
    "Vendi score (Friedman & Dieng 2023)",
    lambda o: (Need(FAKE, FEATURES, True),),
    lambda o: {FAKE: 1},
    keys=(ResultKey("vendi", "Vendi score", better=HIGHER, flag="--min-vendi"),),
    default=False,
)
def _vendi(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    return {"vendi": vendi_score(fake.features[FEATURES], device)}


@register_metric(
    "sw",
    "Sliced Wasserstein distance",
    _both,
    lambda o: {REAL: 1, FAKE: 1},
    keys=(
        ResultKey("sw", "sliced Wasserstein", better=LOWER, flag="--max-sw", minimum=0.0),
        ResultKey("sw_approx", "sliced W. (dgm-eval approx.)", better=LOWER, flag="--max-sw-approx", minimum=0.0),
    ),
    details=("sw_projections",),
    default=False,
)
def _sw(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    x, y = real.features[FEATURES], fake.features[FEATURES]
    directions = random_directions(x.shape[1], options.sw_projections, options.seed)
    return {
        "sw": sliced_wasserstein(x, y, directions, device=device),
        "sw_approx": sliced_wasserstein_approx(x, y),
        "sw_projections": options.sw_projections,
    }


@register_metric(
    "energy",
    "Energy distance",
    _both,
    lambda o: {REAL: 1, FAKE: 1},
    keys=(
        ResultKey("energy", "energy (normalised)", better=LOWER, flag="--max-energy"),
        ResultKey("energy_distance", "energy distance"),
    ),
    default=False,
)
def _energy(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    result = energy_distance(real.features[FEATURES], fake.features[FEATURES], device)
    return {"energy": result.coefficient, "energy_distance": result.distance}


@register_metric(
    "authpct",
    "Authenticity % (Alaa et al. 2022)",
    _both,
    lambda o: {REAL: 2, FAKE: 1},
    keys=(ResultKey("authpct", "authentic %", better=HIGHER, flag="--min-authpct", minimum=0.0, maximum=100.0),),
    default=False,
)
def _authpct(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    return {"authpct": authpct(real.features[FEATURES], fake.features[FEATURES], device)}


def _train_of(train: InputFeatures | None, metric: str) -> InputFeatures:
    """The training set's features; a front end that does not pass them (the streaming objects) gets one line."""
    if train is None:
        raise GanEvalError(f"{metric} needs the training set's features ({TRAIN}=), and none were given")
    return train


@register_metric(
    "fls",
    "Feature likelihood score (Jiralerspong et al. 2023)",
    _with_train,
    lambda o: {TRAIN: 4, REAL: 2, FAKE: 2},
    keys=(ResultKey("fls", "FLS", better=HIGHER, flag="--min-fls", minimum=0.0),),
    details=("fls_n",),
    default=False,
)
def _fls(
    real: InputFeatures,
    fake: InputFeatures,
    options: MetricOptions,
    device: str,
    train: InputFeatures | None = None,
) -> dict[str, Any]:
    t, p, q = _train_of(train, "fls").features[FEATURES], real.features[FEATURES], fake.features[FEATURES]
    half, baseline, test, generated = fls_subsets(len(t), len(p), len(q), options.fls_samples, options.seed)
    score = feature_likelihood_score(t[half], t[baseline], p[test], q[generated], device)
    return {"fls": score, "fls_n": len(half)}


def _ct_rows(values: dict[str, Any], number: Callable[[float], str]) -> list[tuple[str, str, str]]:
    """How many cells counted in C_T, with each cell's Z_U beside it."""
    counted = values["ct_cells_counted"]
    scores = ", ".join(
        f"{number(z)}{'' if used else ' (not counted)'}" for z, used in zip(values["ct_cells_z"], counted, strict=True)
    )
    note = f"Z_U {scores}; a cell counts with > {MIN_FAKE_PER_CELL} generated samples"
    return [("C_T cells", f"{sum(counted)}/{len(counted)}", note)]


@register_metric(
    "ct",
    "C_T data-copying test (Meehan et al. 2020)",
    _with_train,
    lambda o: {TRAIN: o.ct_cells, REAL: o.ct_cells, FAKE: MIN_FAKE_PER_CELL + 1},
    keys=(ResultKey("ct", "C_T", better=HIGHER, flag="--min-ct"),),
    details=("ct_cells_z", "ct_cells_counted"),
    detail_rows=_ct_rows,
    default=False,
)
def _ct(
    real: InputFeatures,
    fake: InputFeatures,
    options: MetricOptions,
    device: str,
    train: InputFeatures | None = None,
) -> dict[str, Any]:
    result = data_copying_ct(
        _train_of(train, "ct").features[FEATURES],
        real.features[FEATURES],
        fake.features[FEATURES],
        options.ct_cells,
        options.ct_pca_dims,
        options.seed,
        device,
    )
    return {"ct": result.ct, "ct_cells_z": list(result.cell_z), "ct_cells_counted": list(result.cell_counted)}


@register_metric(
    "rarity",
    "Rarity score (Han et al. 2022)",
    _both,
    lambda o: {REAL: o.rarity_k + 1, FAKE: 1},
    keys=(
        ResultKey("rarity_mean", "rarity (mean, in manifold)"),
        ResultKey("rarity_in_manifold", "rarity: share in manifold", minimum=0.0, maximum=1.0),
    ),
    details=("rarity_median", "rarity_k"),
    default=False,
)
def _rarity(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    result = rarity_scores(real.features[FEATURES], fake.features[FEATURES], options.rarity_k, device=device)
    return {
        "rarity_mean": result.mean(),
        "rarity_in_manifold": result.in_manifold_share,
        "rarity_median": result.median(),
        "rarity_k": result.k,
    }


@register_metric(
    "mifid",
    "Memorisation-informed FID (torchmetrics' MiFID)",
    _both,
    lambda o: {REAL: 2, FAKE: 2},
    keys=(ResultKey("mifid", "MiFID", better=LOWER, flag="--max-mifid", minimum=0.0),),
    details=("mifid_distance",),
    default=False,
)
def _mifid(real: InputFeatures, fake: InputFeatures, options: MetricOptions, device: str) -> dict[str, Any]:
    result = mifid(
        real.stats[FEATURES],
        fake.stats[FEATURES],
        real.features[FEATURES],
        fake.features[FEATURES],
        options.mifid_cosine_eps,
        device,
    )
    return {"mifid": result.mifid, "mifid_distance": result.distance}
