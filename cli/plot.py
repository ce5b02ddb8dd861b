"""`gan-eval plot RUN_DIR`: the dashboard PNG and a self-contained report.html of a monitored training run."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DASHBOARD_FILE = "dashboard.png"
REPORT_FILE = "report.html"


def register(commands: argparse._SubParsersAction) -> None:
    """Add the `plot` sub-command."""
    plot = commands.add_parser(
        "plot",
        help="dashboard PNG and report.html of a run recorded by gan_eval.monitor.Monitor",
        description=(
            f"Draw the record RUN_DIR/events.jsonl: {DASHBOARD_FILE} (losses, D outputs, gradient norms, "
            f"metrics over steps, alarms marked) and {REPORT_FILE} (the plots, the alarms and the latest "
            "samples in one self-contained page)."
        ),
    )
    plot.add_argument("run_dir", metavar="RUN_DIR", help="the Monitor's output folder (holds events.jsonl)")
    plot.add_argument("--out", metavar="DIR", help="write the two files into DIR (default: RUN_DIR)")
    plot.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    """Render both files in memory, check both destinations, then write each atomically."""
    from gan_eval.atomic import atomic_write_bytes
    from gan_eval.errors import GanEvalError
    from gan_eval.monitor.dashboard import (
        PLOT_LIMIT,
        dashboard_png,
        latest_sample_picture,
        picture_problem,
        values_beyond_limit,
    )
    from gan_eval.monitor.events import EVENTS_FILE, read_run
    from gan_eval.monitor.html_report import report_html
    from gan_eval.output_paths import check_outputs
    from gan_eval.report_files import check_output_folder

    run_dir = Path(args.run_dir)
    flag, out = ("--out", Path(args.out)) if args.out else ("RUN_DIR", run_dir)
    check_outputs([(flag, out / DASHBOARD_FILE), (flag, out / REPORT_FILE)], [("RUN_DIR", run_dir / EVENTS_FILE)])
    if args.out:
        check_output_folder(args.out)
    record = read_run(run_dir)
    title = run_dir.resolve().name or str(run_dir)
    dashboard = dashboard_png(record, run_dir, title)
    picture = latest_sample_picture(run_dir, record.events)
    problem = None if picture is None else picture_problem(picture.png)
    samples = None if picture is None or problem else (picture.step, picture.png)
    page = report_html(record, title, dashboard, samples)
    for name in (DASHBOARD_FILE, REPORT_FILE):  # refuse before writing either file
        if (out / name).is_dir():
            raise GanEvalError(f"{out / name} is a folder; cannot write the {name} there")
    atomic_write_bytes(out / DASHBOARD_FILE, dashboard)
    atomic_write_bytes(out / REPORT_FILE, page.encode("utf-8"))
    alarms = sum(1 for e in record.events if e.get("kind") == "alarm")
    counted = f"{len(record.events)} records, {alarms} alarm{'' if alarms == 1 else 's'}"
    print(f"wrote {out / DASHBOARD_FILE} and {out / REPORT_FILE} ({counted})")
    if problem:
        print(f"warning: {picture.path}: sample picture left out ({problem})", file=sys.stderr)
    if record.damaged_lines:
        print(f"skipped {record.damaged_lines} damaged line(s) of {run_dir / 'events.jsonl'}")
    beyond = values_beyond_limit(record.events)
    if beyond:
        where = run_dir / EVENTS_FILE
        print(f"warning: {where}: {beyond} value(s) beyond ±{PLOT_LIMIT:g} left out of the plots", file=sys.stderr)
    return 0
