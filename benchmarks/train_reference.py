"""Regenerate the shipped reference generators `reference_models/dcgan-digits{,-degraded}/`.

One seeded DCGAN run on `digits` (the train split): the checkpoint after
`--degraded-steps` generator steps becomes `dcgan-digits-degraded`, the one
after `--steps` becomes `dcgan-digits`. The loop has no schedule that depends
on the total length, so the snapshot is bit for bit the generator that
`gan-eval train dcgan --data digits --steps <degraded-steps> --seed <seed>`
gives on the same machine; the full one is what `--steps <steps>` gives.
Training uses `--threads` intra-op threads (1 by default: fastest for these
small nets on a shared CPU, and the float sums then have one fixed order).

With `--samples N` (default 300), N samples (seed 0) of each generator are
measured through the standard Inception pipeline: FID against `digits:test`,
and the mode-collapse verdict of `gan-eval modes digits:train` (10 labelled
digit modes, NDB, birthday support, coverage, recall, authenticity). All is
printed with the wall times as one JSON object. `--measure-only` measures
the checkpoints already in `--out` without training.

    python benchmarks/train_reference.py [--out reference_models] [--steps 4000] [--degraded-steps 1000]

`--points` instead trains the 2-D references (`--point-models`, default
`wgan-gp`, on ring8 and grid25, `--steps` long, one seeded run each, nothing
saved), draws 2,500 points (seed 1) of each and prints the table of
docs/reference-generators.md: modes covered, high-quality share, mode KL,
verdict and wall time.

    python benchmarks/train_reference.py --points --steps 4000 --seed 0

`--all-models` instead trains every reference model (`--models`, default all
nine) on `digits` (train split) through the command line, `--steps` long
(`--model-steps wgan-gp=1000,...` sets a model's own length), seed `--seed`,
one thread, each into a temporary folder (`--keep DIR` keeps them), and
measures each as the image rows of docs/reference-generators.md are
measured: 300 samples (`gan-eval sample DIR -n 300 -o fake.npy --seed 0`),
FID, precision and recall from `gan-eval report digits:test fake.npy
--metrics fid,pr,dc --json`, digit modes and the verdict from `gan-eval
modes digits:train fake.npy --json`. It prints one JSON line per model and
then the Markdown rows.

    python benchmarks/train_reference.py --all-models --steps 2000 --model-steps wgan-gp=1000 --seed 0
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import subprocess
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import torch

from gan_eval.models.checkpoint import GeneratorConfig, load_generator, save_generator
from gan_eval.models.sampling import sample
from gan_eval.models.training import Trainer, make_config, training_data

FULL_NAME = "dcgan-digits"
DEGRADED_NAME = "dcgan-digits-degraded"


def train_reference(out: Path, steps: int, degraded_steps: int, seed: int) -> dict[str, float]:
    """Train once, save both checkpoints under `out`; returns the training wall times in seconds."""
    data = training_data("digits")
    config = make_config("dcgan", data, steps, seed)
    trainer = Trainer(config, data)
    start = time.perf_counter()
    times: dict[str, float] = {}

    def save(name: str, at: int, losses: dict[str, float]) -> None:
        times[name] = round(time.perf_counter() - start, 1)
        record = {
            "device": "cpu",
            "seconds": times[name],
            "threads": torch.get_num_threads(),
            "torch": torch.__version__,
            "machine": platform.machine(),
            "final_losses": {k: round(v, 6) for k, v in losses.items()},
        }
        snapshot: GeneratorConfig = replace(config, steps=at, training=record)
        save_generator(out / name, copy.deepcopy(trainer.generator).eval(), snapshot)

    def on_step(step: int, losses: dict[str, float], *_: object) -> None:
        if step == degraded_steps:
            save(DEGRADED_NAME, step, losses)

    losses = trainer.run(steps, on_step=on_step)
    save(FULL_NAME, steps, losses)
    return times


def measure(folder: Path, n: int) -> dict[str, object]:
    """FID against `digits:test` and the collapse verdict against `digits:train` of `n` samples (seed 0)."""
    import gan_eval
    from gan_eval.diagnostics.detect import detect_collapse

    generator, config = load_generator(folder)
    images = sample(generator, config, n, latent_seed=0)
    verdict = detect_collapse("digits:train", images, progress=False)
    return {
        "fid_vs_digits_test": round(float(gan_eval.fid("digits:test", images, progress=False).fid), 2),
        "collapsed": verdict.collapsed,
        "fired": list(verdict.fired),
        "detectors": {d.name: [round(float(d.value), 4), round(float(d.threshold), 4)] for d in verdict.detectors},
    }


POINT_SETS = ("ring8", "grid25")
POINT_SAMPLES = 2500
POINT_SAMPLE_SEED = 1


def measure_points(model: str, data: str, steps: int, seed: int) -> dict[str, object]:
    """Train `model` on the 2-D set `data`; the verdict of `POINT_SAMPLES` points (seed 1) and the wall time."""
    from gan_eval.diagnostics.detect import detect_collapse
    from gan_eval.diagnostics.verdict import json_number
    from gan_eval.models.training import train

    generator, config = train(model, data, steps, seed=seed, progress=False)
    points = sample(generator, config, POINT_SAMPLES, latent_seed=POINT_SAMPLE_SEED).numpy()
    verdict = detect_collapse(data, points)
    return {
        "data": data,
        "model": model,
        "steps": steps,
        "seed": seed,
        "seconds": config.training["seconds"],
        "modes_covered": verdict.values["modes_covered"],
        "modes_total": verdict.values["modes_total"],
        "high_quality": round(float(verdict.values["high_quality"]), 4),
        "mode_kl": json_number(round(float(verdict.values["mode_kl"]), 4)),  # NaN (no high-quality point): null
        "collapsed": verdict.collapsed,
        "fired": list(verdict.fired),
    }


def point_table(rows: list[dict[str, object]]) -> str:
    """The measured 2-D runs as a Markdown table."""
    lines = [
        "| data | model | steps | seed | wall time | modes covered | high quality | mode KL | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        verdict = f"collapsed ({', '.join(r['fired'])})" if r["collapsed"] else "not collapsed"
        lines.append(
            f"| {r['data']} | `{r['model']}` | {r['steps']} | {r['seed']} | {r['seconds']:.0f} s | "
            f"{r['modes_covered']} of {r['modes_total']} | {100 * r['high_quality']:.1f}% | "
            f"{'n/a' if r['mode_kl'] is None else format(r['mode_kl'], '.3f')} | {verdict} |"
        )
    return "\n".join(lines)


ALL_MODELS = ("gan", "dcgan", "wgan", "wgan-gp", "lsgan", "hinge", "cgan", "rsgan", "ragan")
IMAGE_SAMPLES = 300
IMAGE_SAMPLE_SEED = 0


def gan_eval_cli(*args: str) -> str:
    """Run `gan-eval ARGS` in this interpreter; its standard output (stops the script on failure)."""
    done = subprocess.run([sys.executable, "-m", "gan_eval", *args], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"gan-eval {' '.join(args)} failed ({done.returncode}):\n{done.stderr[-2000:]}")
    return done.stdout


def measure_model(model: str, steps: int, seed: int, threads: int, folder: Path) -> dict[str, object]:
    """Train `model` on `digits` into `folder` and measure it as the table's image rows are measured."""
    checkpoint = folder / f"{model}-digits-{steps}"
    fake = folder / f"{model}-digits-{steps}.npy"
    start = time.perf_counter()
    gan_eval_cli(
        "train", model, "--data", "digits", "--steps", str(steps), "--seed", str(seed),
        "--threads", str(threads), "--out", str(checkpoint), "--quiet",
    )  # fmt: skip
    wall = round(time.perf_counter() - start, 1)
    training = json.loads((checkpoint / "config.json").read_text()).get("training", {})
    gan_eval_cli("sample", str(checkpoint), "-n", str(IMAGE_SAMPLES), "-o", str(fake), "--seed", str(IMAGE_SAMPLE_SEED))
    report = json.loads(gan_eval_cli("report", "digits:test", str(fake), "--metrics", "fid,pr,dc", "--json"))
    verdict = json.loads(gan_eval_cli("modes", "digits:train", str(fake), "--json"))
    metrics = report_metrics(report)
    return {
        "model": model,
        "data": "digits",
        "steps": steps,
        "seed": seed,
        "threads": threads,
        "training_seconds": training.get("seconds", wall),
        "wall_seconds": wall,
        "fid": round(float(metrics["fid"]), 2),
        "precision": round(float(metrics["precision"]), 3),
        "recall": round(float(metrics["recall"]), 3),
        "modes_covered": verdict["modes_covered"],
        "modes_total": verdict["modes_total"],
        "mode_kl": None if verdict["mode_kl"] is None else round(float(verdict["mode_kl"]), 3),
        "collapsed": verdict["collapsed"],
        "severity": verdict["severity"],
        "fired": verdict["fired"],
        "inconclusive": verdict["inconclusive"],
        "low_fidelity": verdict.get("low_fidelity"),
    }


