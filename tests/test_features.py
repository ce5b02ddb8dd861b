"""One pass per input, served from the cache the second time, with bit-identical statistics."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from gan_eval.cache import FeatureCache, entry_key
from gan_eval.evaluation import evaluate
from gan_eval.extraction import ExtractionOptions
from gan_eval.features import input_features
from gan_eval.metrics.registry import MetricOptions
from gan_eval.sources import ArraySource, ImageFolderSource


class Counting:
    """Wraps an extractor and counts the images it is asked to extract."""

    def __init__(self, inner) -> None:
        self.inner = inner
        self.images = 0
        for attr in ("name", "heads", "kinds", "dims", "device"):
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
    first = input_features(
        source, counting, ("pool3",), ("pool3",), ExtractionOptions(cache=cache, progress=False, batch_size=7)
    )
    assert counting.images == 30 and first.cached_heads == ()
    second = input_features(
        source, counting, ("pool3",), ("pool3",), ExtractionOptions(cache=cache, progress=False, batch_size=7)
    )
    assert counting.images == 30 and second.cached_heads == ("pool3",)
    np.testing.assert_array_equal(second.features["pool3"], first.features["pool3"])
    np.testing.assert_array_equal(second.stats["pool3"].covariance(), first.stats["pool3"].covariance())
    direct = stand_in.extract(torch.from_numpy(images(0, 30)).permute(0, 3, 1, 2))["pool3"]
    np.testing.assert_allclose(first.features["pool3"], direct.numpy(), rtol=0, atol=0)


def test_statistics_only_entry_is_extended_when_features_are_needed(stand_in, tmp_path: Path) -> None:
    counting = Counting(stand_in)
    cache = FeatureCache(tmp_path)
    source = ArraySource(images(1, 20))
    first = input_features(source, counting, ("pool3",), (), ExtractionOptions(cache=cache, progress=False))
    key = entry_key(source.fingerprint(), stand_in.settings(), "pool3", False)
    cache.store(key, first.stats["pool3"])  # an entry as older versions wrote it: statistics only
    assert cache.load(key).features is None
    statistics_only = input_features(source, counting, ("pool3",), (), ExtractionOptions(cache=cache, progress=False))
    assert counting.images == 20 and statistics_only.cached_heads == ("pool3",)
    input_features(source, counting, ("pool3",), ("pool3",), ExtractionOptions(cache=cache, progress=False))
    assert counting.images == 40 and cache.load(key).features.shape == (20, 16)
    input_features(source, counting, ("pool3",), ("pool3",), ExtractionOptions(cache=cache, progress=False))
    assert counting.images == 40


def test_a_statistics_pass_caches_the_per_sample_features_too(stand_in, tmp_path: Path) -> None:
    counting = Counting(stand_in)
    cache = FeatureCache(tmp_path)
    source = ArraySource(images(2, 20))
    found = input_features(source, counting, ("pool3",), (), ExtractionOptions(cache=cache, progress=False))
    assert found.features == {}
    again = input_features(source, counting, ("pool3",), ("pool3",), ExtractionOptions(cache=cache, progress=False))
    assert counting.images == 20 and again.cached_heads == ("pool3",)
    direct = stand_in.extract(torch.from_numpy(images(2, 20)).permute(0, 3, 1, 2))["pool3"]
    np.testing.assert_array_equal(again.features["pool3"], direct.numpy())


class TwoHeads(Counting):
    """The stand-in with a second head (`logits`, the first 8 pool3 dims doubled), as Inception has."""

    def __init__(self, inner) -> None:
        super().__init__(inner)
        self.heads = ("pool3", "logits")
        self.dims = {"pool3": 16, "logits": 8}

    def extract(self, images, heads=("pool3",)):
        pool3 = super().extract(images, ("pool3",))["pool3"]
        return {h: pool3 if h == "pool3" else 2 * pool3[:, :8] for h in heads}


def test_a_pool3_pass_also_caches_the_other_heads(stand_in, tmp_path: Path) -> None:
    two_heads = TwoHeads(stand_in)
    cache = FeatureCache(tmp_path)
    source = ArraySource(images(3, 20))
    found = input_features(source, two_heads, ("pool3",), (), ExtractionOptions(cache=cache, progress=False))
    assert set(found.stats) == {"pool3"}
    both = input_features(
        source, two_heads, ("pool3", "logits"), ("pool3", "logits"), ExtractionOptions(cache=cache, progress=False)
    )
    assert two_heads.images == 20 and both.cached_heads == ("pool3", "logits")
    np.testing.assert_array_equal(both.features["logits"], 2 * both.features["pool3"][:, :8])


def test_fid_then_every_metric_extracts_once_with_the_numbers_of_a_cold_run(stand_in) -> None:
    counting = Counting(stand_in)
    real, fake = images(7, 40), images(8, 40)
    options = MetricOptions(kid_subset_size=40, kid_subsets=10)
    fid_only = evaluate(real, fake, "fid", extractor=counting, options=options, progress=False)
    assert counting.images == 80
    report = evaluate(real, fake, extractor=counting, options=options, progress=False)
    assert counting.images == 80 and report.cached == {"real": True, "fake": True}
    cold = evaluate(
        real,
        fake,
        extractor=Counting(stand_in),
        options=options,
        progress=False,
        extraction=ExtractionOptions(cache=False),
    )
    assert report.values == cold.values and report["fid"] == fid_only["fid"]


def test_without_cache_nothing_is_read_or_written(stand_in, tmp_path: Path) -> None:
    counting = Counting(stand_in)
    source = ArraySource(images(2, 10))
    for _ in range(2):
        input_features(source, counting, ("pool3",), (), ExtractionOptions(cache=None, progress=False))
    assert counting.images == 20
    assert not any(tmp_path.iterdir())


def test_a_changed_folder_is_extracted_again(stand_in, tmp_path: Path) -> None:
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i, pixels in enumerate(images(3, 6)):
        Image.fromarray(pixels).save(folder / f"{i}.png")
    counting = Counting(stand_in)
    cache = FeatureCache(tmp_path / "cache")
    input_features(
        ImageFolderSource(folder), counting, ("pool3",), (), ExtractionOptions(cache=cache, progress=False, workers=0)
    )
    Image.fromarray(images(4, 1)[0]).save(folder / "6.png")
    again = input_features(
        ImageFolderSource(folder), counting, ("pool3",), (), ExtractionOptions(cache=cache, progress=False, workers=0)
    )
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
    evaluate(real, fake, extractor=counting, options=options, progress=False, extraction=ExtractionOptions(cache=False))
    assert counting.images == 160


@pytest.mark.parametrize("skip_bad", [False, True])
def test_skip_bad_is_part_of_the_key(stand_in, tmp_path: Path, skip_bad: bool) -> None:
    counting = Counting(stand_in)
    cache = FeatureCache(tmp_path)
    source = ArraySource(images(7, 5))
    input_features(source, counting, ("pool3",), (), ExtractionOptions(cache=cache, progress=False, skip_bad=skip_bad))
    input_features(
        source, counting, ("pool3",), (), ExtractionOptions(cache=cache, progress=False, skip_bad=not skip_bad)
    )
    assert counting.images == 10
