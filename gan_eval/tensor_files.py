"""Tensor files read as data: `torch.load(weights_only=True)`, after refusing TorchScript archives.

`torch.load` hands a TorchScript archive to `torch.jit.load`, even with
`weights_only=True`, and that runs the archive's code; so every tensor file a
user can give (weights, checkpoints, cached networks) is checked by its zip
member names first and loaded through `load_tensors`.
"""

from __future__ import annotations

import zipfile
from pathlib import Path
from typing import Any

import torch


def is_torchscript_archive(path: str | Path) -> bool:
    """Whether `path` is a TorchScript archive (a zip holding `constants.pkl` or `code/`), by its member names.

    `torch.load` hands such a file to `torch.jit.load` even with `weights_only=True`, which runs its code:
    callers check this first.
    """
    try:
        if not zipfile.is_zipfile(path):
            return False
        with zipfile.ZipFile(path) as archive:
            return any(n.endswith("/constants.pkl") or "/code/" in n for n in archive.namelist())
    except (OSError, zipfile.BadZipFile):
        return False


def load_tensors(path: str | Path) -> Any:
    """`torch.load(path, weights_only=True)` on the CPU; a TorchScript archive raises `ValueError` unread."""
    if is_torchscript_archive(path):
        raise ValueError("a TorchScript archive, not a file of tensors (its code would run on loading)")
    return torch.load(path, map_location="cpu", weights_only=True)
