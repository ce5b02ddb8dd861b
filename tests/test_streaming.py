"""The metric objects for training loops give `gan_eval.evaluate`'s numbers on the same images.

`evaluate` reads each input whole; the objects are fed batches, so the float64
sums are added in another order and agree to 1e-9 relative; the per-sample
features are the same. Merging two objects fed one batch each adds the same
sums in the same order as one object fed both, so it agrees exactly.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import warnings
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest
import torch
from stand_in import StandInExtractor

import gan_eval
from gan_eval.errors import GanEvalWarning
from gan_eval.extraction import ExtractionOptions
from gan_eval.metrics.registry import MetricOptions
from gan_eval.stats import save_stats

OPTIONS = MetricOptions(kid_subsets=10, kid_subset_size=8)
ALL = ("fid", "kid", "pr", "dc")
KEYS = ("fid", "kid_mean", "kid_std", "precision", "recall", "density", "coverage")
RNG = np.random.default_rng(7)
REAL = torch.from_numpy(RNG.integers(0, 256, (24, 3, 16, 16), dtype=np.uint8))
FAKE = torch.from_numpy((RNG.integers(0, 256, (20, 3, 16, 16)) // 2 + 40).astype(np.uint8))
OTHER_FAKE = torch.from_numpy((RNG.integers(0, 256, (18, 3, 16, 16)) // 3 + 90).astype(np.uint8))


def evaluated(real, fake, metrics=ALL, **kwargs) -> gan_eval.Result:
    return gan_eval.evaluate(
        real,
        fake,
        metrics,
        extractor=StandInExtractor(),
        options=OPTIONS,
        progress=False,
        extraction=ExtractionOptions(cache=False, **kwargs),
    )


def fed(images: torch.Tensor, metric: gan_eval.StreamingMetrics, real: bool, batch: int = 5) -> None:
    for start in range(0, len(images), batch):
        metric.update(images[start : start + batch], real=real)


def assert_same(streamed: gan_eval.Result, whole: gan_eval.Result, keys=KEYS) -> None:
    for key in keys:
        assert streamed[key] == pytest.approx(whole[key], rel=1e-9, abs=1e-12), key
    assert (streamed.n_real, streamed.n_fake) == (whole.n_real, whole.n_fake)


def test_equals_evaluate_on_the_same_images() -> None:
    metric = gan_eval.StreamingMetrics(ALL, extractor=StandInExtractor(), options=OPTIONS)
    fed(REAL, metric, real=True)
    fed(FAKE, metric, real=False)
    result = metric.compute()
    assert_same(result, evaluated(REAL, FAKE))
    assert result.metrics == ALL
    assert result.settings["extractor"] == "stand-in"
    assert result.settings["metric_options"]["kid_subset_size"] == 8


def test_reset_keeps_the_real_side() -> None:
    metric = gan_eval.KID(extractor=StandInExtractor(), options=OPTIONS)
    fed(REAL, metric, real=True)
    fed(FAKE, metric, real=False)
    metric.reset()
    assert (metric.n_real, metric.n_fake) == (24, 0)
    fed(OTHER_FAKE, metric, real=False, batch=7)
    assert_same(metric.compute(), evaluated(REAL, OTHER_FAKE, ("kid",)), ("kid_mean", "kid_std"))
    metric.reset(real=True)
    assert (metric.n_real, metric.n_fake) == (0, 0)


def test_float_images_in_their_value_range() -> None:
    floats = FAKE.float() / 127.5 - 1
    metric = gan_eval.FID(extractor=StandInExtractor(), extraction=ExtractionOptions(value_range=(-1, 1)))
    fed(REAL, metric, real=True)
    fed(floats, metric, real=False)
    assert_same(metric.compute(), evaluated(REAL, floats, ("fid",), value_range=(-1, 1)), ("fid",))


def test_two_halves_merged_equal_one_fed_all() -> None:
    halves = [gan_eval.StreamingMetrics(ALL, extractor=StandInExtractor(), options=OPTIONS) for _ in range(2)]
    whole = gan_eval.StreamingMetrics(ALL, extractor=StandInExtractor(), options=OPTIONS)
    for part, real, fake in zip(halves, REAL.chunk(2), FAKE.chunk(2), strict=True):
        part.update(real, real=True)
        part.update(fake, real=False)
        whole.update(real, real=True)
        whole.update(fake, real=False)
    halves[0].merge(halves[1])
    merged, single = halves[0].compute(), whole.compute()
    assert {k: merged[k] for k in KEYS} == {k: single[k] for k in KEYS}
    with pytest.raises(ValueError, match="different metrics"):
        halves[0].merge(gan_eval.FID(extractor=StandInExtractor()))


def test_real_side_from_statistics(tmp_path: Path) -> None:
    statistics = gan_eval.compute_statistics(
        REAL, StandInExtractor(), progress=False, extraction=ExtractionOptions(cache=False)
    )
    save_stats(statistics, tmp_path / "real.npz")
    expected = evaluated(tmp_path / "real.npz", FAKE, ("fid",))
    for given in (statistics, tmp_path / "real.npz"):
        metric = gan_eval.FID(extractor=StandInExtractor())
        metric.set_real(given)
        fed(FAKE, metric, real=False)
        assert_same(metric.compute(), expected, ("fid",))
        metric.reset()
        assert metric.n_real == 24
    with pytest.raises(gan_eval.GanEvalError, match=r"call reset\(real=True\) before feeding real images"):
        metric.update(REAL[:2], real=True)
    with pytest.raises(gan_eval.GanEvalError, match=r"^kid need the real images' features; these statistics hold"):
        gan_eval.KID(extractor=StandInExtractor()).set_real(tmp_path / "real.npz")


def test_state_dict_round_trip_through_a_file(tmp_path: Path) -> None:
    metric = gan_eval.StreamingMetrics(ALL, extractor=StandInExtractor(), options=OPTIONS)
    fed(REAL, metric, real=True)
    fed(FAKE, metric, real=False)
    np.savez(tmp_path / "state.npz", **metric.state_dict())
    restored = gan_eval.StreamingMetrics(ALL, extractor=StandInExtractor(), options=OPTIONS)
    with np.load(tmp_path / "state.npz", allow_pickle=False) as state:
        restored.load_state_dict(dict(state))
    assert {k: restored.compute()[k] for k in KEYS} == {k: metric.compute()[k] for k in KEYS}

    fixed = gan_eval.FID(extractor=StandInExtractor())
    fixed.set_real(
        gan_eval.compute_statistics(REAL, StandInExtractor(), progress=False, extraction=ExtractionOptions(cache=False))
    )
    again = gan_eval.FID(extractor=StandInExtractor())
    again.load_state_dict(fixed.state_dict())
    fed(FAKE, fixed, real=False)
    fed(FAKE, again, real=False)
    assert again.compute()["fid"] == fixed.compute()["fid"]
    with pytest.raises(
        gan_eval.GanEvalError, match=r"^state of metrics fid with extractor stand-in; this object computes kid"
    ):
        gan_eval.KID(extractor=StandInExtractor()).load_state_dict(fixed.state_dict())


class ChangedSettings(StandInExtractor):
    """The stand-in under its own name, with some of its settings changed (other weights, resize or precision)."""

    def __init__(self, **changes: str) -> None:
        super().__init__()
        self.changes = changes

    def settings(self) -> dict[str, str]:
        return dict(super().settings(), **self.changes)


def saved_state(extractor: StandInExtractor) -> dict[str, np.ndarray]:
    """The state of an FID object fed REAL and FAKE through `extractor`."""
    metric = gan_eval.FID(extractor=extractor)
    fed(REAL, metric, real=True)
    fed(FAKE, metric, real=False)
    return metric.state_dict()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"weights_sha256": "1" * 64}, r"weights_sha256 11111111\.\.\.; this object's extractor has 00000000\.\.\."),
        ({"resize": "bilinear-8"}, r"resize bilinear-8; this object's extractor has adaptive-avg-8"),
        ({"precision": "tf32"}, r"precision tf32; this object's extractor has exact"),
    ],
    ids=["weights", "resize", "precision"],
)
def test_state_of_other_extractor_settings_is_refused(changes: dict[str, str], message: str) -> None:
    restored = gan_eval.FID(extractor=StandInExtractor())
    with pytest.raises(gan_eval.GanEvalError, match=f"^state was saved with {message}") as caught:
        restored.load_state_dict(saved_state(ChangedSettings(**changes)))
    assert "\n" not in str(caught.value)
    assert (restored.n_real, restored.n_fake) == (0, 0)  # nothing loaded


def test_state_from_another_device_is_loaded() -> None:
    """A checkpoint saved on a GPU resumes on the CPU: the device changes features by rounding only."""
    restored = gan_eval.FID(extractor=StandInExtractor())
    restored.load_state_dict(saved_state(ChangedSettings(device="cuda:0")))
    assert (restored.n_real, restored.n_fake) == (len(REAL), len(FAKE))


def test_state_without_its_extractor_settings_is_refused() -> None:
    """State of the older format records the extractor's name only: its weights cannot be checked."""
    old = {
        key: value
        for key, value in saved_state(StandInExtractor()).items()
        if key not in ("weights_sha256", "resize", "precision")
    }
    with pytest.raises(
        gan_eval.GanEvalError, match=r"^state without its extractor's weights_sha256, resize, precision \(saved by"
    ):
        gan_eval.FID(extractor=StandInExtractor()).load_state_dict(old)


