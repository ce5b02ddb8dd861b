"""What the feature cache's content key costs on a folder and a zip, next to decoding the same images.

The key of a folder or zip is the sha256 of every file's (member's) bytes with its name: one read of every
byte, no decoding. A cache hit pays only this; a miss pays it beside the decode and the network. This script
writes N PNGs (random pixels, so they do not compress away), then times, each the median of `--reps` runs:
the key of the folder, the key of the same images in a zip, and one decode pass over the folder (what any
extraction costs before the network), and prints the ratio key / decode.

    python benchmarks/bench_cache_key.py --count 10000 --side 32 --reps 3
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
import zipfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image

from gan_eval.sources import ImageFolderSource, ZipSource


def median_seconds(run: Callable[[], object], reps: int) -> float:
    times = []
    for _ in range(reps):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--side", type=int, default=32)
    parser.add_argument("--reps", type=int, default=3)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as workdir:
        folder = Path(workdir, "images")
        folder.mkdir()
        archive = Path(workdir, "images.zip")
        with zipfile.ZipFile(archive, "w") as zf:
            for i in range(args.count):
                path = folder / f"{i:06d}.png"
                Image.fromarray(rng.integers(0, 256, (args.side, args.side, 3), dtype=np.uint8)).save(path)
                zf.write(path, path.name)
        size = sum(p.stat().st_size for p in folder.iterdir())
        source, zipped = ImageFolderSource(folder), ZipSource(archive)
        key = median_seconds(source.fingerprint, args.reps)
        zip_key = median_seconds(zipped.fingerprint, args.reps)
        decode = median_seconds(lambda: [source.load(i) for i in range(len(source))], args.reps)
    print(f"{args.count} PNGs of {args.side}x{args.side} ({size / 2**20:.1f} MiB)")
    print(f"folder key  {key:8.3f} s  ({args.count / key:,.0f} files/s)")
    print(f"zip key     {zip_key:8.3f} s  ({args.count / zip_key:,.0f} members/s)")
    print(f"decode pass {decode:8.3f} s  ({args.count / decode:,.0f} images/s)")
    print(f"folder key / decode: {key / decode:.2f}")


if __name__ == "__main__":
    main()
