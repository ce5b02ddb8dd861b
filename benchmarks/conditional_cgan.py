"""Intra-FID and accuracy of a trained `cgan` on `digits`, and of the same samples with their labels shuffled.

Draws `--per-class` samples per class from the checkpoint (labels 0..9 in turn, latent seed `--seed`) and
writes three class-folder sets under `--out`: `real/CLASS/` (the digits' test split by label), `fake/CLASS/`
(each sample under its conditioning label) and `shuffled/CLASS/` (the same samples under a random
permutation of their labels, seeded); and, as the floor, `train/CLASS/` (the train split by label). Then
`gan_eval.conditional.evaluate_conditional` (what `gan-eval conditional real/ fake/ --classifier digits`
runs) measures each against `real/` in Inception space with the built-in digit classifier, and prints one
JSON line per set and the Markdown rows of docs/reference-generators.md.

    gan-eval train cgan --data digits --steps 2000 --seed 0 --out cgan-digits/
    OMP_NUM_THREADS=1 python benchmarks/conditional_cgan.py --checkpoint cgan-digits/ --out conditional-sets/
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from gan_eval.conditional import evaluate_conditional, load_classifier
from gan_eval.datasets.digits import digits_images, digits_labels
from gan_eval.extraction import ExtractionOptions
from gan_eval.models.checkpoint import load_generator
from gan_eval.models.sampling import balanced_labels, sample


def write_classes(root: Path, images: np.ndarray, labels: np.ndarray) -> Path:
    """`root/LABEL/NNNNNN.png` for `(N, H, W, 3)` uint8 images and their `(N,)` labels."""
    for index, (image, label) in enumerate(zip(images, labels, strict=True)):
        folder = root / str(int(label))
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(image).save(folder / f"{index:06d}.png")
    return root


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--checkpoint", required=True, help="a `gan-eval train cgan --data digits` folder")
    parser.add_argument("--out", required=True, help="new folder for the class-folder sets")
    parser.add_argument("--per-class", type=int, default=90, help="samples per class (default 90)")
    parser.add_argument("--seed", type=int, default=0, help="latent seed and label permutation seed")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (default 1)")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True)

    generator, config = load_generator(args.checkpoint)
    n = args.per_class * config.n_classes
    images = sample(generator, config, n, args.seed).permute(0, 2, 3, 1).numpy()
    labels = balanced_labels(n, config.n_classes).numpy()
    shuffled = np.random.default_rng(args.seed).permutation(labels)
    sets = {
        "digits:train by label (floor)": write_classes(out / "train", digits_images("train"), digits_labels("train")),
        f"cgan ({config.to_json()['steps']} steps)": write_classes(out / "fake", images, labels),
        "cgan, labels shuffled": write_classes(out / "shuffled", images, shuffled),
    }
    real = write_classes(out / "real", digits_images("test"), digits_labels("test"))

    classifier = load_classifier("digits")
    extraction = ExtractionOptions(progress=False)
    rows = []
    for name, folder in sets.items():
        start = time.perf_counter()
        result = evaluate_conditional(real, folder, classifier=classifier, extraction=extraction)
        print(json.dumps({"set": name, **result.to_json(), "wall_seconds": round(time.perf_counter() - start, 1)}))
        rows.append(
            f"| {name} | {result.intra_fid:.2f} | {min(result.fid_per_class.values()):.2f} to "
            f"{max(result.fid_per_class.values()):.2f} | {result.accuracy:.3f} | {result.real_accuracy:.3f} |"
        )
    print("| set | intra-FID | class FIDs | accuracy | classifier on digits:test |")
    print("| --- | --- | --- | --- | --- |")
    print("\n".join(rows))


if __name__ == "__main__":
    main()
