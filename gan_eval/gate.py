"""The CI regression gate: an evaluation against absolute limits and against a baseline.

Two kinds of limit, per metric (each metric declares in
`gan_eval.metrics.registry` which of its numbers can be limited, whether lower
or higher is better, and which has a noise estimate):
- absolute: a ceiling where lower is better, a floor where higher is better;
- relative to the baseline, where a number declares an increase limit (FID
  and KID today): an allowed increase δ.
  With Δ = now − baseline and σ_Δ = √(σ_now² + σ_base²), the gate fails only
  when Δ − δ > q·σ_Δ, q = t_{ν, 1−α} (α = 0.01 by default). σ is the
  grouped-jackknife standard error of FID over the generated samples
  (`fid_std`, the spread behind `report --ci`'s interval, with g − 1 degrees
  of freedom for its g groups `fid_ci_groups`; a baseline from gan-eval 0.1.0
  holds the bootstrap's `fid_bootstrap_std` instead, which is read in its
  place and overstates the noise: conservative), and for KID the spread of
  its subsets (`kid_std`, which overstates the noise of the mean:
  conservative, taken as exact). ν is the Welch–Satterthwaite degrees of
  freedom of σ_Δ; Student's t rather than the normal quantile because an
  estimated σ makes Δ/σ_Δ heavier-tailed than a normal (with z and 20 groups
  a side, 1.24% false alarms at nominal 1% on 16-d Gaussian features;
  docs/ci-gate.md). When the true increase is at most δ, a normal Δ makes a
  false alarm at most about α likely; `benchmarks/gate_false_alarms.py` and
  `tests/test_gate.py` measure it.
  The noise rule needs a noise estimate on both sides. Without one, the
  default rule (δ = 0 for FID when a baseline is given and no limit,
  `default_limits`) and an explicit δ = 0 refuse to judge: a threshold of 0
  without noise fails a generator against itself about half the time. An
  explicit δ > 0 is then a plain threshold the user chose (Δ > δ fails), and
  the verdict says that no noise was used.

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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import scipy.stats

from gan_eval.atomic import atomic_write_bytes
from gan_eval.errors import GanEvalError
from gan_eval.evaluation import evaluate
from gan_eval.extraction import ExtractionOptions
from gan_eval.metrics.fid_interval import DEFAULT_GROUPS
from gan_eval.metrics.registry import HIGHER, LOWER, MetricOptions, ResultKey, gated_keys
from gan_eval.models.generator_file import open_generator_file
from gan_eval.models.path_generator import open_path_generator
from gan_eval.paired.keys import PAIRED_FAMILY, paired_gated_keys
from gan_eval.result import Result
from gan_eval.sources.references import resolve_reference
from gan_eval.version import __version__

BASELINE_FORMAT = 1
DEFAULT_ALPHA = 0.01
PATH_METRIC = "ppl"  # the one metric that needs the generator itself, not its images
# Every number the gate can limit: the registry's metrics', then the paired family's.
GATED_KEYS: tuple[tuple[str, ResultKey], ...] = (*gated_keys(), *paired_gated_keys())
LOWER_IS_BETTER = tuple(key.name for _, key in GATED_KEYS if key.better == LOWER)
HIGHER_IS_BETTER = tuple(key.name for _, key in GATED_KEYS if key.better == HIGHER)
NOISE_KEYS = {key.name: key.noise for _, key in GATED_KEYS if key.noise}
LEGACY_NOISE_KEYS = {"fid": "fid_bootstrap_std"}  # written by gan-eval 0.1.0
# The groups g behind a jackknife noise estimate (g - 1 degrees of freedom); one absent from a result that has
# the noise means the default g. Any other noise estimate counts as exact (a bootstrap's, KID's subset spread).
NOISE_GROUPS = {"fid_std": "fid_ci_groups"}
METRIC_OF_KEY = {key.name: metric for metric, key in GATED_KEYS}
INCREASE_FLAGS = {key.name: key.increase_flag for _, key in GATED_KEYS if key.increase_flag}
COMPARABLE_SETTINGS = ("extractor", "weights_sha256", "resize", "precision")
COMPARABLE_OPTIONS = ("kid_subsets", "kid_subset_size", "pr_k", "dc_k", "is_splits", "seed")
# Options of the interval around FID, not of any value the gate compares (the noise's groups travel with it).
INTERVAL_OPTIONS = ("ci_groups", "confidence")
# A paired result's settings that change its numbers (its metrics, the luma and crop convention, the LPIPS
# network and files, the bootstrap).
COMPARABLE_PAIRED = (
    "metrics",
    "y_channel",
    "crop",
    "resize_to_target",
    "data_range",
    "ssim_window",
    "lpips",
    "bootstrap",
)


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


DEFAULT_RULE = "no limit given: applying the default rule, {key} must not rise over the baseline beyond the noise"


def default_limits(alpha: float = DEFAULT_ALPHA) -> Limits:
    """The rule when no limit is given: FID may not rise over the baseline beyond the noise (`--max-increase 0`)."""
    return Limits(max_increase={"fid": 0.0}, alpha=alpha, default_rule=True)


def headline_key(result: Result) -> tuple[str, str]:
    """(key, its noise key) that a baseline update reports: FID for a feature result, else the first paired
    metric with an increase rule (LPIPS), else the first paired metric's mean."""
    if result.family != PAIRED_FAMILY:
        return "fid", "fid_std"
    keys = [key for metric, key in paired_gated_keys() if metric in result.metrics]
    key = next((k for k in keys if k.increase_flag), keys[0])
    return key.name, key.spread or ""


