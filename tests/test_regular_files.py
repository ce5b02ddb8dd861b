"""`require_regular_file`: named pipes, devices and links to them are refused by name, never opened."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from gan_eval.errors import GanEvalError
from gan_eval.regular_files import require_regular_file


def test_regular_files_and_links_to_them_pass(tmp_path: Path) -> None:
    (tmp_path / "a.npy").write_bytes(b"x")
    (tmp_path / "link.npy").symlink_to(tmp_path / "a.npy")
    require_regular_file(tmp_path / "a.npy")
    require_regular_file(tmp_path / "link.npy")


def test_a_path_that_cannot_be_examined_is_left_to_the_opener(tmp_path: Path) -> None:
    require_regular_file(tmp_path / "missing.npy")


def test_named_pipe_is_refused(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "x.npz")
    with pytest.raises(GanEvalError, match=re.escape("x.npz: not a regular file (a named pipe)")):
        require_regular_file(tmp_path / "x.npz")


@pytest.mark.parametrize("device", ["/dev/zero", "/dev/urandom"])
def test_link_to_a_device_is_refused_naming_the_device(tmp_path: Path, device: str) -> None:
    link = tmp_path / "x.zip"
    link.symlink_to(device)
    with pytest.raises(GanEvalError, match=re.escape(f"x.zip: not a regular file (a character device, {device})")):
        require_regular_file(link)


def test_the_message_takes_the_callers_name(tmp_path: Path) -> None:
    with pytest.raises(GanEvalError, match=re.escape("statistics file s.npz: not a regular file (a folder)")):
        require_regular_file(tmp_path, "statistics file s.npz")
