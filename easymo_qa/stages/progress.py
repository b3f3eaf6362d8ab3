"""The sign-off's stage progress: on a terminal, a live table (stage, state, elapsed, outcome) under the
stages' own output; elsewhere (CI logs) only the plain ``==> sign-off N/M`` lines, which both modes print.
"""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass

from rich.console import Console
from rich.live import Live
from rich.table import Table
from rich.text import Text

from easymo_qa.gates import STAGES

STATE_STYLES = {
    "waiting": "dim",
    "running": "bold cyan",
    "passed": "green",
    "FAILED": "bold red",
    "skipped": "yellow",
    "given": "blue",
}


@dataclass
class _Row:
    state: str = "waiting"
    started: float | None = None
    seconds: float | None = None
    outcome: str = ""


class StageProgress:
    """Tells the person (or the log) which stage runs, how long it took and how it ended.

    Use it as a context manager: on a terminal the live table runs inside it, and the stages' output,
    written to ``sys.stdout`` meanwhile, scrolls above the table."""

    def __init__(self, live: bool | None = None, console: Console | None = None) -> None:
        self.live = sys.stdout.isatty() if live is None else live
        self.console = console or Console()
        self.rows = {stage: _Row() for stage in STAGES}
        self._view: Live | None = None

    def __enter__(self) -> StageProgress:
        if self.live:
            self._view = Live(console=self.console, refresh_per_second=2, get_renderable=self.table)
            self._view.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._view is not None:
            self._view.stop()  # the last table stays on screen
            self._view = None

    @staticmethod
    def step(stage: str) -> str:
        return f"{STAGES.index(stage) + 1}/{len(STAGES)}"

    def begin(self, stage: str, what: str) -> None:
        self._say(f"\n==> sign-off {self.step(stage)}: {what}")
        row = self.rows[stage]
        row.state, row.started = "running", time.perf_counter()

    def end(self, stage: str, outcome: str, passed: bool) -> float:
        """Record how ``stage`` ended; returns its duration in seconds."""
        row = self.rows[stage]
        row.seconds = time.perf_counter() - (row.started or time.perf_counter())
        row.state, row.outcome = ("passed" if passed else "FAILED"), outcome
        self._say(f"==> sign-off {self.step(stage)}: {outcome} in {row.seconds:.0f} s")
        return row.seconds

    @staticmethod
    def _say(line: str) -> None:
        # sys.stdout, not the console: under the live table it is rich's proxy, which prints above it.
        sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def not_run(self, stage: str, state: str, reason: str) -> None:
        """A stage that did not run: ``skipped`` (and why) or ``given`` (a result file from elsewhere)."""
        self.rows[stage].state, self.rows[stage].outcome = state, reason

    def table(self) -> Table:
        table = Table(title="sign-off stages", title_justify="left", expand=False)
        for column in ("stage", "state", "elapsed", "outcome"):
            table.add_column(column, overflow="fold")
        now = time.perf_counter()
        for stage, row in self.rows.items():
            elapsed = row.seconds if row.seconds is not None else now - row.started if row.started else None
            table.add_row(
                f"{self.step(stage)} {stage}",
                Text(row.state, style=STATE_STYLES.get(row.state, "")),
                "" if elapsed is None else f"{elapsed:.0f} s",
                Text(row.outcome),
            )
        return table
