"""`gan-eval gate`: fail a CI job when a generator got worse (exit 0 pass, 1 regression, 2 input error)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from gan_eval.cli.options import (
    BOOTSTRAP_DEPRECATED,
    add_cache_option,
    add_extraction_options,
    extraction_options,
    non_negative_int,
    positive_int,
)
from gan_eval.count_limits import check_latent_count
from gan_eval.errors import GanEvalError
from gan_eval.metrics.fid_interval import DEFAULT_GROUPS
from gan_eval.metrics.registry import HIGHER, LOWER, gated_keys
from gan_eval.paired.keys import paired_gated_keys

EXIT_REGRESSION = 1

# (flag, result key, kind): kind "max" is a ceiling, "min" a floor, "inc" an allowed increase over the baseline;
# read from what each metric declares in the registry, and each paired metric in `gan_eval.paired.keys`.
_GATED = (*gated_keys(), *paired_gated_keys())
LIMIT_FLAGS = (
    *((key.flag, key.name, "max") for _, key in _GATED if key.better == LOWER),
    *((key.flag, key.name, "min") for _, key in _GATED if key.better == HIGHER),
    *((key.increase_flag, key.name, "inc") for _, key in _GATED if key.increase_flag),
)


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise argparse.ArgumentTypeError(f"{text!r} is not a finite number")
    return value


def _alpha(text: str) -> float:
    value = _number(text)
    if not 0 < value < 0.5:
        raise argparse.ArgumentTypeError(f"{text}: must be between 0 and 0.5")
    return value


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `gate` sub-command."""
    gate = commands.add_parser(
        "gate",
        help="CI regression gate on FID (and other metrics): exit 0 pass, 1 regression, 2 error",
        description="Evaluate now (--real with --fake or --generator) or take a computed --result, then compare "
        "with absolute limits and with a --baseline. An increase over the baseline counts only beyond the noise.",
    )
    source = gate.add_argument_group("what to judge")
    source.add_argument("--result", metavar="RESULT.json", help="a result from `gan-eval report --json`")
    source.add_argument("--real", help="reference: statistics .npz, folder, array, or a reference name")
    source.add_argument("--fake", help="generated images: folder, .zip, .npy/.npz")
    source.add_argument(
        "--generator",
        metavar="PATH",
        help="a checkpoint folder from `gan-eval train`, or a TorchScript file of a generator G(z) with output in "
        "[-1, 1] (loading it runs its code)",
    )
    source.add_argument(
        "--latent-dim", type=positive_int, help="latent size of a TorchScript --generator (default: its attribute)"
    )
    source.add_argument("-n", type=positive_int, help="images to sample from --generator")
    source.add_argument("--latent-seed", type=non_negative_int, default=0, help="seed of the latents (default 0)")
    source.add_argument(
        "--ci-groups",
        type=non_negative_int,
        default=DEFAULT_GROUPS,
        metavar="G",
        help=f"jackknife groups of FID's noise estimate (default {DEFAULT_GROUPS}; 0: none, then the default "
        "rule and --max-increase 0 refuse to judge and --max-increase X > 0 is a plain threshold)",
    )
    source.add_argument(
        "--bootstrap",
        type=non_negative_int,
        metavar="B",
        help="deprecated: 0 means --ci-groups 0; any other B is ignored (the noise is a grouped jackknife)",
    )
    gate.add_argument(
        "--baseline",
        metavar="BASELINE.json",
        help="the baseline to compare with (with no limit given: fid may not rise beyond the noise)",
    )
    gate.add_argument("--update-baseline", action="store_true", help="write this evaluation as the new baseline")
    limits = gate.add_argument_group("limits")
    for flag, key, kind in LIMIT_FLAGS:
        what = {"max": "ceiling on", "min": "floor on", "inc": "allowed increase over the baseline of"}[kind]
        limits.add_argument(flag, type=_number, metavar="X", help=f"{what} {key}")
    limits.add_argument("--alpha", type=_alpha, default=0.01, help="false-alarm rate of the noise rule")
    gate.add_argument("--json", action="store_true", help="print one JSON object")
    add_extraction_options(gate)
    add_cache_option(gate)
    gate.set_defaults(handler=run)


def _limits(args: argparse.Namespace):
    from gan_eval.gate import Limits

    maximum, minimum, increase = {}, {}, {}
    for flag, key, kind in LIMIT_FLAGS:
        value = getattr(args, flag.lstrip("-").replace("-", "_"))
        if value is None:
            continue
        if kind == "inc" and value < 0:
            raise GanEvalError(f"{flag} {value:g}: must be 0 or more")
        {"max": maximum, "min": minimum, "inc": increase}[kind][key] = value
    return Limits(maximum, minimum, increase, args.alpha)


def _check_sources(args: argparse.Namespace) -> None:
    if args.result:
        extra = [f for f, v in (("--real", args.real), ("--fake", args.fake), ("--generator", args.generator)) if v]
        if extra:
            raise GanEvalError(f"--result takes a computed result; drop {extra[0]}")
        return
    if not args.real:
        raise GanEvalError("give --result RESULT.json, or --real with --fake or --generator")
    if bool(args.fake) == bool(args.generator):
        raise GanEvalError("give exactly one of --fake and --generator")
    if args.generator and not args.n:
        raise GanEvalError("--generator needs -n N, the number of images to sample")
    if args.n and not args.generator:
        raise GanEvalError("-n is the sample count for --generator")
    if args.generator:
        check_latent_count(f"-n {args.n}", args.n, args.latent_dim)
    if args.latent_dim and not args.generator:
        raise GanEvalError("--latent-dim is the latent size of a --generator")
    if args.ci_groups == 1:
        raise GanEvalError("--ci-groups 1: a jackknife needs at least 2 groups (or 0 for no noise estimate)")


