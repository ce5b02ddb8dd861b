"""Faults in real subprocesses: kills, a full disk, Ctrl-C and two runs at once leave only complete files.

Each command runs as `python fault_driver.py ... -- ARGS` (see that file):
the real command line, with the stand-in network where Inception would only
cost time (a subprocess cannot use the pytest fixture), and a fault point the
test can wait for (the first batch, or the moment a file's data is written
but not yet renamed into place). One test runs the real network.

After a kill, no statistics file, cache entry, baseline or weights file may
exist in part; the old one, if any, is intact; and the next run succeeds and
removes the dead run's hidden temporary file.
"""

from __future__ import annotations

import hashlib
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from cli_harness import image_folder, serving
from write_barrier import all_held

from gan_eval.atomic import atomic_write_bytes
from gan_eval.cache import FeatureCache
from gan_eval.digest import file_sha256
from gan_eval.extractors.inception.weights import cached_weights
from gan_eval.gate import load_baseline
from gan_eval.stats import load_stats

DRIVER = Path(__file__).with_name("fault_driver.py")
TIMEOUT = 120


def start(*options: str | Path, args: tuple[str | Path, ...], new_session: bool = False) -> subprocess.Popen[str]:
    """`fault_driver.py OPTIONS -- ARGS` in the background, with this process's environment."""
    command = [sys.executable, str(DRIVER), *map(str, options), "--", *map(str, args)]
    return subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=new_session,
        # A shell's background job (`pytest &`) ignores SIGINT, and so would every child; a terminal's
        # program starts with the default disposition, which is what the Ctrl-C tests need.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )


def finish(proc: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=TIMEOUT)
    return proc.returncode, out, err


def run(*options: str | Path, args: tuple[str | Path, ...]) -> tuple[int, str, str]:
    return finish(start(*options, args=args))


def wait_for(proc: subprocess.Popen[str], ready, what: str) -> None:
    """Poll `ready()` until it is true; fail if the process ends first or it takes over `TIMEOUT` s."""
    deadline = time.monotonic() + TIMEOUT
    while not ready():
        if proc.poll() is not None:
            pytest.fail(f"the process ended (code {proc.returncode}) before {what}: {proc.communicate()[1]}")
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.05)


def kill(proc: subprocess.Popen[str]) -> None:
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=TIMEOUT)
    assert proc.returncode == -signal.SIGKILL


def assert_group_gone(pgid: int, within: float = 20.0) -> None:
    """No process (DataLoader workers included) is left in the process group `pgid` after `within` s."""
    deadline = time.monotonic() + within
    while True:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        if time.monotonic() > deadline:
            os.killpg(pgid, signal.SIGKILL)
            pytest.fail(f"processes of group {pgid} still running {within:.0f} s after the main one ended")
        time.sleep(0.1)


def temporaries(*roots: Path) -> list[Path]:
    """Hidden temporary files of atomic writes under `roots`."""
    return sorted(p for root in roots if root.exists() for p in root.rglob(".*.tmp"))


def cache_entries(home: Path) -> list[Path]:
    return FeatureCache(home / "features").entries()


@pytest.fixture
def images(tmp_path: Path) -> Path:
    return image_folder(tmp_path / "images", 6)


@pytest.fixture
def out(tmp_path: Path) -> Path:
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


# --- SIGKILL ----------------------------------------------------------------------------------------------


def test_sigkill_during_extraction_with_workers(images: Path, out: Path, isolated_cache: Path, tmp_path: Path) -> None:
    stats_args = ("stats", images, "-o", out / "stats.npz", "--batch-size", "1", "--workers", "2", "--quiet")
    marker = tmp_path / "extracting"
    proc = start("--stand-in", "--slow-batch", "5", "--marker", marker, args=stats_args, new_session=True)
    wait_for(proc, marker.exists, "the first batch")
    kill(proc)
    assert_group_gone(proc.pid)
    assert list(out.iterdir()) == []
    assert cache_entries(isolated_cache) == []
    code, _, err = run("--stand-in", args=stats_args)
    assert code == 0, err
    assert load_stats(out / "stats.npz").count == 6
    assert temporaries(out, isolated_cache) == []


