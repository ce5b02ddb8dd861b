"""Every Python block of README.md and docs/*.md runs, so the documentation cannot drift from the API again.

The blocks of one file run in order in one namespace (a later block may use what an earlier one made, as a
reader would), in a folder holding what they name: `real/`, `fake/` and `real_images/` (a few small
images), the shipped `reference_models/`, and the objects a block takes as given (`G`, `netG`, `loader`,
`points`, ...), small. Every feature space is the stand-in network (the real ones are tested against their
official forwards elsewhere; here only the calls matter), and `device="cuda"` runs on the CPU where no GPU
is. A block written as a diff (lines starting with `+` or a space) runs as the code it shows.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from stand_in import StandInExtractor
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gan_eval.datasets.toy2d import sample_ring8
from gan_eval.extractors import registry
from gan_eval.feature_types import FEATURES

ROOT = Path(__file__).resolve().parent.parent
DOCUMENTS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)


def python_blocks(path: Path) -> list[str]:
    """The Python blocks of a Markdown file, diffs turned into the code they show."""
    blocks = []
    for match in BLOCK.finditer(path.read_text()):
        lines = match.group(1).splitlines()
        if any(line.startswith("+") for line in lines):
            lines = [line[1:] for line in lines]
        blocks.append("\n".join(lines) + "\n")
    return blocks


class TinyGenerator(nn.Module):
    """z (B, 8) -> images (B, 3, 8, 8) in [-1, 1]."""

    latent_dim = 8

    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(8, 3 * 8 * 8), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.flatten(1)).view(-1, 3, 8, 8)


class TinyDcganGenerator(nn.Module):
    """z (B, nz, 1, 1) -> images (B, 3, 8, 8) in [-1, 1], as a DCGAN's."""

    def __init__(self, nz: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.ConvTranspose2d(nz, 3, 8), nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class TinyDiscriminator(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 1), nn.Sigmoid())

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Trainer:
    """Lightning's `Trainer` as the monitoring page constructs it (the callback itself is tested elsewhere)."""

    def __init__(self, callbacks: list) -> None:
        self.callbacks = callbacks


def fd_median(a: np.ndarray, b: np.ndarray) -> float:
    """The architecture page's example metric: a Fréchet-like distance of medians."""
    return float(np.sum((np.median(a, axis=0) - np.median(b, axis=0)) ** 2))


def _images(folder: Path, seed: int, n: int = 12, side: int = 8) -> None:
    folder.mkdir()
    rng = np.random.default_rng(seed)
    for i in range(n):
        Image.fromarray(rng.integers(0, 256, (side, side, 3), dtype=np.uint8)).save(folder / f"{i:02d}.png")


@pytest.fixture
def stand_in_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every registered feature space computes the stand-in's 16-d features."""
    for name, spec in list(registry.EXTRACTORS.items()):
        stand_in = dataclasses.replace(
            spec,
            extractor="stand-in",
            kinds={FEATURES: "pool3"},
            dims={"pool3": 16},
            resize="adaptive-avg-8",
            load=lambda weights, device, precision, progress: StandInExtractor(),
        )
        monkeypatch.setitem(registry.EXTRACTORS, name, stand_in)


