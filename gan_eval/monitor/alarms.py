"""Alarm rules: what a run's records say about its health, in plain words and with the numbers.

Every rule reads the events of the run record (`gan_eval.monitor.events`) one
by one, in order, so the same rules replay a resumed run's history. A rule
fires when its condition becomes true, and re-arms only after it has been false
for a while (a whole window for the windowed rules), so a value hovering at a
threshold does not fire again and again.

A rule is one class (an `AlarmRule` decorated with `register_rule`) that
declares its name, its colour on the dashboard and its thresholds (each a
`Threshold` with its documented default; the reasons for the numbers are in
docs/monitoring.md), and holds its own running state: `observe(event)`
returns the alarms one record fires. `AlarmRules` is the collection of the
registered rules with their thresholds (the defaults, or values given by
name); `AlarmRulebook` runs one fresh instance of each. The Monitor, the
dashboard and benchmarks/alarm_calibration.py read the rules from there, so
adding a rule is adding its class.

- `non_finite`: a NaN or infinity in losses, gradient norms, D's outputs or
  the generated samples.
- `exploding_gradients`: a gradient norm above `explode_factor` times a high
  quantile of that network's recent (or first) norms, unless it is D's
  gradient coming back as D leaves a saturation.
- `discriminator_overpowers`: D(x) near 1 and D(G(z)) near 0 for a whole
  window, with G's gradients vanished to a tenth of their highest level (or
  the saturation extreme).
- `discriminator_overfitting`: D calls the real images it trains on real far
  more often than real images held out of its training (Karras et al. 2020,
  "Training Generative Adversarial Networks with Limited Data", fig. 1).
- `oscillation`: a logged value whose window, with a cubic trend removed, is
  dominated by one narrow frequency peak of several cycles, standing far
  above the spectrum's smooth background (Donoghue et al. 2020) and holding
  much of the window's variance, that does not die out.
- `mode_collapse`: the spread of generated features, or recall or coverage,
  collapsed at consecutive evaluations.
- `not_learning`: the samples stay far from the data (precision and recall
  about 0) while FID does not improve, over several evaluations.
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np

from gan_eval.monitor.recorded_metrics import COVERAGE, FID, FID_NOISE, PRECISION, RECALL, SPREAD_RATIO

NON_FINITE = "non_finite"
EXPLODING = "exploding_gradients"
OVERPOWERS = "discriminator_overpowers"
OVERFITTING = "discriminator_overfitting"
OSCILLATION = "oscillation"
COLLAPSE = "mode_collapse"
NOT_LEARNING = "not_learning"

# Values of these event fields are bookkeeping, not measurements.
_NOT_MEASURED = {"kind", "step", "time", "output", "samples", "features", "noise_seed", "resumed"}


@dataclass(frozen=True)
class Threshold:
    """A threshold of a rule: its name (unique among all rules), its documented default, and what it sets."""

    name: str
    default: float
    meaning: str


class AlarmRule:
    """One alarm rule: its `name`, its `colour` on the dashboard, its `thresholds`, and its own running state.

    A rule is made with the collection of thresholds (`AlarmRules`) it reads
    its own from, as `self.limits.<name>`. `observe` takes every measurement
    record (any kind but `alarm` and `session`), ignores the kinds the rule
    does not read, and returns the alarms the record fires.
    """

    name: ClassVar[str]
    colour: ClassVar[str]
    thresholds: ClassVar[tuple[Threshold, ...]] = ()

    def __init__(self, limits: AlarmRules) -> None:
        self.limits = limits

    def observe(self, event: dict[str, Any]) -> list[Alarm]:
        """The alarms `event` fires (updating the rule's state)."""
        raise NotImplementedError


RULES: dict[str, type[AlarmRule]] = {}


def register_rule(rule: type[AlarmRule]) -> type[AlarmRule]:
    """Class decorator adding `rule` to `RULES`; its name and its thresholds' names must be new.

    Registration order is the order of the dashboard's legend, of the
    calibration table and of the alarms one record fires.
    """
    taken = {t.name for other in RULES.values() for t in other.thresholds}
    clashes = [t.name for t in rule.thresholds if t.name in taken]
    if rule.name in RULES or clashes:
        raise ValueError(f"alarm rule {rule.name}: {'its name' if rule.name in RULES else clashes[0]} is taken")
    if not isinstance(getattr(rule, "colour", None), str):
        raise ValueError(f"alarm rule {rule.name} declares no colour")
    RULES[rule.name] = rule
    return rule


class AlarmRules:
    """The registered alarm rules and their thresholds: the documented defaults, or values given by name.

        AlarmRules(overfit_window=50).overfit_window   # 50; every other threshold at its default

    Immutable. `rules` holds the rule classes registered when it was made, in
    registration order; `build()` makes one fresh instance of each.
    """

    __slots__ = ("_values", "rules")

    def __init__(self, **thresholds: float) -> None:
        rules = tuple(RULES.values())
        declared = {t.name: t.default for rule in rules for t in rule.thresholds}
        unknown = sorted(set(thresholds) - set(declared))
        if unknown:
            raise TypeError(f"AlarmRules: no rule has a threshold {unknown[0]!r}; thresholds: {', '.join(declared)}")
        object.__setattr__(self, "rules", rules)
        object.__setattr__(self, "_values", {name: thresholds.get(name, default) for name, default in declared.items()})

    def __getattr__(self, name: str) -> float:
        try:
            return self._values[name]
        except KeyError:
            raise AttributeError(f"AlarmRules has no threshold {name!r}") from None

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("AlarmRules is immutable; make a new one")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AlarmRules) and (self.rules, self._values) == (other.rules, other._values)

    def __hash__(self) -> int:
        return hash((self.rules, tuple(self._values.items())))

    def __repr__(self) -> str:
        return f"AlarmRules({', '.join(f'{k}={v!r}' for k, v in self._values.items())})"

    def to_json(self) -> dict[str, Any]:
        """The thresholds as a JSON-ready dict, by name."""
        return dict(self._values)

    def build(self) -> tuple[AlarmRule, ...]:
        """A fresh instance of each rule (its state empty), in registration order."""
        return tuple(rule(self) for rule in self.rules)