@pytest.mark.parametrize(
    ("images", "message"),
    [
        (REAL[0], r"^update takes images of shape \(B, 3, H, W\), got \(3, 16, 16\)$"),
        (REAL.permute(0, 2, 3, 1), r"^update takes images of shape \(B, 3, H, W\), got \(24, 16, 16, 3\)$"),
        (REAL.int(), r"^update: arrays of dtype int32 are not supported"),
        (REAL.float(), r"^update: float values span \[0, 255\], outside the declared range \[0, 1\]$"),
        ([1, 2], r"^update takes a \(B, 3, H, W\) tensor or array, not list$"),
    ],
)
def test_wrong_images_are_one_line_errors(images, message: str) -> None:
    with pytest.raises(gan_eval.GanEvalError, match=message):
        gan_eval.FID(extractor=StandInExtractor()).update(images, real=False)


def test_compute_needs_both_sides() -> None:
    metric = gan_eval.PrecisionRecall(extractor=StandInExtractor())
    with pytest.raises(gan_eval.GanEvalError, match=r"^no real images yet: call update\(images, real=True\)"):
        metric.compute()
    metric.update(REAL, real=True)
    with pytest.raises(gan_eval.GanEvalError, match=r"^no generated images yet: call update\(images, real=False\)"):
        metric.compute()
    metric.update(FAKE[:3], real=False)
    with pytest.raises(gan_eval.GanEvalError, match=r"^Improved precision and recall \(pr\) needs at least 4 fake"):
        metric.compute()


