"""The mode-collapse verdict: which detectors fired, each with its number and threshold.

A detector compares one number with a threshold calibrated so that a fresh
sample of the reference passes (see `docs/diagnostics.md`). The verdict is
`collapsed` when at least one *deciding* detector fired. A detector does not
decide when it measures fidelity rather than collapse (precision), or when
its number cannot tell missing modes from poor samples because the samples
are off the reference's manifold (the neighbourhood detectors under low
fidelity): such a detector is still shown, with `decides: false` and the
reason, and its firing is listed as `inconclusive`.

Where the modes are known (2-D mixtures, labels), a collapsed verdict also
says how badly: `severe` when fewer than half of the modes are covered or the
mode histogram's reverse KL exceeds ln 2 (for a uniform reference, a generator
uniform on K' of K modes has KL ln(K/K'): ln 2 is as concentrated as half of
them), `partial` otherwise.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from gan_eval.version import __version__

SEVERE_MODE_KL = math.log(2)


@dataclass(frozen=True)
class DetectorResult:
    """One detector's number, its threshold, and whether it fired.

    `fires_when` is `"below"` (the detector fires when `value < threshold`) or
    `"above"` (when `value > threshold`). `decides` is False for a detector
    that is reported but does not make the verdict, `note` says why.
    """

    name: str
    value: float
    threshold: float
    fires_when: str
    description: str
    decides: bool = True
    note: str = ""

    @property
    def fired(self) -> bool:
        """Whether the number crossed its threshold."""
        if self.fires_when == "below":
            return self.value < self.threshold
        return self.value > self.threshold

    def to_json(self) -> dict[str, Any]:
        """The detector as a JSON-ready dict."""
        return {
            "name": self.name,
            "value": json_number(self.value),
            "threshold": json_number(self.threshold),
            "fires_when": self.fires_when,
            "fired": self.fired,
            "decides": self.decides,
            "description": self.description,
            **({"note": self.note} if self.note else {}),
        }


def json_number(value: float | int | None) -> float | int | None:
    """`value` for JSON: non-finite floats become null."""
    if value is None or isinstance(value, (bool, int)):
        return value
    return float(value) if math.isfinite(value) else None


@dataclass(frozen=True)
class CollapseVerdict:
    """Every detector run on one generated set against one reference.

    `values` holds each detector's numbers under stable JSON keys
    (`modes_covered`, `modes_total`, `high_quality`, `mode_kl`, `ndb`, ...);
    `settings` the choices that change them (sample sizes, seeds, thresholds'
    levels).
    """

    reference: str
    detectors: tuple[DetectorResult, ...]
    values: dict[str, Any]
    settings: dict[str, Any] = field(default_factory=dict)
    version: str = __version__

    @property
    def collapsed(self) -> bool:
        """True when at least one deciding detector fired."""
        return any(d.fired and d.decides for d in self.detectors)

    @property
    def fired(self) -> tuple[str, ...]:
        """Names of the deciding detectors that fired, in order: the reasons for `collapsed`."""
        return tuple(d.name for d in self.detectors if d.fired and d.decides)

    @property
    def severity(self) -> str | None:
        """`none`, `partial` or `severe` where the modes are known (module notes); None otherwise when collapsed."""
        if not self.collapsed:
            return "none"
        if "modes_covered" not in self.values:
            return None
        kl = self.values.get("mode_kl", math.nan)
        few = self.values["modes_covered"] < self.values["modes_total"] / 2
        return "severe" if few or (math.isfinite(kl) and kl > SEVERE_MODE_KL) else "partial"

    @property
    def inconclusive(self) -> tuple[str, ...]:
        """Names of the detectors that fired but do not decide (fidelity, or confounded by it)."""
        return tuple(d.name for d in self.detectors if d.fired and not d.decides)

    def merged(self, other: CollapseVerdict) -> CollapseVerdict:
        """One verdict holding this verdict's detectors and numbers and then `other`'s."""
        return CollapseVerdict(
            reference=self.reference,
            detectors=self.detectors + other.detectors,
            values={**self.values, **other.values},
            settings={**self.settings, **other.settings},
        )

    def to_json(self) -> dict[str, Any]:
        """The verdict as a JSON-ready dict: `collapsed`, `fired`, `inconclusive`, the numbers, detectors, settings."""
        return {
            "collapsed": self.collapsed,
            "severity": self.severity,
            "fired": list(self.fired),
            "inconclusive": list(self.inconclusive),
            "reference": self.reference,
            **{k: json_number(v) if isinstance(v, float) else v for k, v in self.values.items()},
            "detectors": [d.to_json() for d in self.detectors],
            "settings": self.settings,
            "version": self.version,
        }
