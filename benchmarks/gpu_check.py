"""The GPU proof in one run: correctness against CPU, throughput per precision, end-to-end timings next to
torch-fidelity 0.4.0, the k-NN metrics at 50k, and `torchrun` against one process.

    python benchmarks/gpu_check.py OUT_DIR                 # on a GPU machine, about 8 minutes
    python benchmarks/gpu_check.py OUT_DIR --small --device cpu   # tiny sizes, runs in the test suite

Every section's figures go to `OUT_DIR/results.json` as soon as the section ends (written atomically, so
a run cut short keeps what it measured), and the log to `OUT_DIR/log.txt`. Sections:

a. features on the device (`exact`) against CPU `exact` on real images (the digits test split): max
   relative difference; FID exact on the device against CPU on 2 x 500 images.
b. per precision: network images/s at the chosen batch size (299 x 299 input, warm, synchronised), and
   the FID deviation from `exact` on 2 x 5,000 images.
c. end to end (decode, network, statistics, FID) on two folders of 50,000 32 x 32 PNGs, feature cache
   off, with the run's extractor for each precision (weights read and network compiled once, then a
   warm-up run on a small folder), per precision; torch-fidelity on the same folders, same weights and
   TF32 setting, in the same run (it builds its network in every call, as its API does).
d. the same for 10,000 vs 10,000 256 x 256 PNGs (tf32).
e. `evaluate` with KID, precision/recall and density/coverage at 50,000, timed.
f. `torchrun --standalone --nproc_per_node=1 -m gan_eval fid` against one process on the same folders.

The images of c-f are seeded smooth random images (not data): two sets whose FID is far from 0.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from gan_eval.atomic import atomic_write_bytes
from gan_eval.datasets.digits import digits_images
from gan_eval.evaluation import evaluate
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.base import PRECISIONS, FeatureExtractor
from gan_eval.extractors.inception.weights import resolve_weights_path
from gan_eval.pipeline import default_batch_size

sys.path.insert(0, str(Path(__file__).parent))
from bench_extractor_cpu import torch_fidelity_weights_file


@dataclass(frozen=True)
class Sizes:
    """Image counts of each section."""

    real: int = 64
    fid_exact: int = 500
    fid_precision: int = 5000
    throughput_batches: int = 20
    warm_up_batches: int = 3  # network batches before b's timing (compile, cuDNN autotuning)
    folder_32: int = 50_000
    folder_256: int = 10_000
    warm_up: int = 1000  # 0: no warm-up run
    torchrun: int = 2000


# The fewest images each section's code accepts (about 100 network images in all): FID needs 2 a side,
# density/coverage (section e, on the 32x32 folders) 6 real ones. The --small batch holds those 6, so c's FID
# (from streamed statistics) and e's (from kept features) of the same folders sum the same single batch: FID
# of 6 images in 2048 dimensions turns another summation order into a relative difference of about 1e-9.
SMALL_BATCH = 6
SMALL = Sizes(
    real=2,
    fid_exact=2,
    fid_precision=2,
    throughput_batches=1,
    warm_up_batches=1,
    folder_32=6,
    folder_256=2,
    warm_up=0,
    torchrun=2,
)


class Check:
    """Runs the sections, logging each line and keeping every figure in `results.json`."""

    def __init__(self, out: Path, device: torch.device, sizes: Sizes, batch_size: int, peer: bool) -> None:
        self.out, self.device, self.sizes, self.batch_size, self.peer = out, device, sizes, batch_size, peer
        self.start = time.perf_counter()
        self.results: dict[str, Any] = {
            "machine": machine(device),
            "date": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
            "sizes": sizes.__dict__,
            "batch_size": batch_size,
            "device": str(device),
        }
        self.log_file = (out / "log.txt").open("a", encoding="utf-8")
        self._extractors: dict[tuple[str, str], FeatureExtractor] = {}

    def log(self, line: str) -> None:
        line = f"[{time.perf_counter() - self.start:7.1f} s] {line}"
        print(line, flush=True)
        self.log_file.write(line + "\n")
        self.log_file.flush()

    def record(self, section: str, figures: dict[str, Any]) -> None:
        self.results[section] = figures
        atomic_write_bytes(self.out / "results.json", json.dumps(self.results, indent=2).encode())

    def options(self, precision: str, **changes: Any) -> ExtractionOptions:
        return ExtractionOptions(
            device=self.device, precision=precision, batch_size=self.batch_size, progress=False, cache=False
        ).with_changes(**changes)

    def extractor(self, precision: str, device: torch.device | None = None) -> FeatureExtractor:
        """One extractor per device and precision for the whole run: weights read and network built (and on
        CUDA compiled) once, as a long-running evaluation service or a second run in one process has it."""
        device = device or self.device
        key = (str(device), precision)
        if key not in self._extractors:
            self._extractors[key] = self.options(precision, device=device).load_extractor()
        return self._extractors[key]

    def fid(self, a: Any, b: Any, precision: str, device: torch.device | None = None) -> float:
        """`gan_eval.evaluate`'s FID of two inputs with this run's extractor for `precision` on `device`."""
        extraction = self.options(precision, device=device or self.device)
        return evaluate(a, b, ["fid"], extraction=extraction, extractor=self.extractor(precision, device)).values["fid"]

    def precisions(self) -> list[str]:
        """The precisions the device runs: all three on CUDA, `exact` and `bf16` on CPU."""
        return [p for p in PRECISIONS if self.device.type == "cuda" or p != "tf32"]


def machine(device: torch.device) -> str:
    gpu = torch.cuda.get_device_name(device) if device.type == "cuda" else "no GPU"
    return f"{gpu}; {os.cpu_count()} CPU cores; {platform.platform()}; torch {torch.__version__}"


def relative(a: float, b: float) -> float:
    return abs(a - b) / max(abs(b), 1e-300)


def synchronize(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def timed(into: dict[str, float], key: str, device: torch.device) -> Iterator[None]:
    synchronize(device)
    start = time.perf_counter()
    yield
    synchronize(device)
    into[key] = time.perf_counter() - start


def smooth_images(n: int, size: int, seed: int) -> np.ndarray:
    """`(n, size, size, 3)` uint8: 4 x 4 random colours per image, upsampled by PIL's bilinear filter.

    NumPy and PIL only: the folder writers run it in forked processes, where an OpenMP runtime that torch
    had started in the parent would hang.
    """
    coarse = np.random.default_rng(seed).integers(0, 256, (n, 4, 4, 3), dtype=np.uint8)
    return np.stack([np.asarray(Image.fromarray(c).resize((size, size), Image.BILINEAR)) for c in coarse])


def _write_chunk(folder: Path, start: int, n: int, size: int, seed: int) -> None:
    for offset, pixels in enumerate(smooth_images(n, size, seed + start)):
        Image.fromarray(pixels).save(folder / f"{start + offset:06d}.png", compress_level=1)


def write_folder(folder: Path, n: int, size: int, seed: int) -> Path:
    """A folder of `n` seeded smooth PNGs of `size` x `size`, written by all cores."""
    folder.mkdir(parents=True, exist_ok=True)
    chunk = 500
    with ProcessPoolExecutor(max_workers=os.cpu_count() or 1) as pool:
        jobs = [pool.submit(_write_chunk, folder, s, min(chunk, n - s), size, seed) for s in range(0, n, chunk)]
        for job in jobs:
            job.result()
    return folder


def section_a(check: Check) -> None:
    """Device exact against CPU exact: features of real images, and FID."""
    real = torch.from_numpy(digits_images("test")[: check.sizes.real]).permute(0, 3, 1, 2).contiguous()
    cpu = torch.device("cpu")
    on_cpu, on_device = check.extractor("exact", cpu), check.extractor("exact")
    with torch.inference_mode():
        cpu_features = on_cpu.extract(real, ("pool3",))["pool3"].double().cpu()
        device_features = on_device.extract(real, ("pool3",))["pool3"].double().cpu()
    feature_diff = float((device_features - cpu_features).abs().max() / cpu_features.abs().max())
    n = check.sizes.fid_exact
    a, b = smooth_images(n, 32, 1), smooth_images(n, 32, 2)
    fid_cpu, fid_device = check.fid(a, b, "exact", cpu), check.fid(a, b, "exact")
    figures = {
        "max_relative_feature_difference": feature_diff,
        "fid_cpu": fid_cpu,
        "fid_device": fid_device,
        "fid_relative_difference": relative(fid_device, fid_cpu),
    }
    check.log(
        f"a. exact on {check.device} vs CPU: features max rel diff {feature_diff:.2e} on {len(real)} images; "
        f"FID {fid_device:.6f} vs {fid_cpu:.6f} (rel {figures['fid_relative_difference']:.2e}, 2 x {n})"
    )
    check.record("a_device_vs_cpu", figures)


def section_b(check: Check) -> None:
    """Per precision: network images/s at the batch size, and FID's deviation from exact."""
    n = check.sizes.fid_precision
    a, b = smooth_images(n, 32, 3), smooth_images(n, 32, 4)
    batch = torch.randint(0, 256, (check.batch_size, 3, 299, 299), dtype=torch.uint8, device=check.device)
    figures: dict[str, Any] = {}
    exact_fid = None
    for precision in check.precisions():
        extractor = check.extractor(precision)
        times: dict[str, float] = {}
        with torch.inference_mode():
            for _ in range(check.sizes.warm_up_batches):
                extractor.extract(batch, ("pool3",))
            with timed(times, "network", check.device):
                for _ in range(check.sizes.throughput_batches):
                    extractor.extract(batch, ("pool3",))
        rate = check.batch_size * check.sizes.throughput_batches / times["network"]
        value = check.fid(a, b, precision)
        exact_fid = value if precision == "exact" else exact_fid
        figures[precision] = {"images_per_second": rate, "fid": value}
        if exact_fid is not None:
            figures[precision]["fid_relative_deviation_from_exact"] = relative(value, exact_fid)
        check.log(
            f"b. {precision}: network {rate:,.0f} images/s at batch {check.batch_size}; FID {value:.6f} (2 x {n})"
        )
    check.record("b_precisions", figures)


