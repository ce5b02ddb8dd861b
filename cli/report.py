"""`gan-eval report REAL FAKE`: every standard metric from one feature pass, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys

from gan_eval.cli.options import (
    BOOTSTRAP_DEPRECATED,
    add_cache_option,
    add_extraction_options,
    choices_help,
    extraction_options,
    feature_spaces,
    non_negative_int,
    positive_int,
    probability,
)
from gan_eval.errors import GanEvalError
from gan_eval.metrics.catalogue import TRAIN
from gan_eval.metrics.fid_interval import DEFAULT_GROUPS
from gan_eval.metrics.registry import METRICS, MetricOptions


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `report` sub-command."""
    report = commands.add_parser(
        "report",
        help="FID, FID∞, IS, KID, precision/recall, density/coverage in one pass",
        description="Every standard metric of FAKE against REAL, each input's features extracted once.",
    )
    report.add_argument("real", help="reference set: folder, .zip, .npy/.npz, statistics .npz, or a built-in set")
    report.add_argument("fake", help="generated set, same kinds as REAL")
    needing = ",".join(n for n, m in METRICS.items() if any(need.side == TRAIN for need in m.needs(MetricOptions())))
    report.add_argument(
        "--train",
        metavar="PATH",
        help=f"the generator's training set, same kinds as REAL, for {needing} (REAL is then held-out test data)",
    )
    default_metrics = ", ".join(name for name, metric in METRICS.items() if metric.default)
    report.add_argument(
        "--metrics",
        help=f"comma-separated; {choices_help(METRICS)} (default: {default_metrics}, those the inputs and weights "
        "allow)",
    )
    report.add_argument("--json", action="store_true", help="print one JSON object")
    report.add_argument("--out", metavar="DIR", help="write report.json and figures into DIR")
    report.add_argument(
        "--ci", action="store_true", help="FID confidence interval (grouped jackknife over FAKE, docs/metrics.md)"
    )
    report.add_argument(
        "--ci-groups",
        type=positive_int,
        default=DEFAULT_GROUPS,
        metavar="G",
        help=f"jackknife groups (default {DEFAULT_GROUPS})",
    )
    report.add_argument("--confidence", type=probability, default=0.95, help="level of the interval (default 0.95)")
    report.add_argument(
        "--bootstrap",
        type=non_negative_int,
        default=0,
        metavar="B",
        help="deprecated: B > 0 means --ci (the bootstrap interval missed its estimate; B is ignored)",
    )
    report.add_argument("--kid-subsets", type=positive_int, default=100, help="KID subsets (default 100)")
    report.add_argument("--kid-subset-size", type=positive_int, default=1000, help="KID subset size (default 1000)")
    report.add_argument(
        "--seed",
        type=non_negative_int,
        default=2020,
        help="seed of KID, IS, FID∞ and the interval's groups (default 2020)",
    )
    add_extraction_options(report, several_spaces=True)
    add_cache_option(report)
    report.set_defaults(handler=run)


def _number(value: float) -> str:
    return f"{value:.6g}" if abs(value) >= 1e4 or (value != 0 and abs(value) < 1e-4) else f"{value:.6f}"


def _rows(result) -> list[tuple[str, str, str]]:
    """(label, value, ± spread or note) per printed number of `result`, in metric order."""
    rows: list[tuple[str, str, str]] = []
    for name in result.metrics:
        for key in METRICS[name].keys:
            value = result.values[key.name]
            spread = result.values.get(key.spread) if key.spread else None
            rows.append((key.label, _number(value), f"± {_number(spread)}" if spread is not None else ""))
        rows += METRICS[name].detail_rows(result.values, _number)
    return rows


def _settings_line(result) -> str:
    s = result.settings
    cached = [side for side, hit in result.cached.items() if hit]
    return (
        f"n_real={_count(result.n_real)} n_fake={_count(result.n_fake)} extractor={s['extractor']} "
        f"weights={str(s['weights_sha256'])[:8]} resize={s['resize']} precision={s['precision']} "
        f"device={s['device']} seconds={result.seconds:.1f} cached={','.join(cached) or 'none'}"
    )


