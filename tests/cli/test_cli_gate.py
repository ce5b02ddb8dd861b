"""`gan-eval gate`: exit codes, verdict and table, JSON, job summary, baselines, and refused input.

Results for the `--result` form come from `gan_eval.evaluate` on the
stand-in extractor (the gate only reads their JSON); the evaluate-now form
runs the real network on a few images against a shipped reference.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np
import pytest
from cli_runner import one_error_line, run_cli
from scipy.stats import t as student_t
from stand_in import StandInExtractor

from gan_eval import MetricOptions, evaluate
from gan_eval.cli.gate import LIMIT_FLAGS
from gan_eval.extraction import ExtractionOptions
from gan_eval.gate import METRIC_OF_KEY
from gan_eval.metrics.registry import METRICS

GATE_DOC = Path(__file__).resolve().parents[2] / "docs" / "ci-gate.md"


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Result files: `good` and `same` (fresh samples of one distribution), `worse` (shifted)."""
    tmp_path = tmp_path_factory.mktemp("results")
    stand_in = StandInExtractor()
    rng = np.random.default_rng(0)
    real = rng.integers(0, 256, (64, 3, 8, 8), dtype=np.uint8)
    paths = {}
    for name, offset, seed in (("good", 0, 1), ("same", 0, 2), ("worse", 90, 3)):
        fake = np.random.default_rng(seed).integers(0, 256 - offset, (64, 3, 8, 8)).astype(np.uint8) + offset
        result = evaluate(
            real,
            fake,
            ["fid", "kid"],
            options=MetricOptions(ci_groups=20, kid_subset_size=32, kid_subsets=20),
            extractor=stand_in,
            progress=False,
            extraction=ExtractionOptions(cache=False),
        )
        paths[name] = tmp_path / f"{name}.json"
        paths[name].write_text(json.dumps(result.to_json()))
    return paths


def test_update_baseline_then_pass_and_fail(capsys, tmp_path: Path, results: dict[str, Path], monkeypatch) -> None:
    baseline = tmp_path / "baseline.json"
    code, out, err = run_cli(capsys, "gate", "--result", results["good"], "--baseline", baseline, "--update-baseline")
    assert code == 0, err
    assert "baseline written" in out
    saved = json.loads(baseline.read_text())
    good = json.loads(results["good"].read_text())
    assert saved["values"]["fid"] == good["fid"]
    assert saved["comparable"]["n_fake"] == 64 and saved["comparable"]["weights_sha256"] == "0" * 64

    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    code, out, err = run_cli(capsys, "gate", "--result", results["same"], "--baseline", baseline, "--max-increase", "0")
    assert code == 0, out + err
    assert out.startswith("PASS")
    assert "metric" in out.splitlines()[1] and "baseline" in out.splitlines()[1]

    code, out, err = run_cli(
        capsys, "gate", "--result", results["worse"], "--baseline", baseline, "--max-increase", "1"
    )
    assert code == 1
    first = out.splitlines()[0]
    assert first.startswith("FAIL: fid rose")
    worse = json.loads(results["worse"].read_text())
    assert f"{worse['fid'] - good['fid']:+.6g}" in first
    text = summary.read_text()
    assert text.count("### gan-eval gate") == 2 and "regression" in text


def test_ceilings_and_json(capsys, results: dict[str, Path]) -> None:
    good = json.loads(results["good"].read_text())
    code, out, _ = run_cli(
        capsys, "gate", "--result", results["good"], "--max-fid", good["fid"] - 1e-6, "--max-kid", 1.0, "--json"
    )
    assert code == 1
    verdict = json.loads(out)
    assert verdict["passed"] is False
    assert {c["metric"]: c["failed"] for c in verdict["checks"]} == {"fid": True, "kid_mean": False}
    assert verdict["result"]["fid"] == good["fid"]
    code, out, _ = run_cli(capsys, "gate", "--result", results["good"], "--max-fid", good["fid"] + 1e-6)
    assert code == 0


