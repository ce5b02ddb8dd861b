"""Shared fixtures: the real Inception weights, an isolated cache, a stand-in extractor, one thread."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from stand_in import StandInExtractor
from threadpoolctl import threadpool_limits

from gan_eval.extractors.inception.weights import cached_weights


def _real_weights() -> Path | None:
    env = os.environ.get("GAN_EVAL_WEIGHTS")
    if env and Path(env).is_file():
        return Path(env)
    found = cached_weights()
    return found[0] if found else None


REAL_WEIGHTS = _real_weights()


@pytest.fixture(scope="session")
def real_weights() -> Path:
    """Path of the real TF Inception weights installed by the README's set-up (fails if absent)."""
    if REAL_WEIGHTS is None:
        pytest.fail("no Inception weights: run the README's set-up (it imports them into the cache)")
    return REAL_WEIGHTS


@pytest.fixture
def one_thread() -> Iterator[None]:
    """One torch thread and one BLAS thread, then the previous counts back: small tensors and tiny nets run
    fastest so, and alternating torch and LAPACK calls do not stall each other's threads on a busy machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with threadpool_limits(1):
            yield
    finally:
        torch.set_num_threads(before)


@pytest.fixture(autouse=True)
def isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Every test gets its own empty cache home; real weights are passed explicitly."""
    home = tmp_path_factory.mktemp("gan-eval-home")
    monkeypatch.setenv("GAN_EVAL_HOME", str(home))
    monkeypatch.delenv("GAN_EVAL_WEIGHTS", raising=False)
    return home


@pytest.fixture
def stand_in() -> StandInExtractor:
    """The stand-in extractor."""
    return StandInExtractor()


@pytest.fixture(scope="session")
def trained_digit_classifier_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built-in digit classifier, trained once for the session (about 30 s) and saved as its cache file."""
    from gan_eval.diagnostics import digit_classifier

    path = tmp_path_factory.mktemp("digit-classifier") / digit_classifier.CACHE_NAME
    torch.save(digit_classifier.train_digit_classifier().state_dict(), path)
    return path


@pytest.fixture
def digit_classifier_cached(trained_digit_classifier_file: Path, isolated_cache: Path) -> Path:
    """This test's cache home holds the session's trained digit classifier, as a first use would leave it."""
    from gan_eval.diagnostics import digit_classifier

    path = digit_classifier.classifier_path()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(trained_digit_classifier_file.read_bytes())
    return path