@dataclass(frozen=True)
class Alarm:
    """One fired rule: which, at what step, about what, why (one paragraph), and the numbers behind it."""

    rule: str
    step: int | None
    subject: str
    message: str
    values: dict[str, Any] = field(default_factory=dict)

    def to_event(self) -> dict[str, Any]:
        """The alarm as a record event."""
        return {
            "kind": "alarm",
            "step": self.step,
            "rule": self.rule,
            "subject": self.subject,
            "message": self.message,
            "values": self.values,
        }


def _g(x: float) -> str:
    return f"{x:.3g}"


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _finite_norms(event: dict[str, Any], net: str) -> tuple[float, float] | None:
    """`net`'s mean and peak gradient norm in a `gradients` record, or None unless both are finite numbers."""
    mean, peak = event.get(f"{net.lower()}_norm"), event.get(f"{net.lower()}_norm_max")
    if _is_number(mean) and _is_number(peak) and math.isfinite(mean) and math.isfinite(peak):
        return mean, peak
    return None


class Latch:
    """Fires once when a condition turns true for a subject; `rearm` false observations in a row re-arm it."""

    def __init__(self, rearm: int = 1) -> None:
        self.rearm = rearm
        # subject -> how many observations in a row its condition has been false since it fired.
        self._quiet: dict[str, int] = {}

    def fires(self, subject: str, condition: bool) -> bool:
        """True when `condition` turns true for `subject` (not while it stays true, nor before it re-arms)."""
        if subject in self._quiet:
            quiet = 0 if condition else self._quiet[subject] + 1
            if quiet >= self.rearm:
                del self._quiet[subject]
            else:
                self._quiet[subject] = quiet
            return False
        if condition:
            self._quiet[subject] = 0
        return condition


@register_rule
class NonFiniteRule(AlarmRule):
    """`non_finite`: a NaN or infinity in a record's measurements.

    Fires on a NaN or infinity in any measured field of any record, or on
    `nonfinite_samples` > 0 (a count of generated samples); one subject per
    record kind, re-armed by the next finite record of that kind.
    """

    name = NON_FINITE
    colour = "black"

    def __init__(self, limits: AlarmRules) -> None:
        super().__init__(limits)
        self._latch = Latch()

    def observe(self, event: dict[str, Any]) -> list[Alarm]:
        bad = {k: v for k, v in event.items() if k not in _NOT_MEASURED and _is_number(v) and not math.isfinite(v)}
        if _is_number(event.get("nonfinite_samples")) and event["nonfinite_samples"] > 0:
            bad["nonfinite_samples"] = event["nonfinite_samples"]
        kind = str(event.get("kind"))
        if not self._latch.fires(kind, bool(bad)):
            return []
        listed = ", ".join(f"{k}={v}" for k, v in bad.items())
        what = {
            "scalars": "logged values",
            "gradients": "gradient norms",
            "discriminator": "D's outputs",
            "evaluation": "generated samples or their metrics",
        }.get(kind, kind)
        message = (
            f"non-finite {what} ({listed}): the training has diverged (a learning rate too high, a log of 0 "
            "or a division by zero); every later update is garbage. Restart from an earlier checkpoint with a "
            "lower learning rate, gradient clipping, or a numerically safe loss (logits with BCEWithLogitsLoss)."
        )
        return [Alarm(self.name, event.get("step"), kind, message, dict(bad))]


