"""`gan_eval.pipeline.extract` with the stand-in extractor: batching, workers, bad files, feature order."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_eval.errors import GanEvalError
from gan_eval.extraction import ExtractionOptions
from gan_eval.pipeline import collate_decoded, default_batch_size, extract, iter_batches
from gan_eval.sources.arrays import ArraySource
from gan_eval.sources.folder import ImageFolderSource

N_IMAGES = 10


@pytest.fixture
def images() -> list[np.ndarray]:
    """Ten `(H, W, 3)` uint8 images of three sizes."""
    rng = np.random.default_rng(0)
    sizes = [(16, 16), (12, 20), (24, 10)]
    return [rng.integers(0, 256, (*sizes[i % 3], 3), dtype=np.uint8) for i in range(N_IMAGES)]


@pytest.fixture
def folder(tmp_path: Path, images: list[np.ndarray]) -> Path:
    root = tmp_path / "images"
    root.mkdir()
    for index, pixels in enumerate(images):
        Image.fromarray(pixels).save(root / f"{index:03d}.png")
    return root


def features_one_by_one(extractor, images: list[np.ndarray]) -> np.ndarray:
    """The stand-in's features of each image on its own, `(N, 16)` float64."""
    rows = [extractor.extract([torch.from_numpy(i).permute(2, 0, 1)])["pool3"][0] for i in images]
    return torch.stack(rows).double().numpy()


def assert_close(actual: np.ndarray, expected: np.ndarray, rel: float) -> None:
    assert np.abs(actual - expected).max() <= rel * np.abs(expected).max()


@pytest.mark.parametrize("workers", [0, 2])
@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_stats_do_not_depend_on_batches_or_workers(
    folder: Path, images: list[np.ndarray], stand_in, batch_size: int, workers: int
) -> None:
    result = extract(
        ImageFolderSource(folder),
        stand_in,
        ("pool3",),
        ExtractionOptions(batch_size=batch_size, workers=workers, progress=False),
    )
    reference = features_one_by_one(stand_in, images)
    stats = result.stats["pool3"]
    assert result.count == stats.count == N_IMAGES
    assert_close(stats.mean(), reference.mean(axis=0), 1e-12)
    assert_close(stats.covariance(), np.cov(reference, rowvar=False), 1e-12)


def test_default_batch_size_is_64_on_cpu_and_500_on_gpu(stand_in) -> None:
    assert default_batch_size(torch.device("cpu")) == 64
    assert default_batch_size(torch.device("cuda", 0)) == 500
    seen: list[int] = []
    extract_batch = stand_in.extract

    def recording(images, heads=("pool3",)):
        seen.append(len(images))
        return extract_batch(images, heads)

    stand_in.extract = recording
    pixels = np.zeros((70, 8, 8, 3), dtype=np.uint8)
    extract(ArraySource(pixels), stand_in, ("pool3",), ExtractionOptions(progress=False))
    assert seen == [64, 6]


@pytest.mark.parametrize("batch_size", [1, 3, 64])
def test_array_source_batches(stand_in, batch_size: int) -> None:
    pixels = np.random.default_rng(1).integers(0, 256, (N_IMAGES, 8, 8, 3), dtype=np.uint8)
    result = extract(
        ArraySource(pixels), stand_in, ("pool3",), ExtractionOptions(batch_size=batch_size, progress=False)
    )
    reference = features_one_by_one(stand_in, list(pixels))
    assert_close(result.stats["pool3"].covariance(), np.cov(reference, rowvar=False), 1e-12)


def test_keep_features_in_source_order(folder: Path, images: list[np.ndarray], stand_in) -> None:
    result = extract(
        ImageFolderSource(folder),
        stand_in,
        ("pool3",),
        ExtractionOptions(batch_size=4, workers=2, progress=False),
        keep_features=True,
    )
    kept = result.features["pool3"]
    assert kept.shape == (N_IMAGES, 16)
    assert_close(kept.astype(np.float64), features_one_by_one(stand_in, images), 1e-6)


def test_skip_bad_counts_and_skips_a_corrupt_file(folder: Path, images: list[np.ndarray], stand_in) -> None:
    (folder / "005.png").write_bytes(b"corrupt")
    result = extract(
        ImageFolderSource(folder),
        stand_in,
        ("pool3",),
        ExtractionOptions(batch_size=3, workers=0, progress=False, skip_bad=True),
        keep_features=True,
    )
    assert result.count == N_IMAGES - 1
    assert len(result.skipped) == 1
    assert "005.png" in result.skipped[0]
    good = images[:5] + images[6:]
    assert_close(result.stats["pool3"].covariance(), np.cov(features_one_by_one(stand_in, good), rowvar=False), 1e-12)


def test_a_corrupt_file_stops_extraction_without_skip_bad(folder: Path, stand_in) -> None:
    (folder / "005.png").write_bytes(b"corrupt")
    with pytest.raises(GanEvalError, match=re.escape("005.png")):
        extract(
            ImageFolderSource(folder), stand_in, ("pool3",), ExtractionOptions(batch_size=3, workers=0, progress=False)
        )


def test_all_files_bad_is_an_error(tmp_path: Path, stand_in) -> None:
    for name in ("a.png", "b.png"):
        (tmp_path / name).write_bytes(b"corrupt")
    with pytest.raises(GanEvalError, match="no image could be read"):
        extract(
            ImageFolderSource(tmp_path),
            stand_in,
            ("pool3",),
            ExtractionOptions(workers=0, progress=False, skip_bad=True),
        )


@pytest.mark.parametrize(("options", "message"), [({"batch_size": 0}, "batch-size"), ({"workers": -1}, "workers")])
def test_refuses_bad_options(folder: Path, stand_in, options: dict[str, int], message: str) -> None:
    with pytest.raises(GanEvalError, match=message):
        extract(ImageFolderSource(folder), stand_in, ("pool3",), ExtractionOptions(progress=False, **options))


@pytest.mark.parametrize("workers", [0, 1])
def test_workers_stack_batches_of_one_size_and_keep_mixed_ones_as_lists(tmp_path: Path, workers: int) -> None:
    """One size: `(B, 3, H, W)` tensors collated in the worker; mixed sizes: lists; bad files in order."""
    rng = np.random.default_rng(2)
    same = tmp_path / "same"
    same.mkdir()
    pixels = [rng.integers(0, 256, (9, 7, 3), dtype=np.uint8) for _ in range(7)]
    for i, image in enumerate(pixels):
        Image.fromarray(image).save(same / f"{i}.png")
    batches = list(iter_batches(ImageFolderSource(same), 3, workers, False, []))
    assert [tuple(b.shape) for b in batches] == [(3, 3, 9, 7), (3, 3, 9, 7), (1, 3, 9, 7)]
    assert all(isinstance(b, torch.Tensor) and b.dtype == torch.uint8 for b in batches)
    np.testing.assert_array_equal(torch.cat(batches).permute(0, 2, 3, 1).numpy(), np.stack(pixels))
    (same / "3.png").write_bytes(b"not a png")
    skipped: list[str] = []
    kept = list(iter_batches(ImageFolderSource(same), 3, workers, True, skipped))
    assert [len(b) for b in kept] == [3, 2, 1] and len(skipped) == 1 and "3.png" in skipped[0]
    with pytest.raises(GanEvalError, match=re.escape("3.png")):
        list(iter_batches(ImageFolderSource(same), 3, workers, False, []))


def test_mixed_sizes_arrive_as_lists(folder: Path, images: list[np.ndarray]) -> None:
    batches = list(iter_batches(ImageFolderSource(folder), 4, 0, False, []))
    assert all(isinstance(b, list) for b in batches)
    for got, want in zip((i for b in batches for i in b), images, strict=True):
        np.testing.assert_array_equal(got.permute(1, 2, 0).numpy(), want)


def test_collate_keeps_item_order_and_errors() -> None:
    a, b = torch.zeros(3, 2, 2, dtype=torch.uint8), torch.ones(3, 2, 2, dtype=torch.uint8)
    batch = collate_decoded([(0, a, None), (1, None, "x.png: bad"), (2, b, None)])
    assert torch.equal(batch.images, torch.stack([a, b])) and batch.errors == ["x.png: bad"]
    empty = collate_decoded([(0, None, "y.png: bad")])
    assert len(empty.images) == 0 and empty.errors == ["y.png: bad"]
