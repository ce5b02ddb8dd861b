"""Which torch device runs the networks and the metric math: `cpu`, `cuda` or `cuda:INDEX`."""

from __future__ import annotations

import torch

from gan_eval.errors import GanEvalError


def default_device() -> torch.device:
    """`cuda` when a GPU is present, else `cpu`."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def parse_device(device: str | torch.device | None) -> torch.device:
    """A torch device from `cpu`, `cuda` or `cuda:i`, with a clear error otherwise; None is `default_device()`."""
    if device is None:
        return default_device()
    try:
        parsed = torch.device(device)
    except RuntimeError:
        raise GanEvalError(f"--device {device}: use cpu, cuda or cuda:INDEX") from None
    if parsed.type not in ("cpu", "cuda"):
        raise GanEvalError(f"--device {device}: use cpu, cuda or cuda:INDEX")
    if parsed.type == "cuda":
        if not torch.cuda.is_available():
            raise GanEvalError(f"--device {device}: CUDA is not available on this machine")
        if parsed.index is not None and parsed.index >= torch.cuda.device_count():
            raise GanEvalError(f"--device {device}: only {torch.cuda.device_count()} GPU(s) present")
    return parsed
