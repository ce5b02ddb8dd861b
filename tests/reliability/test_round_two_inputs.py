"""Bad inputs of "Reliability, round two", through the real command line: exit 2, one line, nothing written.

Statistics whose `sigma` is no covariance, zip archives with duplicated,
encrypted, oddly compressed or corrupt members, inputs that are not regular
files (named pipes, devices), and the GIF files a folder used to skip without
a word. A case that could block (a named pipe) or read forever (a device)
runs the command in a subprocess with a timeout, so a regression fails
instead of hanging.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_harness import assert_refused, files_under

from gan_eval.extractors.inception.extractor import INCEPTION_NAME, RESIZE_MODE
from gan_eval.stats import META_KEY

POOL3 = 2048


@pytest.fixture
def out(tmp_path: Path) -> Path:
    """Where commands write; checked to stay empty when a command is refused."""
    folder = tmp_path / "out"
    folder.mkdir()
    return folder


def refused(cli, args: tuple[str | Path, ...], out: Path, home: Path, *culprits: str | Path, message: str) -> str:
    """Run `gan-eval ARGS`: exit 2, one `error:` line naming the culprits and `message`; no file added."""
    before = files_under(out, home)
    line = assert_refused(cli(*args), *culprits, message=message)
    assert files_under(out, home) == before
    return line


def stats_file(path: Path, mu: np.ndarray, sigma: np.ndarray) -> Path:
    """A statistics file as gan-eval writes it, with the given moments."""
    meta = {"extractor": INCEPTION_NAME, "resize": RESIZE_MODE, "weights_sha256": "0" * 64, "n": 10}
    np.savez(path, mu=mu, sigma=sigma, n=np.int64(10), **{META_KEY: np.array(json.dumps(meta))})
    return path


# --- statistics files with a sigma that is no covariance ---------------------------------------------------


def _not_symmetric() -> tuple[np.ndarray, np.ndarray]:
    sigma = np.eye(POOL3)
    sigma[0, 1] = 0.5  # sigma[1, 0] stays 0
    return np.zeros(POOL3), sigma


def _not_positive_semi_definite() -> tuple[np.ndarray, np.ndarray]:
    # Today's FID of this against the identity is 3 - 4 = -1, which used to print 0.000000.
    return np.zeros(POOL3), np.diag([4.0, -3.0, *np.ones(POOL3 - 2)])


def _huge_sigma() -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(POOL3), np.eye(POOL3) * 1e200  # finite, but its products overflow (FID used to be inf)


def _mu_whose_square_overflows() -> tuple[np.ndarray, np.ndarray]:
    return np.full(POOL3, 1e160), np.eye(POOL3)


@pytest.mark.parametrize(
    ("moments", "message"),
    [
        (_not_symmetric, "has a sigma that is not symmetric"),
        (_not_positive_semi_definite, "has a sigma that is not positive semi-definite (eigenvalue -3"),
        (_huge_sigma, "has values up to 1e+200 in mu or sigma"),
        (_mu_whose_square_overflows, "has values up to 1e+160 in mu or sigma"),
    ],
    ids=["not-symmetric", "not-positive-semi-definite", "huge-sigma", "mu-whose-square-overflows"],
)
def test_statistics_whose_sigma_is_no_covariance(
    moments, message: str, tmp_path: Path, out: Path, isolated_cache: Path, real_weights: Path, cli
) -> None:
    bad = stats_file(tmp_path / "bad.npz", *moments())
    good = stats_file(tmp_path / "good.npz", np.zeros(POOL3), np.eye(POOL3))
    args = ("fid", good, bad, "--weights", real_weights, "--quiet")
    refused(cli, args, out, isolated_cache, f"statistics file {bad}", message=message)
