"""`gan-eval report REAL FAKE` (or `REAL --generator CKPT`): every metric from one feature pass, as a table or JSON."""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import fields

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

PPL_FIELDS = tuple(field.name for field in fields(MetricOptions) if field.name.startswith("ppl_"))


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `report` sub-command."""
    report = commands.add_parser(
        "report",
        help="FID, FID∞, IS, KID, precision/recall, density/coverage in one pass",
        description="Every standard metric of FAKE against REAL, each input's features extracted once.",
    )
    report.add_argument("real", help="reference set: folder, .zip, .npy/.npz, statistics .npz, or a built-in set")
    report.add_argument("fake", nargs="?", help="generated set, same kinds as REAL (or give --generator)")
    _add_generator_options(report)
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


def _add_generator_options(report: argparse.ArgumentParser) -> None:
    """`--generator` (FAKE's images when FAKE is not given, and the generator of PPL) and PPL's options."""
    from gan_eval.path_sampling import INTERPOLATIONS, SAMPLINGS, SPACES

    generated = report.add_argument_group("a saved generator")
    generated.add_argument(
        "--generator",
        metavar="PATH",
        help="a checkpoint folder from `gan-eval train`, or a TorchScript file of a generator G(z) with output in "
        "[-1, 1] (loading it runs its code): sampled as FAKE when FAKE is not given, and the generator of ppl",
    )
    generated.add_argument("-n", type=positive_int, help="images to sample from --generator as FAKE")
    generated.add_argument("--latent-seed", type=non_negative_int, default=0, help="seed of those images (default 0)")
    generated.add_argument(
        "--latent-dim", type=positive_int, help="latent size of a TorchScript --generator (default: its attribute)"
    )
    defaults = MetricOptions()
    ppl = report.add_argument_group("perceptual path length (--metrics ppl, on --generator)")
    ppl.add_argument(
        "--ppl-samples", type=positive_int, default=defaults.ppl_samples, help="paths (default %(default)s)"
    )
    ppl.add_argument("--ppl-epsilon", type=float, default=defaults.ppl_epsilon, help="step ε (default %(default)s)")
    ppl.add_argument("--ppl-space", choices=SPACES, default=defaults.ppl_space, help="latent space (default z)")
    ppl.add_argument(
        "--ppl-interpolation",
        choices=INTERPOLATIONS,
        default=defaults.ppl_interpolation,
        help="path between the two latents (default lerp; slerp is Karras et al.'s in z)",
    )
    ppl.add_argument(
        "--ppl-sampling", choices=SAMPLINGS, default=defaults.ppl_sampling, help="t = 0 (end) or uniform (full)"
    )
    ppl.add_argument("--ppl-crop", action="store_true", help="compare the face region only (StyleGAN's crop)")
    ppl.add_argument(
        "--ppl-resize",
        type=non_negative_int,
        default=defaults.ppl_resize,
        help="LPIPS input size in pixels, 0 for none (default %(default)s)",
    )
    ppl.add_argument(
        "--ppl-batch", type=positive_int, default=defaults.ppl_batch, help="paths per generator call (default 64)"
    )


def _generator_inputs(args: argparse.Namespace) -> tuple[object, object, dict]:
    """(FAKE, the generator of PPL or None, the generator's settings) from FAKE and `--generator`."""
    from gan_eval.models.generator_file import open_generator_file
    from gan_eval.models.path_generator import open_path_generator

    if args.fake is None and not args.generator:
        raise GanEvalError("give FAKE, or --generator CKPT with -n N to sample FAKE from it")
    if not args.generator:
        extra = [flag for flag, given in (("-n", args.n), ("--latent-dim", args.latent_dim)) if given]
        if extra:
            raise GanEvalError(f"{extra[0]} belongs to --generator")
        return args.fake, None, {}
    if args.fake is not None and args.n:
        raise GanEvalError("-n samples FAKE from --generator; FAKE is given")
    if args.fake is None and not args.n:
        raise GanEvalError("--generator without FAKE needs -n N, the number of images to sample")
    generator, settings = open_path_generator(args.generator, args.latent_dim)
    if args.fake is not None:
        return args.fake, generator, settings
    fake, sampled = open_generator_file(args.generator, args.n, args.latent_seed, args.latent_dim)
    return fake, generator, {**settings, **sampled}


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
        inputs = [("REAL", args.real), ("FAKE", args.fake), ("--generator", args.generator), ("--train", args.train)]
        check_outputs([("--out", args.out)], inputs)
        check_output_folder(args.out)
    options = MetricOptions(
        kid_subsets=args.kid_subsets,
        kid_subset_size=args.kid_subset_size,
        ci_groups=args.ci_groups if ci else 0,
        confidence=args.confidence,
        seed=args.seed,
        **{field: getattr(args, field) for field in PPL_FIELDS},
    )
    fake, generator, generator_settings = _generator_inputs(args)
    spaces = feature_spaces(args)
    if len(spaces) > 1:
        results = evaluate_spaces(
            args.real,
            fake,
            spaces,
            args.metrics,
            options=options,
            extraction=extraction_options(args, spaces[0]),
            train=args.train,
            generator=generator,
        )
        results = {space: _with_settings(r, generator_settings) for space, r in results.items()}
        if args.out:
            write_space_reports(results, args.out)
        spaces_json = {"spaces": {space: r.to_json() for space, r in results.items()}}
        print(json.dumps(spaces_json) if args.json else format_spaces_table(results))
        result = next(iter(results.values()))
    else:
        result = evaluate(
            args.real,
            fake,
            args.metrics,
            options=options,
            extraction=extraction_options(args),
            train=args.train,
            generator=generator,
        )
        result = _with_settings(result, generator_settings)
        if args.out:
            write_report(result, args.out)
        print(json.dumps(result.to_json()) if args.json else format_table(result))
    skipped = sum(result.skipped.values())
    if skipped:
        print(f"warning: skipped {skipped} unreadable image file(s)", file=sys.stderr)
    return 0


def _with_settings(result, generator_settings: dict):
    """`result` with the saved generator's settings (path, sha256, latent seed) among its own, as the gate's."""
    from dataclasses import replace

    return replace(result, settings={**result.settings, **generator_settings}) if generator_settings else result
