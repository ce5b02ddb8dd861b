"""Where gan-eval keeps its files: `$GAN_EVAL_HOME`, default `~/.cache/gan-eval`."""

from __future__ import annotations

import os
from pathlib import Path


def cache_home() -> Path:
    """The cache root: `$GAN_EVAL_HOME`, default `~/.cache/gan-eval`."""
    home = os.environ.get("GAN_EVAL_HOME")
    return Path(home) if home else Path.home() / ".cache" / "gan-eval"
