"""The project's own CI gate, for real: the shipped DCGAN passes against its shipped baseline, the
deliberately degraded checkpoint fails (exit 1), and the same checkpoint gives the same FID bit for bit.

Both run `gan-eval gate` as a user's CI would (a subprocess with the real
Inception weights) against the shipped `digits-test` reference statistics.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
MODELS = ROOT / "reference_models"
BASELINE = MODELS / "gate-baseline.json"
N = 200

pytestmark = pytest.mark.inception


def gate(generator: str, real_weights: Path, *extra: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "gan_eval", "gate", "--real", "digits-test", "--generator"]
    command += [
        str(MODELS / generator),
        "-n",
        str(N),
        "--weights",
        str(real_weights),
        "--quiet",
        "--no-cache",
        "--device",
        "cpu",
        *extra,
    ]
    return subprocess.run(command, capture_output=True, text=True, timeout=900)


def test_shipped_generator_passes_and_degraded_checkpoint_fails(real_weights: Path, tmp_path: Path) -> None:
    limits = ["--baseline", str(BASELINE), "--max-increase", "2", "--json"]
    good = gate("dcgan-digits", real_weights, *limits)
    assert good.returncode == 0, good.stdout + good.stderr
    verdict = json.loads(good.stdout)
    baseline = json.loads(BASELINE.read_text())
    # same checkpoint, same latents, same machine kind: the FID the baseline recorded
    assert verdict["result"]["fid"] == pytest.approx(baseline["values"]["fid"], rel=1e-6)

    bad = gate("dcgan-digits-degraded", real_weights, *limits)
    assert bad.returncode == 1, bad.stdout + bad.stderr
    assert json.loads(bad.stdout)["summary"].startswith("FAIL: fid rose")

    again = gate("dcgan-digits", real_weights, *limits)
    assert json.loads(again.stdout)["result"]["fid"] == verdict["result"]["fid"]  # bit for bit
