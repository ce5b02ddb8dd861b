"""Temporary names of `gan_eval.atomic`: within NAME_MAX for any legal destination name, and found again as stale."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from gan_eval.atomic import atomic_folder, atomic_write, atomic_write_bytes, temporary_prefix

NAME_MAX = 255


def dead_pid() -> int:
    """The id of a process that has exited."""
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    return int(done.stdout)


@pytest.mark.parametrize("name", ["a" * 250 + ".npz", "é" * 125 + ".npz", "x" * 255])
def test_temporary_names_of_long_destinations_stay_within_name_max(tmp_path: Path, name: str) -> None:
    dest = tmp_path / name
    with atomic_write(dest) as handle:
        handle.write(b"data")
        (temporary,) = [p for p in tmp_path.iterdir() if p != dest]
        assert len(os.fsencode(temporary.name)) <= NAME_MAX
        assert temporary.name.startswith(temporary_prefix(dest))
    assert dest.read_bytes() == b"data"
    assert list(tmp_path.iterdir()) == [dest]


def test_short_names_keep_their_name_and_long_ones_are_cut_and_hashed(tmp_path: Path) -> None:
    assert temporary_prefix(tmp_path / "stats.npz") == ".stats.npz."
    long_a, long_b = temporary_prefix(tmp_path / ("a" * 200 + "1")), temporary_prefix(tmp_path / ("a" * 200 + "2"))
    assert long_a != long_b
    assert long_a.startswith("." + "a" * 83 + "~") and len(long_a) == 102


def test_stale_temporaries_of_a_long_name_are_removed_and_others_kept(tmp_path: Path) -> None:
    dest = tmp_path / ("b" * 250 + ".npz")
    host = socket.gethostname()
    prefix = temporary_prefix(dest)
    stale = tmp_path / f"{prefix}{dead_pid()}@{host}.abcd1234.tmp"
    live = tmp_path / f"{prefix}{os.getpid()}@{host}.abcd1234.tmp"
    other = tmp_path / f"{temporary_prefix(tmp_path / ('b' * 250 + '.npy'))}{dead_pid()}@{host}.abcd1234.tmp"
    for path in (stale, live, other):
        path.write_bytes(b"partial")
    atomic_write_bytes(dest, b"complete")
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(p.name for p in (dest, live, other))


def test_a_folder_of_a_long_name_is_staged_under_a_short_one(tmp_path: Path) -> None:
    dest = tmp_path / ("c" * 250)
    with atomic_folder(dest) as staging:
        assert len(os.fsencode(staging.name)) <= NAME_MAX
        (staging / "f").write_bytes(b"x")
    assert (dest / "f").read_bytes() == b"x"
