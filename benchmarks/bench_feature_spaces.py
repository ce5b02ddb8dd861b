"""Images per second of every feature space's extractor on this machine, and what a 10k evaluation costs.

Each space's network is built with random weights in its official layout (the speed is the same as with
the real weights, which this machine cannot download; Inception uses the real weights from the cache),
then `extract` runs on uint8 batches of `--size`-pixel images, preprocessing included. Prints images/s,
seconds per 10,000 images, and the network's multiply-adds per image (counted with torch's FLOP counter;
n/a for Inception, whose CPU path runs prepacked oneDNN convolutions the counter does not see), from
which the time on another machine follows from its sustained FLOP/s.

    OMP_NUM_THREADS=1 python benchmarks/bench_feature_spaces.py --threads 1 --batch 16 --reps 3
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

from gan_eval.extractors.clip.extractor import CROP_THEN_RESIZE, SHORTER_SIDE_THEN_CROP, ClipExtractor
from gan_eval.extractors.clip.network import ARCHS as CLIP_ARCHS
from gan_eval.extractors.clip.network import official_visual_shapes
from gan_eval.extractors.clip.weights import ClipWeights
from gan_eval.extractors.dinov2.extractor import Dinov2Extractor
from gan_eval.extractors.dinov2.network import ARCHS as DINOV2_ARCHS
from gan_eval.extractors.dinov2.network import official_shapes as dinov2_shapes
from gan_eval.extractors.dinov2.weights import Dinov2Weights
from gan_eval.extractors.registry import load_extractor
from gan_eval.extractors.vgg16.extractor import Vgg16Extractor
from gan_eval.extractors.vgg16.network import official_shapes as vgg16_shapes
from gan_eval.extractors.vgg16.weights import Vgg16Weights


def _random(shapes: dict[str, tuple[int, ...]]) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(0)
    return {key: torch.randn(shape, generator=generator) * 0.02 for key, shape in shapes.items()}


def extractors() -> dict[str, object]:
    """Every registered space's extractor on CPU, random weights in the official layout (Inception: real)."""
    fake = Path("random-weights")
    made: dict[str, object] = {"inception": load_extractor(progress=False)}
    for key, arch in DINOV2_ARCHS.items():
        weights = Dinov2Weights(fake, "0" * 64, arch, _random(dinov2_shapes(arch)))
        made[f"dinov2-{key}"] = Dinov2Extractor(weights, "cpu")
    for key, arch in CLIP_ARCHS.items():
        protocol = CROP_THEN_RESIZE if key.endswith("336") else SHORTER_SIDE_THEN_CROP
        weights = ClipWeights(fake, "0" * 64, arch, _random(official_visual_shapes(arch)))
        made[f"clip-{key}"] = ClipExtractor(weights, protocol, "cpu")
    made["vgg16-torchfidelity"] = Vgg16Extractor(Vgg16Weights(fake, "0" * 64, _random(vgg16_shapes())), "cpu")
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--reps", type=int, default=3, help="timed batches per space (after one warm-up)")
    parser.add_argument("--size", type=int, default=64, help="input image side in pixels")
    parser.add_argument("--spaces", default="", help="comma list (default: all)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    images = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8)
    wanted = [s for s in args.spaces.split(",") if s]
    print(f"threads={args.threads} batch={args.batch} size={args.size} reps={args.reps}")
    print(f"{'space':22s} {'img/s':>8s} {'s/10k img':>10s} {'GMAC/img':>9s}")
    for name, extractor in extractors().items():
        if wanted and name not in wanted:
            continue
        head = extractor.kinds["features"]
        extractor.extract(images, (head,))  # warm-up: builds the network, first-call allocations
        with FlopCounterMode(display=False) as counter:
            extractor.extract(images[:1], (head,))
        macs = counter.get_total_flops() / 2
        start = time.perf_counter()
        for _ in range(args.reps):
            extractor.extract(images, (head,))
        rate = args.reps * args.batch / (time.perf_counter() - start)
        counted = f"{macs / 1e9:9.2f}" if macs else "      n/a"  # prepacked oneDNN convolutions are not counted
        print(f"{name:22s} {rate:8.2f} {10_000 / rate:10.0f} {counted}")


if __name__ == "__main__":
    main()
