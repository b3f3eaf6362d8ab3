"""Keeps ``reports/stack/`` to the last few runs: each local stack leaves ``reference-PORT.log`` and its
SQLite files there, and the test suite starts many stacks.

Pruning happens when a stack starts, and several stacks run in parallel (pytest-xdist workers, the
load test's child): a run is never deleted while its reference service runs (it holds a lock on its log,
see :func:`hold`) nor when touched in the last ``QUIET_SECONDS``.
"""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path
from typing import IO

KEEP_RUNS_VARIABLE = "EASYMO_QA_STACK_KEEP_RUNS"
DEFAULT_KEEP_RUNS = 5
QUIET_SECONDS = 600.0  # a stack booting or idle now, even one started without the lock, is left alone


def hold(log: IO[bytes]) -> None:
    """Mark the run as in use while any process holds ``log`` open: a child started with it as its stdout
    shares the open file, hence the lock, until it exits (even when killed)."""
    fcntl.flock(log.fileno(), fcntl.LOCK_SH)


def in_use(log: Path) -> bool:
    """Whether a running service holds the lock of :func:`hold` on ``log``."""
    try:
        with log.open("rb") as probe:
            try:
                fcntl.flock(probe.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                return True
    except FileNotFoundError:
        pass
    return False


def keep_runs() -> int:
    """How many runs to keep: ``$EASYMO_QA_STACK_KEEP_RUNS``, or 5."""
    value = os.environ.get(KEEP_RUNS_VARIABLE, str(DEFAULT_KEEP_RUNS))
    if not value.isdigit():
        raise ValueError(f"{KEEP_RUNS_VARIABLE} must be a whole number of runs, not {value!r}")
    return int(value)


def prune(stack_dir: Path, keep: int | None = None, quiet_seconds: float = QUIET_SECONDS) -> list[Path]:
    """Delete every file of all but the newest ``keep`` runs, except runs in use or touched lately;
    answers the files deleted."""
    runs: dict[str, list[Path]] = {}
    for path in stack_dir.glob("reference-*"):
        runs.setdefault(path.name.split(".", 1)[0], []).append(path)
    newest = {stem: max(map(_mtime, files)) for stem, files in runs.items()}
    older = sorted(runs, key=newest.__getitem__, reverse=True)[keep_runs() if keep is None else keep :]
    deleted: list[Path] = []
    for stem in older:
        if time.time() - newest[stem] < quiet_seconds or in_use(stack_dir / f"{stem}.log"):
            continue
        for path in runs[stem]:
            path.unlink(missing_ok=True)  # another stack may be pruning the same run
            deleted.append(path)
    return deleted


def _mtime(path: Path) -> float:
    try:
        return path.stat().st_mtime
    except FileNotFoundError:  # deleted by a stack pruning at the same time
        return 0.0