def default_limits_for(result: Result, alpha: float = DEFAULT_ALPHA) -> Limits:
    """The default rule for `result`'s family: FID's for a feature result; for a paired result, LPIPS may not
    rise beyond its noise (the one paired number with an increase rule); a paired result without LPIPS has no
    default rule, and the user must choose a limit."""
    if result.family != PAIRED_FAMILY:
        return default_limits(alpha)
    increasing = [key for metric, key in paired_gated_keys() if key.increase_flag and metric in result.metrics]
    if not increasing:
        floors = ", ".join(key.flag for metric, key in paired_gated_keys() if metric in result.metrics)
        raise GanEvalError(
            f"no limit given, and this paired result has no LPIPS for the default rule: choose a limit ({floors})"
        )
    return Limits(max_increase={key.name: 0.0 for key in increasing}, alpha=alpha, default_rule=True)


@dataclass(frozen=True)
class Noise:
    """The noise an increase limit allowed for: σ_Δ = √(σ_now² + σ_base²) (`sigma`), the degrees of freedom of
    its estimate (`dof`, Welch–Satterthwaite; None when both sides count as exact), the quantile
    q = t_{dof, 1−α} (the normal quantile when exact) and the margin q·σ_Δ."""

    sigma: float
    dof: float | None
    quantile: float
    margin: float
    alpha: float

    def text(self) -> str:
        """`0.542 (t=2.43 x sigma 0.223, alpha=0.01)`."""
        name = "z" if self.dof is None else "t"
        return f"{self.margin:.3g} ({name}={self.quantile:.3g} x sigma {self.sigma:.3g}, alpha={self.alpha:g})"


@dataclass(frozen=True)
class Check:
    """One metric's comparison: values, the limits applied, and whether it failed and why.

    For an increase limit, `increase` is the allowed increase δ, `noise` what
    the rule allowed for beyond it (None: a plain threshold, no noise
    estimate on a side) and `noise_text` says which, in words.
    """

    metric: str
    now: float
    baseline: float | None
    limit: str
    failed: bool
    reason: str
    increase: float | None = None
    noise: Noise | None = None
    noise_text: str = ""


@dataclass(frozen=True)
class Verdict:
    """The gate's decision and every check behind it."""

    passed: bool
    checks: tuple[Check, ...]
    default_rule: bool = False

    def summary(self) -> str:
        """One line: PASS and each check's value (with its change and the noise allowed for), or FAIL and the
        failed checks' reasons."""
        failed = [c for c in self.checks if c.failed]
        if not failed:
            return "PASS: " + (", ".join(_passed_text(c) for c in self.checks) or "nothing gated")
        return "FAIL: " + "; ".join(c.reason for c in failed)

    def to_json(self) -> dict[str, Any]:
        """JSON-ready verdict."""
        return {
            "passed": self.passed,
            "summary": self.summary(),
            "checks": [asdict(c) for c in self.checks],
            "default_rule": self.default_rule,
        }


