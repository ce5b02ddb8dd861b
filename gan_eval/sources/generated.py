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
  gradients, on the module's device. The module gets them as `(B, d)`, or
  reshaped to `(B, *latent_shape)` when `latent_shape` is given (then
  d = prod(latent_shape)). A classic DCGAN generator, whose first layer is
  a `Conv2d` or `ConvTranspose2d` of d input channels and which refuses
  `(B, d)` latents, gets them as `(B, d, 1, 1)`;
- a callable: batch `b` (images `b * batch_size` onwards) is
  `fn(k, batch_seed(seed, b))`, `k` the images it holds;
- an iterable of image batches (a DataLoader) is read once, in order.

Randomness drawn inside a generator (StyleGAN's noise inputs, a callable that
uses `torch.randn` or `np.random`) is seeded too: each batch is drawn with
torch's CPU generator, the CUDA generator of the module's device (for a
callable: of the current CUDA device, when CUDA is available), NumPy's and
Python's global generators all seeded with `batch_seed(seed, b)`, and every
one of them is put back as it was afterwards. So the same call gives the same
images, a batch drawn again is the same, and the caller's random state is
left untouched. Such noise depends on `batch_size`; the latents do not.

Each batch is checked and turned into uint8 by the rules of arrays
(`gan_eval.sources.arrays`): uint8 as it is, floats of any torch floating
dtype (bfloat16 is read as its float32 values) in the declared value range,
NaN, Inf or values outside the range refused with an error naming the
generator.
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Callable, Iterable, Iterator
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
CONVOLUTIONS_2D = ("Conv2d", "ConvTranspose2d")
NUMPY_FLOATS = (torch.float16, torch.float32, torch.float64)  # the torch floating dtypes NumPy has


def batch_seed(seed: int, batch: int) -> int:
    """The 32-bit seed a callable gets for its batch `batch`: NumPy's `SeedSequence([seed, batch])`."""
    return int(np.random.SeedSequence([seed, batch]).generate_state(1)[0])


@contextlib.contextmanager
def seeded_random_state(seed: int, cuda_devices: list[int]) -> Iterator[None]:
    """Inside: torch's CPU generator, those of `cuda_devices`, NumPy's and Python's global ones seeded with `seed`.

    Afterwards every one of them is as it was before (`seed`: 32 bits, as `batch_seed` gives).
    """
    numpy_state, python_state = np.random.get_state(), random.getstate()
    with torch.random.fork_rng(devices=cuda_devices, device_type="cuda"):
        torch.default_generator.manual_seed(seed)
        for index in cuda_devices:
            with torch.cuda.device(index):
                torch.cuda.manual_seed(seed)
        np.random.seed(seed)
        random.seed(seed)
        try:
            yield
        finally:
            np.random.set_state(numpy_state)
            random.setstate(python_state)


def _as_uint8(images: Any, what: str, value_range: tuple[float, float]) -> np.ndarray:
    """A batch as `(B, H, W, 3)` uint8, checked and converted as arrays are; `what` names it in errors."""
    if not isinstance(images, (np.ndarray, torch.Tensor)):
        raise GanEvalError(f"{what} is a {type(images).__name__}; expected images as an array or tensor")
    if isinstance(images, torch.Tensor):
        images = images.detach().cpu()
        if images.is_floating_point() and images.dtype not in NUMPY_FLOATS:
            images = images.float()  # bfloat16: NumPy has no such dtype, and float32 holds its values exactly
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

    def __init__(self, name: str, n: int, seed: int, batch_size: int, value_range: tuple[float, float]) -> None:
        if n < 1:
            raise GanEvalError(f"{name}: n={n}; draw at least 1 image")
        if batch_size < 1:
            raise GanEvalError(f"{name}: batch size {batch_size}; must be at least 1")
        self.name = name
        self.n = n
        self.seed = seed
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
            with seeded_random_state(batch_seed(self.seed, b), self._cuda_devices()):
                drawn = self._draw(b, count, what)
            images = _as_uint8(drawn, what, self.value_range)
            if len(images) != count:
                raise GanEvalError(f"{what}: gave {len(images)} images for {count} asked")
            self._last = (b, images)
        return self._last[1]

    def _draw(self, b: int, count: int, what: str) -> Any:
        raise NotImplementedError

    def _cuda_devices(self) -> list[int]:
        """The CUDA devices whose random state the generator may use."""
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
            name or f"generator {getattr(fn, '__qualname__', type(fn).__name__)}", n, seed, batch_size, value_range
        )
        self.fn = fn
        self._batch(0)  # a generator that fails, fails now, before any weights are loaded

    def _draw(self, b: int, count: int, what: str) -> Any:
        return self.fn(count, batch_seed(self.seed, b))

    def _cuda_devices(self) -> list[int]:
        return [torch.cuda.current_device()] if torch.cuda.is_available() else []

    def generation_settings(self) -> dict[str, Any]:
        return dict(super().generation_settings(), kind="callable", latent_seed=self.seed)


def latent_size(module: nn.Module, latent_dim: int | None, name: str) -> int:
    """`latent_dim` if given, else the module's `latent_dim`, `nz` or `z_dim` attribute."""
    if latent_dim is None:
        found = [getattr(module, a) for a in LATENT_ATTRIBUTES if isinstance(getattr(module, a, None), int)]
        if not found:
            raise GanEvalError(
                f"{name}: cannot tell its latent size (it has no {', '.join(LATENT_ATTRIBUTES)} attribute); "
                "give latent_dim= (CLI: --latent-dim) or latent_shape="
            )
        latent_dim = found[0]
    if latent_dim < 1:
        raise GanEvalError(f"{name}: latent size {latent_dim}; must be at least 1")
    return latent_dim