def test_other_settings_are_refused(capsys, tmp_path: Path, results: dict[str, Path]) -> None:
    baseline = tmp_path / "baseline.json"
    assert run_cli(capsys, "gate", "--result", results["good"], "--baseline", baseline, "--update-baseline")[0] == 0
    other = json.loads(results["same"].read_text())
    other["settings"]["resize"] = "pil-bicubic"
    path = tmp_path / "other.json"
    path.write_text(json.dumps(other))
    code, out, err = run_cli(capsys, "gate", "--result", path, "--baseline", baseline, "--max-increase", "1")
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "resize" in err and "not comparable" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--result", "{good}"), "no limit set: give --baseline FILE"),
        (("--result", "{good}", "--real", "x", "--max-fid", "1"), "drop --real"),
        (("--real", "digits-test", "--max-fid", "1"), "exactly one of --fake and --generator"),
        (("--real", "digits-test", "--generator", "g", "--max-fid", "1"), "needs -n"),
        (("--real", "digits-test", "--fake", "f", "--latent-dim", "8", "--max-fid", "1"), "--latent-dim is the"),
        (("--result", "{good}", "--max-increase", "1"), "needs --baseline"),
        (("--result", "{missing}", "--max-fid", "1"), "does not exist"),
        (("--result", "{good}", "--max-fid", "nan"), "not a finite number"),
        (("--result", "{good}", "--max-fid", "1", "--alpha", "0.7"), "between 0 and 0.5"),
        (("--result", "{good}", "--update-baseline"), "needs --baseline"),
    ],
)
def test_usage_errors(capsys, tmp_path: Path, results: dict[str, Path], args: tuple[str, ...], message: str) -> None:
    names = {"good": results["good"], "missing": tmp_path / "missing.json"}
    before = sorted(p.name for p in tmp_path.iterdir())
    code, _out, err = run_cli(capsys, "gate", *(a.format(**names) for a in args))
    assert code == 2
    assert message in err and err.count("\n") == 1 and "Traceback" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == before


def _result_file(path: Path, fid: float, fid_std: float) -> Path:
    """A result as `report --json` writes it, reduced to what the gate reads, with a known FID and noise."""
    settings = {"extractor": "inception-v3-compat", "weights_sha256": "0" * 64, "resize": "tf-bilinear"}
    path.write_text(json.dumps({"settings": settings, "n_real": 500, "n_fake": 500, "fid": fid, "fid_std": fid_std}))
    return path


@pytest.mark.parametrize(("share", "expected"), [(0.99, 0), (1.01, 1)])
def test_no_limit_with_a_baseline_applies_the_default_rule(capsys, tmp_path: Path, share: float, expected: int) -> None:
    """A baseline alone: fid may rise by up to q * sqrt(s_now^2 + s_base^2), not beyond; q = t_{38, 0.99} for
    two noise estimates of 20 jackknife groups each and equal spread (Welch: 38 degrees of freedom)."""
    baseline = tmp_path / "baseline.json"
    start = _result_file(tmp_path / "start.json", 10.0, 0.5)
    assert run_cli(capsys, "gate", "--result", start, "--baseline", baseline, "--update-baseline")[0] == 0
    noise = student_t.isf(0.01, 38) * math.sqrt(0.5**2 + 0.5**2)
    now = _result_file(tmp_path / "now.json", 10.0 + share * noise, 0.5)
    code, out, err = run_cli(capsys, "gate", "--result", now, "--baseline", baseline, "--json")
    assert code == expected, out + err
    assert err.count("\n") == 1 and "default rule" in err and "--max-increase 0" in err
    verdict = json.loads(out)
    assert verdict["default_rule"] is True
    assert [(c["metric"], c["failed"]) for c in verdict["checks"]] == [("fid", bool(expected))]
    assert verdict["checks"][0]["noise"]["margin"] == pytest.approx(noise, rel=1e-9)
    code, out, err = run_cli(capsys, "gate", "--result", now, "--baseline", baseline, "--max-increase", "0")
    assert code == expected and err == ""
    header, row = out.splitlines()[1:3]
    assert header.split() == ["metric", "baseline", "now", "change", "limit", "noise", "result"]
    assert f"{noise:.3g} (t={student_t.isf(0.01, 38):.3g} x sigma {math.sqrt(0.5):.3g}, alpha=0.01)" in row


