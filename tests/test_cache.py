"""The feature cache: keys change with every setting that changes features, entries round-trip exactly,
damaged entries read as absent, and concurrent writers leave one valid file."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from write_barrier import all_held

from gan_eval.cache import FeatureCache, entry_key, feature_cache_dir
from gan_eval.stats import FeatureStats

SETTINGS = {
    "extractor": "inception-v3-tf-2015-12-05",
    "weights_sha256": "ab" * 32,
    "resize": "tf1-bilinear-299",
    "precision": "exact",
    "device": "cpu",
}
TESTS = Path(__file__).resolve().parent


def accumulated(seed: int, n: int = 50, dim: int = 6) -> tuple[FeatureStats, np.ndarray]:
    features = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    stats = FeatureStats(dim)
    stats.update(features[:20])
    stats.update(features[20:])
    stats.meta.update(SETTINGS, source="x")
    return stats, features


def test_key_changes_with_every_setting_that_changes_features() -> None:
    base = entry_key("fp", SETTINGS, "pool3", False)
    changed = [
        entry_key("fp2", SETTINGS, "pool3", False),
        entry_key("fp", dict(SETTINGS, weights_sha256="cd" * 32), "pool3", False),
        entry_key("fp", dict(SETTINGS, precision="bf16"), "pool3", False),
        entry_key("fp", dict(SETTINGS, resize="other"), "pool3", False),
        entry_key("fp", dict(SETTINGS, extractor="other"), "pool3", False),
        entry_key("fp", dict(SETTINGS, device="cuda:0"), "pool3", False),
        entry_key("fp", SETTINGS, "logits_unbiased", False),
        entry_key("fp", SETTINGS, "pool3", True),
    ]
    assert base not in changed
    assert len(set(changed)) == len(changed)
    # Which GPU ran it does not change the features: cuda:0 and cuda:1 share entries.
    cuda0 = entry_key("fp", dict(SETTINGS, device="cuda:0"), "pool3", False)
    assert entry_key("fp", dict(SETTINGS, device="cuda:1"), "pool3", False) == cuda0


def test_entries_live_under_the_cache_home(isolated_cache: Path) -> None:
    assert FeatureCache().root == feature_cache_dir() == isolated_cache / "features"


def test_round_trip_is_exact(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    stats, features = accumulated(0)
    cache.store("k" * 64, stats, features, {"skipped": ["bad.png: not an image"]})
    entry = cache.load("k" * 64, need_features=True)
    assert entry is not None
    assert entry.stats.count == 50
    np.testing.assert_array_equal(entry.stats.total, stats.total)
    np.testing.assert_array_equal(entry.stats.outer, stats.outer)
    np.testing.assert_array_equal(entry.stats.covariance(), stats.covariance())
    np.testing.assert_array_equal(entry.features, features)
    assert entry.meta["skipped"] == ["bad.png: not an image"]
    assert entry.stats.meta["weights_sha256"] == SETTINGS["weights_sha256"]


def test_statistics_only_entry_does_not_serve_features(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    stats, _ = accumulated(1)
    cache.store("s" * 64, stats)
    assert cache.load("s" * 64, need_features=False) is not None
    assert cache.load("s" * 64, need_features=True) is None


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty", "wrong_shape"])
def test_damaged_entry_reads_as_absent(tmp_path: Path, damage: str) -> None:
    cache = FeatureCache(tmp_path)
    stats, features = accumulated(2)
    key = "d" * 64
    cache.store(key, stats, features)
    path = cache.path(key)
    data = path.read_bytes()
    if damage == "truncate":
        path.write_bytes(data[: len(data) // 2])
    elif damage == "garbage":
        path.write_bytes(b"\x93NUMPY" + bytes(range(256)) * 10)
    elif damage == "empty":
        path.write_bytes(b"")
    else:
        np.savez(path, dim=np.int64(6), count=np.int64(50), total=np.zeros(5), outer=np.zeros((6, 6)), meta="{}")
    assert cache.load(key) is None
    cache.store(key, stats, features)
    assert cache.load(key, need_features=True) is not None


def test_pickled_entry_is_refused_not_loaded(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    key = "p" * 64
    cache.path(key).parent.mkdir(parents=True)
    np.savez(cache.path(key), meta=np.array([{"evil": 1}], dtype=object), dim=np.int64(2))
    assert cache.load(key) is None


def test_clear_removes_every_entry(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    stats, features = accumulated(3)
    cache.store("a" * 64, stats, features)
    cache.store("b" * 64, stats)
    assert len(cache.entries()) == 2
    removed, freed, foreign = cache.clear()
    assert removed == 2 and freed > 0 and foreign == []
    assert cache.entries() == []


WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path

    import numpy as np
    from write_barrier import hold_writes

    from gan_eval.cache import FeatureCache
    from gan_eval.stats import FeatureStats

    root, barrier, name = sys.argv[1:]
    cache = FeatureCache(root)
    features = np.random.default_rng(0).normal(size=(400, 64)).astype(np.float32)
    stats = FeatureStats(64)
    stats.update(features)
    hold_writes(Path(barrier))
    for round_ in (1, 2):
        cache.store("c" * 64, stats, features, {"writer": name, "round": round_})
        entry = cache.load("c" * 64, need_features=True)
        assert entry is not None, "a reader saw a partial entry"
        assert np.array_equal(entry.features, features)
    """
)


def temporaries(root: Path) -> list[Path]:
    """Hidden temporary files of atomic writes under `root`."""
    return sorted(root.rglob(".*.tmp"))


def test_two_processes_writing_one_entry_both_succeed(tmp_path: Path) -> None:
    """Two processes store the same entry twice; each write is held, data written and not yet renamed into
    place, until the other process is held in its write too.

    While both are held, both temporary files exist side by side and a reader sees no entry (the first
    writes) or the whole entry of a first write (the second). Let go, both succeed and leave one valid
    entry of a second write, and no temporary file.
    """
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    root, barrier = tmp_path / "cache", tmp_path / "barrier"
    barrier.mkdir()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
    procs = [
        subprocess.Popen(
            [sys.executable, str(script), str(root), str(barrier), name], stderr=subprocess.PIPE, text=True, env=env
        )
        for name in ("one", "two")
    ]
    cache = FeatureCache(root)
    with all_held(procs, barrier, 0):
        assert len(temporaries(root)) == 2
        assert cache.load("c" * 64) is None and cache.entries() == []
    with all_held(procs, barrier, 1):
        assert len(temporaries(root)) == 2
        entry = cache.load("c" * 64, need_features=True)
        assert entry is not None and entry.meta["round"] == 1
    for proc in procs:
        _, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
    assert [p.name for p in root.rglob("*") if p.is_file()] == [cache.path("c" * 64).name]
    entry = cache.load("c" * 64, need_features=True)
    assert entry is not None and entry.meta["writer"] in ("one", "two") and entry.meta["round"] == 2


def test_holds_says_whether_an_entry_is_there_without_reading_its_arrays(tmp_path: Path) -> None:
    cache = FeatureCache(tmp_path)
    stats, features = accumulated(4)
    assert not cache.holds("e" * 64)
    cache.store("e" * 64, stats, features)
    cache.store("f" * 64, stats)
    assert cache.holds("e" * 64, need_features=True) and cache.holds("f" * 64)
    assert not cache.holds("f" * 64, need_features=True)
    cache.path("f" * 64).write_bytes(cache.path("e" * 64).read_bytes())  # another entry's file: not this key's
    assert not cache.holds("f" * 64)