@register_rule
class ExplodingGradientsRule(AlarmRule):
    """`exploding_gradients`: a gradient norm far above its network's usual level.

    Fires on a `gradients` record whose peak L2 norm of G or D (`g_norm_max`,
    `d_norm_max`) is above `explode_factor` x the larger
    `explode_quantile`-quantile of that network's last and first
    `explode_window` peaks, from its `explode_warmup`th record on; one subject
    per network, re-armed after `explode_rearm` quiet records. Not for D
    coming out of a saturation: when one of D's last `explode_recovery`
    `discriminator` records had D(x) >= 1 - `explode_saturation` and
    D(G(z)) <= `explode_saturation`, a jump of D's norm is not an explosion.
    A saturated D's gradients vanish while its weights grow; when G's samples
    move and D's confident outputs turn wrong, its gradients come back
    multiplied by those weights (76x its usual level in a healthy digits
    DCGAN of the calibration), for a few records, and the run trains on.
    """

    name = EXPLODING
    colour = "tab:red"
    thresholds = (
        Threshold("explode_factor", 10.0, "how many times its usual level a gradient norm must exceed"),
        Threshold("explode_quantile", 0.9, "the quantile of the last and first records that is the usual level"),
        Threshold("explode_window", 100, "records in the last and in the first window"),
        Threshold("explode_warmup", 20, "records before a norm is judged"),
        Threshold("explode_rearm", 20, "quiet records that re-arm the rule"),
        Threshold("explode_saturation", 0.1, "D is saturated when D(x) >= 1 - this and D(G(z)) <= this"),
        Threshold("explode_recovery", 20, "D records after its last saturated one during which D's jump is a recovery"),
    )

    def __init__(self, limits: AlarmRules) -> None:
        super().__init__(limits)
        self._latch = Latch(rearm=limits.explode_rearm)
        self._history = {net: deque(maxlen=limits.explode_window) for net in ("G", "D")}
        self._early: dict[str, list[float]] = {"G": [], "D": []}
        self._early_top: dict[str, float] = {}
        # D's probability records since its last saturated one (None: none saturated, or none recorded).
        self._since_saturated: int | None = None
        self._d_outputs_seen = False

    def observe(self, event: dict[str, Any]) -> list[Alarm]:
        if event.get("kind") == "discriminator":
            self._follow_d(event)
            return []
        if event.get("kind") != "gradients":
            return []
        fired = []
        for net in ("G", "D"):
            norms = _finite_norms(event, net)
            if norms is None:
                continue
            peak = norms[1]
            alarm = self._judge(net, peak, event.get("step"))
            if alarm is not None:
                fired.append(alarm)
            # Peaks against peaks: an event's max over several optimizer steps sits above their mean.
            self._history[net].append(peak)
            if len(self._early[net]) < self.limits.explode_window:
                self._early[net].append(peak)
        return fired

    def _judge(self, net: str, peak: float, step: int | None) -> Alarm | None:
        r = self.limits
        history, early = self._history[net], self._early[net]
        baseline = math.nan
        if len(history) >= r.explode_warmup:
            # Gradient norms of GANs are heavy-tailed, so the baseline is a high quantile (the top of
            # the usual fluctuations), not the median. A network whose gradients shrink (a saturated D)
            # has a tiny recent level that noise multiplies by 10 easily; its early level keeps the
            # baseline at the run's typical scale.
            if net not in self._early_top and len(early) == r.explode_window:
                self._early_top[net] = quantile(early, r.explode_quantile)  # fixed from now on
            early_top = self._early_top.get(net)
            baseline = max(quantile(history, r.explode_quantile), early_top or quantile(early, r.explode_quantile))
        exceeds = baseline > 0 and peak > r.explode_factor * baseline
        if not self._latch.fires(net, exceeds and not self._recovering(net)):
            return None
        if net != "D":
            checked = ""
        elif self._d_outputs_seen:
            checked = ", and D was not coming out of a saturation"
        else:
            checked = " (D's outputs are not recorded, so D coming out of a saturation cannot be told apart)"
        message = (
            f"{net}'s gradient norm {_g(peak)} is {_g(peak / baseline)}x its usual level {_g(baseline)} "
            f"(rule: above {_g(r.explode_factor)}x the larger of the {r.explode_quantile:g}-quantiles of "
            f"its last and first {r.explode_window} records){checked}: its gradients are exploding. An "
            "optimiser whose step grows with the gradient (SGD, with or without momentum) takes a step that "
            "many times its usual size, which can throw the weights far off and, if it goes on, the losses to "
            "NaN (a non_finite alarm); Adam-like optimisers bound each step by the learning rate, but a jump "
            "this size still upsets their running averages. Lower the learning rate, clip gradients "
            "(torch.nn.utils.clip_grad_norm_), or regularise D (gradient penalty, spectral normalisation)."
        )
        values = {"norm": peak, "baseline": baseline, "ratio": peak / baseline, "factor": r.explode_factor}
        return Alarm(self.name, step, net, message, values)

    def _follow_d(self, event: dict[str, Any]) -> None:
        """Count D's probability records since its last saturated one."""
        d_real, d_fake = event.get("d_real"), event.get("d_fake")
        if not (_is_number(d_real) and _is_number(d_fake) and math.isfinite(d_real) and math.isfinite(d_fake)):
            return
        self._d_outputs_seen = True
        limit = self.limits.explode_saturation
        if d_real >= 1 - limit and d_fake <= limit:
            self._since_saturated = 0
        elif self._since_saturated is not None:
            self._since_saturated += 1

    def _recovering(self, net: str) -> bool:
        """Whether `net` is D within `explode_recovery` records of a saturation (its last one included)."""
        since = self._since_saturated
        return net == "D" and since is not None and since < self.limits.explode_recovery