def peer_fid(
    folder_a: Path, folder_b: Path, weights_file: Path, device: torch.device, precision: str, batch_size: int
) -> float:
    """torch-fidelity's FID of two folders on our weights, with the TF32 switches of `precision`."""
    import torch_fidelity

    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = precision == "tf32"
    try:
        metrics = torch_fidelity.calculate_metrics(
            input1=str(folder_a),
            input2=str(folder_b),
            cuda=device.type == "cuda",
            fid=True,
            feature_extractor_weights_path=str(weights_file),
            batch_size=batch_size,
            cache=False,
            verbose=False,
        )
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved
    return float(metrics["frechet_inception_distance"])


def end_to_end(
    check: Check, label: str, folders: tuple[Path, Path], warm: tuple[Path, Path] | None, precisions: list[str]
) -> dict[str, Any]:
    """`gan_eval.fid` on two folders per precision after a warm-up run, and the peer where it has the mode."""
    figures: dict[str, Any] = {}
    weights_file = torch_fidelity_weights_file(resolve_weights_path(progress=False), check.out)
    for precision in precisions:
        if warm is not None:
            check.fid(*warm, precision)
        times: dict[str, float] = {}
        with timed(times, "ours", check.device):
            ours = check.fid(*folders, precision)
        row: dict[str, Any] = {"fid": ours, "seconds": times["ours"]}
        line = f"{label} {precision}: gan-eval {times['ours']:.1f} s (FID {ours:.6f})"
        if check.peer and precision != "bf16":
            if warm is not None:
                peer_fid(*warm, weights_file, check.device, precision, check.batch_size)
            with timed(times, "peer", check.device):
                peer = peer_fid(*folders, weights_file, check.device, precision, check.batch_size)
            row.update(
                peer_fid=peer,
                peer_seconds=times["peer"],
                speedup=times["peer"] / times["ours"],
                fid_relative_difference=relative(ours, peer),
            )
            line += f"; torch-fidelity {times['peer']:.1f} s (FID {peer:.6f}): {row['speedup']:.2f}x"
        figures[precision] = row
        check.log(line)
    weights_file.unlink()
    return figures


