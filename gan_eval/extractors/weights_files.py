"""Weights files read as data and downloaded safely: the parts every feature space's weights code shares.

`read_state_dict` loads a PyTorch state dict with `weights_only=True` and
refuses anything but a dict of tensors, so no code in a weights file runs.
`download_to` streams a URL into an open (atomic) file with a progress bar,
and reports transfers cut short; the caller checks the sha256 it returns.
"""

from __future__ import annotations

import hashlib
import http.client
import urllib.error
import urllib.request
from pathlib import Path
from typing import BinaryIO

import torch

from gan_eval.errors import GanEvalError
from gan_eval.tensor_files import is_torchscript_archive


def read_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """A `.pth` state dict read as data (`weights_only`): a dict of tensors, batch-norm counters dropped.

    A TorchScript archive is refused before `torch.load` sees it (which would hand it to `torch.jit.load`).
    """
    if is_torchscript_archive(path):
        raise GanEvalError(f"weights file {path} is a TorchScript archive, not a PyTorch state dict")
    try:
        loaded = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file
        raise GanEvalError(f"weights file {path} is not a readable PyTorch state dict ({type(exc).__name__})") from None
    if not isinstance(loaded, dict) or not all(isinstance(v, torch.Tensor) for v in loaded.values()):
        raise GanEvalError(f"weights file {path} does not hold a state dict of tensors")
    return {k: v for k, v in loaded.items() if not k.endswith("num_batches_tracked")}


def download_to(url: str, out: BinaryIO, name: str, progress: bool, timeout: float) -> str:
    """Stream `url` into `out`; return the hex sha256 of what was received."""
    from tqdm import tqdm

    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except urllib.error.HTTPError as exc:
        raise GanEvalError(f"cannot download weights from {url}: HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", None) or exc
        raise GanEvalError(f"cannot download weights from {url}: {reason}") from None
    digest = hashlib.sha256()
    received = 0
    with response:
        length = response.headers.get("Content-Length", "")
        total = int(length) if length.isdigit() else None
        with tqdm(total=total, unit="B", unit_scale=True, desc=f"downloading {name}", disable=not progress) as bar:
            while True:
                try:
                    block = response.read(1 << 20)
                except (http.client.HTTPException, OSError) as exc:
                    raise GanEvalError(
                        f"download of {url} was cut short after {received} bytes ({type(exc).__name__})"
                    ) from None
                if not block:
                    break
                out.write(block)
                digest.update(block)
                received += len(block)
                bar.update(len(block))
    if total is not None and received != total:
        raise GanEvalError(f"download of {url} was cut short ({received} of {total} bytes)")
    return digest.hexdigest()
