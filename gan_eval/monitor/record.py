"""The Monitor's record writer: every event into `out_dir/events.jsonl`, and into TensorBoard when installed.

The file's guarantees (a line per event, flushed as written, fsync at most
once a second) are `gan_eval.monitor.events.EventLog`'s. TensorBoard gets each
number of an event with a step as the scalar `<kind>/<field>`, and each alarm
as text under `alarms/<rule>`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gan_eval.errors import GanEvalError
from gan_eval.monitor.alarms import Alarm
from gan_eval.monitor.events import EVENTS_FILE, EventLog, read_run


def _tensorboard_writer(folder: Path) -> Any:
    """A TensorBoard `SummaryWriter` into `folder` flushing every 10 s, or None when tensorboard is not installed."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:
        return None
    return SummaryWriter(str(folder), flush_secs=10)


class RecordWriter:
    """Writes a run's events (see the module docstring); `previous` holds a resumed record's earlier events."""

    def __init__(self, out_dir: Path, resume: bool, tensorboard: bool) -> None:
        if not resume and (out_dir / EVENTS_FILE).exists():
            raise GanEvalError(f"{out_dir} already holds a run record; use resume=True or another folder")
        self._log = EventLog(out_dir)
        self.path = self._log.path
        self.resumed = self._log.resumed
        self.previous: list[dict[str, Any]] = read_run(out_dir).events if self.resumed else []
        self._tensorboard = _tensorboard_writer(out_dir / "tensorboard") if tensorboard else None

    def write(self, event: dict[str, Any], sync: bool = False) -> None:
        """Append `event` to the record (fsync now with `sync`) and its numbers to TensorBoard."""
        self._log.append(event, sync=sync)
        if self._tensorboard is None or not isinstance(event.get("step"), int):
            return
        for name, value in event.items():
            if name not in ("step", "time") and isinstance(value, (int, float)) and not isinstance(value, bool):
                self._tensorboard.add_scalar(f"{event['kind']}/{name}", value, event["step"])

    def write_alarm(self, alarm: Alarm) -> None:
        """Append an alarm to the record, synced, and its message to TensorBoard."""
        self._log.append(alarm.to_event(), sync=True)
        if self._tensorboard is not None:
            self._tensorboard.add_text(f"alarms/{alarm.rule}", alarm.message, alarm.step or 0)

    def close(self) -> None:
        """Sync and close the record and TensorBoard (safe to call twice)."""
        self._log.close()
        if self._tensorboard is not None:
            self._tensorboard.close()
