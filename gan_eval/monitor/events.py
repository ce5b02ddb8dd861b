"""The run record: an append-only JSON-lines file, `events.jsonl`, in the run folder.

Each line is one JSON object with at least `kind` and `step` (an integer, or
null for records that belong to no step). Kinds written by the `Monitor`:

- `session`: a process started writing (`resumed` says whether the file existed);
- `scalars`: values given to `Monitor.log` (losses and anything else);
- `gradients`: gradient norms of G and D measured at their optimizer steps;
- `learning_rates`: the learning rates of G's and D's optimizers (one field per
  optimizer and parameter group) that changed since the last such record, all
  of them at the first: a rate holds from its record's step until the next
  record that names it (see `gan_eval.monitor.learning_rates`). Older records
  have none;
- `discriminator`: summaries of D's outputs on a real and a fake batch;
- `evaluation`: metrics against the reference and the path of the sample picture;
- `alarm`: a rule fired (`rule`, `subject`, `message`, `values`).

NaN and infinities are not valid JSON; they are written as the strings
`"nan"`, `"inf"` and `"-inf"` and read back as floats.

Crash safety: every line is written and flushed to the operating system as it
is logged, so a killed process loses nothing already logged; `fsync` runs
at most once a second (and at alarms, evaluations and close), so a power
failure loses at most about a second. A line cut short by a crash is skipped
on reading; a resumed run starts on a fresh line after it. A whole record
whose step is not null or a whole number from 0 to 2**53 is refused by line:
no Monitor writes one.
"""

from __future__ import annotations

import json
import math
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gan_eval.errors import GanEvalError

EVENTS_FILE = "events.jsonl"
FSYNC_INTERVAL_S = 1.0
MAX_STEP = 2**53  # float64 holds every whole number up to here, so the plots' step axis stays exact
_NON_FINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _encode(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return "nan" if math.isnan(value) else ("inf" if value > 0 else "-inf")
    if isinstance(value, dict):
        return {k: _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, str) and value in _NON_FINITE:
        return _NON_FINITE[value]
    if isinstance(value, dict):
        return {k: _decode(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decode(v) for v in value]
    return value


def encode_event(event: dict[str, Any]) -> str:
    """One event as a JSON line (with the newline), non-finite floats as strings."""
    return json.dumps(_encode(event), separators=(",", ":"), allow_nan=False) + "\n"


@dataclass(frozen=True)
class RunRecord:
    """The events of a run folder in file order, and how many damaged lines were skipped."""

    events: list[dict[str, Any]]
    damaged_lines: int


def read_run(run_dir: str | os.PathLike[str]) -> RunRecord:
    """Read `run_dir/events.jsonl`, skipping lines that are not whole JSON objects (e.g. cut by a crash)."""
    path = Path(run_dir) / EVENTS_FILE
    if not path.is_file():
        raise GanEvalError(f"{run_dir}: no {EVENTS_FILE} (not a monitored run folder)")
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise GanEvalError(f"cannot read {path}: {exc.strerror or exc}") from None
    events, damaged = [], 0
    for number, line in enumerate(raw.split(b"\n"), start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except (ValueError, RecursionError):  # not JSON, not UTF-8, an integer of over 4300 digits, deep nesting
            damaged += 1
            continue
        if not isinstance(event, dict) or "kind" not in event:
            damaged += 1
            continue
        _check_step(event.get("step"), path, number)
        events.append(_decode(event))
    return RunRecord(events, damaged)


def _check_step(step: Any, path: Path, number: int) -> None:
    """Refuse a step that no run has: not null and not a whole number from 0 to `MAX_STEP`."""
    if step is None or (isinstance(step, int) and not isinstance(step, bool) and 0 <= step <= MAX_STEP):
        return
    shown = repr(step) if len(repr(step)) <= 40 else repr(step)[:37] + "..."
    raise GanEvalError(f"{path} line {number}: step {shown} is not a step (a whole number from 0 to 2**53, or null)")


class EventLog:
    """Appends events to `run_dir/events.jsonl` (see the module docstring for the guarantees)."""

    def __init__(self, run_dir: str | os.PathLike[str]) -> None:
        self.path = Path(run_dir) / EVENTS_FILE
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.resumed = self.path.is_file() and self.path.stat().st_size > 0
            self._handle = open(self.path, "ab")  # noqa: SIM115 (held open for the run)
            if self.resumed and not _ends_with_newline(self.path):
                self._handle.write(b"\n")
        except OSError as exc:
            raise GanEvalError(f"cannot write {self.path}: {exc.strerror or exc}") from None
        self._last_sync = time.monotonic()

    def append(self, event: dict[str, Any], sync: bool = False) -> None:
        """Write one event as a line and flush it; fsync when asked or when the last one is over a second old."""
        self._handle.write(encode_event(event).encode())
        self._handle.flush()
        if sync or time.monotonic() - self._last_sync >= FSYNC_INTERVAL_S:
            self.sync()

    def sync(self) -> None:
        """Force the written lines to disk."""
        os.fsync(self._handle.fileno())
        self._last_sync = time.monotonic()

    def close(self) -> None:
        """Sync and close the file (safe to call twice)."""
        if not self._handle.closed:
            self.sync()
            self._handle.close()


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(-1, os.SEEK_END)
        return handle.read(1) == b"\n"