RANK_SCRIPT = """
import json, sys
import torch
sys.path.insert(0, {tests!r})
from stand_in import StandInExtractor
import gan_eval
from gan_eval import distributed
from gan_eval.metrics.registry import MetricOptions

distributed.init_from_env("cpu")
real, fake = torch.load("real.pt"), torch.load("fake.pt")
metric = gan_eval.StreamingMetrics({metrics!r}, extractor=StandInExtractor(), options=MetricOptions(**{options!r}))
for side, images in ((True, real), (False, fake)):
    start, stop = distributed.shard_bounds(len(images))
    metric.update(images[start:stop], real=side)
result = metric.compute()
assert metric.n_fake < len(fake)  # compute summed a copy; this rank keeps its own shard
if distributed.is_primary():
    print(json.dumps(result.to_json()))
distributed.shutdown()
"""


def test_two_gloo_processes_equal_one(tmp_path: Path) -> None:
    torch.save(REAL, tmp_path / "real.pt")
    torch.save(FAKE, tmp_path / "fake.pt")
    options = {"kid_subsets": OPTIONS.kid_subsets, "kid_subset_size": OPTIONS.kid_subset_size}
    script = RANK_SCRIPT.format(tests=str(Path(__file__).parent), metrics=ALL, options=options)
    (tmp_path / "rank.py").write_text(script)
    env = dict(os.environ, OMP_NUM_THREADS="1")
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "rank.py"]
    done = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    assert len(lines) == 1, done.stdout
    parallel, single = json.loads(lines[0]), evaluated(REAL, FAKE)
    for key in KEYS:
        assert parallel[key] == pytest.approx(single[key], rel=1e-9, abs=1e-12), key
    assert (parallel["n_real"], parallel["n_fake"]) == (24, 20)


