"""Images from the user's own model: a callable `(n, seed) -> images`, an `nn.Module` generator, a DataLoader.

These sources draw their images in batches, in order, in the main process
(the pipeline reads any source with `load_range` that way), so one batch of
images is held at a time and nothing needs to be pickled for decode workers.
They have no content fingerprint, so their features are never cached: a
cache key could not tell two generators, or two versions of one, apart.

Seeding, so that the same call gives the same images:

- a module with latent size d: the latents of all `n` images are drawn at
  once as `torch.randn(n, d, generator=torch.Generator().manual_seed(seed))`
  on the CPU (the same latents as `gan-eval sample` for a checkpoint); the
  images are made `batch_size` latents at a time, in eval mode, without
  gradients, on the module's device;
- a callable: batch `b` (images `b * batch_size` onwards) is
  `fn(k, batch_seed(seed, b))`, `k` the images it holds;
- an iterable of image batches (a DataLoader) is read once, in order.

Each batch is checked and turned into uint8 by the rules of arrays
(`gan_eval.sources.arrays`): uint8 as it is, floats in the declared value
range, NaN, Inf or values outside the range refused with an error naming the
generator.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader

from gan_eval.errors import GanEvalError
from gan_eval.sources.arrays import ArraySource

GENERATOR_BATCH = 500
LATENT_ATTRIBUTES = ("latent_dim", "nz", "z_dim")
MODULE_VALUE_RANGE = (-1.0, 1.0)


def batch_seed(seed: int, batch: int) -> int:
    """The 32-bit seed a callable gets for its batch `batch`: NumPy's `SeedSequence([seed, batch])`."""
    return int(np.random.SeedSequence([seed, batch]).generate_state(1)[0])


def _as_uint8(images: Any, what: str, value_range: tuple[float, float]) -> np.ndarray:
    """A batch as `(B, H, W, 3)` uint8, checked and converted as arrays are; `what` names it in errors."""
    if not isinstance(images, (np.ndarray, torch.Tensor)):
        raise GanEvalError(f"{what} is a {type(images).__name__}; expected images as an array or tensor")
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu()
    batch = ArraySource(images, name=what, value_range=value_range)
    return batch.load_range(0, len(batch))


