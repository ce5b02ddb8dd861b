"""Images/s of our Inception extractor vs torch-fidelity's, on CPU, same weights and images.

Both run interleaved in this one process (ours, peer, ours, peer, ...) with
the same thread count, so machine load hits both alike; the median over
repetitions is reported with the min-max spread. Also prints the max relative
feature difference (max |ours - peer| / max |peer|), and, with `--bf16`, the
speed and feature deviation of the opt-in bf16 autocast path.

The heap setting matters as much as the network on CPU (see
gan_eval/allocator.py): by default the script runs the comparison twice, in
two child processes, once with glibc's default allocator and once with
`keep_freed_memory()` (what the `gan-eval` command sets), and prints the
ratio as each tool runs by default: gan-eval with it, torch-fidelity without.

    python benchmarks/bench_extractor_cpu.py --batch 32 --reps 5 --threads 2 [--bf16]
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

from gan_eval.allocator import keep_freed_memory
from gan_eval.extractors.inception.extractor import InceptionExtractor
from gan_eval.extractors.inception.weights import cached_weights, load_weights, resolve_weights_path


def torch_fidelity_weights_file(weights_path: Path, workdir: Path) -> Path:
    """Our pool3 weights as a torch-fidelity Inception weights file (a random classifier fills its fc slot)."""
    state = dict(load_weights(weights_path).state_dict)
    state["fc.weight"] = torch.randn(1008, 2048, generator=torch.Generator().manual_seed(0)) * 0.01
    state["fc.bias"] = torch.zeros(1008)
    path = workdir / "torch-fidelity-weights.pt"
    torch.save(state, path)
    return path


def torch_fidelity_extractor(weights_path: Path, workdir: Path) -> FeatureExtractorInceptionV3:
    """torch-fidelity's extractor on our pool3 weights."""
    path = torch_fidelity_weights_file(weights_path, workdir)
    peer = FeatureExtractorInceptionV3("inception-v3-compat", ["2048"], feature_extractor_weights_path=str(path))
    return peer.eval()


def relative_difference(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.double() - b.double()).abs().max() / b.double().abs().max())


def seconds(run: Callable[[], torch.Tensor]) -> float:
    start = time.perf_counter()
    run()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--size", type=int, default=32, help="input image side (uint8, resized to 299)")
    parser.add_argument("--bf16", action="store_true", help="also time the bf16 autocast path")
    parser.add_argument(
        "--allocator",
        choices=("default", "keep-freed", "both"),
        default="both",
        help="heap setting of the timing process; both: one child process each, and the as-shipped ratio",
    )
    args = parser.parse_args()
    if args.allocator == "both":
        compare_allocators(sys.argv[1:])
        return
    if args.allocator == "keep-freed" and not keep_freed_memory():
        raise SystemExit("keep_freed_memory() is not available here (needs glibc)")

    torch.set_num_threads(args.threads)
    weights_path = cached_weights()[0] if cached_weights() else resolve_weights_path()
    images = torch.randint(0, 256, (args.batch, 3, args.size, args.size), dtype=torch.uint8)
    with tempfile.TemporaryDirectory() as tmp:
        peer = torch_fidelity_extractor(weights_path, Path(tmp))
    start = time.perf_counter()
    ours = InceptionExtractor(load_weights(weights_path), "cpu", "exact")
    print(f"our extractor set-up (load, fold, prepack): {time.perf_counter() - start:.2f} s")
    runs: dict[str, Callable[[], torch.Tensor]] = {
        "ours": lambda: ours.extract(images)["pool3"],
        "torch-fidelity": lambda: peer(images)[0],
    }
    if args.bf16:
        ours_bf16 = InceptionExtractor(load_weights(weights_path), "cpu", "bf16")
        runs["ours-bf16"] = lambda: ours_bf16.extract(images)["pool3"]

    with torch.inference_mode():
        features = {name: run() for name, run in runs.items()}  # warm-up, and the features compared
        times: dict[str, list[float]] = {name: [] for name in runs}
        for _ in range(args.reps):
            for name, run in runs.items():
                times[name].append(seconds(run))

    print(f"batch {args.batch} of {args.size}x{args.size} uint8, {args.threads} threads, {args.reps} reps, CPU")
    rate = {}
    for name, values in times.items():
        rate[name] = args.batch / statistics.median(values)
        spread = f"{args.batch / max(values):.2f}..{args.batch / min(values):.2f}"
        print(f"{name:>15}: {rate[name]:6.2f} img/s (median; range {spread})")
    print(json.dumps({"allocator": args.allocator, "rates": rate}))
    ratios = [p / o for o, p in zip(times["ours"], times["torch-fidelity"], strict=True)]
    print(
        f"ratio ours / torch-fidelity: {rate['ours'] / rate['torch-fidelity']:.2f}x "
        f"(median rates; per-rep ratios {min(ratios):.2f}..{max(ratios):.2f})"
    )
    diff = relative_difference(features["ours"], features["torch-fidelity"])
    print(f"max rel feature diff, ours vs torch-fidelity: {diff:.2e}")
    if args.bf16:
        print(f"bf16 speed-up over ours exact: {rate['ours-bf16'] / rate['ours']:.2f}x")
        diff = relative_difference(features["ours-bf16"], features["ours"])
        print(f"max rel feature diff, ours-bf16 vs ours exact: {diff:.2e}")


def compare_allocators(argv: list[str]) -> None:
    """Run the comparison once per heap setting in child processes; print the as-shipped ratio."""
    rates = {}
    for allocator in ("default", "keep-freed"):
        print(f"== allocator: {allocator} ==", flush=True)
        done = subprocess.run(
            [sys.executable, __file__, *argv, "--allocator", allocator], capture_output=True, text=True, check=True
        )
        lines = done.stdout.splitlines()
        print("\n".join(line for line in lines if not line.startswith("{")), flush=True)
        rates[allocator] = next(json.loads(line) for line in lines if line.startswith("{"))["rates"]
    shipped = rates["keep-freed"]["ours"] / rates["default"]["torch-fidelity"]
    print(
        f"as shipped: gan-eval (keep-freed heap) {rates['keep-freed']['ours']:.2f} img/s vs "
        f"torch-fidelity (default heap) {rates['default']['torch-fidelity']:.2f} img/s: {shipped:.2f}x"
    )


if __name__ == "__main__":
    main()
