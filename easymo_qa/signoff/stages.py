"""The sign-off's stages, in order: smoke first, then the stages that only mean something on a bot that
answers (reliability storm, rollback drill, load), then the main pytest session (smoke, journeys,
synthetic) that writes the report with every stage's result.

Each stage is a child process of its own: the storm and the drill flip or flood the SUT for everyone,
and Locust needs its own gevent process. A stage that produced no result file leaves its gates with
zero samples, and a gate with zero samples fails: nothing is assumed.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

LOAD_TEST = "loadtests/agents.py"
LOAD_PROFILES = "loadtests/profiles"
SMOKE_SUITE = "tests/smoke"
# The rollback drill flips the SUT's flags for everyone, so it runs in a pytest session of its own.
ROLLBACK_DRILL = "tests/cutover/test_rollback.py"
# The reliability storm (1000+ messages) runs alone too: it would skew the timing of the suites beside it.
RELIABILITY_TEST = "tests/reliability"


def banner(step: str, what: str) -> float:
    """Print a stage header; returns the start time for ``done``."""
    print(f"\n==> sign-off {step}: {what}", flush=True)
    return time.perf_counter()


def done(step: str, started: float, outcome: str) -> None:
    print(f"==> sign-off {step}: {outcome} in {time.perf_counter() - started:.0f} s", flush=True)


def _pytest(arguments: Sequence[str]) -> int:
    return subprocess.run([sys.executable, "-m", "pytest", *arguments], check=False).returncode


def smoke_first(env_args: list[str], workers: str) -> bool:
    """The smoke suite alone, stopping at the first failure: is there a bot worth loading at all?

    It runs again inside the main session (8 s on the local stack), where its results reach the report.
    """
    if not Path(SMOKE_SUITE).is_dir():
        return True
    started = banner("1/5", "smoke (is the bot up and speaking the webhook protocol?)")
    command = [SMOKE_SUITE, *env_args, "-q", "-x", "-p", "no:cacheprovider"]
    if workers and workers != "0":
        command += ["-n", workers]
    ok = _pytest(command) == 0
    done("1/5", started, "passed" if ok else "FAILED")
    return ok


def load_args(args: argparse.Namespace, env_args: list[str], reports: Path, *, run: bool = True) -> list[str]:
    """The load stage: a given result, skipped on purpose, else Locust run now with the chosen profile."""
    if args.load_results:
        return ["--load-results", str(Path(args.load_results).resolve())]
    if args.skip_load:
        return ["--skip-load"]
    if not Path(LOAD_TEST).is_file():
        print(
            f"easymo-qa: no load stage here ({LOAD_TEST} does not exist): signing off with --skip-load; "
            "this verdict does not cover performance",
            file=sys.stderr,
        )
        return ["--skip-load"]
    if not run:
        return []
    profile = getattr(args, "profile", "ci")
    out = reports / "load"
    summary = out / "summary.json"
    summary.unlink(missing_ok=True)  # a failed run must not leave an old summary to be read
    started = banner("4/5", f"load ({profile} profile: {LOAD_PROFILES}/{profile}.conf)")
    command = [
        sys.executable, "-m", "locust", "-f", LOAD_TEST, "--config", f"{LOAD_PROFILES}/{profile}.conf",
        *env_args, "--reports-root", str(reports),
        "--csv", str(out / profile), "--html", str(out / f"{profile}.html"),
    ]  # fmt: skip
    code = subprocess.run(command, check=False).returncode
    done("4/5", started, "load gates passed" if code == 0 else f"exit code {code} (see the report)")
    return ["--load-results", str(summary.resolve())] if summary.is_file() else []


def rollback_args(args: argparse.Namespace, env_args: list[str], reports: Path) -> list[str]:
    """The rollback stage: a given drill result, else the drill run now.

    Without a result (the environment has no flag control, or the drill failed before measuring) the
    report-only ``rollback_time`` gate shows no samples.
    """
    if args.rollback_results:
        return ["--rollback-results", str(Path(args.rollback_results).resolve())]
    if args.skip_rollback or not Path(ROLLBACK_DRILL).is_file():
        return []
    what = "rollback drill (FEATURE_AI_AGENTS off and on again under traffic)"
    return _run_alone("3/5", what, ROLLBACK_DRILL, "--rollback-results", env_args, reports / "rollback.json")


def reliability_args(args: argparse.Namespace, env_args: list[str], reports: Path) -> list[str]:
    """The reliability stage: a given result, skipped on purpose, else the storm run now."""
    if args.reliability_results:
        return ["--reliability-results", str(Path(args.reliability_results).resolve())]
    if args.skip_reliability:
        return ["--skip-reliability"]
    if not Path(RELIABILITY_TEST).is_dir():
        return []
    what = "webhook reliability storm (retries, batches, reordering)"
    result = reports / "reliability.json"
    return _run_alone("2/5", what, RELIABILITY_TEST, "--reliability-results", env_args, result)


def _run_alone(step: str, what: str, suite: str, option: str, env_args: list[str], result: Path) -> list[str]:
    """Run one pytest suite in a session of its own; ``option`` hands the result file it writes onward."""
    result.unlink(missing_ok=True)  # a failed run must not leave an old result to be read
    started = banner(step, what)
    _pytest([suite, *env_args, "--reports-dir", str(result.parent), "-p", "no:cacheprovider", "-q"])
    done(step, started, "measured" if result.is_file() else "no result")
    return [option, str(result.resolve())] if result.is_file() else []


def stage_args(args: argparse.Namespace, env_args: list[str], reports: Path) -> list[str]:
    """Run the stages before the main session; the options that hand their results to it."""
    if not smoke_first(env_args, args.workers):
        reason = "the smoke stage failed, so a storm, drill or load run could not mean anything"
        print(f"easymo-qa: not running the later stages: {reason}", file=sys.stderr)
        given = load_args(args, env_args, reports, run=False) or ["--skip-load"]
        return [*given, "--skip-reliability", "--stage-skip-reason", reason]
    return [
        *reliability_args(args, env_args, reports),
        *rollback_args(args, env_args, reports),
        *load_args(args, env_args, reports),
    ]