def format_table(result) -> str:
    """The human-readable report: one aligned row per number, then what was unavailable, then the settings."""
    rows = _rows(result)
    width = [max(len(r[i]) for r in [("metric", "value", ""), *rows]) for i in range(2)]
    lines = [f"{'metric':<{width[0]}}  {'value':>{width[1]}}"]
    lines += [f"{label:<{width[0]}}  {value:>{width[1]}}  {spread}".rstrip() for label, value, spread in rows]
    for name, reason in result.unavailable.items():
        lines.append(f"{METRICS[name].title} unavailable: {reason}")
    lines.append(_settings_line(result))
    return "\n".join(lines)


def format_spaces_table(results: dict) -> str:
    """Several feature spaces side by side: one row per number, one column per space, then each space's settings."""
    columns = {
        space: {label: f"{value} {note}".rstrip() for label, value, note in _rows(r)} for space, r in results.items()
    }
    labels = list(dict.fromkeys(label for rows in columns.values() for label in rows))
    table = [("metric", *columns), *((label, *(rows.get(label, "-") for rows in columns.values())) for label in labels)]
    widths = [max(len(row[i]) for row in table) for i in range(len(table[0]))]
    lines = ["  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip() for row in table]
    for space, result in results.items():
        for name, reason in result.unavailable.items():
            lines.append(f"{space}: {METRICS[name].title} unavailable: {reason}")
    lines += [f"{space}: {_settings_line(result)}" for space, result in results.items()]
    return "\n".join(lines)


def _count(n: int | None) -> str:
    """A sample count as printed: `unknown` for a statistics file that does not say it."""
    return "unknown" if n is None else str(n)


def run(args: argparse.Namespace) -> int:
    """Evaluate, print, and write the report folder when asked."""
    from gan_eval.evaluation import evaluate, evaluate_spaces, parse_metrics
    from gan_eval.metrics.registry import MetricOptions
    from gan_eval.output_paths import check_outputs
    from gan_eval.report_files import check_output_folder, write_report, write_space_reports

    names, _ = parse_metrics(args.metrics)
    if args.bootstrap:
        print(BOOTSTRAP_DEPRECATED, file=sys.stderr)
    ci = args.ci or args.bootstrap > 0
    if ci and args.ci_groups < 2:
        raise GanEvalError(f"--ci-groups {args.ci_groups}: a jackknife interval needs at least 2 groups")
    if ci and "fid" not in names:
        raise GanEvalError("--ci needs the fid metric in --metrics")
    if args.out:
        check_outputs([("--out", args.out)], [("REAL", args.real), ("FAKE", args.fake), ("--train", args.train)])
        check_output_folder(args.out)
    options = MetricOptions(
        kid_subsets=args.kid_subsets,
        kid_subset_size=args.kid_subset_size,
        ci_groups=args.ci_groups if ci else 0,
        confidence=args.confidence,
        seed=args.seed,
    )
    spaces = feature_spaces(args)
    if len(spaces) > 1:
        results = evaluate_spaces(
            args.real,
            args.fake,
            spaces,
            args.metrics,
            options=options,
            extraction=extraction_options(args, spaces[0]),
            train=args.train,
        )
        if args.out:
            write_space_reports(results, args.out)
        spaces_json = {"spaces": {space: r.to_json() for space, r in results.items()}}
        print(json.dumps(spaces_json) if args.json else format_spaces_table(results))
        result = next(iter(results.values()))
    else:
        result = evaluate(
            args.real, args.fake, args.metrics, options=options, extraction=extraction_options(args), train=args.train
        )
        if args.out:
            write_report(result, args.out)
        print(json.dumps(result.to_json()) if args.json else format_table(result))
    skipped = sum(result.skipped.values())
    if skipped:
        print(f"warning: skipped {skipped} unreadable image file(s)", file=sys.stderr)
    return 0
