"""`gan-eval report` in-process with the real weights on two sets of 24 small images.

The numbers themselves are checked against independent computations in
tests/test_evaluation.py and tests/metrics/test_registry.py; here: the table,
the JSON keys, the report folder, the cache (second run served from it,
`--no-cache` bypasses it), and one-line errors that leave nothing behind.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from cli_runner import one_error_line, run_cli

pytestmark = pytest.mark.inception

JSON_KEYS = {
    "fid",
    "fid_inf",
    "fid_inf_slope",
    "is_mean",
    "is_std",
    "kid_mean",
    "kid_std",
    "precision",
    "recall",
    "density",
    "coverage",
    "n_real",
    "n_fake",
    "settings",
}


@pytest.fixture(scope="module")
def arrays(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    root = tmp_path_factory.mktemp("arrays")
    real = rng.integers(0, 256, (24, 16, 16, 3), dtype=np.uint8)
    fake = (rng.integers(0, 256, (24, 16, 16, 3)) // 2 + 60).astype(np.uint8)
    np.save(root / "real.npy", real)
    np.save(root / "fake.npy", fake)
    return root / "real.npy", root / "fake.npy"


def test_report_json_folder_and_cache(
    capsys: pytest.CaptureFixture[str], arrays: tuple[Path, Path], real_weights: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "report"
    common = ("--weights", real_weights, "--quiet", "--kid-subset-size", "20", "--kid-subsets", "10")
    code, out, err = run_cli(capsys, "report", *arrays, "--json", "--out", out_dir, "--ci", "--ci-groups", "5", *common)
    assert code == 0, err
    first = json.loads(out)
    assert set(first) >= JSON_KEYS
    assert (first["n_real"], first["n_fake"]) == (24, 24)
    assert first["is_mean"] is None and "classifier" in first["unavailable"]["is"]
    assert first["metrics"] == ["fid", "fid_inf", "kid", "pr", "dc"]
    assert first["settings"]["weights_sha256"] and first["settings"]["resize"] == "tf1-bilinear-299"
    assert first["fid_ci_low"] < first["fid"] < first["fid_ci_high"] and first["fid_ci_groups"] == 5
    assert first["cached"] == {"real": False, "fake": False}
    assert sorted(p.name for p in out_dir.iterdir()) == ["fid_inf.png", "precision_recall.png", "report.json"]
    assert json.loads((out_dir / "report.json").read_text())["fid"] == first["fid"]
    assert (out_dir / "fid_inf.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    code, out, err = run_cli(capsys, "report", *arrays, *common)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].split() == ["metric", "value"]
    fid_row = next(line for line in lines if line.startswith("FID "))
    assert float(fid_row.split()[1]) == pytest.approx(first["fid"], rel=1e-6)
    assert any(line.startswith("KID") and "±" in line for line in lines)
    assert any("Inception Score unavailable" in line for line in lines)
    assert lines[-1].endswith("cached=real,fake")

    # the deprecated --bootstrap B turns the interval on (B ignored) and says so; the table's interval holds the FID
    code, out, err = run_cli(capsys, "report", *arrays, "--metrics", "fid", "--bootstrap", "100", *common)
    assert code == 0 and "--bootstrap is deprecated" in err
    fid_row, ci_row = (line for line in out.splitlines() if line.startswith("FID "))
    low, high = (float(v) for v in ci_row.split("[")[1].split("]")[0].split(","))
    assert low <= float(fid_row.split()[1]) <= high
    assert ci_row.startswith("FID 95% CI") and "grouped jackknife, 20 groups" in ci_row

    # one KID subset has no spread: no "±" beside it, null in JSON
    one = ("--metrics", "kid", "--kid-subsets", "1", "--kid-subset-size", "20", "--weights", real_weights, "--quiet")
    code, out, err = run_cli(capsys, "report", *arrays, *one)
    assert code == 0, err
    kid_row = next(line for line in out.splitlines() if line.startswith("KID"))
    assert "±" not in kid_row and float(kid_row.split()[1]) != 0
    code, out, err = run_cli(capsys, "report", *arrays, "--json", *one)
    assert json.loads(out)["kid_std"] is None

    code, out, err = run_cli(capsys, "report", *arrays, "--json", "--metrics", "fid,kid", "--no-cache", *common)
    assert code == 0, err
    again = json.loads(out)
    assert again["cached"] == {"real": False, "fake": False}
    assert again["fid"] == first["fid"] and again["kid_mean"] == first["kid_mean"]
    assert again["precision"] is None


@pytest.mark.parametrize(
    ("extra", "names"),
    [
        (("--metrics", "fid,bogus"), ("--metrics", "bogus")),
        (("--ci", "--ci-groups", "1"), ("--ci-groups",)),
        (("--ci", "--metrics", "kid"), ("--ci", "fid")),
        (("--confidence", "1.5"), ("--confidence",)),
        (("--kid-subset-size", "0"), ("--kid-subset-size",)),
    ],
)
def test_bad_arguments_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], arrays: tuple[Path, Path], extra: tuple[str, ...], names: tuple[str, ...]
) -> None:
    code, _, err = run_cli(capsys, "report", *arrays, *extra)
    one_error_line(code, err, *names)


def test_unavailable_metric_asked_by_name_is_an_error(
    capsys: pytest.CaptureFixture[str], arrays: tuple[Path, Path], real_weights: Path, tmp_path: Path
) -> None:
    out_dir = tmp_path / "never"
    code, _, err = run_cli(capsys, "report", *arrays, "--metrics", "is", "--weights", real_weights, "--out", out_dir)
    one_error_line(code, err, "Inception Score", "classifier")
    assert not out_dir.exists()


def test_out_that_is_a_file_is_refused(capsys: pytest.CaptureFixture[str], arrays: tuple[Path, Path], tmp_path: Path):
    target = tmp_path / "file.txt"
    target.write_text("keep me")
    code, _, err = run_cli(capsys, "report", *arrays, "--out", target)
    one_error_line(code, err, "--out", str(target))
    assert target.read_text() == "keep me"


def test_cache_info_and_clear(capsys: pytest.CaptureFixture[str], isolated_cache: Path) -> None:
    from gan_eval.cache import FeatureCache
    from gan_eval.stats import FeatureStats

    stats = FeatureStats(4)
    stats.update(np.eye(4, dtype=np.float32))
    FeatureCache().store("ab" * 32, stats)
    entry = FeatureCache().path("ab" * 32)
    garbage = entry.with_name("cd" * 32 + ".npz")
    garbage.write_bytes(b"x" * 2048)  # named like an entry, but not one the cache wrote
    code, out, _ = run_cli(capsys, "cache", "info", "--json")
    info = json.loads(out)
    assert code == 0 and info["entries"] == 1 and info["bytes"] == entry.stat().st_size
    assert info["other_files"] == [str(garbage)]
    code, out, _ = run_cli(capsys, "cache", "clear")
    assert code == 0 and "removed 1" in out and "left 1 file(s)" in out
    assert not entry.exists() and garbage.exists()