@register_rule
class DiscriminatorOverpowersRule(AlarmRule):
    """`discriminator_overpowers`: D saturated for a whole window while G's gradients vanished.

    Fires when for `overpower_window` `discriminator` records in a row
    D(x) >= `overpower_real` and D(G(z)) <= `overpower_fake` (probabilities),
    and either G's mean L2 gradient norm (median of its last `overpower_window`
    `gradients` records) is at most `vanish_ratio` x its highest median of
    `vanish_block` consecutive records, or every pair is within
    `overpower_extreme` of 1 and 0; re-armed after `overpower_window` quiet
    records. Reads `gradients` records only to follow G's norm.
    """

    name = OVERPOWERS
    colour = "tab:purple"
    thresholds = (
        Threshold("overpower_window", 50, "batches in a row of a saturated D"),
        Threshold("overpower_real", 0.9, "D(x) at least this"),
        Threshold("overpower_fake", 0.1, "D(G(z)) at most this"),
        Threshold("overpower_extreme", 0.01, "within this of 1 and 0, the saturation is extreme"),
        Threshold("vanish_ratio", 0.1, "G's gradient norm at most this share of its highest level"),
        Threshold("vanish_block", 10, "consecutive records whose median is a level"),
    )

    def __init__(self, limits: AlarmRules) -> None:
        super().__init__(limits)
        self._latch = Latch(rearm=limits.overpower_window)
        self._d_outputs: deque[tuple[float, float]] = deque(maxlen=limits.overpower_window)
        self._g_block: deque[float] = deque(maxlen=limits.vanish_block)
        self._g_peak = 0.0
        self._g_recent: deque[float] = deque(maxlen=limits.overpower_window)

    def observe(self, event: dict[str, Any]) -> list[Alarm]:
        kind = event.get("kind")
        if kind == "gradients":
            self._follow_g(event)
            return []
        if kind != "discriminator":
            return []
        d_real, d_fake = event.get("d_real"), event.get("d_fake")
        if not (_is_number(d_real) and _is_number(d_fake) and math.isfinite(d_real) and math.isfinite(d_fake)):
            return []
        self._d_outputs.append((d_real, d_fake))
        alarm = self._judge(event.get("step"))
        return [] if alarm is None else [alarm]

    def _follow_g(self, event: dict[str, Any]) -> None:
        norms = _finite_norms(event, "G")
        if norms is None:
            return
        mean = norms[0]
        self._g_block.append(mean)
        if len(self._g_block) == self._g_block.maxlen:
            self._g_peak = max(self._g_peak, statistics.median(self._g_block))
        self._g_recent.append(mean)

    def _judge(self, step: int | None) -> Alarm | None:
        r = self.limits
        window = self._d_outputs
        full = len(window) == window.maxlen
        saturated = full and all(real >= r.overpower_real and fake <= r.overpower_fake for real, fake in window)
        extreme = saturated and all(
            real >= 1 - r.overpower_extreme and fake <= r.overpower_extreme for real, fake in window
        )
        ratio = math.nan
        if saturated and self._g_peak > 0 and len(self._g_recent) == self._g_recent.maxlen:
            ratio = statistics.median(self._g_recent) / self._g_peak
        vanished = ratio <= r.vanish_ratio
        if not self._latch.fires("D", saturated and (vanished or extreme)):
            return None
        if vanished:
            why = (
                f"G's gradient norm (median of the window) fell to {ratio:.1%} of its highest level in this "
                f"run (the largest median of {r.vanish_block} consecutive records; rule: at most "
                f"{r.vanish_ratio:.0%}): G gets almost no gradient"
            )
        else:
            why = (
                f"the saturation is extreme (beyond {1 - r.overpower_extreme:g} and {r.overpower_extreme:g}): "
                "G still gets gradients but cannot close the gap"
            )
        real_mean = math.fsum(w[0] for w in window) / len(window)
        fake_mean = math.fsum(w[1] for w in window) / len(window)
        message = (
            f"the discriminator overpowers the generator: for the last {len(window)} batches D(x) >= "
            f"{r.overpower_real:g} (mean {real_mean:.4f}) and D(G(z)) <= {r.overpower_fake:g} "
            f"(mean {fake_mean:.4f}), and {why}. Weaken D (lower its learning rate or its steps per G step, "
            "add instance noise, R1 or spectral normalisation) or use the non-saturating G loss."
        )
        values = {
            "d_real_mean": real_mean,
            "d_fake_mean": fake_mean,
            "window": len(window),
            "g_grad_ratio": ratio,
        }
        return Alarm(self.name, step, "D", message, values)


