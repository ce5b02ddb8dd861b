"""`report.html` of a monitored run: one self-contained page with the dashboard, the alarms and the latest samples.

Images are inlined as base64 `data:` URLs and the styles sit in the page, so
the file can be mailed or attached to a CI run and opened anywhere, offline.
All text from the record is HTML-escaped.
"""

from __future__ import annotations

import base64
import html
import math
from collections import Counter
from pathlib import Path
from typing import Any

from gan_eval.monitor.events import RunRecord
from gan_eval.monitor.recorded_metrics import SPREAD_RATIO, recorded_metrics

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 1.5em auto; max-width: 1200px; color: #222; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 1.6em; }
table { border-collapse: collapse; margin: 0.5em 0; }
td, th { border: 1px solid #ccc; padding: 0.3em 0.6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; }
td.number { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; border: 1px solid #ddd; }
.ok { color: #1a7f37; } .alarm { color: #b42318; }
"""

_DASHBOARD_ALT = "dashboard: losses, learning rates, D outputs, gradient norms, metrics, alarms"


def _data_url(png: bytes) -> str:
    return "data:image/png;base64," + base64.b64encode(png).decode("ascii")


def _format(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.6g}" if math.isfinite(value) else str(value)
    return str(value)


def _alarms_section(alarms: list[dict[str, Any]]) -> str:
    if not alarms:
        return '<h2>Alarms</h2>\n<p class="ok" id="no-alarms">No alarm was raised.</p>'
    counts = Counter(a.get("rule") for a in alarms)
    summary = ", ".join(f"{html.escape(str(rule))} ×{n}" for rule, n in counts.items())
    rows = []
    for alarm in alarms:
        values = ", ".join(
            f"{html.escape(str(k))}={html.escape(_format(v))}" for k, v in alarm.get("values", {}).items()
        )
        rows.append(
            "<tr>"
            f'<td class="number">{html.escape(str(alarm.get("step")))}</td>'
            f"<td>{html.escape(str(alarm.get('rule')))}</td>"
            f"<td>{html.escape(str(alarm.get('subject')))}</td>"
            f"<td>{html.escape(str(alarm.get('message')))}<br><small>{values}</small></td>"
            "</tr>"
        )
    return (
        f'<h2>Alarms</h2>\n<p class="alarm">{len(alarms)} alarm{"s" if len(alarms) != 1 else ""}: {summary}</p>\n'
        '<table id="alarms"><tr><th>step</th><th>rule</th><th>about</th><th>what it means</th></tr>\n'
        + "\n".join(rows)
        + "\n</table>"
    )


def _evaluation_section(events: list[dict[str, Any]], samples: tuple[int, bytes] | None) -> str:
    latest = next((e for e in reversed(events) if e.get("kind") == "evaluation"), None)
    if latest is None:
        return "<h2>Latest evaluation</h2>\n<p>No evaluation was recorded.</p>"
    # The metrics' keys first, in the order the record lists the metrics, then the spread ratio, then the rest.
    first = [key for metric in recorded_metrics(events) for key in metric.recorded_keys] + [SPREAD_RATIO]
    names = [k for k in dict.fromkeys(first) if k in latest]
    names += [k for k in latest if k not in names and k not in ("kind", "step", "samples")]
    rows = "\n".join(
        f'<tr><th>{html.escape(k)}</th><td class="number">{html.escape(_format(latest[k]))}</td></tr>' for k in names
    )
    parts = [
        f"<h2>Latest evaluation (step {html.escape(str(latest.get('step')))})</h2>",
        f'<table id="metrics">{rows}</table>',
    ]
    if samples is not None:
        parts.append(f"<h3>Generated samples at step {samples[0]}</h3>")
        parts.append(f'<img id="samples" alt="generated samples at step {samples[0]}" src="{_data_url(samples[1])}">')
    return "\n".join(parts)


def report_html(record: RunRecord, title: str, dashboard: bytes, samples: tuple[int, bytes] | None = None) -> str:
    """The page (a str of HTML) for `record`, with the dashboard PNG and the latest sample picture inlined."""
    events = record.events
    alarms = [e for e in events if e.get("kind") == "alarm"]
    steps = [e["step"] for e in events if isinstance(e.get("step"), int)]
    sessions = sum(1 for e in events if e.get("kind") == "session")
    facts = [
        f"steps {min(steps)}–{max(steps)}" if steps else "no steps recorded",
        f"{sessions} session{'s' if sessions != 1 else ''}",
        f"{len(events)} records",
    ]
    if record.damaged_lines:
        facts.append(f"{record.damaged_lines} damaged line{'s' if record.damaged_lines != 1 else ''} skipped")
    name = html.escape(title)
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gan-eval monitor: {name}</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>Training monitor: {name}</h1>
<p id="facts">{html.escape(", ".join(facts))}</p>
{_alarms_section(alarms)}
<h2>Dashboard</h2>
<img id="dashboard" alt="{_DASHBOARD_ALT}" src="{_data_url(dashboard)}">
{_evaluation_section(events, samples)}
<p><small>Made by gan-eval plot from {html.escape(str(Path(title)))}/events.jsonl.</small></p>
</body>
</html>
"""
