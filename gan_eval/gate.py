"""The CI regression gate: an evaluation against absolute limits and against a baseline.

Two kinds of limit, per metric (each metric declares in
`gan_eval.metrics.registry` which of its numbers can be limited, whether lower
or higher is better, and which has a noise estimate):
- absolute: a ceiling where lower is better, a floor where higher is better;
- relative to the baseline, where a number declares an increase limit (FID
  and KID today): an allowed increase δ.
  With Δ = now − baseline and σ_Δ = √(σ_now² + σ_base²), the gate fails only
  when Δ − δ > z·σ_Δ, z = Φ⁻¹(1 − α) (α = 0.01 by default). σ is the
  grouped-jackknife standard error of FID over the generated samples
  (`fid_std`, the spread behind `report --ci`'s interval; a baseline from
  gan-eval 0.1.0 holds the bootstrap's `fid_bootstrap_std` instead, which is
  read in its place and overstates the noise: conservative), and for KID the
  spread of its subsets (`kid_std`, which overstates the noise of the mean:
  conservative). When the true
  increase is at most δ, a normal Δ makes a false alarm at most α likely;
  `benchmarks/gate_false_alarms.py` measures it. Without a noise estimate on
  either side, σ_Δ = 0 and δ is a plain threshold.
  With a baseline and no limit at all, the default rule is δ = 0 for FID
  (`default_limits`): no increase beyond the noise.

A baseline is a JSON file holding the values and every setting that makes
numbers comparable (extractor, weights sha256, resize, precision, sample
sizes, seeds and metric options); comparing against a baseline made with
other settings is an error, never a silent pass.

The gate judges a `gan_eval.result.Result`: evaluated now (`evaluate_for_gate`)
or read from a `report --json` file (`load_result`).
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from statistics import NormalDist
from typing import Any

from gan_eval.atomic import atomic_write_bytes
from gan_eval.errors import GanEvalError
from gan_eval.evaluation import evaluate
from gan_eval.extraction import ExtractionOptions
from gan_eval.metrics.fid_interval import DEFAULT_GROUPS
from gan_eval.metrics.registry import HIGHER, LOWER, MetricOptions, gated_keys
from gan_eval.models.generator_file import open_generator_file
from gan_eval.result import Result
from gan_eval.sources.references import resolve_reference
from gan_eval.version import __version__

BASELINE_FORMAT = 1
DEFAULT_ALPHA = 0.01
LOWER_IS_BETTER = tuple(key.name for _, key in gated_keys() if key.better == LOWER)
HIGHER_IS_BETTER = tuple(key.name for _, key in gated_keys() if key.better == HIGHER)
NOISE_KEYS = {key.name: key.noise for _, key in gated_keys() if key.noise}
LEGACY_NOISE_KEYS = {"fid": "fid_bootstrap_std"}  # written by gan-eval 0.1.0
METRIC_OF_KEY = {key.name: metric for metric, key in gated_keys()}
COMPARABLE_SETTINGS = ("extractor", "weights_sha256", "resize", "precision")
COMPARABLE_OPTIONS = ("kid_subsets", "kid_subset_size", "pr_k", "dc_k", "is_splits", "seed")


@dataclass(frozen=True)
class Limits:
    """Absolute limits (`maximum`, `minimum`) and allowed increases over the baseline, by result key."""

    maximum: dict[str, float] = field(default_factory=dict)
    minimum: dict[str, float] = field(default_factory=dict)
    max_increase: dict[str, float] = field(default_factory=dict)
    alpha: float = DEFAULT_ALPHA
    default_rule: bool = False

    def metrics(self) -> set[str]:
        """Every result key a limit applies to."""
        return set(self.maximum) | set(self.minimum) | set(self.max_increase)


DEFAULT_RULE = "no limit given: applying the default rule, fid must not rise over the baseline beyond the noise"


def default_limits(alpha: float = DEFAULT_ALPHA) -> Limits:
    """The rule when no limit is given: FID may not rise over the baseline beyond the noise (`--max-increase 0`)."""
    return Limits(max_increase={"fid": 0.0}, alpha=alpha, default_rule=True)


@dataclass(frozen=True)
class Check:
    """One metric's comparison: values, the limits applied, and whether it failed and why."""

    metric: str
    now: float
    baseline: float | None
    limit: str
    failed: bool
    reason: str