@register_rule
class DiscriminatorOverfittingRule(AlarmRule):
    """`discriminator_overfitting`: D tells the real images it trains on from real images it has not seen.

    Reads `discriminator` records that hold both r_t = E[sign(D(x_train))]
    and r_v = E[sign(D(x_held_out))] (`Monitor.discriminator(..., held_out=)`,
    both in [-1, 1]). Fires when, averaged over the last `overfit_window` such
    records, r_t is above `overfit_rt` and r_t - r_v above `overfit_gap`;
    re-armed after `overfit_window` quiet records. Records without r_v are
    not judged: a high r_t alone also means a D that is merely ahead of G.
    """

    name = OVERFITTING
    colour = "tab:pink"
    thresholds = (
        Threshold("overfit_rt", 0.6, "mean r_t above this"),
        Threshold("overfit_gap", 0.2, "mean r_t - r_v above this"),
        Threshold("overfit_window", 100, "batches the means are taken over"),
    )

    def __init__(self, limits: AlarmRules) -> None:
        super().__init__(limits)
        self._latch = Latch(rearm=limits.overfit_window)
        self._pairs: deque[tuple[float, float]] = deque(maxlen=limits.overfit_window)

    def observe(self, event: dict[str, Any]) -> list[Alarm]:
        r_t, r_v = event.get("r_t"), event.get("r_v")
        if event.get("kind") != "discriminator" or not all(_is_number(r) and math.isfinite(r) for r in (r_t, r_v)):
            return []
        r = self.limits
        self._pairs.append((r_t, r_v))
        full = len(self._pairs) == self._pairs.maxlen
        train = math.fsum(pair[0] for pair in self._pairs) / len(self._pairs)
        held = math.fsum(pair[1] for pair in self._pairs) / len(self._pairs)
        gap = math.fsum(pair[0] - pair[1] for pair in self._pairs) / len(self._pairs)
        if not self._latch.fires("D", full and train > r.overfit_rt and gap > r.overfit_gap):
            return []
        message = (
            f"D overfits its training set: over the last {len(self._pairs)} batches it called {_share(train)} "
            f"of the real training images real (r_t = E[sign(D(x))] = {train:.3f}; rule: above "
            f"{r.overfit_rt:g}) but only {_share(held)} of held-out real images (r_v = {held:.3f}; rule: "
            f"r_t - r_v above {r.overfit_gap:g}, here {gap:.3f}): it memorises the training images instead "
            "of learning what real images look like, and its feedback to G degrades (Karras et al. 2020, "
            "fig. 1). Use more data, augment real and fake images alike (ADA, DiffAugment), regularise D "
            "more (R1, dropout), or stop at the last checkpoint before the gap opened."
        )
        values = {"r_t_mean": train, "r_v_mean": held, "gap": gap, "window": len(self._pairs)}
        return [Alarm(self.name, event.get("step"), "D", message, values)]


def _share(r: float) -> str:
    """The share of a batch whose sign is positive, from the mean sign `r` in [-1, 1], as a percentage."""
    return f"{(1 + r) / 2:.0%}"


