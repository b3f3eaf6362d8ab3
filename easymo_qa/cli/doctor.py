"""``easymo-qa doctor --env X``: can the harness test this environment? One table, one row per check."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich import box
from rich.console import Console
from rich.table import Table

from easymo_qa.cli.environment import add_env_options, environment_path, selector
from easymo_qa.doctor import DoctorReport, run_doctor
from easymo_qa.layout import layout

MARKS = {"pass": "[green]✓[/]", "fail": "[red]✗[/]", "skip": "[dim]–[/]"}
WIDE = 200  # not a terminal (CI logs, a pipe): one line per row rather than 80-column wrapping


def render(report: DoctorReport, console: Console) -> None:
    table = Table(box=box.SIMPLE_HEAD, title=f"easymo-qa doctor: {report.env_label}", title_justify="left")
    for column in ("", "check", "detail", "fix"):
        table.add_column(column, overflow="fold")
    for row in report.rows:
        table.add_row(MARKS[row.status], row.check, row.detail, row.hint if row.status == "fail" else "")
    console.print(table)
    if report.not_configured:
        console.print(f"not configured here (not checked): {', '.join(report.not_configured)}")
    failed = sum(row.status == "fail" for row in report.rows)
    console.print("[green]all checks pass[/]" if report.ok else f"[red]{failed} check(s) failed[/]")


def cmd_doctor(args: argparse.Namespace) -> int:
    path = environment_path(args)  # an unknown --env is a usage error (2), raised before anything runs
    console, notes = Console(highlight=False), Console(stderr=True, highlight=False)
    if not console.is_terminal:
        console = Console(highlight=False, width=WIDE)
    if not notes.is_terminal:
        notes = Console(stderr=True, highlight=False, width=WIDE)
    report = run_doctor(path, Path(args.reports_dir), note=lambda line: notes.print(f"easymo-qa: {line}"))
    render(report, console)
    if not report.ok:
        console.print(f"re-run after fixing: easymo-qa doctor {selector(args)}")
    return 0 if report.ok else 1


def add_commands(commands: argparse._SubParsersAction) -> None:
    doctor = commands.add_parser("doctor", help="check, step by step, that an environment can be tested")
    add_env_options(doctor)
    doctor.add_argument(
        "--reports-dir", default=str(layout().reports), help="where a local stack keeps its log and database"
    )
    doctor.set_defaults(func=cmd_doctor)