def test_evaluating_with_a_rule_that_needs_noise_refuses_before_any_work(capsys, tmp_path: Path) -> None:
    """The default rule with --ci-groups 0, or against a baseline without a noise estimate, is refused in one
    line before the inputs are read (here they do not even exist)."""
    baseline = tmp_path / "baseline.json"
    plain = tmp_path / "plain.json"
    plain.write_text(json.dumps({"settings": {}, "n_real": 500, "n_fake": 500, "fid": 10.0}))
    assert run_cli(capsys, "gate", "--result", plain, "--baseline", baseline, "--update-baseline")[0] == 0
    with_noise = tmp_path / "with-noise.json"
    assert (
        run_cli(
            capsys,
            "gate",
            "--result",
            _result_file(tmp_path / "n.json", 10.0, 0.5),
            "--baseline",
            with_noise,
            "--update-baseline",
        )[0]
        == 0
    )
    evaluate_now = ("--real", tmp_path / "missing-real", "--fake", tmp_path / "missing-fake")
    code, _, err = run_cli(capsys, "gate", *evaluate_now, "--baseline", with_noise, "--ci-groups", "0")
    one_error_line(code, err, "the default rule needs fid's noise estimate", "--ci-groups 0")
    code, _, err = run_cli(
        capsys, "gate", *evaluate_now, "--baseline", with_noise, "--max-increase", "0", "--ci-groups", "0"
    )
    one_error_line(code, err, "--max-increase 0 needs fid's noise estimate")
    code, _, err = run_cli(capsys, "gate", *evaluate_now, "--baseline", baseline)
    one_error_line(code, err, f"baseline {baseline} carries no noise estimate for fid", "--update-baseline")


@pytest.mark.inception
def test_evaluate_now_against_a_shipped_reference(capsys, tmp_path: Path, real_weights: Path) -> None:
    """--real NAME --fake ARRAY: the FID equals `gan-eval fid` on the same inputs; reruns are bit-identical."""
    images = np.random.default_rng(0).integers(0, 256, (12, 16, 16, 3), dtype=np.uint8)
    fake = tmp_path / "fake.npy"
    np.save(fake, images)
    common = ("--weights", real_weights, "--quiet", "--no-cache", "--ci-groups", "6")
    code, out, err = run_cli(
        capsys, "gate", "--real", "digits-test", "--fake", fake, "--max-fid", "1e6", "--json", *common
    )
    assert code == 0, err
    first = json.loads(out)["result"]
    assert first["n_real"] == 899 and first["n_fake"] == 12
    assert first["fid_std"] > 0 and first["fid_ci_groups"] == 6
    code, out, err = run_cli(capsys, "fid", "digits-test", fake, "--json", "--weights", real_weights, "--quiet")
    assert code == 0, err
    assert json.loads(out)["fid"] == pytest.approx(first["fid"], rel=1e-9)
    code, out, _ = run_cli(
        capsys, "gate", "--real", "digits-test", "--fake", fake, "--max-fid", "1e6", "--json", *common
    )
    assert json.loads(out)["result"]["fid"] == first["fid"]

    # a pytorch-fid / TTUR / clean-fid style file (mu and sigma only) as the reference
    from gan_eval.sources.references import load_reference

    stats = load_reference("digits-test")
    np.savez(tmp_path / "pytorch_fid_stats.npz", mu=stats.mean(), sigma=stats.covariance())
    code, out, err = run_cli(
        capsys,
        "gate",
        "--real",
        tmp_path / "pytorch_fid_stats.npz",
        "--fake",
        fake,
        "--max-fid",
        "1e6",
        "--json",
        *common,
    )
    assert code == 0, err
    assert json.loads(out)["result"]["fid"] == pytest.approx(first["fid"], rel=1e-9)


def test_every_limit_flag_names_a_key_its_metric_declares() -> None:
    from gan_eval.paired.keys import METRICS as PAIRED_METRICS

    for flag, key, _ in LIMIT_FLAGS:
        metric = METRIC_OF_KEY[key]
        declared = METRICS[metric].headline_keys if metric in METRICS else (PAIRED_METRICS[metric].key.name,)
        assert key in declared, flag


def test_limit_flags_are_the_documented_ones() -> None:
    """The flag table of docs/ci-gate.md ("What is judged") lists exactly the gate's limits, each kind in its row."""
    text = GATE_DOC.read_text(encoding="utf-8")
    table = text.split("| flag | limit |", 1)[1].split("\n\n", 1)[0]
    documented: dict[str, str] = {}
    for row in table.splitlines()[2:]:
        flags_cell, limit_cell = row.strip("|").split("|")
        flags = re.findall(r"`(--[a-z-]+)", flags_cell)
        if flags == ["--alpha"]:  # the noise rule's false-alarm rate, not a limit
            continue
        kind = {"absolute ceiling": "max", "absolute floor": "min"}.get(limit_cell.strip(), "inc")
        documented.update((flag, kind) for flag in flags)
    assert documented == {flag: kind for flag, _, kind in LIMIT_FLAGS}


def test_help_states_each_default_once(capsys) -> None:
    code, out, _ = run_cli(capsys, "gate", "--help")
    assert code == 0
    alpha = " ".join(out.split("\n  --alpha ALPHA", 1)[1].split("\n  -", 1)[0].split())
    assert alpha == "false-alarm rate of the noise rule (default: 0.01)"
