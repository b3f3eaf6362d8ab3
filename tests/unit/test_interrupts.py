"""Ctrl-C / SIGTERM of ``easymo-qa signoff``: the running stage is stopped (one SIGINT, then SIGKILL after a
grace period), the command says INTERRUPTED, exits 130, and the last complete report stays as it was."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pytest

from easymo_qa.interrupts import INTERRUPTED_EXIT_CODE, Interrupted, run_child

PROJECT = Path(__file__).resolve().parents[2]
EASYMO_QA = Path(sys.prefix) / "bin" / "easymo-qa"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(")")[-1].split()[0] == "Z")


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)  # a shell's background job ignores it; undo that


def test_a_child_that_reports_an_interruption_interrupts_the_caller() -> None:
    with pytest.raises(Interrupted):
        run_child([sys.executable, "-c", f"raise SystemExit({INTERRUPTED_EXIT_CODE})"], lambda line: None)
    assert run_child([sys.executable, "-c", "print('ok')"], lambda line: None) == 0


STUBBORN_STAGE = """
import os, signal, sys, time
def on_int(*_):
    print("stage got SIGINT", flush=True)   # and goes on regardless
signal.signal(signal.SIGINT, on_int)
print(os.getpid(), flush=True)
time.sleep(60)
"""

RUNNER = """
import sys
from easymo_qa.interrupts import Interrupted, run_child, sigterm_interrupts
try:
    with sigterm_interrupts():
        run_child([sys.executable, "-c", {stage!r}], lambda l: print(l, end="", flush=True), grace_seconds=2)
except Interrupted as exc:
    print("runner: INTERRUPTED", exc, flush=True)
    sys.exit(130)
"""


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
def test_a_stage_gets_one_sigint_then_is_killed_after_the_grace_period(sig: signal.Signals) -> None:
    runner = subprocess.Popen(
        [sys.executable, "-c", RUNNER.format(stage=textwrap.dedent(STUBBORN_STAGE))],
        stdout=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
    )
    try:
        assert runner.stdout is not None
        stage = int(runner.stdout.readline())
        runner.send_signal(sig)
        out, _ = runner.communicate(timeout=20)
        assert runner.returncode == 130
        assert out.count("stage got SIGINT") == 1  # forwarded exactly once
        assert f"runner: INTERRUPTED {sig.name}" in out
        deadline = time.monotonic() + 5
        while _alive(stage) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert not _alive(stage)  # killed after the grace period
    finally:
        runner.kill()


def _processes_naming(marker: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if marker.encode() in (entry / "environ").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                continue
    return found


@pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")
def test_an_interrupted_signoff_says_so_and_keeps_the_last_report(tmp_path: Path) -> None:
    """Ctrl-C end to end (SIGTERM takes the same path: see the stage runner test above)."""
    sig = signal.SIGINT
    reports = tmp_path / "reports"
    reports.mkdir()
    last = {"schema": "the last complete sign-off", "verdict": "GO"}
    (reports / "signoff.json").write_text(json.dumps(last))
    command = [str(EASYMO_QA), "signoff", "--reports-dir", str(reports), "--suites", "smoke", "-n", "0"]
    command += ["--skip-load", "--skip-reliability", "--skip-rollback", "--skip-cutover"]
    proc = subprocess.Popen(
        command,
        cwd=PROJECT,
        env={k: v for k, v in os.environ.items() if k != "REFERENCE_DEFECTS"},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        text=True,
        preexec_fn=_default_sigint,
    )
    lines: list[str] = []
    reader = threading.Thread(target=lambda: lines.extend(proc.stdout or []), daemon=True)
    reader.start()
    guard = threading.Timer(90, proc.kill)
    guard.start()
    try:
        deadline = time.monotonic() + 40
        while not _processes_naming(str(reports)):  # the smoke stage's stack is up (or booting)
            assert proc.poll() is None, "".join(lines)
            assert time.monotonic() < deadline, "".join(lines)
            time.sleep(0.1)
        time.sleep(1.0)
        proc.send_signal(sig)
        code = proc.wait(60)
        reader.join(5)
        out = "".join(lines)
        assert code == INTERRUPTED_EXIT_CODE, out
        assert "INTERRUPTED" in out
        assert json.loads((reports / "signoff.json").read_text()) == last
        deadline = time.monotonic() + 20
        while _processes_naming(str(reports)) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert _processes_naming(str(reports)) == []  # the stage's stack went with it
    finally:
        guard.cancel()
        proc.kill()
        for pid in _processes_naming(str(reports)):
            os.kill(pid, signal.SIGKILL)


SLOW_TEST = """
import time

def test_slow():
    print("started", flush=True)
    time.sleep(60)
"""


def test_a_signoff_session_stopped_by_ctrl_c_writes_no_report(tmp_path: Path) -> None:
    """pytest still calls sessionfinish after Ctrl-C; the plugin must not turn partial results into a
    verdict (a collection error, which pytest also calls "Interrupted", still gets its NO-GO report)."""
    (tmp_path / "pytest.ini").write_text("[pytest]\n")
    (tmp_path / "test_slow.py").write_text(SLOW_TEST)
    (tmp_path / "env.yaml").write_text(
        "name: t\nstack: none\nwebhook: {url: 'http://127.0.0.1:9/webhook'}\ncapabilities: []\n"
    )
    reports = tmp_path / "reports"
    command = [sys.executable, "-m", "pytest", "test_slow.py", "-s", "-p", "no:xdist", "--signoff"]
    command += ["--env-file", "env.yaml", "--reports-dir", str(reports)]
    command += [
        "--signoff-gates",
        str(PROJECT / "signoff.yaml"),
        "--signoff-waivers",
        str(tmp_path / "no.yaml"),
    ]
    proc = subprocess.Popen(
        command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        preexec_fn=_default_sigint,
    )  # fmt: skip
    try:
        assert proc.stdout is not None
        for line in proc.stdout:
            if "started" in line:
                break
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 2, out  # pytest.ExitCode.INTERRUPTED
        assert "QA sign-off: INTERRUPTED" in out
        assert not (reports / "signoff.json").exists()
    finally:
        proc.kill()