def report_metrics(report: dict[str, object]) -> dict[str, float]:
    """FID, precision and recall from `gan-eval report --json` output."""
    return {name: report[name] for name in ("fid", "precision", "recall")}


def verdict_text(r: dict[str, object]) -> str:
    """The verdict column, as the table writes it: collapse and its severity, then fidelity."""
    if r["collapsed"]:
        reasons = [
            f"{r['modes_covered']} of {r['modes_total']} digit modes" if name == "modes"
            else f"digit-mode KL {r['mode_kl']:.3f}" if name == "mode_kl"
            else name
            for name in r["fired"]
        ]  # fmt: skip
        text = f"collapsed, {r['severity']} ({', '.join(reasons)})"
    else:
        text = "not collapsed"
    if r["low_fidelity"]:
        confounded = [NAMES.get(n, n) for n in r["inconclusive"] if n != "precision"]
        text += f"; low fidelity ({', '.join(confounded)} inconclusive)" if confounded else "; low fidelity"
    return text


NAMES = {"ndb": "NDB"}


def model_table(rows: list[dict[str, object]]) -> str:
    """The measured digits runs as rows of the table in docs/reference-generators.md."""
    lines = [
        "| model | steps | seed | training (one thread) | modes covered | FID | precision | recall | verdict |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| `{r['model']}` | {r['steps']} | {r['seed']} | {r['training_seconds']:.0f} s | "
            f"{r['modes_covered']} of {r['modes_total']} | {r['fid']:.2f} | {r['precision']:.3f} | "
            f"{r['recall']:.3f} | {verdict_text(r)} |"
        )
    return "\n".join(lines)