@dataclass(frozen=True)
class Verdict:
    """The gate's decision and every check behind it."""

    passed: bool
    checks: tuple[Check, ...]
    default_rule: bool = False

    def summary(self) -> str:
        """One line: PASS or FAIL and the failed checks' reasons."""
        failed = [c for c in self.checks if c.failed]
        if not failed:
            gated = ", ".join(f"{c.metric} {c.now:.6g}" for c in self.checks) or "nothing gated"
            return f"PASS: {gated}"
        return "FAIL: " + "; ".join(c.reason for c in failed)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready verdict."""
        return {
            "passed": self.passed,
            "summary": self.summary(),
            "checks": [c.__dict__ for c in self.checks],
            "default_rule": self.default_rule,
        }


def comparable_settings(result: Result) -> dict[str, Any]:
    """The settings of a result that must match for its numbers to compare (a baseline's `comparable`)."""
    settings = result.settings
    options = settings.get("metric_options") or {}
    out: dict[str, Any] = {key: settings.get(key) for key in COMPARABLE_SETTINGS}
    out.update({f"metric_{key}": options.get(key) for key in COMPARABLE_OPTIONS})
    out.update(n_real=result.n_real, n_fake=result.n_fake)
    if "latent_seed" in settings:
        out["latent_seed"] = settings["latent_seed"]
    return out


def check_comparable(result: Result, baseline: dict[str, Any], baseline_name: str) -> None:
    """Raise `GanEvalError` naming the first setting that differs between the result and the baseline."""
    now, then = comparable_settings(result), baseline["comparable"]
    for key in sorted(set(now) | set(then)):
        if now.get(key) != then.get(key):
            raise GanEvalError(
                f"baseline {baseline_name} was made with {key}={then.get(key)!r}, this evaluation has "
                f"{now.get(key)!r}: the numbers are not comparable (use the same settings, or --update-baseline)"
            )


def _finite(value: Any, what: str) -> float:
    """`value` as a float; a NaN, an infinity or a non-number is an error (it would never fail a limit)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise GanEvalError(f"{what} is {value!r}, not a finite number")
    return float(value)


def _check_values(values: dict[str, Any], what: str) -> None:
    """Refuse a gated metric or noise estimate in `values` that is present but not a finite number, or that
    lies outside the range its metric declares (`ResultKey.minimum`/`maximum`; a noise estimate is a standard
    error, never negative)."""
    ranges = {key.name: (key.minimum, key.maximum) for _, key in gated_keys()}
    ranges.update((noise, (0.0, None)) for noise in (*NOISE_KEYS.values(), *LEGACY_NOISE_KEYS.values()))
    for key, (low, high) in ranges.items():
        if values.get(key) is None:
            continue
        value = _finite(values[key], f"{what}: {key}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise GanEvalError(f"{what}: {key} is {value!r}, outside its valid range {_range_text(low, high)}")


def _range_text(low: float | None, high: float | None) -> str:
    """`[0, 1]`, `>= 0` or `<= 1`."""
    if low is not None and high is not None:
        return f"[{low:g}, {high:g}]"
    return f">= {low:g}" if low is not None else f"<= {high:g}"


def _noise(values: dict[str, Any], metric: str) -> float | None:
    """`metric`'s noise estimate in `values` (a 0.1.0 baseline's key where the current one is missing)."""
    for key in (NOISE_KEYS.get(metric), LEGACY_NOISE_KEYS.get(metric)):
        if key and values.get(key) is not None:
            return _finite(values[key], key)
    return None


def compare(result: Result, baseline: dict[str, Any] | None, limits: Limits) -> Verdict:
    """Apply `limits` to `result` (and to its change from `baseline`, a `load_baseline` document, when given)."""
    z = NormalDist().inv_cdf(1 - limits.alpha)
    base_values = baseline["values"] if baseline else {}
    checks = []
    for metric in sorted(limits.metrics()):
        now = result.values.get(metric)
        if now is None:
            raise GanEvalError(f"the result has no {metric}; a limit is set on it (compute it, or drop the limit)")
        now = _finite(now, f"the result's {metric}")
        before = base_values.get(metric)
        before = None if before is None else _finite(before, f"the baseline's {metric}")
        parts, failures = [], []
        if metric in limits.maximum:
            parts.append(f"<= {limits.maximum[metric]:g}")
            if now > limits.maximum[metric]:
                failures.append(f"{metric} {now:.6g} is above the ceiling {limits.maximum[metric]:g}")
        if metric in limits.minimum:
            parts.append(f">= {limits.minimum[metric]:g}")
            if now < limits.minimum[metric]:
                failures.append(f"{metric} {now:.6g} is below the floor {limits.minimum[metric]:g}")
        if metric in limits.max_increase:
            if baseline is None:
                raise GanEvalError(f"the allowed increase of {metric} needs a baseline (--baseline FILE)")
            if before is None:
                raise GanEvalError(f"the baseline has no {metric}; make a new one with --update-baseline")
            delta = limits.max_increase[metric]
            sigmas = [_noise(result.values, metric), _noise(base_values, metric)]
            known = [s for s in sigmas if s is not None]
            sigma = sum(s * s for s in known) ** 0.5
            margin = z * sigma
            parts.append(f"+{delta:g} over baseline" + (f" beyond noise z*sigma={margin:.3g}" if known else ""))
            if now - before - delta > margin:
                failures.append(
                    f"{metric} rose {now - before:+.6g} ({before:.6g} -> {now:.6g}), more than "
                    f"{delta:g} + noise {margin:.3g} (alpha={limits.alpha:g})"
                )
        checks.append(Check(metric, float(now), before, ", ".join(parts), bool(failures), "; ".join(failures)))
    return Verdict(not any(c.failed for c in checks), tuple(checks), limits.default_rule)


def make_baseline(result: Result) -> dict[str, Any]:
    """A baseline document: the gated values and their noise, the comparable settings, the whole result's JSON."""
    keep = set(LOWER_IS_BETTER) | set(HIGHER_IS_BETTER) | set(NOISE_KEYS.values())
    return {
        "gan_eval_baseline": BASELINE_FORMAT,
        "gan_eval_version": __version__,
        "values": {k: result.values[k] for k in sorted(keep) if result.values.get(k) is not None},
        "comparable": comparable_settings(result),
        "result": result.to_json(),
    }


