"""Counts beyond what memory holds, refused in one line before any allocation ("Reliability, round three").

A count (`paired --bootstrap`, `gate -n`, `n=` of a generator given to
`gan_eval.fid`) sizes arrays; `gan_eval.count_limits.check_count` refuses one
whose bytes exceed the machine's memory, or over its sane upper bound, before
anything is allocated or read. A command line that used to allocate until
memory ran out runs in a subprocess whose address space is capped, with a
timeout, so a regression fails fast instead of starving the machine.
"""

from __future__ import annotations

import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from cli_harness import CliRun, assert_refused, files_under, image_folder
from test_round_two_outputs import checkpoint

import gan_eval
from gan_eval import count_limits
from gan_eval.errors import GanEvalError
from gan_eval.extractors.inception.extractor import INCEPTION_NAME
from gan_eval.paired.bootstrap import MAX_RESAMPLES, bootstrap_mean_interval
from gan_eval.paired.evaluation import PairedOptions
from gan_eval.stats import FeatureStats, save_stats

ADDRESS_SPACE = 8 << 30  # the subprocess's cap: torch's libraries fit, a count's arrays would not
SUBPROCESS_TIMEOUT = 120
POOL3 = 2048


def run_capped(*args: str | Path) -> CliRun:
    """`gan-eval ARGS` in a subprocess with `ADDRESS_SPACE` of memory at most and a timeout."""

    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    ran = subprocess.run(
        [sys.executable, "-m", "gan_eval", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=SUBPROCESS_TIMEOUT,
        stdin=subprocess.DEVNULL,
        preexec_fn=cap,
    )
    return CliRun(ran.returncode, ran.stdout, ran.stderr)


def reference_file(path: Path, source: str = "/data/real") -> Path:
    """Inception-sized statistics (mean 0, identity covariance, n=100) recorded as made from `source`."""
    meta = {"source": source, "extractor": INCEPTION_NAME}
    save_stats(FeatureStats.from_moments(np.zeros(POOL3), np.eye(POOL3), 100, meta), path)
    return path


class Generator(torch.nn.Module):
    """A generator `G(z)` of 8x8 images in [-1, 1] with a 512-d latent."""

    latent_dim = 512

    def __init__(self) -> None:
        super().__init__()
        self.linear = torch.nn.Linear(self.latent_dim, 3 * 8 * 8)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.tanh(self.linear(z)).view(-1, 3, 8, 8)


# --- paired --bootstrap ----------------------------------------------------------------------------------


def test_paired_bootstrap_of_ten_billion_is_refused_before_any_pair_is_read(tmp_path: Path) -> None:
    """Used to run 42 s and die with a memory traceback: the resamples' means alone are 80 GB."""
    image_folder(tmp_path / "pred", 3)
    image_folder(tmp_path / "target", 3, seed=10)
    start = time.perf_counter()
    run = run_capped("paired", tmp_path / "pred", tmp_path / "target", "--bootstrap", 10**10, "--out", tmp_path / "o")
    line = assert_refused(run, "--bootstrap 10000000000", message=f"at most {MAX_RESAMPLES} are allowed")
    assert "1e+10 bootstrap means would need 80.1 GB" in line and "the machine's memory is " in line
    assert time.perf_counter() - start < SUBPROCESS_TIMEOUT / 2
    assert not (tmp_path / "o").exists()


def test_bootstrap_resamples_beyond_memory_are_refused_by_their_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(count_limits, "machine_memory_bytes", lambda: 10**6)
    with pytest.raises(GanEvalError) as caught:
        PairedOptions(bootstrap=10**6)
    # 8 bytes a mean, and one chunk of 2**22 draws (int64 index, float64 value): 8e6 + 16 * 2**22 bytes.
    assert str(caught.value) == (
        "--bootstrap 1000000: 1e+06 bootstrap means need 75.1 MB, more than the machine's memory (1 MB)"
    )
    with pytest.raises(GanEvalError, match=r"^resamples=200: 200 bootstrap means need "):
        bootstrap_mean_interval(np.arange(10**5, dtype=np.float64), resamples=200)


def test_machine_memory_falls_back_to_meminfo_and_then_to_no_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_sysconf(name: str) -> int:
        raise ValueError(name)

    monkeypatch.setattr(count_limits.os, "sysconf", no_sysconf)
    (tmp_path / "meminfo").write_text("MemFree:  512 kB\nMemTotal:  2048 kB\n")
    monkeypatch.setattr(count_limits, "MEMINFO", tmp_path / "meminfo")
    assert count_limits.machine_memory_bytes() == 2048 * 1024
    monkeypatch.setattr(count_limits, "MEMINFO", tmp_path / "absent")
    assert count_limits.machine_memory_bytes() is None
    count_limits.check_count("-n 1000", 1000, 10**30, "1e+03 huge things")  # memory unknown: not refused by bytes
    with pytest.raises(
        GanEvalError, match=r"^-n 1000: at most 10 are allowed \(.*; the machine's memory is unknown\)$"
    ):
        count_limits.check_count("-n 1000", 1000, 10**30, "1e+03 huge things", limit=10)


# --- a generator's n: the library and gate -n ------------------------------------------------------------


def test_fid_of_a_generator_count_beyond_memory_raises_before_drawing(tmp_path: Path) -> None:
    """`gan_eval.fid(stats, G, n=10**10)` used to ask torch for 20 TB of latents (a RuntimeError)."""
    reference = reference_file(tmp_path / "ref.npz")
    start = time.perf_counter()
    with pytest.raises(GanEvalError) as caught:
        gan_eval.fid(reference, Generator(), n=10**10, progress=False)
    message = str(caught.value)
    assert message.startswith("n=10000000000: 1e+10 latents of 512 float32 need 20.5 TB, more than the machine's")
    assert time.perf_counter() - start < 10
    with pytest.raises(GanEvalError, match=r"^n=10000000000: 1e\+10 latents of 512 float32 need 20.5 TB"):
        gan_eval.compute_statistics(Generator(), n=10**10, progress=False)


def scripted_generator(path: Path) -> Path:
    """`Generator` saved as TorchScript (its `latent_dim` class attribute is not kept: give --latent-dim)."""
    torch.jit.save(torch.jit.script(Generator()), path)
    return path


@pytest.mark.filterwarnings("ignore:`torch.jit:FutureWarning")
@pytest.mark.parametrize("kind", ["torchscript", "checkpoint"])
def test_gate_generator_count_beyond_memory_is_refused_in_one_line(cli, tmp_path: Path, kind: str) -> None:
    """A TorchScript generator used to allocate its latents (a RuntimeError traceback); a checkpoint's refusal
    named `1000000000000 samples`, not the `-n` that asked for them."""
    reference = reference_file(tmp_path / "ref.npz")
    if kind == "torchscript":
        generator, latent = scripted_generator(tmp_path / "g.pt"), ("--latent-dim", "512")
        what = "1e+12 latents of 512 float32 need 2.05 PB"
    else:
        generator, latent = checkpoint(tmp_path / "ckpt"), ()
        what = "1e+12 latents (one float32 at least) need 4 TB"
    before = files_under(tmp_path)
    args = ("gate", "--real", reference, "--generator", generator, "-n", 10**12, *latent, "--max-fid", "10")
    line = assert_refused(cli(*args), "-n 1000000000000", message=what)
    assert "more than the machine's memory" in line
    assert files_under(tmp_path) == before
