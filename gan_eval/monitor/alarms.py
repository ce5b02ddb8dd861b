"""Alarm rules: what a run's records say about its health, in plain words and with the numbers.

Every rule reads the events of the run record (`gan_eval.monitor.events`) one
by one, in order, so the same rules replay a resumed run's history. A rule
fires when its condition becomes true, and re-arms only after it has been false
for a while (a whole window for the windowed rules), so a value hovering at a
threshold does not fire again and again. The thresholds are the fields of
`AlarmRules` (documented, with their reasons, in docs/monitoring.md).

- `non_finite`: a NaN or infinity in losses, gradient norms, D's outputs or
  the generated samples.
- `exploding_gradients`: a gradient norm above `explode_factor` times a high
  quantile of that network's recent (or first) norms.
- `discriminator_overpowers`: D(x) near 1 and D(G(z)) near 0 for a whole
  window, with G's gradients vanished to a tenth of their highest level (or
  the saturation extreme).
- `oscillation`: a logged value whose detrended window is dominated by one
  frequency of several cycles and does not die out.
- `mode_collapse`: the spread of generated features, or recall or coverage,
  collapsed at consecutive evaluations.
- `discriminator_overfitting`: r_t = E[sign(D(x_real))] above 0.6 on average
  (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data").
"""

from __future__ import annotations

import math
import statistics
from collections import deque
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

NON_FINITE = "non_finite"
EXPLODING = "exploding_gradients"
OVERPOWERS = "discriminator_overpowers"
OSCILLATION = "oscillation"
COLLAPSE = "mode_collapse"
OVERFITTING = "discriminator_overfitting"
RULES = (NON_FINITE, EXPLODING, OVERPOWERS, OSCILLATION, COLLAPSE, OVERFITTING)

# Values of these event fields are bookkeeping, not measurements.
_NOT_MEASURED = {"kind", "step", "time", "output", "samples", "features", "noise_seed", "resumed"}


@dataclass(frozen=True)
class AlarmRules:
    """Thresholds of the alarm rules; the defaults are the documented ones."""

    explode_factor: float = 10.0
    explode_quantile: float = 0.9
    explode_window: int = 100
    explode_warmup: int = 20
    explode_rearm: int = 20
    overpower_window: int = 50
    overpower_real: float = 0.9
    overpower_fake: float = 0.1
    overpower_extreme: float = 0.01
    vanish_ratio: float = 0.1
    vanish_block: int = 10
    oscillation_window: int = 200
    oscillation_check_every: int = 10
    oscillation_share: float = 0.5
    oscillation_min_cycles: int = 3
    oscillation_sustain: float = 0.5
    collapse_spread: float = 0.1
    collapse_drop: float = 0.5
    collapse_min_best: float = 0.3
    collapse_patience: int = 2
    overfit_rt: float = 0.6
    overfit_window: int = 50

    def to_json(self) -> dict[str, Any]:
        """The thresholds as a JSON-ready dict."""
        return asdict(self)


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


