"""Where a load run's files go, so that only a complete run ever replaces the last complete evidence.

A run writes everything (Locust's CSV and HTML, ``summary.json``, the histograms, ``failures.jsonl``, the
stack's log) into ``<reports>/load.partial/``. Only a run that ended by its run-time limit is published:
``<reports>/load/`` is swapped for it with two renames (each atomic on one filesystem). An interrupted run
(Ctrl-C, SIGTERM) leaves ``load/`` as it was and its own files in ``load.partial/`` beside an
``INTERRUPTED`` note; it never writes a ``summary.json``, so nothing can mistake it for evidence.
"""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

FINAL_DIR = "load"
STAGING_DIR = "load.partial"
INTERRUPTED_NOTE = "INTERRUPTED"


def final_dir(reports_root: Path) -> Path:
    return reports_root / FINAL_DIR


def staging_dir(reports_root: Path) -> Path:
    return reports_root / STAGING_DIR


def prepare(staging: Path, keep: Sequence[str | None]) -> None:
    """An empty staging folder, except for this run's own Locust files: Locust opens its CSV files there
    (``--csv`` prefix, ``--html``: ``keep``) before any of our code runs, and those must stay. Decided by
    name, not by modification time: the file system's clock is coarser than ``time.time()``."""
    staging.mkdir(parents=True, exist_ok=True)
    names = [Path(path).name for path in keep if path]
    for entry in staging.iterdir():
        if any(entry.name == name or entry.name.startswith(name + "_") for name in names):
            continue
        try:
            if entry.is_dir() and not entry.is_symlink():
                shutil.rmtree(entry)
            else:
                entry.unlink()
        except FileNotFoundError:
            continue


def inside(path: str | None, folder: Path) -> bool:
    """Whether a file path given to Locust (``--csv`` prefix, ``--html``) lies in ``folder``."""
    if not path:
        return True
    return Path(path).resolve().parent == folder.resolve()


def publish(staging: Path, final: Path) -> Path:
    """Replace ``final`` with ``staging``: the old folder is renamed away, the new one renamed in, then the
    old one deleted. A crash in between leaves either the old or the new folder whole (and ``load.old``)."""
    old = final.with_name(final.name + ".old")
    if old.exists():
        shutil.rmtree(old)
    if final.exists():
        final.rename(old)
    staging.rename(final)
    shutil.rmtree(old, ignore_errors=True)
    return final


def mark_interrupted(staging: Path, why: str) -> Path:
    staging.mkdir(parents=True, exist_ok=True)
    note = staging / INTERRUPTED_NOTE
    note.write_text(why.rstrip() + "\n", encoding="utf-8")
    return note