def all_models(args: argparse.Namespace, parser: argparse.ArgumentParser) -> None:
    """`--all-models`: train and measure each model on digits; JSON lines, then the Markdown rows."""
    models = args.models.split(",")
    unknown = sorted(set(models) - set(ALL_MODELS))
    if unknown:
        parser.error(f"--models: unknown {', '.join(unknown)} (choose from {', '.join(ALL_MODELS)})")
    steps = dict.fromkeys(models, args.steps)
    for item in filter(None, args.model_steps.split(",")):
        name, _, value = item.partition("=")
        if name not in ALL_MODELS or not value.isdigit() or int(value) < 1:
            parser.error(f"--model-steps: expected MODEL=STEPS, got {item!r}")
        steps[name] = int(value)
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        folder = args.keep if args.keep is not None else Path(scratch)
        folder.mkdir(parents=True, exist_ok=True)
        for model in models:
            row = measure_model(model, steps[model], args.seed, args.threads, folder)
            print(json.dumps(row), flush=True)
            rows.append(row)
    print(model_table(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("reference_models"))
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--degraded-steps", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--samples", type=int, default=300, help="samples per measurement; 0 skips measuring")
    parser.add_argument("--measure-only", action="store_true", help="measure the checkpoints in --out, no training")
    parser.add_argument("--points", action="store_true", help="train and measure the 2-D references instead")
    parser.add_argument("--point-models", default="wgan-gp", help="with --points: comma-separated models")
    parser.add_argument("--all-models", action="store_true", help="train and measure every model on digits instead")
    parser.add_argument("--models", default=",".join(ALL_MODELS), help="with --all-models: comma-separated models")
    parser.add_argument("--model-steps", default="", help="with --all-models: MODEL=STEPS,... overriding --steps")
    parser.add_argument("--keep", type=Path, help="with --all-models: keep checkpoints and samples in this folder")
    args = parser.parse_args()
    if args.all_models:
        all_models(args, parser)
        return
    if args.points:
        torch.set_num_threads(args.threads)
        rows = [
            measure_points(model, data, args.steps, args.seed)
            for model in args.point_models.split(",")
            for data in POINT_SETS
        ]
        print(json.dumps({"threads": args.threads, "torch": torch.__version__, "runs": rows}, indent=2))
        print(point_table(rows))
        return
    if not 1 <= args.degraded_steps < args.steps:
        parser.error("--degraded-steps must be at least 1 and below --steps")

    summary: dict[str, object] = {"threads": args.threads, "torch": torch.__version__}
    if not args.measure_only:
        threads_before = torch.get_num_threads()
        torch.set_num_threads(args.threads)
        summary["training_seconds"] = train_reference(args.out, args.steps, args.degraded_steps, args.seed)
        torch.set_num_threads(threads_before)
    if args.samples:
        start = time.perf_counter()
        summary["samples"] = args.samples
        summary["measured"] = {name: measure(args.out / name, args.samples) for name in (FULL_NAME, DEGRADED_NAME)}
        summary["measuring_seconds"] = round(time.perf_counter() - start, 1)
    print(json.dumps(summary, indent=2))


if __name__ == "__main__":
    main()