@pytest.fixture
def workspace(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, stand_in_spaces, digit_classifier_cached
) -> dict[str, object]:
    """A folder with the files the blocks name, as the current directory, and the names they take as given."""
    for name, seed in (("real", 0), ("fake", 1), ("real_images", 2)):
        _images(tmp_path / name, seed)
    for name, seed in (("real_by_class", 3), ("fake_by_class", 4)):
        for label in ("0", "1"):
            (tmp_path / name).mkdir(exist_ok=True)
            _images(tmp_path / name / label, seed + 10 * int(label), n=6, side=32)
    (tmp_path / "reference_models").symlink_to(ROOT / "reference_models")
    monkeypatch.chdir(tmp_path)
    real_cuda = torch.device
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    nz = TinyGenerator.latent_dim
    images = torch.rand(12, 3, 8, 8) * 2 - 1
    loader = DataLoader(TensorDataset(images, torch.zeros(12)), batch_size=6)
    net_g, net_d = TinyDcganGenerator(nz), TinyDiscriminator()
    return {
        "torch": torch,
        "nn": nn,
        "np": np,
        "G": TinyGenerator(),
        "my_sample": lambda n, seed: np.random.default_rng(seed).integers(0, 256, (n, 3, 8, 8), dtype=np.uint8),
        "train_loader": DataLoader(TensorDataset((images + 1) / 2), batch_size=6),  # floats in [0, 1]
        "points": sample_ring8(200, seed=0),
        "nz": nz,
        "netG": net_g,
        "netD": net_d,
        "loader": loader,
        "reference_loader": loader,
        "bce": nn.BCELoss(),
        "optD": torch.optim.SGD(net_d.parameters(), lr=0.01),
        "optG": torch.optim.SGD(net_g.parameters(), lr=0.01),
        "steps": 2,
        "Trainer": Trainer,
        "fd_median": fd_median,
        "_cuda": real_cuda,
    }


def _runnable(code: str) -> str:
    """The block as it runs here: CUDA devices on the CPU, and documented sizes at a test's scale."""
    code = code.replace('device="cuda"', 'device="cpu"')
    return re.sub(r"n=(\d[\d_]*)", lambda m: f"n={min(int(m.group(1).replace('_', '')), 24)}", code)


def _architecture_names() -> dict[str, object]:
    from typing import Any

    from gan_eval.feature_types import InputFeatures
    from gan_eval.metrics.registry import FAKE, LOWER, REAL, MetricOptions, Need, ResultKey, register_metric
    from gan_eval.monitor.alarms import Alarm, AlarmRule, AlarmRules, Latch, Threshold, register_rule

    return {
        "Alarm": Alarm,
        "AlarmRule": AlarmRule,
        "AlarmRules": AlarmRules,
        "Latch": Latch,
        "Threshold": Threshold,
        "register_rule": register_rule,
        "Any": Any,
        "InputFeatures": InputFeatures,
        "MetricOptions": MetricOptions,
        "Need": Need,
        "REAL": REAL,
        "FAKE": FAKE,
        "FEATURES": FEATURES,
        "LOWER": LOWER,
        "ResultKey": ResultKey,
        "register_metric": register_metric,
    }


def test_every_document_with_python_is_checked() -> None:
    """A new page with Python blocks is picked up by the parametrisation below (nothing to add by hand)."""
    with_blocks = {path.name for path in DOCUMENTS if python_blocks(path)}
    assert {"README.md", "inputs.md", "metrics.md", "monitoring.md", "reference-generators.md"} <= with_blocks


@pytest.mark.filterwarnings("ignore::gan_eval.errors.GanEvalWarning")
@pytest.mark.parametrize("path", [p for p in DOCUMENTS if python_blocks(p)], ids=lambda p: p.name)
def test_the_python_blocks_of_a_document_run(path: Path, workspace: dict[str, object], monkeypatch) -> None:
    from gan_eval.metrics import registry as metrics_registry
    from gan_eval.monitor import alarms

    # A block may register a metric or an alarm rule: the registries are restored after the test.
    monkeypatch.setattr(metrics_registry, "METRICS", dict(metrics_registry.METRICS))
    monkeypatch.setattr(alarms, "RULES", dict(alarms.RULES))
    namespace = dict(workspace, __name__="__doc__")
    if path.name == "architecture.md":
        namespace.update(_architecture_names())
    for number, block in enumerate(python_blocks(path)):
        try:
            exec(compile(_runnable(block), f"{path.name} block {number}", "exec"), namespace)
        except Exception as exc:
            pytest.fail(f"{path.name}, Python block {number} raised {type(exc).__name__}: {exc}\n{block}")