class AlarmRulebook:
    """All rules with their running state; `observe(event)` returns the alarms that event fires."""

    def __init__(self, rules: AlarmRules | None = None) -> None:
        self.rules = rules or AlarmRules()
        r = self.rules
        # (rule, subject) -> how many observations in a row its condition has been false since it fired.
        self._active: dict[tuple[str, str], int] = {}
        self._grad_history = {net: deque(maxlen=r.explode_window) for net in ("G", "D")}
        self._grad_early: dict[str, list[float]] = {"G": [], "D": []}
        self._early_top: dict[str, float] = {}
        self._g_block: deque[float] = deque(maxlen=r.vanish_block)
        self._g_peak = 0.0
        self._g_recent: deque[float] = deque(maxlen=r.overpower_window)
        self._d_outputs: deque[tuple[float, float]] = deque(maxlen=r.overpower_window)
        self._r_t: deque[float] = deque(maxlen=r.overfit_window)
        self._series: dict[str, deque[float]] = {}
        self._since_check: dict[str, int] = {}
        self._evaluations = 0
        self._best: dict[str, float] = {}
        self._low_streak: dict[str, int] = {}

    def observe(self, event: dict[str, Any]) -> list[Alarm]:
        """Update the rules with one event; the alarms that start firing on it."""
        kind = event.get("kind")
        if kind in ("alarm", "session"):
            return []
        fired = self._non_finite(event)
        if kind == "gradients":
            fired += self._gradients(event)
        elif kind == "discriminator":
            fired += self._discriminator(event)
        elif kind == "scalars":
            fired += self._scalars(event)
        elif kind == "evaluation":
            fired += self._evaluation(event)
        return fired

    def _latch(self, rule: str, subject: str, condition: bool, rearm: int = 1) -> bool:
        """True when `condition` turns true for (rule, subject); `rearm` false observations in a row re-arm it."""
        key = (rule, subject)
        if key in self._active:
            quiet = 0 if condition else self._active[key] + 1
            if quiet >= rearm:
                del self._active[key]
            else:
                self._active[key] = quiet
            return False
        if condition:
            self._active[key] = 0
        return condition

    def _non_finite(self, event: dict[str, Any]) -> list[Alarm]:
        bad = {k: v for k, v in event.items() if k not in _NOT_MEASURED and _is_number(v) and not math.isfinite(v)}
        if _is_number(event.get("nonfinite_samples")) and event["nonfinite_samples"] > 0:
            bad["nonfinite_samples"] = event["nonfinite_samples"]
        kind = str(event.get("kind"))
        if not self._latch(NON_FINITE, kind, bool(bad)):
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
        return [Alarm(NON_FINITE, event.get("step"), kind, message, {k: v for k, v in bad.items()})]

    def _gradients(self, event: dict[str, Any]) -> list[Alarm]:
        r, fired = self.rules, []
        for net in ("G", "D"):
            mean, peak = event.get(f"{net.lower()}_norm"), event.get(f"{net.lower()}_norm_max")
            if not (_is_number(mean) and _is_number(peak) and math.isfinite(mean) and math.isfinite(peak)):
                continue
            history, early = self._grad_history[net], self._grad_early[net]
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
            exploding = baseline > 0 and peak > r.explode_factor * baseline
            if self._latch(EXPLODING, net, exploding, rearm=r.explode_rearm):
                message = (
                    f"{net}'s gradient norm {_g(peak)} is {_g(peak / baseline)}x its usual level {_g(baseline)} "
                    f"(rule: above {_g(r.explode_factor)}x the larger of the {r.explode_quantile:g}-quantiles of "
                    f"its last and first {r.explode_window} records): the gradients are exploding, and the next "
                    "updates may throw the weights far off or to NaN. Lower the learning rate, clip gradients, "
                    "or regularise D (gradient penalty, spectral normalisation)."
                )
                values = {"norm": peak, "baseline": baseline, "ratio": peak / baseline, "factor": r.explode_factor}
                fired.append(Alarm(EXPLODING, event.get("step"), net, message, values))
            # Peaks against peaks: an event's max over several optimizer steps sits above their mean.
            history.append(peak)
            if len(early) < r.explode_window:
                early.append(peak)
            if net == "G":
                self._g_block.append(mean)
                if len(self._g_block) == self._g_block.maxlen:
                    self._g_peak = max(self._g_peak, statistics.median(self._g_block))
                self._g_recent.append(mean)
        return fired

    def _discriminator(self, event: dict[str, Any]) -> list[Alarm]:
        fired = []
        d_real, d_fake, r_t = event.get("d_real"), event.get("d_fake"), event.get("r_t")
        if _is_number(d_real) and _is_number(d_fake) and math.isfinite(d_real) and math.isfinite(d_fake):
            self._d_outputs.append((d_real, d_fake))
            fired += self._overpowers(event.get("step"))
        if _is_number(r_t) and math.isfinite(r_t):
            self._r_t.append(r_t)
            fired += self._overfitting(event.get("step"))
        return fired

    def _overpowers(self, step: int | None) -> list[Alarm]:
        r = self.rules
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
        if not self._latch(OVERPOWERS, "D", saturated and (vanished or extreme), rearm=r.overpower_window):
            return []
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
        return [Alarm(OVERPOWERS, step, "D", message, values)]

    def _overfitting(self, step: int | None) -> list[Alarm]:
        r = self.rules
        full = len(self._r_t) == self._r_t.maxlen
        mean = math.fsum(self._r_t) / len(self._r_t)
        if not self._latch(OVERFITTING, "D", full and mean > r.overfit_rt, rearm=r.overfit_window):
            return []
        message = (
            f"r_t = E[sign(D(x_real))] averaged {mean:.3f} over the last {len(self._r_t)} real batches (rule: above "
            f"{r.overfit_rt:g}, the target of StyleGAN2-ADA): D calls most real training images real with "
            "confidence, which on a finite training set is the sign that it starts to memorise it (with "
            "unlimited data it only means D is ahead). Use more data, augment both real and fake images "
            "(ADA, DiffAugment), or regularise D more."
        )
        return [Alarm(OVERFITTING, step, "D", message, {"r_t_mean": mean, "window": len(self._r_t)})]

    def _scalars(self, event: dict[str, Any]) -> list[Alarm]:
        r, fired = self.rules, []
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
                and found.sustain >= r.oscillation_sustain
            )
            rearm = max(1, r.oscillation_window // r.oscillation_check_every)  # a whole quiet window
            if self._latch(OSCILLATION, name, oscillating, rearm=rearm):
                message = (
                    f"{name} oscillates: over its last {len(series)} values, {found.share:.0%} of the detrended "
                    f"variance is one rhythm of period ~{found.period:.1f} steps ({found.cycles} cycles; rule: at "
                    f"least {r.oscillation_share:.0%} and {r.oscillation_min_cycles} cycles), and it does not die "
                    f"out (late/early amplitude {found.sustain:.2f}; rule: at least {r.oscillation_sustain:g}). G "
                    "and D are circling around each other instead of converging: lower the learning rates, use "
                    "Adam with beta1 = 0.5 or 0, or add a gradient penalty (R1)."
                )
                values = {
                    "share": found.share,
                    "period": found.period,
                    "cycles": found.cycles,
                    "sustain": found.sustain,
                    "window": len(series),
                }
                fired.append(Alarm(OSCILLATION, event.get("step"), name, message, values))
        return fired

    def _evaluation(self, event: dict[str, Any]) -> list[Alarm]:
        r, fired = self.rules, []
        self._evaluations += 1
        if self._evaluations == 1:
            # An untrained generator is concentrated by construction; judge from the second evaluation on.
            for name in ("recall", "coverage"):
                if _is_number(event.get(name)):
                    self._best[name] = max(self._best.get(name, 0.0), event[name])
            return []
        lows: dict[str, tuple[bool, str]] = {}
        spread = event.get("spread_ratio")
        if _is_number(spread) and math.isfinite(spread):
            lows["spread"] = (
                spread < r.collapse_spread,
                f"the spread of the generated features (trace of their covariance) is {spread:.2%} of the "
                f"reference's (rule: below {r.collapse_spread:.0%})",
            )
        for name in ("recall", "coverage"):
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
        for subject, (low, why) in lows.items():
            streak = self._low_streak[subject] = self._low_streak.get(subject, 0) + 1 if low else 0
            if self._latch(COLLAPSE, subject, streak >= r.collapse_patience):
                message = (
                    f"mode collapse: {why}, at {streak} evaluations in a row: the generator maps most z to a few "
                    "outputs and misses much of the data. Try a lower G learning rate or fewer G steps per D step, "
                    "minibatch standard deviation in D, or restart from the last checkpoint before the fall."
                )
                values = {k: event[k] for k in ("spread_ratio", "recall", "coverage") if _is_number(event.get(k))}
                fired.append(Alarm(COLLAPSE, event.get("step"), subject, message, dict(values, streak=streak)))
        return fired


def quantile(values: Iterable[float], q: float) -> float:
    """The `q`-quantile of a few numbers, interpolating linearly between order statistics (NumPy's default)."""
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    below = math.floor(position)
    above = min(below + 1, len(ordered) - 1)
    return ordered[below] + (ordered[above] - ordered[below]) * (position - below)


@dataclass(frozen=True)
class Oscillation:
    """The strongest rhythm of a detrended series: its share of the variance, period, cycles and sustain."""

    share: float
    period: float
    cycles: int
    sustain: float


def dominant_oscillation(values: np.ndarray) -> Oscillation | None:
    """The dominant frequency of `values: (W,)` after removing a least-squares line; None if it is flat.

    `share` is the power of the peak frequency bin and its two neighbours over
    the total power (excluding the mean); `cycles` is the peak's bin index (whole
    cycles in the window); `sustain` is the std of the detrended second half over
    that of the first half (below 1 for a dying oscillation).
    """
    n = values.shape[0]
    t = np.arange(n, dtype=np.float64)
    slope, intercept = np.polyfit(t, values, 1)
    residual = values - (slope * t + intercept)
    scale = max(float(np.abs(values).max()), 1e-12)
    if residual.std() <= 1e-9 * scale:
        return None
    power = np.abs(np.fft.rfft(residual)) ** 2
    power[0] = 0.0
    total = power.sum()
    peak = int(np.argmax(power))
    band = power[max(1, peak - 1) : peak + 2].sum()
    half = n // 2
    early = residual[:half].std()
    sustain = float(residual[half:].std() / early) if early > 0 else math.inf
    return Oscillation(share=float(band / total), period=n / peak, cycles=peak, sustain=sustain)


def replay(rulebook: AlarmRulebook, events: Iterable[dict[str, Any]]) -> None:
    """Feed a previous session's events to `rulebook` so its state continues (the alarms are not re-raised)."""
    for event in events:
        rulebook.observe(event)