def save_baseline(baseline: dict[str, Any], path: str | os.PathLike[str]) -> None:
    """Write a baseline file atomically."""
    atomic_write_bytes(path, (json.dumps(baseline, indent=2, sort_keys=True) + "\n").encode())


def _read_json(path: str | os.PathLike[str], what: str) -> dict[str, Any]:
    try:
        data = json.loads(Path(path).read_bytes())
    except FileNotFoundError:
        raise GanEvalError(f"{what} {path} does not exist") from None
    except OSError as exc:
        raise GanEvalError(f"{what} {path}: cannot read ({exc.strerror})") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise GanEvalError(f"{what} {path} is not JSON ({exc})") from None
    if not isinstance(data, dict):
        raise GanEvalError(f"{what} {path} is not a JSON object")
    return data


def load_baseline(path: str | os.PathLike[str]) -> dict[str, Any]:
    """Read and check a baseline file."""
    data = _read_json(path, "baseline")
    if data.get("gan_eval_baseline") != BASELINE_FORMAT:
        raise GanEvalError(f"baseline {path} is not a gan-eval baseline (no gan_eval_baseline: {BASELINE_FORMAT})")
    if not isinstance(data.get("values"), dict) or not isinstance(data.get("comparable"), dict):
        raise GanEvalError(f"baseline {path} lacks its values or settings")
    _check_values(data["values"], f"baseline {path}")
    return data


def load_result(path: str | os.PathLike[str]) -> Result:
    """Read a result written by `gan-eval report --json` (or its `--out` report.json), its gated values checked."""
    data = _read_json(path, "result")
    if not isinstance(data.get("settings"), dict) or "n_fake" not in data:
        raise GanEvalError(f"result {path} is not a gan-eval report (no settings or n_fake)")
    _check_values(data, f"result {path}")
    return Result.from_json(data)


def evaluate_for_gate(
    real: Any,
    fake: Any = None,
    *,
    generator: str | os.PathLike[str] | None = None,
    n: int | None = None,
    latent_seed: int = 0,
    latent_dim: int | None = None,
    limits: Limits,
    ci_groups: int = DEFAULT_GROUPS,
    extraction: ExtractionOptions | None = None,
) -> Result:
    """Evaluate `fake` (or `n` samples of a saved `generator`) against `real` for the gate.

    `real`: a shipped reference's name, a statistics file, or images (as
    `evaluate` takes them). `fake`: generated images; or None with
    `generator`, a `gan-eval train` checkpoint folder or a TorchScript file,
    sampled `n` times from latents seeded with `latent_seed` (`latent_dim`:
    the TorchScript generator's latent size, None for its attribute).
    Computes FID and every metric a limit of `limits` applies to, FID's
    noise from `ci_groups` jackknife groups (0: none) and KID on subsets of
    up to 1000. The result's settings hold the generator's (`generator`,
    `generator_sha256`, `latent_seed`, and `latent_dim` for a TorchScript file).
    """
    if (fake is None) == (generator is None):
        raise GanEvalError("give exactly one of fake and generator")
    if generator is not None and n is None:
        raise GanEvalError("a generator needs n, the number of images to sample")
    metrics = sorted({"fid"} | {METRIC_OF_KEY[key] for key in limits.metrics()})
    generator_settings: dict[str, Any] = {}
    if generator is not None:
        fake, generator_settings = open_generator_file(generator, n, latent_seed, latent_dim)
    result = evaluate(
        resolve_reference(real),
        fake,
        metrics,
        options=MetricOptions(ci_groups=ci_groups, kid_subset_size=1000),
        extraction=extraction,
    )
    return replace(result, settings={**result.settings, **generator_settings})


def markdown(verdict: Verdict) -> str:
    """The verdict as a Markdown table, for a CI job summary."""
    lines = [
        f"### gan-eval gate: {'✅ pass' if verdict.passed else '❌ regression'}",
        "",
        "| metric | baseline | now | change | limit | result |",
        "|---|---|---|---|---|---|",
    ]
    for c in verdict.checks:
        before = "" if c.baseline is None else f"{c.baseline:.6g}"
        change = "" if c.baseline is None else f"{c.now - c.baseline:+.6g}"
        lines.append(f"| {c.metric} | {before} | {c.now:.6g} | {change} | {c.limit} | {'fail' if c.failed else 'ok'} |")
    lines.append("")
    lines.append(verdict.summary())
    return "\n".join(lines) + "\n"