def section_e(check: Check, folders: tuple[Path, Path]) -> None:
    """KID, precision/recall and density/coverage at the folder size, features extracted once, timed."""
    precision = "tf32" if check.device.type == "cuda" else "exact"
    times: dict[str, float] = {}
    with timed(times, "total", check.device):
        result = evaluate(
            *folders,
            ["fid", "kid", "pr", "dc"],
            extraction=check.options(precision),
            extractor=check.extractor(precision),
        )
    values = {k: v for k, v in result.values.items() if isinstance(v, (int, float))}
    check.log(f"e. fid+kid+pr+dc on {result.n_real} vs {result.n_fake}: {times['total']:.1f} s total ({values})")
    check.record("e_knn_metrics", {"seconds": times["total"], "values": values, "n": result.n_real})


def section_f(check: Check, folders: tuple[Path, Path]) -> None:
    """`torchrun --nproc_per_node=1` against one process: the same FID."""
    precision = "tf32" if check.device.type == "cuda" else "exact"
    common = [*map(str, folders), "--json", "--no-cache", "--quiet", "--device", str(check.device)]
    common += ["--precision", precision]
    single = run_json([sys.executable, "-m", "gan_eval", "fid", *common])
    torchrun = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=1"]
    launched = run_json([*torchrun, "-m", "gan_eval", "fid", *common])
    figures = {"single": single["fid"], "torchrun": launched["fid"], "equal": single["fid"] == launched["fid"]}
    check.log(f"f. torchrun 1 process FID {launched['fid']:.6f} vs one process {single['fid']:.6f}")
    check.record("f_torchrun", figures)