def _passed_text(check: Check) -> str:
    """`fid 12.3`, and for an increase limit the change and what it was allowed."""
    if check.increase is None or check.baseline is None:
        return f"{check.metric} {check.now:.6g}"
    return f"{check.metric} {check.now:.6g} ({check.now - check.baseline:+.6g}, within {_allowed(check)})"


def _allowed(check: Check) -> str:
    """`0 + noise 0.542 (t=2.43 x sigma 0.223, alpha=0.01)`, or `the plain threshold 1 (...)`."""
    if check.noise is None:
        return f"the plain threshold {check.increase:g} ({check.noise_text})"
    return f"{check.increase:g} + noise {check.noise_text}"


def comparable_settings(result: Result) -> dict[str, Any]:
    """The settings of a result that must match for its numbers to compare (a baseline's `comparable`)."""
    settings = result.settings
    if result.family == PAIRED_FAMILY:
        out = {"family": result.family, **{key: settings.get(key) for key in COMPARABLE_PAIRED}}
        return dict(out, n_real=result.n_real, n_fake=result.n_fake)
    options = settings.get("metric_options") or {}
    out: dict[str, Any] = {key: settings.get(key) for key in COMPARABLE_SETTINGS}
    out.update({f"metric_{key}": options.get(key) for key in COMPARABLE_OPTIONS})
    # Every other option that changes a number (the newer metrics' sw_projections, rarity_k, ...), as recorded.
    out.update({f"metric_{key}": value for key, value in options.items() if key not in INTERVAL_OPTIONS})
    out.update(n_real=result.n_real, n_fake=result.n_fake)
    if "latent_seed" in settings:
        out["latent_seed"] = settings["latent_seed"]
    return out


def check_comparable(result: Result, baseline: dict[str, Any], baseline_name: str) -> None:
    """Raise `GanEvalError` naming the first setting that differs between the result and the baseline."""
    now, then = comparable_settings(result), baseline["comparable"]
    classic = {f"metric_{key}" for key in COMPARABLE_OPTIONS}
    for key in sorted(set(now) | set(then), key=lambda k: (k != "family", k)):  # another family: say that first
        if key.startswith("metric_") and key not in classic and (key not in now or key not in then):
            continue  # an option one side does not record (a baseline older than the option)
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
    error, never negative), or a jackknife's groups that are not an integer of 2 or more."""
    ranges = {key.name: (key.minimum, key.maximum) for _, key in GATED_KEYS}
    ranges.update((noise, (0.0, None)) for noise in (*NOISE_KEYS.values(), *LEGACY_NOISE_KEYS.values()))
    for key, (low, high) in ranges.items():
        if values.get(key) is None:
            continue
        value = _finite(values[key], f"{what}: {key}")
        if (low is not None and value < low) or (high is not None and value > high):
            raise GanEvalError(f"{what}: {key} is {value!r}, outside its valid range {_range_text(low, high)}")
    for key in NOISE_GROUPS.values():
        groups = values.get(key)
        if groups is not None and (isinstance(groups, bool) or not isinstance(groups, int) or groups < 2):
            raise GanEvalError(f"{what}: {key} is {groups!r}, not a number of jackknife groups (2 or more)")


def _range_text(low: float | None, high: float | None) -> str:
    """`[0, 1]`, `>= 0` or `<= 1`."""
    if low is not None and high is not None:
        return f"[{low:g}, {high:g}]"
    return f">= {low:g}" if low is not None else f"<= {high:g}"


def _noise(values: dict[str, Any], metric: str) -> tuple[float, float] | None:
    """`metric`'s noise estimate in `values` and its degrees of freedom (inf: taken as exact), or None.

    A 0.1.0 result's key is read where the current one is missing.
    """
    for key in (NOISE_KEYS.get(metric), LEGACY_NOISE_KEYS.get(metric)):
        if key and values.get(key) is not None:
            if key not in NOISE_GROUPS:
                return _finite(values[key], key), math.inf
            return _finite(values[key], key), float(values.get(NOISE_GROUPS[key], DEFAULT_GROUPS) - 1)
    return None


def _welch_quantile(alpha: float, sigmas: tuple[float, float], dofs: tuple[float, float]) -> tuple[float, float]:
    """(q, ν): Student's t quantile q = t_{ν, 1−α} for a difference of two estimates with standard errors
    `sigmas` on `dofs` degrees of freedom, ν by Welch–Satterthwaite (inf: both exact, q is the normal quantile).
    """
    weights = [s * s for s in sigmas]
    spread = sum(w * w / dof for w, dof in zip(weights, dofs, strict=True) if dof != math.inf)
    dof = sum(weights) ** 2 / spread if spread > 0 else math.inf
    return float(scipy.stats.t.isf(alpha, dof)), dof


def needs_noise(limits: Limits, metric: str) -> bool:
    """Whether `metric`'s increase limit can only be judged with a noise estimate on both sides: under the
    default rule, or with an allowed increase of 0 (a plain threshold of 0 fails a generator against itself
    about half the time)."""
    return metric in limits.max_increase and (limits.default_rule or limits.max_increase[metric] == 0)


def _rule_name(limits: Limits, metric: str) -> str:
    """`the default rule` or `--max-increase 0`: a rule that `needs_noise`, as the user gave it."""
    return "the default rule" if limits.default_rule else f"{INCREASE_FLAGS[metric]} 0"


def _missing_noise(limits: Limits, metric: str, name: str, is_baseline: bool) -> GanEvalError:
    """The one-line refusal of an increase limit that needs the noise estimate that `name` lacks."""
    rule = _rule_name(limits, metric)
    what = f"{name} carries no noise estimate for {metric} ({NOISE_KEYS[metric]}), which {rule} needs"
    report = "`gan-eval report REAL FAKE --ci --json`"
    if is_baseline:
        return GanEvalError(f"{what}: remake it with --update-baseline, evaluating or from {report}")
    return GanEvalError(f"{what}: rerun {report}, or let the gate evaluate (--real with --fake or --generator)")


def check_baseline_noise(baseline: dict[str, Any], limits: Limits, name: str) -> None:
    """Refuse, before an evaluation, a baseline (`name`) without a noise estimate that a limit `needs_noise`."""
    values = _baseline_values(baseline)
    for metric in sorted(limits.max_increase):
        if needs_noise(limits, metric) and _noise(values, metric) is None:
            raise _missing_noise(limits, metric, name, is_baseline=True)


def _increase_noise(
    metric: str, now: dict[str, Any], before: dict[str, Any], limits: Limits, names: tuple[str, str]
) -> tuple[Noise | None, str]:
    """The noise of `metric`'s change between result values `now` and baseline values `before`, and its text;
    (None, why) for a plain threshold. Refuses a rule that `needs_noise` when a side lacks its estimate."""
    sides = (_noise(now, metric), _noise(before, metric))
    lacking = [name for name, side in zip(names, sides, strict=True) if side is None]
    if lacking:
        if needs_noise(limits, metric):
            raise _missing_noise(limits, metric, lacking[0], is_baseline=sides[0] is not None)
        return None, f"no noise estimate: {' and '.join(lacking)} carries no {NOISE_KEYS[metric]}"
    (s_now, dof_now), (s_base, dof_base) = sides
    quantile, dof = _welch_quantile(limits.alpha, (s_now, s_base), (dof_now, dof_base))
    sigma = math.hypot(s_now, s_base)
    noise = Noise(sigma, None if dof == math.inf else dof, quantile, quantile * sigma, limits.alpha)
    return noise, noise.text()


