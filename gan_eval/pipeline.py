"""One pass over an image source: decode in worker processes, extract, accumulate.

Sources that read in batches (`load_range`: arrays, generators) are read in
this process, in order. Files are decoded in a `DataLoader` whose workers
return either an image or the error message naming the bad file, so errors
surface in the main process as a `GanEvalError` (or are counted and skipped
with `skip_bad`). Batches go to
the extractor, and each requested head's features feed a float64
`FeatureStats` and, when asked, an in-memory feature store.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Subset

from gan_eval import distributed
from gan_eval.errors import GanEvalError
from gan_eval.extraction import ExtractionOptions
from gan_eval.extractors.base import FeatureExtractor
from gan_eval.sources.base import ImageSource
from gan_eval.stats import DeviceMoments, FeatureStats


@dataclass
class Extraction:
    """What one pass over a source produced: statistics per head, and features if kept."""

    stats: dict[str, FeatureStats]
    features: dict[str, np.ndarray] = field(default_factory=dict)
    count: int = 0
    skipped: list[str] = field(default_factory=list)


class _DecodedImages(Dataset):
    """Items `(index, (3, H, W) uint8 tensor or None, error message or None)`."""

    def __init__(self, source: ImageSource) -> None:
        self.source = source

    def __len__(self) -> int:
        return len(self.source)

    def __getitem__(self, index: int) -> tuple[int, torch.Tensor | None, str | None]:
        try:
            pixels = self.source.load(index)
        except GanEvalError as exc:
            return index, None, str(exc)
        return index, torch.from_numpy(np.ascontiguousarray(pixels)).permute(2, 0, 1), None


@dataclass
class DecodedBatch:
    """A batch as a decode worker collates it: the readable images and the messages of the unreadable files.

    `images`: `(B, 3, H, W)` uint8 when every image has one size (stacked in the worker, so the main
    process and the host-to-device copy handle one tensor), else a list of `(3, H, W)` uint8.
    """

    images: torch.Tensor | list[torch.Tensor]
    errors: list[str]

    def pin_memory(self) -> DecodedBatch:
        """The batch in pinned host memory (what `DataLoader(pin_memory=True)` calls), for an async copy."""
        if isinstance(self.images, torch.Tensor):
            return DecodedBatch(self.images.pin_memory(), self.errors)
        return DecodedBatch([image.pin_memory() for image in self.images], self.errors)


def collate_decoded(items: list[tuple[int, torch.Tensor | None, str | None]]) -> DecodedBatch:
    """`_DecodedImages` items -> one `DecodedBatch`, in item order (runs in the decode worker)."""
    images = [image for _, image, error in items if error is None]
    errors = [error for _, _, error in items if error is not None]
    if images and len({tuple(image.shape) for image in images}) == 1:
        return DecodedBatch(torch.stack(images), errors)
    return DecodedBatch(images, errors)


def _single_thread_worker(_: int) -> None:
    torch.set_num_threads(1)


def default_workers(device: torch.device) -> int:
    """Decode workers: the network dominates on CPU, so one; on GPU up to 16."""
    cores = os.cpu_count() or 1
    return 1 if device.type == "cpu" else min(16, cores)


CPU_BATCH = 64
# On a GPU the network wants large batches: the H100 figures the GPU issue starts from were
# measured at 500 (Inception at 500 needs a few GB; a ViT-L/14 at 336 px about 10 GB).
GPU_BATCH = 500


def default_batch_size(device: torch.device) -> int:
    """Images per forward pass when none is given: 64 on CPU (the prepacked Inception layout), 500 on GPU."""
    return CPU_BATCH if device.type == "cpu" else GPU_BATCH


def iter_batches(
    source: ImageSource,
    batch_size: int,
    workers: int,
    skip_bad: bool,
    skipped: list[str],
    pin_memory: bool = False,
    bounds: tuple[int, int] | None = None,
) -> Iterator[torch.Tensor | list[torch.Tensor]]:
    """uint8 batches of `source` in order: `(B, 3, H, W)` when a batch's images share one size, else lists of
    `(3, H, W)` (files of mixed sizes). Files are decoded and collated in `workers` processes.

    `bounds`: only the items `[start, stop)` (a shard); default all. Bad files
    raise `GanEvalError`, or with `skip_bad` are appended to `skipped`.
    `pin_memory`: batches arrive in pinned memory (for a non-blocking copy to a GPU).
    """
    first, last = bounds or (0, len(source))
    if hasattr(source, "load_range"):  # arrays and generators: read in batches, in order, in this process
        for start in range(first, last, batch_size):
            chunk = source.load_range(start, min(start + batch_size, last))
            yield torch.from_numpy(np.ascontiguousarray(chunk)).permute(0, 3, 1, 2).contiguous()
        return
    decoded = _DecodedImages(source)
    loader = DataLoader(
        decoded if (first, last) == (0, len(source)) else Subset(decoded, range(first, last)),
        batch_size=batch_size,
        num_workers=workers,
        collate_fn=collate_decoded,
        pin_memory=pin_memory,
        worker_init_fn=_single_thread_worker if workers else None,
        persistent_workers=False,
        generator=torch.Generator().manual_seed(0),  # its workers' seeds come from here, not the caller's state
    )
    for batch in loader:
        if batch.errors and not skip_bad:
            raise GanEvalError(batch.errors[0])
        skipped.extend(batch.errors)
        if len(batch.images):
            yield batch.images


def extract(
    source: ImageSource,
    extractor: FeatureExtractor,
    heads: tuple[str, ...],
    options: ExtractionOptions,
    *,
    keep_features: bool = False,
) -> Extraction:
    """Features of every image of `source` for `heads`, as statistics (and arrays if `keep_features`).

    Reads `options`' batch size, workers, progress and skip_bad.

    Under torchrun (see `gan_eval.distributed`) this rank extracts its shard
    and the result is combined across ranks: every rank returns the whole.
    """
    return extract_spaces(source, [(extractor, heads)], options, keep_features=keep_features)[0]


def extract_spaces(
    source: ImageSource,
    jobs: Sequence[tuple[FeatureExtractor, tuple[str, ...]]],
    options: ExtractionOptions,
    *,
    keep_features: bool = False,
) -> list[Extraction]:
    """`extract` for several extractors (feature spaces) from one decode pass: one `Extraction` per job.

    Each batch is decoded once and handed to every extractor with its heads; workers and pinned memory
    follow the first extractor's device.
    """
    from tqdm import tqdm

    device = jobs[0][0].device
    workers = default_workers(device) if options.workers is None else options.workers
    batch_size = default_batch_size(device) if options.batch_size is None else options.batch_size
    results = [Extraction(stats={h: FeatureStats(extractor.dims[h]) for h in heads}) for extractor, heads in jobs]
    kept: list[dict[str, list[np.ndarray]]] = [{h: [] for h in heads} for _, heads in jobs]
    moments = [{h: DeviceMoments(extractor.dims[h]) for h in heads} for extractor, heads in jobs]
    skipped: list[str] = []
    count = 0
    bounds = distributed.shard_bounds(len(source))
    error = None
    with tqdm(
        total=bounds[1] - bounds[0],
        unit="img",
        desc=os.path.basename(source.name) or source.name,
        disable=not options.progress or not distributed.is_primary(),
        file=sys.stderr,
        dynamic_ncols=True,
    ) as bar:
        try:
            pin = device.type == "cuda"
            for batch in iter_batches(source, batch_size, workers, options.skip_bad, skipped, pin, bounds):
                for (extractor, heads), moments_here, kept_here in zip(jobs, moments, kept, strict=True):
                    for head, values in extractor.extract(batch, heads).items():
                        moments_here[head].update(values)
                        if keep_features:
                            kept_here[head].append(values.cpu().numpy())
                count += len(batch)
                bar.update(count + len(skipped) - bar.n)
        except GanEvalError as exc:
            if not distributed.active():
                raise
            error = str(exc)
    for (extractor, _), result, moments_here, kept_here in zip(jobs, results, moments, kept, strict=True):
        for head, accumulated in moments_here.items():
            accumulated.into(result.stats[head])
        result.count, result.skipped = count, list(skipped)
        if distributed.active():
            distributed.raise_if_any(error)
            combine_ranks(result, kept_here, extractor.dims, keep_features)
        if result.count == 0:
            raise GanEvalError(f"{source.name}: no image could be read ({len(result.skipped)} skipped)")
        if keep_features:
            result.features = {
                h: np.concatenate(v) if v else np.zeros((0, extractor.dims[h]), np.float32)
                for h, v in kept_here.items()
            }
    return results


def combine_ranks(
    result: Extraction, kept: dict[str, list[np.ndarray]], dims: dict[str, int], keep_features: bool
) -> None:
    """Merge every rank's statistics (`FeatureStats.merge`, in rank order) and, if kept, gather the features
    in rank (= input) order; in place, identical on every rank."""
    for head, stats in result.stats.items():
        merged = FeatureStats(dims[head], meta=dict(stats.meta))
        for part in distributed.all_gather_objects(stats):
            merged = merged.merge(part)
        stats.count, stats.total, stats.outer = merged.count, merged.total, merged.outer
        if keep_features:
            local = np.concatenate(kept[head]) if kept[head] else np.zeros((0, dims[head]), np.float32)
            kept[head] = [part for part in distributed.all_gather_objects(local) if len(part)]
    result.count = sum(distributed.all_gather_objects(result.count))
    result.skipped = [item for part in distributed.all_gather_objects(result.skipped) for item in part]
