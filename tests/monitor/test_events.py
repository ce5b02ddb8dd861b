"""The run record: crash safety (a SIGKILLed writer leaves a readable log), resuming, damaged lines."""

from __future__ import annotations

import json
import math
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from gan_eval.errors import GanEvalError
from gan_eval.monitor import Monitor, read_run
from gan_eval.monitor.events import encode_event

WRITER = textwrap.dedent(
    """
    import sys
    from gan_eval.monitor import Monitor
    monitor = Monitor(sys.argv[1], tensorboard=False, stderr=False)
    step = 0
    while True:
        monitor.log(step, loss_d=step * 0.5, loss_g=-step, note=float(step % 7))
        step += 1
    """
)


def _scalar_steps(run_dir) -> list[int]:
    return [e["step"] for e in read_run(run_dir).events if e["kind"] == "scalars"]


def test_sigkilled_writer_leaves_a_readable_log_and_a_resumed_run_appends(tmp_path):
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-c", WRITER, str(run)], stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            path = run / "events.jsonl"
            if path.is_file() and path.stat().st_size > 200_000:
                break
            assert process.poll() is None, process.stderr.read().decode()
            time.sleep(0.05)
        else:
            pytest.fail("the writer did not write 200 kB in 60 s")
        process.send_signal(signal.SIGKILL)
    finally:
        process.kill()
        process.wait()
    record = read_run(run)
    assert record.damaged_lines <= 1  # at most the line being written when the kill came
    steps = _scalar_steps(run)
    assert len(steps) > 1000 and steps == list(range(len(steps)))
    for event in (e for e in record.events if e["kind"] == "scalars"):
        assert event["loss_d"] == event["step"] * 0.5 and event["loss_g"] == -event["step"]

    with Monitor(run, tensorboard=False, stderr=False) as monitor:
        for step in range(len(steps), len(steps) + 3):
            monitor.log(step, loss_d=1.0)
    resumed = read_run(run)
    sessions = [e for e in resumed.events if e["kind"] == "session"]
    assert [s["resumed"] for s in sessions] == [False, True]
    assert sessions[1]["step"] == steps[-1]
    assert _scalar_steps(run) == list(range(len(steps) + 3))
    assert resumed.damaged_lines == record.damaged_lines


def test_a_line_cut_short_is_skipped_and_the_next_session_starts_on_a_fresh_line(tmp_path):
    with Monitor(tmp_path, tensorboard=False, stderr=False) as monitor:
        monitor.log(0, loss=1.0)
    with open(tmp_path / "events.jsonl", "ab") as handle:
        handle.write(encode_event({"kind": "scalars", "step": 1, "loss": 2.0})[:15].encode())
    assert read_run(tmp_path).damaged_lines == 1
    with Monitor(tmp_path, tensorboard=False, stderr=False) as monitor:
        monitor.log(1, loss=3.0)
    record = read_run(tmp_path)
    assert record.damaged_lines == 1
    assert [(e["step"], e["loss"]) for e in record.events if e["kind"] == "scalars"] == [(0, 1.0), (1, 3.0)]


def test_alarm_state_continues_across_sessions(tmp_path):
    """A resumed run replays its record: an alarm already raised is not raised again while it holds."""
    with Monitor(tmp_path, tensorboard=False, stderr=False) as monitor:
        monitor.log(0, loss=math.nan)
        assert [a.rule for a in monitor.alarms] == ["non_finite"]
    with Monitor(tmp_path, tensorboard=False, stderr=False) as monitor:
        monitor.log(1, loss=math.inf)
        assert monitor.alarms == []
        monitor.log(2, loss=1.0)
        monitor.log(3, loss=math.nan)
        assert [(a.rule, a.step) for a in monitor.alarms] == [("non_finite", 3)]
    assert [e["step"] for e in read_run(tmp_path).events if e["kind"] == "alarm"] == [0, 3]


def test_non_finite_values_round_trip_as_strings():
    line = encode_event({"kind": "scalars", "step": 0, "a": math.nan, "b": -math.inf, "c": [math.inf, 1.0]})
    assert json.loads(line) == {"kind": "scalars", "step": 0, "a": "nan", "b": "-inf", "c": ["inf", 1.0]}


def test_read_run_errors_name_the_folder(tmp_path):
    with pytest.raises(GanEvalError, match=f"{tmp_path}: no events.jsonl"):
        read_run(tmp_path)
    (tmp_path / "events.jsonl").write_bytes(b'{"kind": "scalars", "step": 0}\n[1, 2]\n\xff\xfe\n{"no kind": 1}\n')
    record = read_run(tmp_path)
    assert record.events == [{"kind": "scalars", "step": 0}] and record.damaged_lines == 3


def test_unwritable_folder_is_a_one_line_error(tmp_path):
    (tmp_path / "file").write_text("not a folder")
    with pytest.raises(GanEvalError, match=r"cannot write .*file/run/events\.jsonl"):
        Monitor(tmp_path / "file" / "run", tensorboard=False)