class _Sequential:
    """`n` images named `name[i]`, read through `load_range` (which each kind of source defines)."""

    name: str
    n: int

    def __len__(self) -> int:
        return self.n

    def describe(self, index: int) -> str:
        return f"{self.name}[{index}]"

    def load(self, index: int) -> np.ndarray:
        return self.load_range(index, index + 1)[0]

    def load_range(self, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError


class _DrawnInBatches(_Sequential):
    """Images `0..n-1` made batch by batch by `_draw(b, count)`; only the batch last drawn is kept."""

    def __init__(self, name: str, n: int, batch_size: int, value_range: tuple[float, float]) -> None:
        if n < 1:
            raise GanEvalError(f"{name}: n={n}; draw at least 1 image")
        if batch_size < 1:
            raise GanEvalError(f"{name}: batch size {batch_size}; must be at least 1")
        self.name = name
        self.n = n
        self.batch_size = batch_size
        self.value_range = value_range
        self._last: tuple[int, np.ndarray] | None = None

    def load_range(self, start: int, stop: int) -> np.ndarray:
        """Images `start:stop` as `(B, H, W, 3)` uint8."""
        parts = []
        for b in range(start // self.batch_size, (stop - 1) // self.batch_size + 1):
            images = self._batch(b)
            offset = b * self.batch_size
            parts.append(images[max(start - offset, 0) : stop - offset])
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _batch(self, b: int) -> np.ndarray:
        if self._last is None or self._last[0] != b:
            self._last = None  # let the previous batch go before drawing the next
            start = b * self.batch_size
            count = min(self.batch_size, self.n - start)
            what = f"{self.name} (images {start}..{start + count - 1})"
            images = _as_uint8(self._draw(b, count, what), what, self.value_range)
            if len(images) != count:
                raise GanEvalError(f"{what}: gave {len(images)} images for {count} asked")
            self._last = (b, images)
        return self._last[1]

    def _draw(self, b: int, count: int, what: str) -> Any:
        raise NotImplementedError

    def generation_settings(self) -> dict[str, Any]:
        """How the images were drawn: what travels with the numbers made from them."""
        return {
            "generator": self.name,
            "n": self.n,
            "batch_size": self.batch_size,
            "value_range": list(self.value_range),
        }


class CallableSource(_DrawnInBatches):
    """Images from `fn(k, seed) -> (k, 3, H, W)` images (uint8, or float in `value_range`); see the module doc."""

    def __init__(
        self,
        fn: Callable[[int, int], Any],
        n: int,
        seed: int = 0,
        value_range: tuple[float, float] = (0.0, 1.0),
        batch_size: int = GENERATOR_BATCH,
        name: str | None = None,
    ) -> None:
        super().__init__(
            name or f"generator {getattr(fn, '__qualname__', type(fn).__name__)}", n, batch_size, value_range
        )
        self.fn = fn
        self.seed = seed
        self._batch(0)  # a generator that fails, fails now, before any weights are loaded

    def _draw(self, b: int, count: int, what: str) -> Any:
        return self.fn(count, batch_seed(self.seed, b))

    def generation_settings(self) -> dict[str, Any]:
        return dict(super().generation_settings(), kind="callable", latent_seed=self.seed)


def latent_size(module: nn.Module, latent_dim: int | None, name: str) -> int:
    """`latent_dim` if given, else the module's `latent_dim`, `nz` or `z_dim` attribute."""
    if latent_dim is None:
        found = [getattr(module, a) for a in LATENT_ATTRIBUTES if isinstance(getattr(module, a, None), int)]
        if not found:
            raise GanEvalError(
                f"{name}: cannot tell its latent size (it has no {', '.join(LATENT_ATTRIBUTES)} attribute); "
                "give latent_dim= (CLI: --latent-dim)"
            )
        latent_dim = found[0]
    if latent_dim < 1:
        raise GanEvalError(f"{name}: latent size {latent_dim}; must be at least 1")
    return latent_dim


class ModuleSource(_DrawnInBatches):
    """Images from a generator module `G(z)`, `z: (B, latent_dim)` standard normal; see the module doc."""

    def __init__(
        self,
        module: nn.Module,
        n: int,
        seed: int = 0,
        latent_dim: int | None = None,
        value_range: tuple[float, float] = MODULE_VALUE_RANGE,
        batch_size: int = GENERATOR_BATCH,
        name: str | None = None,
    ) -> None:
        kind = getattr(module, "original_name", None) or type(module).__name__  # TorchScript keeps the class name
        super().__init__(name or f"generator {kind}", n, batch_size, value_range)
        self.module = module
        self.seed = seed
        self.latent_dim = latent_size(module, latent_dim, self.name)
        self._latents = torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(seed))
        self._batch(0)  # a generator that fails, fails now, before any weights are loaded

    @torch.no_grad()
    def _draw(self, b: int, count: int, what: str) -> Any:
        parameter = next(self.module.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        dtype = parameter.dtype if parameter is not None and parameter.is_floating_point() else torch.float32
        z = self._latents[b * self.batch_size : b * self.batch_size + count].to(device, dtype)
        was_training = self.module.training
        self.module.eval()
        try:
            out = self.module(z)
        except (RuntimeError, TypeError, ValueError) as exc:
            reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise GanEvalError(f"{what} failed on latents of shape {tuple(z.shape)}: {reason[:200]}") from None
        finally:
            self.module.train(was_training)
        return out.float().cpu() if isinstance(out, torch.Tensor) else out

    def generation_settings(self) -> dict[str, Any]:
        return dict(super().generation_settings(), kind="module", latent_seed=self.seed, latent_dim=self.latent_dim)


def known_image_count(batches: Any) -> int | None:
    """How many images a DataLoader yields, when its sampler says; None for anything else."""
    if not isinstance(batches, DataLoader) or batches.batch_size is None:
        return None
    try:
        total = len(batches.sampler)
    except TypeError:
        return None
    return total - total % batches.batch_size if batches.drop_last else total


class BatchIterableSource(_Sequential):
    """The first `n` images of an iterable of batches (`(B, 3, H, W)`, or `(images, labels)`), read once in order."""

    def __init__(
        self,
        batches: Iterable[Any],
        n: int | None = None,
        value_range: tuple[float, float] = (0.0, 1.0),
        name: str | None = None,
    ) -> None:
        self.name = name or f"batches of {type(batches).__name__}"
        known = known_image_count(batches)
        if n is None and known is None:
            raise GanEvalError(f"{self.name}: cannot tell how many images it holds; give n=, the number to read")
        if n is not None and known is not None and n > known:
            raise GanEvalError(f"{self.name} holds {known} images; n={n} asked for more")
        self.n = known if n is None else n
        if self.n < 1:
            raise GanEvalError(f"{self.name}: n={self.n}; read at least 1 image")
        self.batches = batches
        self.value_range = value_range
        self._iterator: Any = None
        self._position = 0
        self._pending = np.zeros((0, 1, 1, 3), np.uint8)

    def load_range(self, start: int, stop: int) -> np.ndarray:
        """Images `start:stop` as `(B, H, W, 3)` uint8; `start` may not go back to images already read."""
        if start < self._position:
            raise GanEvalError(f"{self.name} is read once, in order: image {start} was already read")
        parts = []
        while self._position < stop:
            if not len(self._pending):
                self._pending = self._next_batch()
            take = min(len(self._pending), stop - self._position)
            if self._position >= start:
                parts.append(self._pending[:take])
            else:
                take = min(take, start - self._position)
            self._pending = self._pending[take:]
            self._position += take
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def _next_batch(self) -> np.ndarray:
        if self._iterator is None:
            self._iterator = iter(self.batches)
        try:
            item = next(self._iterator)
        except StopIteration:
            raise GanEvalError(f"{self.name} ended after {self._position} images; n={self.n} were asked for") from None
        if isinstance(item, (tuple, list)) and item and isinstance(item[0], (np.ndarray, torch.Tensor)):
            item = item[0]  # (images, labels)
        return _as_uint8(item, f"{self.name} (batch at image {self._position})", self.value_range)

    def generation_settings(self) -> dict[str, Any]:
        """What was read: the first `n` images of the iterable, in its order."""
        return {"generator": self.name, "kind": "iterable", "n": self.n, "value_range": list(self.value_range)}