def _ci_groups(args: argparse.Namespace) -> int:
    """The jackknife groups to use, after the deprecated `--bootstrap B` (0 still means no noise estimate)."""
    if args.bootstrap is None:
        return args.ci_groups
    print(BOOTSTRAP_DEPRECATED, file=sys.stderr)
    return 0 if args.bootstrap == 0 else args.ci_groups


def _table(verdict) -> str:
    header = ("metric", "baseline", "now", "change", "limit", "noise", "result")
    rows = [header]
    for c in verdict.checks:
        before = "-" if c.baseline is None else f"{c.baseline:.6g}"
        change = "-" if c.baseline is None else f"{c.now - c.baseline:+.6g}"
        noise = c.noise_text or "-"
        rows.append((c.metric, before, f"{c.now:.6g}", change, c.limit, noise, "FAIL" if c.failed else "ok"))
    widths = [max(len(r[i]) for r in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(w) for cell, w in zip(r, widths, strict=True)).rstrip() for r in rows)


def run(args: argparse.Namespace) -> int:
    """Judge, print the verdict, optionally update the baseline; returns 0 pass, 1 regression."""
    from gan_eval.gate import (
        DEFAULT_RULE,
        check_baseline_noise,
        check_comparable,
        compare,
        default_limits,
        default_limits_for,
        evaluate_for_gate,
        headline_key,
        load_baseline,
        load_result,
        make_baseline,
        markdown,
        save_baseline,
    )
    from gan_eval.output_paths import check_outputs

    _check_sources(args)
    limits = _limits(args)
    if not limits.metrics() and not args.update_baseline:
        if not args.baseline:
            raise GanEvalError(
                "no limit set: give --baseline FILE (default rule: fid must not rise beyond the noise), "
                "--max-fid or another limit (see --help)"
            )
        limits = default_limits(args.alpha)
    if args.update_baseline and not args.baseline:
        raise GanEvalError("--update-baseline needs --baseline FILE to write")
    if args.update_baseline:
        sources = ("--result", "--real", "--fake", "--generator")
        check_outputs([("--baseline", args.baseline)], [(f, getattr(args, f[2:])) for f in sources])
    baseline = None
    if args.baseline and (not args.update_baseline or Path(args.baseline).exists()):
        baseline = load_baseline(args.baseline)
    if args.baseline and Path(args.baseline).is_dir():
        raise GanEvalError(f"--baseline {args.baseline} is a folder")
    if limits.max_increase and baseline is None and not args.update_baseline:
        flag = next(f for f, key, kind in LIMIT_FLAGS if kind == "inc" and key in limits.max_increase)
        raise GanEvalError(f"{flag} needs --baseline FILE")
    if args.result:
        result = load_result(args.result)
        if limits.default_rule:
            limits = default_limits_for(result, args.alpha)
    else:
        if baseline is not None and not args.update_baseline:
            check_baseline_noise(baseline, limits, f"baseline {args.baseline}")
        result = evaluate_for_gate(
            args.real,
            args.fake,
            generator=args.generator,
            n=args.n,
            latent_seed=args.latent_seed,
            latent_dim=args.latent_dim,
            limits=limits,
            ci_groups=_ci_groups(args),
            extraction=extraction_options(args),
        )
    if baseline is not None and not args.update_baseline:
        check_comparable(result, baseline, args.baseline)
    if args.update_baseline:
        save_baseline(make_baseline(result), args.baseline)
        key, noise_key = headline_key(result)
        spread = result.values.get(noise_key)
        noise = f"noise {spread:.3g}" if spread is not None else "no noise estimate: only a plain threshold can use it"
        message = f"baseline written to {args.baseline}: {key} {result[key]:.6g}, {noise} (n_fake={result.n_fake})"
        update = {"updated_baseline": args.baseline, key: result[key], noise_key: spread}
        print(json.dumps(update) if args.json else message)
        return 0
    names = (f"result {args.result}" if args.result else "this evaluation", f"baseline {args.baseline}")
    verdict = compare(result, baseline, limits, names)
    if limits.default_rule:
        ruled = next(iter(limits.max_increase))
        flag = next(f for f, key, kind in LIMIT_FLAGS if kind == "inc" and key == ruled)
        print(f"note: {DEFAULT_RULE.format(key=ruled)} ({flag} 0; give a limit to choose another)", file=sys.stderr)
    if args.json:
        print(json.dumps(dict(verdict.to_json(), result=result.to_json())))
    else:
        print(verdict.summary())
        print(_table(verdict))
    from gan_eval.distributed import is_primary

    summary_file = os.environ.get("GITHUB_STEP_SUMMARY")
    if summary_file and is_primary():
        try:
            with open(summary_file, "a", encoding="utf-8") as handle:
                handle.write(markdown(verdict))
        except OSError as exc:
            print(f"warning: cannot append to GITHUB_STEP_SUMMARY {summary_file}: {exc.strerror}", file=sys.stderr)
    return 0 if verdict.passed else EXIT_REGRESSION
