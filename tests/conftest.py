"""Shared fixtures: the real Inception weights, an isolated cache, and a stand-in extractor."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

import pytest
import torch

from gan_eval.weights import cached_weights


def _real_weights() -> Path | None:
    env = os.environ.get("GAN_EVAL_WEIGHTS")
    if env and Path(env).is_file():
        return Path(env)
    found = cached_weights()
    return found[0] if found else None


REAL_WEIGHTS = _real_weights()


@pytest.fixture(scope="session")
def real_weights() -> Path:
    """Path of the real TF Inception weights installed by the README's set-up (fails if absent)."""
    if REAL_WEIGHTS is None:
        pytest.fail("no Inception weights: run the README's set-up (it imports them into the cache)")
    return REAL_WEIGHTS


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache home; real weights are passed explicitly."""
    home = tmp_path_factory.mktemp("gan-eval-home")
    monkeypatch.setenv("GAN_EVAL_HOME", str(home))
    monkeypatch.delenv("GAN_EVAL_WEIGHTS", raising=False)
    return home


class StandInExtractor:
    """A tiny fixed random conv net with the `FeatureExtractor` protocol, for plumbing tests.

    Features: 8x8 adaptive average pool of the uint8 image (any size) through a
    fixed random projection to 16 dims, float32.
    """

    name = "stand-in"
    heads = ("pool3",)
    dims: ClassVar[dict[str, int]] = {"pool3": 16}

    def __init__(self) -> None:
        self.device = torch.device("cpu")
        generator = torch.Generator().manual_seed(0)
        self.projection = torch.randn(3 * 8 * 8, 16, generator=generator, dtype=torch.float64)

    def settings(self) -> dict[str, str]:
        return {
            "extractor": self.name,
            "weights_sha256": "0" * 64,
            "resize": "adaptive-avg-8",
            "precision": "exact",
            "device": "cpu",
        }

    def extract(self, images, heads=("pool3",)):
        batch = images if isinstance(images, torch.Tensor) else None
        if batch is None:
            pooled = [torch.nn.functional.adaptive_avg_pool2d(i.double().unsqueeze(0), 8) for i in images]
            flat = torch.cat(pooled).flatten(1)
        else:
            flat = torch.nn.functional.adaptive_avg_pool2d(batch.double(), 8).flatten(1)
        return {"pool3": (flat / 255 @ self.projection).float()}


@pytest.fixture
def stand_in() -> StandInExtractor:
    """The stand-in extractor."""
    return StandInExtractor()
