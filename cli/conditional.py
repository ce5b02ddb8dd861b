"""`gan-eval conditional REAL FAKE`: intra-FID and classification accuracy of a class-conditional generator."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from gan_eval.cli.options import add_cache_option, add_extraction_options, choices_help, extraction_options
from gan_eval.conditional import CONDITIONAL_METRICS

if TYPE_CHECKING:
    from gan_eval.conditional import ConditionalResult


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `conditional` sub-command."""
    conditional = commands.add_parser(
        "conditional",
        help="class-conditional GANs: intra-FID (FID per class, averaged) and classification accuracy",
        description=(
            "Intra-FID (Miyato & Koyama 2018) and the accuracy of a classifier on the generated images by "
            "their conditioning label. REAL and FAKE are folders with one subfolder of images per class "
            "(REAL/CLASS/, FAKE/CLASS/), the same classes on both sides."
        ),
    )
    conditional.add_argument(
        "real",
        help="folder with one subfolder of real images per class (REAL/CLASS/), or one file per class "
        "(REAL/CLASS.npz: statistics from gan-eval stats, or an image array), or digits:SPLIT (the built-in "
        "digits by label)",
    )
    conditional.add_argument("fake", help="folder of class subfolders of generated images, the same class names")
    conditional.add_argument(
        "--metrics",
        help=f"comma-separated; {choices_help(CONDITIONAL_METRICS)} (default: intra_fid, plus accuracy with "
        "--classifier)",
    )
    conditional.add_argument(
        "--classifier",
        metavar="digits|FILE",
        help="classifier for accuracy: digits (the built-in 32x32 digit classifier, trained and cached on first "
        "use) or a PyTorch state dict (.pt/.pth) of the same architecture, read as data; class folders are "
        "named by label (0 to 9). TorchScript files are refused: loading one runs its code",
    )
    conditional.add_argument("--json", action="store_true", help="print one JSON object with every class's values")
    add_extraction_options(conditional)
    add_cache_option(conditional)
    conditional.set_defaults(handler=run)


def _cell(value: float | None, digits: int) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def format_table(result: ConditionalResult) -> str:
    """One row per class (its sample counts, FID and accuracy), then the averages and the settings."""
    rows = [("class", "n_real", "n_fake", "FID", "accuracy")]
    for name in result.classes:
        rows.append(
            (
                name,
                str(result.n_real.get(name, "-")),
                str(result.n_fake.get(name, "-")),
                _cell(result.fid_per_class.get(name), 4),
                _cell(result.accuracy_per_class.get(name), 4),
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(5)]
    lines = [
        "  ".join([row[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(row[1:], widths[1:], strict=True))])
        for row in rows
    ]
    s = result.settings
    if result.intra_fid is not None:
        lines.append(f"intra-FID: {result.intra_fid:.6f} (mean of {len(result.classes)} classes)")
    if result.accuracy is not None:
        real = "" if result.real_accuracy is None else f"; on the real images: {result.real_accuracy:.4f}"
        lines.append(f"accuracy: {result.accuracy:.4f} (classifier {s['classifier']}{real})")
    if "extractor" in s:
        lines.append(
            f"extractor={s['extractor']} weights={str(s['weights_sha256'])[:8]} resize={s['resize']} "
            f"precision={s['precision']} device={s['device']} seconds={result.seconds:.1f}"
        )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Evaluate class by class and print the table or JSON."""
    from gan_eval.conditional import evaluate_conditional

    extraction = extraction_options(args)
    result = evaluate_conditional(args.real, args.fake, args.metrics, classifier=args.classifier, extraction=extraction)
    print(json.dumps(result.to_json()) if args.json else format_table(result))
    return 0
