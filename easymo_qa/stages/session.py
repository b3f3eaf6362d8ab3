"""`easymo-qa signoff` once its inputs are checked: the stages, then the main pytest session that writes
the report, then the verdict on the terminal. The stage progress shows live on a terminal."""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from easymo_qa.interrupts import run_child
from easymo_qa.load import evidence
from easymo_qa.stages.progress import StageProgress
from easymo_qa.stages.runner import PARTIAL, Stages, allure_results

PASSING = ("GO", "GO with waivers")


def run_signoff(
    args: argparse.Namespace,
    suites: Sequence[str],
    env_args: list[str],
    redact: Callable[[str], str],
    capabilities: tuple[str, ...] | None = None,
) -> int:
    """Every stage, the main session and the verdict; the exit code of `easymo-qa signoff`.

    ``capabilities`` are the environment's (None: unknown, every stage is tried)."""
    reports = Path(args.reports_dir)
    # The last complete report stays until this run writes its own: an interrupted sign-off keeps it.
    begun = time.time()
    # JUnit XML and every stage's Allure results are written aside and published when the main session
    # ends; what an interrupted run left there is dropped now.
    shutil.rmtree(reports / PARTIAL, ignore_errors=True)
    with StageProgress() as progress:
        stages = Stages(args, env_args, reports, redact=redact, progress=progress, capabilities=capabilities)
        pytest_args = [
            *suites, *env_args, "--signoff", "--reports-dir", str(reports),
            f"--junitxml={reports / PARTIAL / 'junit.xml'}", f"--alluredir={allure_results(reports)}",
            "-p", "no:cacheprovider",
            *stages.run_all(),
        ]  # fmt: skip
        if args.workers and args.workers != "0":
            pytest_args += ["-n", args.workers]
        progress.begin("tests", f"tests ({', '.join(args.suites)}) and the report")
        # A child process, so pytest imports (and assertion-rewrites) everything itself. Under the live
        # table its output goes through sys.stdout (rich's proxy) to scroll above the table.
        echo = sys.stdout.write if progress.live else None
        code = run_child([sys.executable, "-m", "pytest", *pytest_args], echo)  # Ctrl-C: stopped, raised
        _publish(reports / PARTIAL, reports)
        progress.end("tests", f"pytest exit code {code}", code == 0)
    report = reports / "signoff.json"
    if report.is_file() and report.stat().st_mtime >= begun - 1.0:  # this run's, not an earlier one
        return _print_verdict(report, code)
    return code or 1


def _print_verdict(report: Path, code: int) -> int:
    verdict = json.loads(report.read_text(encoding="utf-8"))
    failed = verdict["failed_gates"]
    lines = [f"\n{verdict['verdict']}{' (failed: ' + ', '.join(failed) + ')' if failed else ''}"]
    lines += [
        f"WAIVED: {', '.join(w['applies_to'])} by {w['owner']} until {w['expires']}: {w['reason']} "
        f"({w['where']})"
        for w in verdict.get("waivers", {}).get("applied", [])
    ]
    lines += [f"WARNING: {warning}" for warning in verdict.get("warnings", [])]
    others = " and ".join(str(report.with_suffix(s).resolve()) for s in (".md", ".html"))
    lines.append(f"Sign-off report: {report.resolve()} ({others})")
    sys.stdout.write("\n".join(lines) + "\n")
    return 0 if verdict["verdict"] in PASSING else max(code, 1)


def _publish(partial: Path, reports: Path) -> None:
    """Move what the ended session wrote aside into ``reports``, replacing the previous run's."""
    if not partial.is_dir():
        return
    for entry in partial.iterdir():
        target = reports / entry.name
        if entry.is_dir():
            evidence.publish(entry, target)
        else:
            os.replace(entry, target)
    partial.rmdir()
