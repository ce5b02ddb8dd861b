"""Learning rates: the record holds the rates the schedulers set, compactly, for each optimizer and group."""

from __future__ import annotations

import pytest
import torch
from scheduled_training import SCHEDULED_STEPS, scheduled_rate

from gan_eval.monitor import Monitor, read_run
from gan_eval.monitor.learning_rates import rate_at

NAMES = ("G", "D/group0", "D/group1")


def _change_points(events, name):
    points = [(e["step"], e[name]) for e in events if e["kind"] == "learning_rates" and name in e]
    return [s for s, _ in points], [v for _, v in points]


def test_the_record_holds_the_scheduled_rate_of_every_step(scheduled_run):
    events = read_run(scheduled_run).events
    for name in NAMES:
        steps, values = _change_points(events, name)
        recorded = [rate_at(steps, values, step) for step in range(SCHEDULED_STEPS)]
        assert recorded == pytest.approx([scheduled_rate(name, s) for s in range(SCHEDULED_STEPS)], rel=1e-12)


def test_only_changes_are_recorded(scheduled_run):
    rate_events = [e for e in read_run(scheduled_run).events if e["kind"] == "learning_rates"]
    assert rate_events[0]["step"] == 0 and set(rate_events[0]) == {"kind", "step", *NAMES}
    for event in rate_events[1:]:
        for name in set(event) - {"kind", "step"}:
            step = event["step"]
            assert scheduled_rate(name, step) != pytest.approx(scheduled_rate(name, step - 1), rel=1e-9)
    assert [e["step"] for e in rate_events] == [0, *range(1, 11), 15, 30]


def _train_one_step(monitor, networks, optimizers, step):
    for optimizer in optimizers:
        optimizer.zero_grad()
    sum(net(torch.ones(1, 2)).sum() for net in networks).backward()
    for optimizer in optimizers:
        optimizer.step()
    monitor.log(step, loss=0.0)


def test_names_tell_optimizers_apart(tmp_path):
    generator, discriminator = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    optimizers = [
        torch.optim.SGD([generator.weight], 0.1),
        torch.optim.SGD([generator.bias], 0.2),
        torch.optim.SGD([*generator.parameters(), *discriminator.parameters()], 0.3),
    ]
    with Monitor(tmp_path, every=None, tensorboard=False, stderr=False) as monitor:
        monitor.watch(generator, discriminator)
        _train_one_step(monitor, [generator, discriminator], optimizers, 0)
    (event,) = [e for e in read_run(tmp_path).events if e["kind"] == "learning_rates"]
    assert event == {"kind": "learning_rates", "step": 0, "G": 0.1, "G#2": 0.2, "G+D": 0.3}


def test_a_resumed_run_records_only_new_changes(tmp_path):
    generator, discriminator = torch.nn.Linear(2, 2), torch.nn.Linear(2, 1)
    for rate, step in ((0.1, 0), (0.1, 1), (0.05, 2)):
        optimizer = torch.optim.SGD(discriminator.parameters(), rate)
        with Monitor(tmp_path, every=None, tensorboard=False, stderr=False) as monitor:
            monitor.watch(generator, discriminator)
            _train_one_step(monitor, [discriminator], [optimizer], step)
    rate_events = [e for e in read_run(tmp_path).events if e["kind"] == "learning_rates"]
    assert [(e["step"], e["D"]) for e in rate_events] == [(0, 0.1), (2, 0.05)]


def test_rate_at_is_a_step_function():
    assert [rate_at([0, 5], [1.0, 2.0], s) for s in (-1, 0, 4, 5, 9)] == [None, 1.0, 1.0, 2.0, 2.0]
