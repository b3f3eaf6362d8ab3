"""reports/stack/ keeps the newest runs only, and never a running stack's files (stacks run in parallel)."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from easymo_qa.stack import retention

HOUR = 3600.0


def _run(stack_dir: Path, port: int, hours_ago: float, files: tuple[str, ...] = ("log", "sqlite3")) -> Path:
    """The files one stack leaves: its log and its SQLite database, last written ``hours_ago``."""
    stamp = time.time() - hours_ago * HOUR
    for suffix in files:
        path = stack_dir / f"reference-{port}.{suffix}"
        path.write_bytes(b"x")
        os.utime(path, (stamp, stamp))
    return stack_dir / f"reference-{port}.log"


def _ports(stack_dir: Path) -> set[int]:
    return {int(p.name.split(".")[0].split("-")[1]) for p in stack_dir.iterdir()}


def test_only_the_newest_runs_are_kept_with_all_their_files(tmp_path: Path) -> None:
    _run(tmp_path, 1, hours_ago=9, files=("log", "sqlite3", "sqlite3-wal"))
    for port in range(2, 9):
        _run(tmp_path, port, hours_ago=10 - port)  # port 8 is the newest
    deleted = retention.prune(tmp_path, keep=3)
    assert _ports(tmp_path) == {6, 7, 8}
    assert len(deleted) == 11  # five runs' log and database, and the first one's WAL file


def test_a_running_stack_and_a_recent_run_are_never_deleted(tmp_path: Path) -> None:
    running = _run(tmp_path, 1, hours_ago=9)
    _run(tmp_path, 2, hours_ago=8)
    _run(tmp_path, 3, hours_ago=0.01)  # booting or idle right now
    for port in (4, 5):
        _run(tmp_path, port, hours_ago=0.001)
    with running.open("ab") as log:
        retention.hold(log)
        child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"], stdout=log)
    try:  # only the child holds the log now, as a reference service started by the stack does
        assert retention.in_use(running)
        retention.prune(tmp_path, keep=1)
        assert _ports(tmp_path) == {1, 3, 4, 5}
    finally:
        child.kill()
        child.wait()
    assert not retention.in_use(running)
    retention.prune(tmp_path, keep=1, quiet_seconds=0)
    assert _ports(tmp_path) == {5}


def test_the_number_of_runs_kept_is_configurable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for port in range(1, 8):
        _run(tmp_path, port, hours_ago=10 - port)
    assert retention.keep_runs() == retention.DEFAULT_KEEP_RUNS
    retention.prune(tmp_path)
    assert _ports(tmp_path) == {3, 4, 5, 6, 7}
    monkeypatch.setenv(retention.KEEP_RUNS_VARIABLE, "2")
    retention.prune(tmp_path)
    assert _ports(tmp_path) == {6, 7}
    monkeypatch.setenv(retention.KEEP_RUNS_VARIABLE, "many")
    with pytest.raises(ValueError, match="EASYMO_QA_STACK_KEEP_RUNS"):
        retention.keep_runs()