def compare(
    result: Result,
    baseline: dict[str, Any] | None,
    limits: Limits,
    names: tuple[str, str] = ("the result", "the baseline"),
) -> Verdict:
    """Apply `limits` to `result` (and to its change from `baseline`, a `load_baseline` document, when given).

    `names` label the result and the baseline in errors, such as the refusal
    of a rule that needs a noise estimate one of them lacks.
    """
    base_values = _baseline_values(baseline) if baseline else {}
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
        check = Check(metric, float(now), before, "", False, "")
        if metric in limits.max_increase:
            if baseline is None:
                raise GanEvalError(f"the allowed increase of {metric} needs a baseline (--baseline FILE)")
            if before is None:
                raise GanEvalError(f"the baseline has no {metric}; make a new one with --update-baseline")
            noise, text = _increase_noise(metric, result.values, base_values, limits, names)
            check = replace(check, increase=limits.max_increase[metric], noise=noise, noise_text=text)
            parts.append(f"+{check.increase:g} over baseline" + (" beyond noise" if noise else ""))
            if now - before - check.increase > (noise.margin if noise else 0.0):
                failures.append(
                    f"{metric} rose {now - before:+.6g} ({before:.6g} -> {now:.6g}), more than {_allowed(check)}"
                )
        checks.append(replace(check, limit=", ".join(parts), failed=bool(failures), reason="; ".join(failures)))
    return Verdict(not any(c.failed for c in checks), tuple(checks), limits.default_rule)


def _baseline_values(baseline: dict[str, Any]) -> dict[str, Any]:
    """A baseline's gated values and noise, with the jackknife groups of its noise from its result where its
    values lack them (a baseline made before the groups were kept there)."""
    result = baseline.get("result") if isinstance(baseline.get("result"), dict) else {}
    groups = {key: result[key] for key in NOISE_GROUPS.values() if key in result}
    return {**groups, **baseline["values"]}


def make_baseline(result: Result) -> dict[str, Any]:
    """A baseline document: the gated values and their noise, the comparable settings, the whole result's JSON."""
    keep = set(LOWER_IS_BETTER) | set(HIGHER_IS_BETTER) | set(NOISE_KEYS.values()) | set(NOISE_GROUPS.values())
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
    _check_values(_baseline_values(data), f"baseline {path}")
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
    noise from `ci_groups` jackknife groups (0: none, refused when a limit
    `needs_noise`) and KID on subsets of up to 1000. The result's settings
    hold the generator's (`generator`, `generator_sha256`, `latent_seed`,
    and `latent_dim` for a TorchScript file).
    """
    if (fake is None) == (generator is None):
        raise GanEvalError("give exactly one of fake and generator")
    if generator is not None and n is None:
        raise GanEvalError("a generator needs n, the number of images to sample")
    if ci_groups == 0 and needs_noise(limits, "fid"):
        raise GanEvalError(
            f"{_rule_name(limits, 'fid')} needs fid's noise estimate and --ci-groups 0 computes none: drop "
            "--ci-groups 0, "
            f"or give {INCREASE_FLAGS['fid']} X > 0 for a plain threshold"
        )
    metrics = sorted({"fid"} | {METRIC_OF_KEY[key] for key in limits.metrics()})
    generator_settings: dict[str, Any] = {}
    paths = None
    if generator is not None:
        fake, generator_settings = open_generator_file(generator, n, latent_seed, latent_dim)
        if PATH_METRIC in metrics:  # --max-ppl: the checkpoint's paths, as `report --generator` runs them
            paths = open_path_generator(generator, latent_dim)[0]
    result = evaluate(
        resolve_reference(real),
        fake,
        metrics,
        options=MetricOptions(ci_groups=ci_groups, kid_subset_size=1000),
        extraction=extraction,
        generator=paths,
    )
    return replace(result, settings={**result.settings, **generator_settings})


def markdown(verdict: Verdict) -> str:
    """The verdict as a Markdown table, for a CI job summary."""
    lines = [
        f"### gan-eval gate: {'✅ pass' if verdict.passed else '❌ regression'}",
        "",
        "| metric | baseline | now | change | limit | noise | result |",
        "|---|---|---|---|---|---|---|",
    ]
    for c in verdict.checks:
        before = "" if c.baseline is None else f"{c.baseline:.6g}"
        change = "" if c.baseline is None else f"{c.now - c.baseline:+.6g}"
        result = "fail" if c.failed else "ok"
        lines.append(f"| {c.metric} | {before} | {c.now:.6g} | {change} | {c.limit} | {c.noise_text} | {result} |")
    lines.append("")
    lines.append(verdict.summary())
    return "\n".join(lines) + "\n"
