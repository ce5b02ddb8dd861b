"""The alarms a Monitor raises: each record goes through the rules, and each alarm into the record and onto stderr.

The rules (`gan_eval.monitor.alarms`) see every record in order; a resumed
record's earlier events are replayed first, so windows and latches continue
where they were (those alarms are not raised again). Each alarm is written to
the record at once; stderr gets the first alarm of each rule in a process,
later ones are in the record only.
"""

from __future__ import annotations

import sys
from typing import Any

from gan_eval.monitor.alarms import Alarm, AlarmRulebook, AlarmRules, replay
from gan_eval.monitor.record import RecordWriter


class RaisedAlarms:
    """The rules running over a run's records, and the alarms they raised (`alarms`, in order)."""

    def __init__(self, rules: AlarmRules | None, writer: RecordWriter, stderr: bool) -> None:
        self.rulebook = AlarmRulebook(rules)
        self.alarms: list[Alarm] = []
        self._writer = writer
        self._stderr = stderr
        self._printed: set[str] = set()
        replay(self.rulebook, writer.previous)

    def judge(self, event: dict[str, Any]) -> None:
        """Give `event` (already recorded) to the rules; record and announce the alarms it raises."""
        for alarm in self.rulebook.observe(event):
            self.alarms.append(alarm)
            self._writer.write_alarm(alarm)
            if self._stderr and alarm.rule not in self._printed:
                self._printed.add(alarm.rule)
                print(
                    f"gan-eval monitor: step {alarm.step}: {alarm.rule} ({alarm.subject}): {alarm.message} "
                    f"[later {alarm.rule} alarms: {self._writer.path} only]",
                    file=sys.stderr,
                )
