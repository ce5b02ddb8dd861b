"""`--help` shows each option's default (the shared `Parser`'s formatter), written once."""

from __future__ import annotations

import re

import pytest
from cli_runner import run_cli


@pytest.mark.parametrize(
    ("command", "expected"),
    [
        (
            "train",
            (
                "--steps STEPS generator steps (default: 2000)",
                "--seed SEED seed of weights, noise and batches (default: 0)",
            ),
        ),
        ("sample", ("--latent-seed S, --seed S seed of the latent noise (default: 0)",)),
        ("modes", ("--ndb-bins NDB_BINS k-means bins of NDB (default: 100)", "baselines (default: 0)")),
        ("fid", ("--batch-size BATCH_SIZE images per forward pass (default: 64 on CPU, 500 on GPU)",)),
        ("stats", ("--batch-size BATCH_SIZE images per forward pass (default: 64 on CPU, 500 on GPU)",)),
    ],
)
def test_help_shows_defaults(capsys: pytest.CaptureFixture[str], command: str, expected: tuple[str, ...]) -> None:
    code, out, _ = run_cli(capsys, command, "--help")
    assert code == 0
    text = re.sub(r"\s+", " ", out)
    for phrase in expected:
        assert phrase in text, text
    for option in text.split(" --"):
        assert option.count("(default") <= 1, option
    assert "(default: None)" not in text and "(default: False)" not in text
