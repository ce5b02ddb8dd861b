"""`gan-eval paired PRED TARGET`: PSNR, SSIM, MS-SSIM and LPIPS of image-to-image outputs against their targets."""

from __future__ import annotations

import argparse
import json
import math

from gan_eval.cli.options import choices_help, non_negative_int, positive_int, probability
from gan_eval.paired.bootstrap import MAX_RESAMPLES
from gan_eval.paired.evaluation import DEFAULT_METRICS, METRICS, PairedResult
from gan_eval.paired.lpips.network import NETS


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `paired` sub-command."""
    paired = commands.add_parser(
        "paired",
        help="paired image-to-image metrics (pix2pix, SRGAN): PSNR, SSIM, MS-SSIM, LPIPS",
        description=(
            "Compare each image in PRED with the image at the same relative path in TARGET; print each metric's "
            "mean over the images with a percentile bootstrap interval."
        ),
    )
    paired.add_argument("pred", help="folder of predicted (generated) images")
    paired.add_argument("target", help="folder of target (ground-truth) images, same relative paths as PRED")
    paired.add_argument(
        "--metrics",
        default=",".join(DEFAULT_METRICS),
        help=f"comma-separated; {choices_help(METRICS)}",
    )
    paired.add_argument("--y-channel", action="store_true", help="PSNR, SSIM, MS-SSIM on the BT.601 luma (SR papers)")
    paired.add_argument("--crop", type=non_negative_int, default=0, metavar="N", help="remove N border pixels per side")
    paired.add_argument(
        "--resize-to-target", action="store_true", help="resize each prediction to its target's size (bicubic)"
    )
    paired.add_argument("--lpips-net", choices=NETS, default="alex", help="LPIPS backbone")
    paired.add_argument("--lpips-weights", metavar="PATH", help="LPIPS v0.1 linear layers (alex.pth or vgg.pth)")
    paired.add_argument(
        "--lpips-backbone", metavar="PATH", help="the backbone's torchvision weights (alexnet-owt-7be5be79.pth, ...)"
    )
    paired.add_argument(
        "--bootstrap", type=positive_int, default=1000, help=f"bootstrap resamples (at most {MAX_RESAMPLES})"
    )
    paired.add_argument("--confidence", type=probability, default=0.95, help="interval level")
    paired.add_argument("--seed", type=non_negative_int, default=0, help="seed of the bootstrap")
    paired.add_argument("--device", help="device of LPIPS: cpu, cuda or cuda:INDEX (default: cuda when present)")
    paired.add_argument("--json", action="store_true", help="print one JSON object")
    paired.add_argument("--out", metavar="DIR", help="write per_image.csv and paired.json into DIR")
    paired.add_argument("--quiet", action="store_true", help="no progress bars")
    paired.set_defaults(handler=run)


def _number(value: float) -> str:
    return f"{value:.4f}" if math.isfinite(value) else ("inf" if value > 0 else "nan")


def format_result(result: PairedResult) -> str:
    """One line per metric: mean and interval, then the count and the settings that change the numbers."""
    level = result.settings["bootstrap"]["confidence"]
    lines = []
    for name, s in result.summaries.items():
        interval = f"[{_number(s.low)}, {_number(s.high)}]" if math.isfinite(s.low) else "(none: infinite values)"
        lines.append(f"{METRICS[name].label}: {_number(s.mean)}  {level:.0%} CI {interval}")
    settings = result.settings
    note = f"n={len(result.names)} y_channel={settings['y_channel']} crop={settings['crop']}"
    if "lpips" in settings:
        note += f" lpips={settings['lpips']['net']} device={settings['lpips']['device']}"
    lines.append(note)
    return "\n".join(lines)


def run(args: argparse.Namespace) -> int:
    """Check the outputs, evaluate, write `--out`, print."""
    from gan_eval.output_paths import check_outputs
    from gan_eval.paired.evaluation import PairedOptions, evaluate_paired, parse_metrics, write_paired_outputs
    from gan_eval.report_files import check_output_folder

    options = PairedOptions(
        metrics=parse_metrics(args.metrics),
        y_channel=args.y_channel,
        crop=args.crop,
        resize_to_target=args.resize_to_target,
        lpips_net=args.lpips_net,
        lpips_weights=args.lpips_weights,
        lpips_backbone=args.lpips_backbone,
        bootstrap=args.bootstrap,
        confidence=args.confidence,
        seed=args.seed,
        device=args.device,
        progress=not args.quiet and not args.json,
    )
    if args.out:
        check_outputs([("--out", args.out)], [("PRED", args.pred), ("TARGET", args.target)])
        check_output_folder(args.out)
    result = evaluate_paired(args.pred, args.target, options)
    if args.out:
        write_paired_outputs(result, args.out)
    if args.json:
        print(json.dumps(result.to_json()))
    else:
        print(format_result(result))
        if args.out:
            print(f"wrote {args.out}")
    return 0