def test_sigkill_during_a_cache_write(images: Path, out: Path, isolated_cache: Path, tmp_path: Path) -> None:
    stats_args = ("stats", images, "-o", out / "stats.npz", "--quiet")
    marker = tmp_path / "writing"
    proc = start("--stand-in", "--pause-in-write", "60", "--marker", marker, args=stats_args)
    wait_for(proc, marker.exists, "the cache write")
    kill(proc)
    assert len(temporaries(isolated_cache)) == 1  # the dead write's data, hidden, never an entry
    assert cache_entries(isolated_cache) == []
    assert list(out.iterdir()) == []
    code, _, err = run("--stand-in", args=stats_args)
    assert code == 0, err
    (entry,) = cache_entries(isolated_cache)
    assert FeatureCache(entry.parent.parent).load(entry.stem).stats.count == 6
    assert temporaries(out, isolated_cache) == []


def test_sigkill_during_update_baseline_keeps_the_old_one(out: Path, isolated_cache: Path, tmp_path: Path) -> None:
    real, fake = image_folder(tmp_path / "real", 6), image_folder(tmp_path / "fake", 6, seed=50)
    baseline = out / "baseline.json"
    gate_args = ("gate", "--real", real, "--fake", fake, "--baseline", baseline, "--update-baseline", "--quiet")
    code, _, err = run("--stand-in", args=(*gate_args, "--ci-groups", "3"))
    assert code == 0, err
    old = baseline.read_bytes()
    marker = tmp_path / "writing"
    # --no-cache: the baseline is the run's only write, so the pause is in it.
    proc = start("--stand-in", "--pause-in-write", "60", "--marker", marker, args=(*gate_args, "--no-cache"))
    wait_for(proc, marker.exists, "the baseline write")
    kill(proc)
    assert baseline.read_bytes() == old
    code, _, err = run("--stand-in", args=(*gate_args, "--ci-groups", "6"))
    assert code == 0, err
    assert load_baseline(baseline)["result"]["fid_ci_groups"] == 6
    assert temporaries(out, isolated_cache) == []


