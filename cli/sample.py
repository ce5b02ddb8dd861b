"""`gan-eval sample DIR -n N -o OUT [--latent-seed S]`: seeded samples of a generator into a .npy file or PNGs."""

from __future__ import annotations

import argparse
from pathlib import Path

from gan_eval.cli.options import non_negative_int, positive_int


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `sample` sub-command."""
    sample = commands.add_parser(
        "sample",
        help="draw N seeded samples of a checkpoint (gan-eval train --out DIR) into a .npy file or a PNG folder",
        description=(
            "Seeded samples of a trained generator. OUT ending in .npy gets uint8 (N, H, W, C) images or "
            "float32 (N, 2) points; any other OUT is a new (or empty) folder of PNG files 000000.png, ... "
            "The output appears all at once, or not at all."
        ),
    )
    sample.add_argument("checkpoint", metavar="DIR", help="checkpoint folder with generator.pt and config.json")
    sample.add_argument("-n", type=positive_int, required=True, help="number of samples")
    sample.add_argument("-o", "--output", required=True, metavar="OUT", help=".npy file or new folder")
    sample.add_argument(
        "--latent-seed",
        "--seed",
        dest="latent_seed",
        type=non_negative_int,
        default=0,
        metavar="S",
        help="seed of the latent noise",
    )
    sample.add_argument(
        "--by-class",
        action="store_true",
        help="conditional checkpoints: write OUT/LABEL/000000.png, ... (labels 0, 1, ... in turn), the class "
        "folders gan-eval conditional reads",
    )
    sample.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Check OUT, load the generator, sample, write, print where it went."""
    from gan_eval.errors import GanEvalError
    from gan_eval.models.checkpoint import CONFIG_FILE, WEIGHTS_FILE, load_generator, read_config
    from gan_eval.models.sample_files import check_sample_output, write_samples, write_samples_by_class
    from gan_eval.models.sampling import balanced_labels, check_sample_memory, sample
    from gan_eval.output_paths import check_outputs

    read = [args.checkpoint, Path(args.checkpoint) / CONFIG_FILE, Path(args.checkpoint) / WEIGHTS_FILE]
    check_outputs([("-o", args.output)], [("DIR", path) for path in read], inside_inputs=False)
    config = read_config(args.checkpoint)
    if args.by_class and not config.n_classes:
        raise GanEvalError(f"--by-class: {args.checkpoint} holds an unconditional {config.model} (no labels)")
    check_sample_output(args.output, config.is_images)
    check_sample_memory(config, args.n, f"-n {args.n}")
    generator, config = load_generator(args.checkpoint)
    samples = sample(generator, config, args.n, latent_seed=args.latent_seed)
    if args.by_class:
        out = write_samples_by_class(samples, balanced_labels(args.n, config.n_classes), args.output)
    else:
        out = write_samples(samples, args.output)
    kind = "images" if config.is_images else "points"
    print(f"{args.n} {kind} of {config.model} on {config.dataset} (seed {args.latent_seed}) -> {out}")
    return 0