def test_a_peer_file_as_the_real_side_has_an_unknown_count(tmp_path) -> None:
    """pytorch-fid's files hold only mu and sigma: the real count is unknown (None), not 0."""
    stats = gan_eval.compute_statistics(
        REAL, StandInExtractor(), progress=False, extraction=ExtractionOptions(cache=False)
    )
    np.savez(tmp_path / "peer.npz", mu=stats.mean(), sigma=stats.covariance())
    metric = gan_eval.FID(extractor=StandInExtractor())
    with pytest.warns(GanEvalWarning):
        metric.set_real(tmp_path / "peer.npz")
    metric.update(FAKE, real=False)
    result = metric.compute()
    assert result.n_real is None and result.n_fake == len(FAKE)


@pytest.mark.inception
@pytest.mark.filterwarnings("ignore:.*rank-deficient:gan_eval.errors.GanEvalWarning")
def test_set_real_takes_a_shipped_reference_by_name(real_weights: Path) -> None:
    """`FID().set_real("digits-test")` reads the shipped statistics (it refused the name); the number is
    `gan_eval.fid` against the same reference."""
    from gan_eval.datasets.digits import digits_images

    extraction = ExtractionOptions(weights=str(real_weights), device="cpu", progress=False, cache=False)
    fake = digits_images("train")[:6]
    metric = gan_eval.FID(extraction=extraction)
    metric.set_real("digits-test")
    metric.update(torch.from_numpy(fake).permute(0, 3, 1, 2), real=False)
    assert metric.compute()["fid"] == pytest.approx(
        gan_eval.fid("digits-test", fake, extraction=extraction).fid, rel=1e-9
    )


def test_set_real_refuses_a_shipped_reference_of_another_space() -> None:
    metric = gan_eval.FID(extractor=StandInExtractor())
    with pytest.raises(gan_eval.GanEvalError, match="reference digits-test was made with extractor inception"):
        metric.set_real("digits-test")


def test_the_rank_warning_is_given_once_per_object_not_at_every_compute() -> None:
    rng = np.random.default_rng(7)
    metric = gan_eval.FID(extractor=StandInExtractor())
    metric.update(torch.from_numpy(rng.integers(0, 256, (10, 3, 8, 8), dtype=np.uint8)), real=True)
    metric.update(torch.from_numpy(rng.integers(0, 256, (10, 3, 8, 8), dtype=np.uint8)), real=False)
    with pytest.warns(GanEvalWarning, match="rank-deficient"):
        metric.compute()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        metric.compute()


def test_a_metric_of_another_kind_streams_too() -> None:
    """sFID reads the `SPATIAL` kind; the streaming objects accumulate whatever kinds their metrics need (they
    once knew only features and logits). A stand-in serving its one head as both kinds gives sFID = FID."""
    from gan_eval.feature_types import SPATIAL

    class TwoKinds(StandInExtractor):
        kinds: ClassVar[dict[str, str]] = {**StandInExtractor.kinds, SPATIAL: "pool3"}

    rng = np.random.default_rng(8)
    metric = gan_eval.StreamingMetrics("fid,sfid", extractor=TwoKinds())
    metric.update(torch.from_numpy(rng.integers(0, 256, (40, 3, 8, 8), dtype=np.uint8)), real=True)
    metric.update(torch.from_numpy(rng.integers(0, 256, (40, 3, 8, 8), dtype=np.uint8)), real=False)
    result = metric.compute()
    assert result["sfid"] == result["fid"]