def test_sigkill_during_weights_download(
    images: Path, out: Path, isolated_cache: Path, real_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = real_weights.read_bytes()
    name = f"weights-inception-2015-12-05-{hashlib.sha256(payload).hexdigest()[:8]}{real_weights.suffix}"
    stats_args = ("stats", images, "-o", out / "stats.npz", "--quiet")
    weights_dir = isolated_cache / "weights"

    def partly_downloaded() -> bool:
        return any(p.stat().st_size >= 2 << 20 for p in temporaries(weights_dir))

    with serving(payload, chunk=1 << 20, delay=0.2) as slow:
        monkeypatch.setenv("GAN_EVAL_WEIGHTS_URL", f"{slow}/{name}")
        proc = start("--stand-in", "--download-weights", args=stats_args)
        wait_for(proc, partly_downloaded, "2 MB of the download")
        kill(proc)
    assert cached_weights() == []
    assert list(out.iterdir()) == []
    with serving(payload) as fast:
        monkeypatch.setenv("GAN_EVAL_WEIGHTS_URL", f"{fast}/{name}")
        code, _, err = run("--stand-in", "--download-weights", args=stats_args)
    assert code == 0, err
    assert cached_weights() == [weights_dir / name]
    assert file_sha256(weights_dir / name) == hashlib.sha256(payload).hexdigest()
    assert temporaries(weights_dir, out) == []


@pytest.mark.inception
def test_sigkill_during_extraction_with_the_real_network(
    images: Path, out: Path, isolated_cache: Path, real_weights: Path, cli, tmp_path: Path
) -> None:
    """`python -m gan_eval stats` itself, killed once the progress bar shows a first image; then run again.

    The second run's statistics equal, bit for bit, those of an uninterrupted run in this process.
    """
    command = [sys.executable, "-m", "gan_eval", "stats", str(images), "-o", str(out / "stats.npz")]
    command += ["--weights", str(real_weights), "--batch-size", "1", "--workers", "0"]
    proc = subprocess.Popen(command, stderr=subprocess.PIPE)
    seen = b""
    while b"1/6" not in seen:
        chunk = os.read(proc.stderr.fileno(), 4096)
        assert chunk, f"ended before the first image: {seen.decode(errors='replace')}"
        seen += chunk
    kill(proc)
    assert list(out.iterdir()) == []
    assert cache_entries(isolated_cache) == []
    again = subprocess.run([*command, "--batch-size", "64", "--quiet"], capture_output=True, text=True, timeout=TIMEOUT)
    assert again.returncode == 0, again.stderr
    assert temporaries(out, isolated_cache) == []
    here = tmp_path / "here.npz"
    assert cli("stats", images, "-o", here, "--weights", real_weights, "--no-cache", "--quiet").code == 0
    fresh, expected = load_stats(out / "stats.npz"), load_stats(here)
    assert fresh.count == expected.count == 6
    assert np.array_equal(fresh.mean(), expected.mean())
    assert np.array_equal(fresh.covariance(), expected.covariance())


# --- two runs at once -------------------------------------------------------------------------------------


def test_two_runs_writing_the_same_output_and_cache_entry(
    images: Path, out: Path, isolated_cache: Path, tmp_path: Path
) -> None:
    """Each run is held in each of its writes, data written and not yet renamed, until the other is held there too.

    While both are held, both runs' temporary files exist side by side and the destination is not there yet
    (the cache entry), or is not there yet either (the statistics file, written after the entry). Let go,
    both succeed and leave one valid file of each, and no temporary file.
    """
    stats_args = ("stats", images, "-o", out / "stats.npz", "--batch-size", "2", "--quiet")
    barrier = tmp_path / "barrier"
    barrier.mkdir()
    procs = [start("--stand-in", "--hold-writes", barrier, args=stats_args) for _ in range(2)]
    with all_held(procs, barrier, 0):  # the cache entry
        assert len(temporaries(isolated_cache)) == 2
        assert cache_entries(isolated_cache) == []
    with all_held(procs, barrier, 1):  # the statistics file
        assert len(temporaries(out)) == 2
        assert not (out / "stats.npz").exists()
        (entry,) = cache_entries(isolated_cache)
        assert FeatureCache(entry.parent.parent).load(entry.stem).stats.count == 6
        assert temporaries(isolated_cache) == []
    for proc in procs:
        code, _, err = finish(proc)
        assert code == 0, err
    assert [p.name for p in out.iterdir()] == ["stats.npz"]
    assert load_stats(out / "stats.npz").count == 6
    (entry,) = cache_entries(isolated_cache)
    assert FeatureCache(entry.parent.parent).load(entry.stem).stats.count == 6
    assert temporaries(out, isolated_cache) == []


# --- a full disk (a file size limit: writes past it fail as on a full disk) -------------------------------


def _full_disk_case(kind: str, images: Path, out: Path, home: Path, tmp_path: Path) -> tuple[tuple, Path, int]:
    """(command, the path its error must name, the file size limit in bytes) for one kind of write."""
    if kind == "statistics-file":
        return ("stats", images, "-o", out / "stats.npz", "--no-cache"), out / "stats.npz", 1024
    if kind == "cache-entry":
        return ("stats", images, "-o", out / "stats.npz"), home / "features", 1024
    # 20 images a side: more than the stand-in's 16 dimensions, so no rank-deficiency warning.
    real, fake = image_folder(tmp_path / "real", 20), image_folder(tmp_path / "fake", 20, seed=50)
    if kind == "report-folder":
        # report.json fits in 8 KB, precision_recall.png does not: neither may appear.
        return ("report", real, fake, "--metrics", "fid,pr", "--out", out, "--no-cache"), out, 8192
    if kind == "baseline":
        baseline = out / "baseline.json"
        gate_args = ("gate", "--real", real, "--fake", fake, "--baseline", baseline, "--update-baseline")
        return (*gate_args, "--no-cache", "--ci-groups", "0"), baseline, 1024
    raise AssertionError(kind)


@pytest.mark.parametrize("kind", ["statistics-file", "cache-entry", "report-folder", "baseline"])
def test_full_disk_gives_one_line_and_no_partial_file(
    kind: str, images: Path, out: Path, isolated_cache: Path, tmp_path: Path
) -> None:
    args, culprit, limit = _full_disk_case(kind, images, out, isolated_cache, tmp_path)
    # Decoding in this process: the limit would also stop a worker's batch from reaching it through
    # shared memory (a file as large as the batch); this test is about the output's write.
    code, _, err = run("--stand-in", "--file-size-limit", str(limit), args=(*args, "--quiet", "--workers", "0"))
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: cannot write {culprit}") and "File too large" in err, err
    assert list(out.iterdir()) == []
    assert cache_entries(isolated_cache) == []
    assert temporaries(out, isolated_cache) == []


def test_full_disk_during_weights_download(
    images: Path, out: Path, isolated_cache: Path, real_weights: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    payload = real_weights.read_bytes()
    name = f"weights-inception-2015-12-05-{hashlib.sha256(payload).hexdigest()[:8]}{real_weights.suffix}"
    with serving(payload) as base:
        monkeypatch.setenv("GAN_EVAL_WEIGHTS_URL", f"{base}/{name}")
        args = ("stats", images, "-o", out / "stats.npz", "--quiet")
        code, _, err = run("--stand-in", "--download-weights", "--file-size-limit", str(4 << 20), args=args)
    assert code == 2, err
    assert len(err.splitlines()) == 1 and "Traceback" not in err, err
    assert err.startswith(f"error: cannot write {isolated_cache / 'weights' / name}: File too large"), err
    assert cached_weights() == []
    assert temporaries(isolated_cache) == []


# --- Ctrl-C -----------------------------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["process-group", "main-process"])
def test_ctrl_c_during_extraction_with_workers(
    target: str, images: Path, out: Path, isolated_cache: Path, tmp_path: Path
) -> None:
    """SIGINT to the whole group (a terminal's Ctrl-C) or to the main process alone: 130, one line, no workers."""
    stats_args = ("stats", images, "-o", out / "stats.npz", "--batch-size", "1", "--workers", "2", "--quiet")
    marker = tmp_path / "extracting"
    proc = start("--stand-in", "--slow-batch", "3", "--marker", marker, args=stats_args, new_session=True)
    wait_for(proc, marker.exists, "the first batch")
    sent = time.monotonic()
    if target == "process-group":
        os.killpg(proc.pid, signal.SIGINT)
    else:
        proc.send_signal(signal.SIGINT)
    code, _, err = finish(proc)
    assert time.monotonic() - sent < 10
    assert code == 130, err
    assert err.splitlines() == ["interrupted"], err
    assert_group_gone(proc.pid)
    assert list(out.iterdir()) == []
    assert cache_entries(isolated_cache) == []
    assert temporaries(out, isolated_cache) == []


def test_only_temporaries_of_dead_writers_on_this_host_are_removed(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    host = socket.gethostname()
    dest = tmp_path / "stats [1].npz"  # a name with glob characters
    stale = tmp_path / f".{dest.name}.{int(dead.stdout)}@{host}.abcd1234.tmp"
    live = tmp_path / f".{dest.name}.{os.getpid()}@{host}.abcd1234.tmp"
    elsewhere = tmp_path / f".{dest.name}.{int(dead.stdout)}@another-{host}.abcd1234.tmp"
    other_file = tmp_path / f".other.npz.{int(dead.stdout)}@{host}.abcd1234.tmp"
    for path in (stale, live, elsewhere, other_file):
        path.write_bytes(b"partial")
    atomic_write_bytes(dest, b"complete")
    assert dest.read_bytes() == b"complete"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (dest, live, elsewhere, other_file))
