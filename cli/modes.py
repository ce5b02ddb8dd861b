"""`gan-eval modes REAL FAKE`: did the generator collapse? A verdict with every detector's number and threshold."""

from __future__ import annotations

import argparse
import json
from typing import TYPE_CHECKING

from gan_eval.cli.options import (
    add_cache_option,
    add_extraction_options,
    extraction_options,
    non_negative_int,
    positive_int,
)

if TYPE_CHECKING:
    from gan_eval.diagnostics.verdict import CollapseVerdict


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `modes` sub-command."""
    modes = commands.add_parser(
        "modes",
        help="mode-collapse verdict: modes covered, NDB, birthday support, coverage, recall, authenticity",
        description=(
            "Mode-collapse detectors of FAKE against REAL. For ring8 and grid25, REAL is the set's name and "
            "FAKE an (N, 2) array in .npy; for images, REAL and FAKE are image inputs (stacked-digits:train "
            "or :test as REAL adds the 1,000 labelled modes)."
        ),
    )
    modes.add_argument("real", help="ring8, grid25, a built-in image set, a folder, .zip or .npy/.npz images")
    modes.add_argument("fake", help="(N, 2) points in .npy for ring8/grid25; images otherwise")
    modes.add_argument("--json", action="store_true", help="print one JSON object")
    modes.add_argument("--min-count", type=positive_int, default=1, help="samples a mode needs to count as covered")
    modes.add_argument("--ndb-bins", type=positive_int, default=100, help="k-means bins of NDB")
    modes.add_argument(
        "--max-samples",
        type=positive_int,
        default=10_000,
        help="feature-space detectors subsample larger sets to this size",
    )
    modes.add_argument("--seed", type=non_negative_int, default=0, help="seed of k-means, subsampling, baselines")
    add_extraction_options(modes)
    add_cache_option(modes)
    modes.set_defaults(handler=run)


def _number(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    return str(value)


def _collapsed_word(verdict: CollapseVerdict) -> str:
    if not verdict.collapsed:
        return "no"
    return f"yes, {verdict.severity}" if verdict.severity else "yes"


def format_verdict(verdict: CollapseVerdict) -> str:
    """The verdict as a table: one row per detector, the mode counts, then the verdict line."""
    rows = [("detector", "value", "threshold", "fires when", "fired", "what")]
    for d in verdict.detectors:
        fired = ("FIRED" if d.decides else "fired, does not decide") if d.fired else "-"
        what = f"{d.description} [{d.note}]" if d.note else d.description
        rows.append((d.name, _number(d.value), _number(d.threshold), d.fires_when, fired, what))
    width = [max(len(r[i]) for r in rows) for i in range(5)]
    lines = ["  ".join([*(f"{c:<{w}}" for c, w in zip(r[:5], width, strict=True)), r[5]]) for r in rows]
    values = verdict.values
    if "modes_covered" in values:
        lines.append(f"modes covered: {values['modes_covered']} of {values['modes_total']}")
    if "high_quality" in values:
        expected = values["high_quality_expected"]
        lines.append(f"high-quality share: {values['high_quality']:.4f} (a perfect model: {expected:.4f})")
    if values.get("low_fidelity"):
        lines.append(
            f"low fidelity: precision {values['precision']:.4g} (reference's own: {values['precision_baseline']:.4g}); "
            "the samples are off the reference's manifold, so NDB, coverage and recall cannot tell missing modes "
            "from poor samples"
        )
    fired = ", ".join(verdict.fired) or "none"
    inconclusive = f"; inconclusive: {', '.join(verdict.inconclusive)}" if verdict.inconclusive else ""
    lines.append(
        f"collapsed: {_collapsed_word(verdict)} (fired: {fired}{inconclusive}); reference: {verdict.reference}"
    )
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Run the detectors and print the verdict."""
    from gan_eval.diagnostics.detect import detect_collapse

    verdict = detect_collapse(
        args.real,
        args.fake,
        min_count=args.min_count,
        extraction=extraction_options(args),
        ndb_bins=args.ndb_bins,
        max_samples=args.max_samples,
        seed=args.seed,
    )
    print(json.dumps(verdict.to_json()) if args.json else format_verdict(verdict))
    return 0