@register_rule
class OscillationRule(AlarmRule):
    """`oscillation`: a logged value circling in one sustained rhythm.

    Fires when a field of `scalars` records has, over its last
    `oscillation_window` values after removing a least-squares cubic, at least
    `oscillation_share` of its variance in one frequency of at least
    `oscillation_min_cycles` whole cycles per window, that frequency's power
    at least `oscillation_contrast` x the spectrum's smooth background there
    (a narrow peak, not a drift's broad low-frequency power) and at least
    `oscillation_prominence` of the window's whole variance, trend included
    (not a ripple on a loss that mostly drifts), and a second-half amplitude
    at least `oscillation_sustain` x the first half's;
    checked every `oscillation_check_every` values, one subject per field,
    re-armed after a whole quiet window.
    """

    name = OSCILLATION
    colour = "tab:olive"
    thresholds = (
        Threshold("oscillation_window", 200, "values of a series judged together"),
        Threshold("oscillation_check_every", 10, "values between two checks"),
        Threshold("oscillation_share", 0.5, "least share of the detrended variance in one rhythm"),
        Threshold("oscillation_min_cycles", 4, "least whole cycles per window"),
        Threshold("oscillation_sustain", 0.5, "least second-half over first-half amplitude"),
        Threshold("oscillation_contrast", 20.0, "least power over the spectrum's smooth background"),
        Threshold("oscillation_prominence", 0.2, "least share of the whole variance, trend included"),
    )

    def __init__(self, limits: AlarmRules) -> None:
        super().__init__(limits)
        self._latch = Latch(rearm=max(1, limits.oscillation_window // limits.oscillation_check_every))
        self._series: dict[str, deque[float]] = {}
        self._since_check: dict[str, int] = {}

    def observe(self, event: dict[str, Any]) -> list[Alarm]:
        if event.get("kind") != "scalars":
            return []
        r, fired = self.limits, []
        for name, value in event.items():
            if name in _NOT_MEASURED or not _is_number(value) or not math.isfinite(value):
                continue
            series = self._series.setdefault(name, deque(maxlen=r.oscillation_window))
            series.append(float(value))
            self._since_check[name] = self._since_check.get(name, 0) + 1
            if len(series) < r.oscillation_window or self._since_check[name] < r.oscillation_check_every:
                continue
            self._since_check[name] = 0
            found = dominant_oscillation(np.asarray(series))
            oscillating = (
                found is not None
                and found.cycles >= r.oscillation_min_cycles
                and found.share >= r.oscillation_share
                and found.contrast >= r.oscillation_contrast
                and found.prominence >= r.oscillation_prominence
                and found.sustain >= r.oscillation_sustain
            )
            if self._latch.fires(name, oscillating):
                fired.append(self._alarm(name, found, len(series), event.get("step")))
        return fired

    def _alarm(self, name: str, found: Oscillation, window: int, step: int | None) -> Alarm:
        r = self.limits
        message = (
            f"{name} oscillates: over its last {window} values, {found.share:.0%} of the detrended "
            f"variance is one rhythm of period ~{found.period:.1f} steps ({found.cycles} cycles, "
            f"{found.contrast:.3g}x the spectrum's background at that frequency, {found.prominence:.0%} of the "
            f"whole variance with the trend; rule: at least {r.oscillation_share:.0%}, "
            f"{r.oscillation_min_cycles} cycles, {r.oscillation_contrast:g}x and {r.oscillation_prominence:.0%}), "
            f"and it does not die out (late/early amplitude {found.sustain:.2f}; rule: at least "
            f"{r.oscillation_sustain:g}). G "
            "and D are circling around each other instead of converging: lower the learning rates, use "
            "Adam with beta1 = 0.5 or 0, or add a gradient penalty (R1)."
        )
        values = {
            "share": found.share,
            "period": found.period,
            "cycles": found.cycles,
            "contrast": found.contrast,
            "prominence": found.prominence,
            "sustain": found.sustain,
            "window": window,
        }
        return Alarm(self.name, step, name, message, values)


@register_rule
class ModeCollapseRule(AlarmRule):
    """`mode_collapse`: the generated features' spread, recall or coverage collapsed.

    Fires when, at `collapse_patience` `evaluation` records in a row, the
    spread ratio tr(cov generated)/tr(cov reference) is below
    `collapse_spread`, or recall or coverage (fractions in [0, 1]) is at most
    `collapse_drop` x its best so far, that best being at least
    `collapse_min_best`; one subject per quantity. The first evaluation only
    sets the bests.
    """

    name = COLLAPSE
    colour = "tab:brown"
    thresholds = (
        Threshold("collapse_spread", 0.1, "spread ratio below this is collapsed"),
        Threshold("collapse_drop", 0.5, "recall or coverage at most this times its best"),
        Threshold("collapse_min_best", 0.3, "a best of at least this"),
        Threshold("collapse_patience", 2, "evaluations in a row"),
    )

    def __init__(self, limits: AlarmRules) -> None:
        super().__init__(limits)
        self._latch = Latch()
        self._evaluations = 0
        self._best: dict[str, float] = {}
        self._low_streak: dict[str, int] = {}

    def observe(self, event: dict[str, Any]) -> list[Alarm]:
        if event.get("kind") != "evaluation":
            return []
        r, fired = self.limits, []
        self._evaluations += 1
        if self._evaluations == 1:
            # An untrained generator is concentrated by construction; judge from the second evaluation on.
            for name in (RECALL, COVERAGE):
                if _is_number(event.get(name)):
                    self._best[name] = max(self._best.get(name, 0.0), event[name])
            return []
        for subject, (low, why) in self._lows(event).items():
            streak = self._low_streak[subject] = self._low_streak.get(subject, 0) + 1 if low else 0
            if self._latch.fires(subject, streak >= r.collapse_patience):
                message = (
                    f"mode collapse: {why}, at {streak} evaluations in a row: the generator maps most z to a few "
                    "outputs and misses much of the data. Try a lower G learning rate or fewer G steps per D step, "
                    "minibatch standard deviation in D, or restart from the last checkpoint before the fall."
                )
                values = {k: event[k] for k in (SPREAD_RATIO, RECALL, COVERAGE) if _is_number(event.get(k))}
                fired.append(Alarm(self.name, event.get("step"), subject, message, dict(values, streak=streak)))
        return fired

    def _lows(self, event: dict[str, Any]) -> dict[str, tuple[bool, str]]:
        """Per quantity in `event`: whether it is collapsed, and why in words; updates the bests."""
        r = self.limits
        lows: dict[str, tuple[bool, str]] = {}
        spread = event.get(SPREAD_RATIO)
        if _is_number(spread) and math.isfinite(spread):
            lows["spread"] = (
                spread < r.collapse_spread,
                f"the spread of the generated features (trace of their covariance) is {spread:.2%} of the "
                f"reference's (rule: below {r.collapse_spread:.0%})",
            )
        for name in (RECALL, COVERAGE):
            value = event.get(name)
            if not (_is_number(value) and math.isfinite(value)):
                continue
            best = self._best.get(name, 0.0)
            lows[name] = (
                best >= r.collapse_min_best and value <= r.collapse_drop * best,
                f"{name} fell to {value:.3f} from its best {best:.3f} in this run (rule: at most "
                f"{r.collapse_drop:g}x a best of at least {r.collapse_min_best:g})",
            )
            self._best[name] = max(best, value)
        return lows


@register_rule
class NotLearningRule(AlarmRule):
    """`not_learning`: the samples stay far from the data and FID does not improve.

    Judges each `evaluation` record from the (`not_learning_patience` + 1)-th
    on, over the last `not_learning_patience` + 1 evaluations: FID is stalled
    when the first of them minus the lowest FID after it is at most the larger
    of `not_learning_z` standard errors of that difference,
    z sqrt(fid_std_first^2 + fid_std_lowest^2), and `not_learning_tolerance`
    x the first FID. Subject `precision`: precision (the share of samples
    inside the data's k-NN balls) at most `not_learning_precision` and recall
    (the share of the data inside the samples' k-NN balls) at most
    `not_learning_recall` at each of the last `not_learning_patience`
    evaluations, with FID stalled (or not recorded). Subject `fid`, for
    records without precision: FID stalled over the first
    `not_learning_patience` + 1 evaluations of the run, i.e. never better
    than at the start. Re-armed by one evaluation that does not meet the
    condition.
    """

    name = NOT_LEARNING
    colour = "tab:cyan"
    thresholds = (
        Threshold("not_learning_precision", 0.05, "precision at most this"),
        Threshold("not_learning_recall", 0.05, "recall at most this"),
        Threshold("not_learning_patience", 3, "evaluations in a row, after the window's first"),
        Threshold("not_learning_z", 2.0, "standard errors of improvement that are noise"),
        Threshold("not_learning_tolerance", 0.05, "share of the first FID that is noise"),
    )

    def __init__(self, limits: AlarmRules) -> None:
        super().__init__(limits)
        self._latch = Latch()
        self._history: deque[dict[str, Any]] = deque(maxlen=limits.not_learning_patience + 1)
        self._evaluations = 0

    def observe(self, event: dict[str, Any]) -> list[Alarm]:
        if event.get("kind") != "evaluation":
            return []
        self._evaluations += 1
        self._history.append(event)
        if len(self._history) < self._history.maxlen:
            return []
        r, window = self.limits, list(self._history)
        stalled = _fid_stall(window, r)
        precisions = [e.get(PRECISION) for e in window[1:]]
        if all(_is_number(p) and math.isfinite(p) for p in precisions):
            subject = PRECISION
            recalls = [e.get(RECALL) for e in window[1:]]
            far = all(p <= r.not_learning_precision for p in precisions) and all(
                not _is_number(q) or q <= r.not_learning_recall for q in recalls
            )
            condition = far and (stalled is None or stalled[0])
        else:
            subject = FID
            condition = stalled is not None and stalled[0] and self._evaluations == len(window)
        if not self._latch.fires(subject, condition):
            return []
        return [self._alarm(subject, window, stalled, event.get("step"))]

    def _alarm(
        self, subject: str, window: list[dict[str, Any]], stalled: tuple[bool, float, float] | None, step: int | None
    ) -> Alarm:
        r = self.limits
        first, last = window[0].get("step"), window[-1].get("step")
        values: dict[str, Any] = {"evaluations": len(window) - 1, "from_step": first}
        if subject == PRECISION:
            highest = max(e[PRECISION] for e in window[1:])
            recalls = [e[RECALL] for e in window[1:] if _is_number(e.get(RECALL))]
            values["precision_max"] = highest
            why = (
                f"precision stayed at or below {r.not_learning_precision:g} at the last {len(window) - 1} "
                f"evaluations (highest {highest:.3f}): almost no generated sample lands where real data lies"
            )
            if recalls:
                values["recall_max"] = max(recalls)
                why += (
                    f", and recall at or below {r.not_learning_recall:g} (highest {max(recalls):.3f}): the samples "
                    "cover almost none of the data either"
                )
        else:
            why = f"FID is no better than at the run's first evaluation (step {first})"
        if stalled is not None:
            _, best, allowed = stalled
            start = window[0][FID]
            values.update(fid_first=start, fid_best=best, allowed=allowed)
            why += (
                f", and FID did not improve: {start:.4g} at step {first}, at best {best:.4g} up to step {last} "
                f"(rule: an improvement of at most the larger of {r.not_learning_z:g} standard errors and "
                f"{r.not_learning_tolerance:.0%} of the first FID, here {allowed:.4g})"
            )
        message = (
            f"the generator is not learning: {why}. Its samples stay far from the data. Check that G's "
            "optimiser steps G's parameters with a non-zero learning rate and that its loss reaches them "
            "(no detach, no frozen layers), that the data and G's outputs share one value range (e.g. [-1, 1] "
            "with tanh), and that D is not so strong that G gets no useful gradient (see "
            "discriminator_overpowers); then try a higher G learning rate."
        )
        return Alarm(self.name, step, subject, message, values)


def _fid_stall(window: list[dict[str, Any]], r: AlarmRules) -> tuple[bool, float, float] | None:
    """Whether FID stalled over `window` (evaluation records), the lowest FID after the first, and the
    improvement on the first that still counts as stalled; None when a record lacks a finite FID or its
    standard error `fid_std`."""
    pairs = [(e.get(FID), e.get(FID_NOISE)) for e in window]
    if not all(_is_number(f) and _is_number(sd) and math.isfinite(f) and math.isfinite(sd) for f, sd in pairs):
        return None
    first, first_std = pairs[0]
    best, best_std = min(pairs[1:])
    allowed = max(r.not_learning_z * math.hypot(first_std, best_std), r.not_learning_tolerance * first)
    return first - best <= allowed, best, allowed


class AlarmRulebook:
    """A run of the rules: one fresh instance of each rule of `rules` (default: every registered rule at its
    documented thresholds); `observe(event)` gives each the event, in registration order, and returns the
    alarms it fires."""

    def __init__(self, rules: AlarmRules | None = None) -> None:
        self.rules = rules or AlarmRules()
        self._book = self.rules.build()

    @property
    def names(self) -> tuple[str, ...]:
        """The rules' names, in the order in which one event's alarms are returned."""
        return tuple(rule.name for rule in self._book)

    def observe(self, event: dict[str, Any]) -> list[Alarm]:
        """Update the rules with one event; the alarms that start firing on it."""
        if event.get("kind") in ("alarm", "session"):
            return []
        return [alarm for rule in self._book for alarm in rule.observe(event)]


def quantile(values: Iterable[float], q: float) -> float:
    """The `q`-quantile of a few numbers, interpolating linearly between order statistics (NumPy's default)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


@dataclass(frozen=True)
class Oscillation:
    """The strongest rhythm of a detrended series: its share of the variance, period, cycles, contrast,
    prominence and sustain."""

    share: float
    period: float
    cycles: int
    contrast: float
    prominence: float
    sustain: float


DETREND_DEGREE = 3


def dominant_oscillation(values: np.ndarray) -> Oscillation | None:
    """The dominant frequency of `values: (W,)` after removing a least-squares cubic; None if it is flat.

    `share` is the power of the peak frequency bin and its two neighbours over
    the total power (excluding the mean); `cycles` is the peak's bin index (whole
    cycles in the window); `contrast` is that band's power over the smooth
    background's there: a straight line fitted by least squares to log power
    against log frequency over every other bin (a drift's or noise's power law,
    as in Donoghue et al. 2020's separation of rhythms from the 1/f background);
    `prominence` is the band's power over the total power of the series with
    only its mean removed (the trend counts); `sustain` is the std of the detrended second half over that of the first
    half (below 1 for a dying oscillation).
    """
    n = values.shape[0]
    t = np.linspace(-1.0, 1.0, n)
    trend = np.polynomial.polynomial.polyfit(t, values, DETREND_DEGREE)
    residual = values - np.polynomial.polynomial.polyval(t, trend)
    scale = max(float(np.abs(values).max()), 1e-12)
    if residual.std() <= 1e-9 * scale:
        return None
    power = np.abs(np.fft.rfft(residual)) ** 2
    power[0] = 0.0
    total = power.sum()
    peak = int(np.argmax(power))
    low, high = max(1, peak - 1), peak + 2
    band = power[low:high].sum()
    frequencies = np.arange(power.shape[0], dtype=np.float64)
    outside = np.ones(power.shape[0], dtype=bool)
    outside[0] = False
    outside[low:high] = False
    # A floor at 1e-12 of the total keeps the logarithm of an exactly zero bin (a pure sine) finite.
    slope, intercept = np.polyfit(np.log(frequencies[outside]), np.log(power[outside] + 1e-12 * total), 1)
    background = np.exp(intercept + slope * np.log(frequencies[low:high])).sum()
    raw = np.abs(np.fft.rfft(values - values.mean())) ** 2
    raw[0] = 0.0
    half = n // 2
    early = residual[:half].std()
    sustain = float(residual[half:].std() / early) if early > 0 else math.inf
    return Oscillation(
        share=float(band / total),
        period=n / peak,
        cycles=peak,
        contrast=float(band / background),
        prominence=float(band / raw.sum()),
        sustain=sustain,
    )


def replay(rulebook: AlarmRulebook, events: Iterable[dict[str, Any]]) -> None:
    """Feed a previous session's events to `rulebook` so its state continues (the alarms are not re-raised)."""
    for event in events:
        rulebook.observe(event)
