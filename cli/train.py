"""`gan-eval train MODEL --data SET --steps N --seed S --out DIR`: train a reference generator, save its checkpoint."""

from __future__ import annotations

import argparse
import json

from gan_eval.cli.options import choices_help, non_negative_int, positive_int


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `train` sub-command."""
    from gan_eval.models.registry import MODELS
    from gan_eval.models.training import TRAINING_SETS

    train = commands.add_parser(
        "train",
        help=f"train a reference GAN ({', '.join(MODELS)}) and save its generator",
        description="Seeded training of a reference GAN; writes generator.pt and config.json into a new folder.",
    )
    train.add_argument("model", choices=list(MODELS), metavar="MODEL", help=f"model and loss; {choices_help(MODELS)}")
    train.add_argument(
        "--data",
        required=True,
        metavar="SET",
        help=f"training set: a built-in one ({choices_help(TRAINING_SETS)}), torchvision's MNIST / CIFAR-10 "
        "files already on disk as mnist:SPLIT@ROOT or cifar10:SPLIT@ROOT (SPLIT train or test; never downloaded), "
        "or a folder, .zip or array of 32x32 images",
    )
    train.add_argument("--steps", type=positive_int, default=2000, help="generator steps")
    train.add_argument("--seed", type=non_negative_int, default=0, help="seed of weights, noise and batches")
    train.add_argument("--out", required=True, metavar="DIR", help="new (or empty) folder for the checkpoint")
    train.add_argument("--batch-size", type=positive_int, help="samples per step (default 256 points, 64 images)")
    train.add_argument("--device", help="cpu, cuda or cuda:INDEX (default: cuda when present)")
    train.add_argument(
        "--threads",
        type=positive_int,
        default=1,
        help="CPU threads of torch (default 1: fastest for these small nets on a shared CPU, and the setting "
        "the shipped reference models were trained with, so their runs repeat bit for bit)",
    )
    train.add_argument("--monitor", metavar="RUN_DIR", help="record losses and gradient norms with gan_eval.monitor")
    train.add_argument("--json", action="store_true", help="print the saved config as JSON")
    train.add_argument("--quiet", action="store_true", help="no progress bar")
    train.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Check the output folder, train, save the checkpoint, print where it went."""
    import torch

    from gan_eval.devices import parse_device
    from gan_eval.models.checkpoint import check_new_checkpoint_folder, create_checkpoint
    from gan_eval.models.training import train
    from gan_eval.output_paths import check_outputs

    out = check_new_checkpoint_folder(args.out)
    check_outputs([("--out", args.out), ("--monitor", args.monitor)], [("--data", args.data)])
    device = parse_device(args.device)
    torch.set_num_threads(args.threads)
    monitor = None
    if args.monitor:
        from gan_eval.monitor import Monitor

        monitor = Monitor(args.monitor)
    try:
        generator, config = train(
            args.model,
            args.data,
            args.steps,
            seed=args.seed,
            device=device,
            batch_size=args.batch_size,
            on_start=None if monitor is None else monitor.watch,
            on_step=None if monitor is None else lambda step, losses, *_: monitor.log(step, **losses),
            progress=not args.quiet,
        )
    finally:
        if monitor is not None:
            monitor.close()
    create_checkpoint(out, generator, config)
    if args.json:
        print(json.dumps(config.to_json()))
    else:
        took = f"{config.training['seconds']:.1f} s on {device}"
        print(f"{args.model} on {args.data}: {args.steps} steps, seed {args.seed}, {took} -> {out}")
    return 0
