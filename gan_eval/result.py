"""The results of an evaluation: `Result` (every metric, with a JSON round trip) and `FidResult` (`fid()`'s).

Both carry the sample sizes and every setting that changes the numbers.
`Result.to_json()` is what `report --json` prints and the gate saves;
`Result.from_json()` reads it back, so the gate judges a `Result` whether it
was evaluated now or loaded from a file.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from gan_eval.metrics.registry import METRICS
from gan_eval.version import __version__

FEATURES_FAMILY = "features"  # the metrics of the registry, on feature sets; `paired` results are another
RESULT_KEYS = tuple(key for metric in METRICS.values() for key in metric.headline_keys)


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
    family: str = FEATURES_FAMILY

    def __getitem__(self, key: str) -> Any:
        return self.values[key]

    def to_json(self) -> dict[str, Any]:
        """One JSON-ready object: every `RESULT_KEYS` entry (null when not computed; a feature result's), the
        values, the bookkeeping and settings, and `family` for a result of another family (`paired`)."""
        keys = RESULT_KEYS if self.family == FEATURES_FAMILY else ()
        out: dict[str, Any] = {key: self.values.get(key) for key in keys}
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
        if self.family != FEATURES_FAMILY:
            out["family"] = self.family
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Result:
        """The result that `to_json` wrote (a `report --json` or `gate` file): every value, count and setting.

        A file from another tool, or from an older gan-eval, may lack the bookkeeping fields; they default
        to empty. `metrics` defaults to every registered metric with a number in the file.
        """
        bookkeeping = (
            "n_real",
            "n_fake",
            "metrics",
            "unavailable",
            "settings",
            "seconds",
            "skipped",
            "cached",
            "family",
        )
        values = {k: v for k, v in data.items() if k not in bookkeeping}
        if "metrics" in data:
            metrics = tuple(data["metrics"])
        else:
            metrics = tuple(m.name for m in METRICS.values() if any(values.get(k) is not None for k in m.headline_keys))
        return cls(
            values={k: v for k, v in values.items() if v is not None or k not in RESULT_KEYS},
            metrics=metrics,
            unavailable=dict(data.get("unavailable") or {}),
            n_real=data.get("n_real"),
            n_fake=data.get("n_fake"),
            settings=dict(data.get("settings") or {}),
            seconds=float(data.get("seconds") or 0.0),
            skipped=dict(data.get("skipped") or {}),
            cached=dict(data.get("cached") or {}),
            family=str(data.get("family") or FEATURES_FAMILY),
        )


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
