"""`gan-eval style OUTPUTS --style IMAGE --content DIR`: style and content distances of style-transfer outputs."""

from __future__ import annotations

import argparse

from gan_eval.cli.options import positive_int
from gan_eval.style.network import POOLINGS


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `style` sub-command."""
    style = commands.add_parser(
        "style",
        help="neural style transfer: style and content distances with VGG-19 (Gatys et al. 2016)",
        description="Style distance (Gram matrices of VGG-19 conv1_1..conv5_1, Gatys et al. 2016 eq. 4/5) of every "
        "image in OUTPUTS to the style image, and content distance (conv4_2, eq. 1) to its content image in "
        "CONTENT_DIR, paired by relative path without the extension. Means over the outputs; per image with "
        "--json or --out.",
    )
    style.add_argument("outputs", metavar="OUTPUTS", help="folder of style-transfer outputs")
    style.add_argument("--style", required=True, metavar="IMAGE", help="the style image")
    style.add_argument("--content", required=True, metavar="CONTENT_DIR", help="folder of the content images")
    style.add_argument(
        "--size",
        type=positive_int,
        metavar="S",
        help="resize every image so that its longer side is S pixels (PIL bicubic; default: native sizes)",
    )
    style.add_argument(
        "--pooling",
        choices=POOLINGS,
        default="max",
        help="VGG-19's pooling: torchvision's max, or 2x2 averages in its place (neural-style's -pooling avg)",
    )
    style.add_argument(
        "--weights",
        metavar="PATH",
        help="torchvision's vgg19-dcbb9e9d.pth (default: $GAN_EVAL_VGG19_WEIGHTS, then the cache, then a download)",
    )
    style.add_argument("--device", help="cpu, cuda or cuda:INDEX (default: cuda when present)")
    style.add_argument("--json", action="store_true", help="print one JSON object (means, per-image scores, settings)")
    style.add_argument("--out", metavar="DIR", help="write style.json and style.csv (one row per output) into DIR")
    style.add_argument("--quiet", action="store_true", help="no progress bars")
    style.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Measure, print, and write the report folder when asked."""
    from gan_eval.output_paths import check_outputs
    from gan_eval.report_files import check_output_folder
    from gan_eval.style.evaluation import StyleOptions, evaluate_style
    from gan_eval.style.report import format_table, write_style_report

    options = StyleOptions(
        size=args.size, pooling=args.pooling, weights=args.weights, device=args.device, progress=not args.quiet
    )
    if args.out:
        inputs = [("OUTPUTS", args.outputs), ("--style", args.style), ("--content", args.content)]
        check_outputs([("--out", args.out)], inputs)
        check_output_folder(args.out)
    result = evaluate_style(args.outputs, args.style, args.content, options)
    if args.out:
        write_style_report(result, args.out)
    print(result.to_json_text() if args.json else format_table(result))
    return 0
