"""What a run record says about its metrics, so that a dashboard drawn in another process knows them.

A Monitor writes into each `session` record, under `metrics`, the metrics it
evaluates as the metric registry declares them (`gan_eval.metrics.registry`):
each one's title and headline keys, every key with its label, the key of its
± (`spread`), the key of its standard error (`noise`) and whether lower or
higher is better (`better`). The dashboard and report.html read them back with
`recorded_metrics`, so a metric registered in the training script alone is
drawn by `gan-eval plot` too; for a record made before sessions held them,
the registry of the process that reads it stands in.

Beside the metrics, the Monitor's own keys: the spread ratio
tr(Σ_generated) / tr(Σ_reference) and the spread tr(Σ_generated) of the
samples' features. The few metric keys the Monitor reads by meaning (the
alarm rules, the first evaluation's note, the scatter's title) are looked up
here in the registry, by metric, so no key is spelled out twice.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any

from gan_eval.metrics import registry
from gan_eval.metrics.registry import METRICS, Metric, ResultKey

SPREAD_RATIO = "spread_ratio"
SPREAD_TRACE = "spread_trace"
_KEY_FIELDS = {f.name for f in fields(ResultKey)}


def _key_names(metric: str) -> tuple[str, ...]:
    """The headline keys of the registered metric `metric`, in the order it declares them."""
    return tuple(key.name for key in METRICS[metric].keys)


# A metric whose keys change shape fails here, at import, rather than going unread.
PRECISION, RECALL = _key_names("pr")
_, COVERAGE = _key_names("dc")
(FID,) = _key_names("fid")
FID_NOISE = METRICS["fid"].keys[0].noise


@dataclass(frozen=True)
class RecordedMetric:
    """A metric as a run record holds it: its registry name, title and headline keys."""

    name: str
    title: str
    keys: tuple[ResultKey, ...]

    @classmethod
    def of(cls, metric: Metric) -> RecordedMetric:
        """The record's description of a registered metric."""
        return cls(metric.name, metric.title, metric.keys)

    def to_json(self) -> dict[str, Any]:
        """The description as the session record holds it (under its name)."""
        return {"title": self.title, "keys": [asdict(key) for key in self.keys]}

    @property
    def recorded_keys(self) -> tuple[str, ...]:
        """Every key an evaluation records for it: each headline key, its spread and its noise estimate."""
        names = (k for key in self.keys for k in (key.name, key.spread, key.noise) if k is not None)
        return tuple(dict.fromkeys(names))


def describe_metrics(metrics: dict[str, Metric]) -> dict[str, dict[str, Any]]:
    """The session record's `metrics`: each metric, by name, described."""
    return {name: RecordedMetric.of(metric).to_json() for name, metric in metrics.items()}


def recorded_metrics(events: list[dict[str, Any]]) -> list[RecordedMetric]:
    """The metrics the record's evaluations hold, in the order the sessions list them.

    Read from the sessions' `metrics` (the latest description of each name
    wins); a record without them is matched against today's registry. A
    metric none of whose headline keys is in an evaluation is left out.
    """
    described: dict[str, RecordedMetric] = {}
    for event in events:
        if event.get("kind") == "session" and isinstance(event.get("metrics"), dict):
            for name, description in event["metrics"].items():
                found = _from_json(name, description)
                if found is not None:
                    described[name] = found
    if not described:
        described = {name: RecordedMetric.of(metric) for name, metric in registry.METRICS.items()}
    evaluated = {key for e in events if e.get("kind") == "evaluation" for key in e}
    return [m for m in described.values() if any(key.name in evaluated for key in m.keys)]


def _from_json(name: str, description: Any) -> RecordedMetric | None:
    """A session's description of one metric, or None when it is not one (a damaged or foreign record)."""
    try:
        keys = tuple(ResultKey(**{k: v for k, v in key.items() if k in _KEY_FIELDS}) for key in description["keys"])
        return RecordedMetric(str(name), str(description["title"]), keys)
    except (KeyError, TypeError, AttributeError):
        return None