def run_json(command: list[str]) -> dict[str, Any]:
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:6])} ... exited {done.returncode}: {done.stderr.strip()[-500:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="folder for results.json and log.txt (created)")
    parser.add_argument("--small", action="store_true", help="tiny sizes (for the CPU test)")
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--batch-size", type=int, help="default: the pipeline's for the device")
    parser.add_argument("--no-peer", action="store_true", help="skip torch-fidelity")
    parser.add_argument("--sections", default="abcdef", help="which sections to run (letters)")
    args = parser.parse_args(argv)
    device = torch.device(args.device)
    sizes = SMALL if args.small else Sizes()
    args.out.mkdir(parents=True, exist_ok=True)
    batch_size = args.batch_size or (SMALL_BATCH if args.small else default_batch_size(device))
    check = Check(args.out, device, sizes, batch_size, not args.no_peer)
    check.log(f"gpu_check on {check.results['machine']}; sizes {sizes}; batch {batch_size}")
    steps: dict[str, Callable[[Path], None]] = {
        "a": lambda _: section_a(check),
        "b": lambda _: section_b(check),
        "c": lambda work: check.record(
            "c_end_to_end_32",
            end_to_end(
                check,
                "c. 32x32",
                folders(work, "32", sizes.folder_32, 32),
                warm_folders(work, sizes, 32),
                check.precisions() if not args.small else ["exact"],
            ),
        ),
        "d": lambda work: check.record(
            "d_end_to_end_256",
            end_to_end(
                check,
                "d. 256x256",
                folders(work, "256", sizes.folder_256, 256),
                warm_folders(work, sizes, 256),
                ["tf32" if device.type == "cuda" else "exact"],
            ),
        ),
        "e": lambda work: section_e(check, folders(work, "32", sizes.folder_32, 32)),
        "f": lambda work: section_f(check, folders(work, "torchrun", sizes.torchrun, 32)),
    }
    failed = []
    with tempfile.TemporaryDirectory() as tmp:
        for letter in args.sections:
            try:
                steps[letter](Path(tmp))
            except Exception as exc:  # one failed section must not cost the others their figures
                failed.append(letter)
                check.log(f"{letter}. FAILED: {exc}")
                check.record(f"{letter}_failed", {"error": str(exc)})
    check.log("done" if not failed else f"done; failed sections: {', '.join(failed)}")
    return 1 if failed else 0


def folders(work: Path, name: str, n: int, size: int) -> tuple[Path, Path]:
    """The two image folders `work/name_a`, `work/name_b` (written on first use)."""
    pair = (work / f"{name}_a", work / f"{name}_b")
    for seed, folder in enumerate(pair):
        if not folder.exists():
            write_folder(folder, n, size, 1000 * (seed + 1))
    return pair


def warm_folders(work: Path, sizes: Sizes, size: int) -> tuple[Path, Path] | None:
    """Folders for the warm-up run (weights read, network compiled), or None for none."""
    return folders(work, f"warm{size}", sizes.warm_up, size) if sizes.warm_up else None


if __name__ == "__main__":
    sys.exit(main())