def given_latent_shape(
    latent_shape: int | tuple[int, ...] | list[int], latent_dim: int | None, name: str
) -> tuple[int, ...]:
    """`latent_shape` as a tuple of positive sizes, which must hold `latent_dim` values when both are given."""
    shape = (latent_shape,) if isinstance(latent_shape, int) else tuple(latent_shape)
    if not shape or any(not isinstance(size, int) or size < 1 for size in shape):
        raise GanEvalError(f"{name}: latent_shape={latent_shape}; give the shape of one latent, e.g. (100, 1, 1)")
    if latent_dim is not None and latent_dim != math.prod(shape):
        raise GanEvalError(f"{name}: latent_dim={latent_dim} but latent_shape={shape} holds {math.prod(shape)} values")
    return shape


def first_layer(module: nn.Module) -> nn.Module | None:
    """The first submodule, in definition order, that holds parameters of its own."""
    return next((m for m in module.modules() if next(m.parameters(recurse=False), None) is not None), None)


def takes_latent_channels(module: nn.Module, latent_dim: int) -> bool:
    """Whether the module starts like a classic DCGAN generator: a 2-d convolution of `latent_dim` channels."""
    first = first_layer(module)
    kind = getattr(first, "original_name", None) or type(first).__name__  # TorchScript keeps the class name
    return kind in CONVOLUTIONS_2D and getattr(first, "in_channels", None) == latent_dim


@contextlib.contextmanager
def evaluating(module: nn.Module) -> Iterator[None]:
    """The module and every submodule in eval mode, without gradients; each one's own mode back afterwards."""
    modes = [(m, m.training) for m in module.modules()]
    module.eval()
    try:
        with torch.no_grad():
            yield
    finally:
        for m, training in modes:
            m.training = training


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
        latent_shape: int | tuple[int, ...] | None = None,
    ) -> None:
        kind = getattr(module, "original_name", None) or type(module).__name__  # TorchScript keeps the class name
        super().__init__(name or f"generator {kind}", n, seed, batch_size, value_range)
        self.module = module
        self.device, self.dtype = self._placement()
        if latent_shape is not None:
            self.latent_shape = given_latent_shape(latent_shape, latent_dim, self.name)
            self.latent_dim = math.prod(self.latent_shape)
        else:
            self.latent_dim = latent_size(module, latent_dim, self.name)
        self._latents = torch.randn(n, self.latent_dim, generator=torch.Generator().manual_seed(seed))
        if latent_shape is None:
            self.latent_shape = self._inferred_latent_shape()
        self._batch(0)  # a generator that fails, fails now, before any weights are loaded

    def _placement(self) -> tuple[torch.device, torch.dtype]:
        """The device of the module's first parameter (or buffer) and the dtype its latents are given in.

        A module on the meta device holds no values: it is refused, before it is run.
        """
        for what, tensors in (("parameters", self.module.parameters()), ("buffers", self.module.buffers())):
            if any(t.is_meta for t in tensors):
                raise GanEvalError(f"{self.name}: its {what} are on the meta device; move it to cpu or cuda first")
        parameter = next(self.module.parameters(), None)
        tensor = parameter if parameter is not None else next(self.module.buffers(), None)
        device = tensor.device if tensor is not None else torch.device("cpu")
        floating = parameter is not None and parameter.is_floating_point()
        return device, parameter.dtype if floating else torch.float32

    def _cuda_devices(self) -> list[int]:
        return [self.device.index or 0] if self.device.type == "cuda" else []

    def _inferred_latent_shape(self) -> tuple[int, ...]:
        """`(d,)`, or `(d, 1, 1)` for a classic DCGAN generator.

        A classic one starts with a 2-d convolution of d channels and refuses latents `(2, d)`; gan-eval's own
        `ConvGenerator` starts so too but takes `(B, d)`, so the flat shape is tried first.
        """
        flat = (self.latent_dim,)
        if not takes_latent_channels(self.module, self.latent_dim):
            return flat
        with seeded_random_state(batch_seed(self.seed, 0), self._cuda_devices()), evaluating(self.module):
            try:
                self.module(self._latents[:2].to(self.device, self.dtype))
            except (RuntimeError, TypeError, ValueError):
                return (self.latent_dim, 1, 1)
        return flat

    def _draw(self, b: int, count: int, what: str) -> Any:
        z = self._latents[b * self.batch_size : b * self.batch_size + count].to(self.device, self.dtype)
        z = z.view(count, *self.latent_shape)
        with evaluating(self.module):
            try:
                out = self.module(z)
            except (RuntimeError, TypeError, ValueError) as exc:
                reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
                raise GanEvalError(
                    f"{what} failed on latents of shape {tuple(z.shape)}: {reason[:200]}; "
                    "if it takes latents of another shape, give latent_shape= (Python)"
                ) from None
        return out.float().cpu() if isinstance(out, torch.Tensor) else out

    def generation_settings(self) -> dict[str, Any]:
        settings = dict(super().generation_settings(), kind="module", latent_seed=self.seed, latent_dim=self.latent_dim)
        if self.latent_shape != (self.latent_dim,):
            settings["latent_shape"] = list(self.latent_shape)
        return settings


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
