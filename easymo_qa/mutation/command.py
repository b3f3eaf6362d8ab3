"""The mutation session's test command: built from the configuration, run in its own process session.

No cosmic-ray in here: a run is a pytest command whose outcome log names the tests that failed.
"""

from __future__ import annotations

import os
import shlex
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from easymo_qa.sensitivity_outcomes import read_outcomes


@dataclass(frozen=True)
class CommandRun:
    passed: bool
    timed_out: bool
    seconds: float
    detail: str  # the first failing test and its location, from the outcome log
    failed: tuple[str, ...] = ()  # node ids of the failing tests


def _failed(log: Path) -> tuple[str, ...]:
    return tuple(dict.fromkeys(str(r["nodeid"]) for r in read_outcomes(log) if r.get("outcome") == "failed"))


def _first_failure(log: Path) -> str:
    for r in read_outcomes(log):
        if r.get("outcome") == "failed":
            step = f" step {r['step']}" if r.get("step") else ""
            head = str(r.get("message", "")).strip().splitlines()[:1]
            return f"{r.get('nodeid')} ({r.get('when')}{step}, {r.get('where', '')}): {' '.join(head)}"[:300]
    return ""


def run_command(command: list[str], cwd: Path, timeout: float, log: Path) -> CommandRun:
    """The test command in its own session (a timeout or Ctrl-C stops it with its stack)."""
    log.unlink(missing_ok=True)
    env = {
        **os.environ,
        "PYTHONDONTWRITEBYTECODE": "1",  # a mutant written within a second of the last must be recompiled
        "EASYMO_REFERENCE_ROOT": str(cwd),  # the stack boots the scratch copy's (mutated) reference
        "REFERENCE_DEFECTS": "",
    }
    started = time.perf_counter()
    proc = subprocess.Popen(
        command,
        cwd=cwd,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        code = proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        _stop(proc)
        return CommandRun(False, True, time.perf_counter() - started, "timeout")
    except BaseException:
        _stop(proc)
        raise
    return CommandRun(code == 0, False, time.perf_counter() - started, _first_failure(log), _failed(log))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    try:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    except ProcessLookupError:
        pass


def build_command(template: str, scratch: Path, suites: tuple[str, ...], log: Path) -> list[str]:
    """The configured command with ``{python}`` / ``{reports}`` filled, its suites optionally replaced, and
    the outcome plugin added (it names the test that killed each mutant)."""
    words = shlex.split(template.format(python=sys.executable, reports=scratch / "reports"))
    if suites:
        words = [w for w in words if not (w.startswith(("tests/", "fixtures/")))]
        words[words.index("pytest") + 1 : words.index("pytest") + 1] = list(suites)
    if "pytest" in words:
        words += ["-p", "easymo_qa.sensitivity_outcomes", f"--outcome-log={log}"]
    return words


def confirm_command(command: list[str], node_ids: tuple[str, ...]) -> list[str]:
    """The test command narrowed to ``node_ids``, without ``-n`` / ``-x``: one process, nothing beside it.

    A kill whose tests pass alone against the same mutant came from the tests' interplay (a flaky test),
    not from the mutant: it is reported as "unconfirmed" and not scored."""
    at = command.index("pytest") + 1
    rest, skip = [], False
    for word in command[at:]:
        if skip or word.startswith(("tests/", "fixtures/")) or word in ("-x", "--exitfirst"):
            skip = False
            continue
        if word in ("-n", "--numprocesses"):
            skip = True
            continue
        rest.append(word)
    return [*command[:at], *node_ids, *rest]
