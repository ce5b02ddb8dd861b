"""What the pipeline needs from a feature extractor, and how an extractor registers.

An extractor turns uint8 RGB images into one or more named feature heads
(`pool3`, `logits_unbiased`, ...). The pipeline only uses the
`FeatureExtractor` protocol, so a small stand-in network can test the
plumbing without the real Inception.

Metrics do not name heads: they ask for a *kind* of output, `FEATURES` (the
embedding every distance is computed in: FID, KID, precision/recall, ...) or
`LOGITS` (class logits, for the Inception Score). An extractor's
`ExtractorSpec` says which of its heads serves each kind, its dimensions,
its resize and where its weights come from; `gan_eval.extractors.registry`
holds the specs by name.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import torch

from gan_eval.errors import GanEvalError, GanEvalWarning, caller_stacklevel
from gan_eval.extractors.weights_layouts import WeightsLayout
from gan_eval.feature_types import FEATURES

PRECISIONS = ("exact", "tf32", "bf16")  # float32 without TF32, TF32 tensor cores (CUDA), bfloat16 autocast


@runtime_checkable
class FeatureExtractor(Protocol):
    """A network mapping uint8 images to named feature heads."""

    name: str
    heads: tuple[str, ...]
    dims: dict[str, int]
    device: torch.device

    def settings(self) -> dict[str, str]:
        """Everything about the extractor that changes the numbers (name, weights hash, resize, precision, device)."""
        ...

    def extract(self, images: torch.Tensor | list[torch.Tensor], heads: tuple[str, ...]) -> dict[str, torch.Tensor]:
        """Features of `images`: `(N, 3, H, W)` uint8 or a list of `(3, H, W)` uint8 of any sizes.

        Returns one `(N, dims[head])` float32 tensor per requested head, on `device`.
        """
        ...


@dataclass(frozen=True)
class ExtractorSpec:
    """A registered feature space: its `--features` name and everything above the network asks of it.

    `extractor` is the name its settings record (statistics files, cache
    keys); `kinds` maps `FEATURES` (and `LOGITS` where it has a classifier)
    to its head names; `dims` gives each head's dimension. `load(weights,
    device, precision, progress)` builds the extractor, finding its weights
    (`weights`: a path, or None for its default search).

    `load` reads the weights' record (`weights_records`), not the file: the
    network is built, and its tensors read, on the first `extract`.

    For `gan-eval weights`: `weights_layouts()` lists the layouts the space's
    weights come in (a file goes to the space whose layout it fills),
    `import_weights(path)` checks a file, copies it into the cache and
    records what it is, and `describe_weights(verify)` lists the cached files
    as JSON-ready entries from their records (with `verify`, from a fresh
    check of each file).
    """

    name: str
    title: str
    extractor: str
    kinds: dict[str, str]
    dims: dict[str, int]
    resize: str
    load: Callable[[str | None, torch.device, str | None, bool], FeatureExtractor]
    weights_layouts: Callable[[], tuple[WeightsLayout, ...]] | None = None
    import_weights: Callable[[str], Path] | None = None
    describe_weights: Callable[[bool], list[dict[str, Any]]] | None = None

    def head(self, kind: str) -> str:
        """The head that serves `kind` (`FEATURES` or `LOGITS`)."""
        return self.kinds[kind]

    @property
    def feature_dim(self) -> int:
        """Dimension of the `FEATURES` head: what a statistics file of this space must hold."""
        return self.dims[self.kinds[FEATURES]]


def default_precision(device: torch.device) -> str:
    """`tf32` on CUDA (what PyTorch and the peers use there), `exact` elsewhere."""
    return "tf32" if device.type == "cuda" else "exact"


@contextlib.contextmanager
def precision_mode(precision: str, device: torch.device) -> Iterator[None]:
    """Set TF32 switches (and bf16 autocast) for the block, restoring them after."""
    saved = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    allow = precision == "tf32"
    torch.backends.cudnn.allow_tf32 = allow
    torch.backends.cuda.matmul.allow_tf32 = allow
    try:
        if precision == "bf16":
            with torch.autocast(device_type=device.type, dtype=torch.bfloat16):
                yield
        else:
            yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = saved


class ImageExtractor:
    """What every feature extractor of uint8 images shares: device and precision checks, its settings, and
    resizing a batch, or a list of images of any sizes in groups of one size, to `input_size`.

    A subclass sets `name`, `resize`, `kinds`, `heads`, `dims`, `input_size` and `weights_sha256`, and
    implements `_resize(images)`: `(n, 3, H, W)` uint8 of one size -> `(n, 3, input_size, input_size)`
    float32 on `device`, and `extract` (the `FeatureExtractor` protocol).
    """

    name: str
    resize: str
    input_size: int
    weights_sha256: str
    net: torch.nn.Module

    def __init__(self, device: torch.device | str = "cpu", precision: str | None = None) -> None:
        self.device = torch.device(device)
        if self.device.type == "cuda" and not torch.cuda.is_available():
            raise GanEvalError(f"--device {device}: CUDA is not available on this machine")
        self.precision = precision or default_precision(self.device)
        if self.precision not in PRECISIONS:
            raise GanEvalError(f"--precision {self.precision}: choose one of {', '.join(PRECISIONS)}")
        if self.device.type == "cpu" and self.precision == "tf32":
            raise GanEvalError("--precision tf32 needs CUDA; on CPU use 'exact' (or 'bf16')")
        self._compiled: Callable[[torch.Tensor], torch.Tensor] | None = None
        self._compile_failed = False

    def compile_wanted(self) -> bool:
        """Whether `forward` compiles the network: `tf32` and `bf16` on CUDA (`exact` stays the eager reference)."""
        return self.device.type == "cuda" and self.precision != "exact"

    def forward(self, batch: torch.Tensor) -> torch.Tensor:
        """`net(batch)`; for `compile_wanted()` through `torch.compile` (compiled once per extractor, then per
        input shape by torch's own cache), falling back to the eager network, with one warning, when
        compilation fails."""
        if not self.compile_wanted() or self._compile_failed:
            return self.net(batch)
        try:
            if self._compiled is None:
                self._compiled = torch.compile(self.net)
            return self._compiled(batch)
        except Exception as exc:  # compilers fail with many exception types; the eager network is the reference
            self._compile_failed = True
            reason = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
            warnings.warn(
                f"torch.compile of {self.name} failed ({reason}); running it eagerly",
                GanEvalWarning,
                stacklevel=caller_stacklevel(),
            )
            return self.net(batch)

    def settings(self) -> dict[str, str]:
        """Name, weights sha256, resize mode, precision and device: what changes the features."""
        return {
            "extractor": self.name,
            "weights_sha256": self.weights_sha256,
            "resize": self.resize,
            "precision": self.precision,
            "device": str(self.device),
        }

    def resized(self, images: torch.Tensor | list[torch.Tensor]) -> torch.Tensor:
        """uint8 images, a batch `(N, 3, H, W)` or a list of `(3, H, W)` of any sizes, as `(N, 3, S, S)` float32
        on `device` (S = `input_size`): each group of one size resized together, in input order."""
        if isinstance(images, torch.Tensor):
            return self._resize(images)
        by_shape: dict[tuple[int, ...], list[int]] = {}
        for i, image in enumerate(images):
            by_shape.setdefault(tuple(image.shape), []).append(i)
        size = self.input_size
        batch = torch.empty((len(images), 3, size, size), device=self.device)
        for indices in by_shape.values():
            group = torch.stack([images[i] for i in indices])
            batch[torch.tensor(indices, device=self.device)] = self._resize(group)
        return batch

    def _resize(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError
