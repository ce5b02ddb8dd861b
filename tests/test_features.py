"""One pass per input, served from the cache the second time, with bit-identical statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_eval.cache import FeatureCache
from gan_eval.evaluation import evaluate
from gan_eval.features import input_features
from gan_eval.metrics.registry import MetricOptions
from gan_eval.sources import ArraySource, ImageFolderSource


class Counting:
    """Wraps an extractor and counts the images it is asked to extract."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.images = 0
        for attr in ("name", "heads", "dims", "device"):
            setattr(self, attr, getattr(inner, attr))

    def settings(self):
        return self.inner.settings()

    def extract(self, images, heads=("pool3",)):
        self.images += len(images)
        return self.inner.extract(images, heads)


def images(seed: int, n: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, 12, 12, 3), dtype=np.uint8)


def test_second_pass_comes_from_the_cache_bit_for_bit(stand_in, tmp_path: Path) -> None:
    counting = Counting(stand_in)
    cache = FeatureCache(tmp_path)
    source = ArraySource(images(0, 30))
    first = input_features(source, counting, ("pool3",), ("pool3",), cache=cache, progress=False, batch_size=7)
    assert counting.images == 30 and first.cached_heads == ()
    second = input_features(source, counting, ("pool3",), ("pool3",), cache=cache, progress=False, batch_size=7)
    assert counting.images == 30 and second.cached_heads == ("pool3",)
    np.testing.assert_array_equal(second.features["pool3"], first.features["pool3"])
    np.testing.assert_array_equal(second.stats["pool3"].covariance(), first.stats["pool3"].covariance())
    direct = stand_in.extract(torch.from_numpy(images(0, 30)).permute(0, 3, 1, 2))["pool3"]
    np.testing.assert_allclose(first.features["pool3"], direct.numpy(), rtol=0, atol=0)


def test_statistics_only_entry_is_extended_when_features_are_needed(stand_in, tmp_path: Path) -> None:
    counting = Counting(stand_in)
    cache = FeatureCache(tmp_path)
    source = ArraySource(images(1, 20))
    input_features(source, counting, ("pool3",), (), cache=cache, progress=False)
    input_features(source, counting, ("pool3",), ("pool3",), cache=cache, progress=False)
    assert counting.images == 40
    input_features(source, counting, ("pool3",), ("pool3",), cache=cache, progress=False)
    assert counting.images == 40


def test_without_cache_nothing_is_read_or_written(stand_in, tmp_path: Path) -> None:
    counting = Counting(stand_in)
    source = ArraySource(images(2, 10))
    for _ in range(2):
        input_features(source, counting, ("pool3",), (), cache=None, progress=False)
    assert counting.images == 20
    assert not any(tmp_path.iterdir())


def test_a_changed_folder_is_extracted_again(stand_in, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, pixels in enumerate(images(3, 6)):
        Image.fromarray(pixels).save(folder / f"{i}.png")
    counting = Counting(stand_in)
    cache = FeatureCache(tmp_path / "cache")
    input_features(ImageFolderSource(folder), counting, ("pool3",), (), cache=cache, progress=False, workers=0)
    Image.fromarray(images(4, 1)[0]).save(folder / "6.png")
    again = input_features(ImageFolderSource(folder), counting, ("pool3",), (), cache=cache, progress=False, workers=0)
    assert counting.images == 13 and again.count == 7


def test_evaluate_twice_skips_extraction_and_gives_the_same_numbers(stand_in) -> None:
    counting = Counting(stand_in)
    real, fake = images(5, 40), images(6, 40)
    options = MetricOptions(kid_subset_size=40, kid_subsets=10)
    first = evaluate(real, fake, extractor=counting, options=options, progress=False)
    assert counting.images == 80
    second = evaluate(real, fake, extractor=counting, options=options, progress=False)
    assert counting.images == 80
    assert second.cached == {"real": True, "fake": True}
    assert second.values == first.values
    evaluate(real, fake, extractor=counting, options=options, progress=False, cache=False)
    assert counting.images == 160


@pytest.mark.parametrize("skip_bad", [False, True])
def test_skip_bad_is_part_of_the_key(stand_in, tmp_path: Path, skip_bad: bool) -> None:
    counting = Counting(stand_in)
    cache = FeatureCache(tmp_path)
    source = ArraySource(images(7, 5))
    input_features(source, counting, ("pool3",), (), cache=cache, progress=False, skip_bad=skip_bad)
    input_features(source, counting, ("pool3",), (), cache=cache, progress=False, skip_bad=not skip_bad)
    assert counting.images == 10
