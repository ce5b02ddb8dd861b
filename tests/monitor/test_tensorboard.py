"""TensorBoard events, written beside the JSON record when the tensorboard package is installed.

The test extra installs tensorboard, so its absence fails the event test rather than skipping it.
"""

from __future__ import annotations

import math

import pytest
import torch

from gan_eval.monitor import Monitor


def _read_events(folder):
    """The TensorBoard events under `folder`, every scalar and tensor kept."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    events = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    events.Reload()
    return events


def test_scalars_d_outputs_and_alarms_reach_tensorboard(tmp_path):
    losses = [0.5 * step + 1 for step in range(5)]
    with Monitor(tmp_path, stderr=False) as monitor:
        for step, loss in enumerate(losses):
            monitor.log(step, loss_d=loss)
            monitor.discriminator(step, torch.full((4,), 2.0), torch.full((4,), -1.0), kind="critic")
        monitor.log(5, loss_d=math.nan)
    events = _read_events(tmp_path / "tensorboard")
    loss = events.Scalars("scalars/loss_d")
    assert [e.step for e in loss[:5]] == list(range(5))
    assert [e.value for e in loss[:5]] == pytest.approx(losses)
    gap = events.Scalars("discriminator/critic_gap")
    assert [e.value for e in gap] == pytest.approx([3.0] * 5)
    assert "alarms/non_finite/text_summary" in events.Tags()["tensors"]


def test_tensorboard_can_be_turned_off(tmp_path):
    with Monitor(tmp_path, tensorboard=False, stderr=False) as monitor:
        monitor.log(0, loss=1.0)
    assert not (tmp_path / "tensorboard").exists()
