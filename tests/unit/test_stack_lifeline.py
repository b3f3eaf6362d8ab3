"""A killed ``easymo-qa stack up`` never leaves the reference service running: SIGTERM, SIGINT (also while
booting) and SIGKILL of the parent, with real processes on 127.0.0.1."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from easymo_qa.stack.lifeline import Lifeline

PROJECT = Path(__file__).resolve().parents[2]
EASYMO_QA = Path(sys.prefix) / "bin" / "easymo-qa"
BOUND_SECONDS = 25.0  # the reference's own graceful stop is at most 10 s (uvicorn), plus its start-up

pytestmark = pytest.mark.skipif(not Path("/proc/self/environ").exists(), reason="needs Linux /proc")


def _processes_naming(marker: str) -> list[int]:
    """Live processes whose environment mentions ``marker`` (the reference's DB path is in tmp_path)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if marker.encode() in (entry / "environ").read_bytes():
                found.append(int(entry.name))
        except OSError:  # gone, or a zombie
            continue
    return found


def _until_gone(marker: str) -> list[int]:
    deadline = time.monotonic() + BOUND_SECONDS
    while (left := _processes_naming(marker)) and time.monotonic() < deadline:
        time.sleep(0.1)
    return left


@pytest.fixture
def stack_up(tmp_path: Path) -> Iterator[subprocess.Popen[str]]:
    reports = tmp_path / "reports"
    proc = subprocess.Popen(
        [str(EASYMO_QA), "stack", "up", "--env", "local", "--reports-dir", str(reports)],
        cwd=PROJECT,
        stdout=subprocess.PIPE,
        stderr=(tmp_path / "stack-up.err").open("w"),
        text=True,
        env={k: v for k, v in os.environ.items() if k != "REFERENCE_DEFECTS"},
    )
    guard = threading.Timer(60, proc.kill)  # never hang the suite on a stuck boot
    guard.start()
    try:
        yield proc
    finally:
        guard.cancel()
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)
        for pid in _processes_naming(str(tmp_path)):  # a failed test must not leak either
            os.kill(pid, signal.SIGKILL)


def _wait_up(proc: subprocess.Popen[str]) -> dict[str, str]:
    assert proc.stdout is not None
    line = proc.stdout.readline()
    assert line, f"stack up exited with {proc.wait(10)} before printing its URLs"
    info = json.loads(line)
    assert httpx.get(info["health_url"], timeout=5).status_code == 200
    return info


def _refused(url: str) -> bool:
    try:
        httpx.get(url, timeout=2)
    except httpx.TransportError:
        return True
    return False


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT, signal.SIGKILL], ids=lambda s: s.name)
def test_a_killed_stack_up_takes_the_reference_service_with_it(
    sig: signal.Signals, stack_up: subprocess.Popen[str], tmp_path: Path
) -> None:
    info = _wait_up(stack_up)
    assert _processes_naming(str(tmp_path)), "the reference service should be running now"
    stack_up.send_signal(sig)
    code = stack_up.wait(BOUND_SECONDS)
    assert code == (-signal.SIGKILL if sig == signal.SIGKILL else 0)
    assert _until_gone(str(tmp_path)) == []
    assert _refused(info["health_url"])


def test_ctrl_c_while_booting_leaves_nothing_running(stack_up: subprocess.Popen[str], tmp_path: Path) -> None:
    stack_dir = tmp_path / "reports" / "stack"
    deadline = time.monotonic() + BOUND_SECONDS
    while not _processes_naming(str(tmp_path)) and time.monotonic() < deadline:
        time.sleep(0.02)  # the reference process exists, but is not healthy yet
    assert _processes_naming(str(tmp_path)), f"no reference started; see {stack_dir}"
    stack_up.send_signal(signal.SIGINT)
    code = stack_up.wait(BOUND_SECONDS)
    assert code in (0, 130)  # 130: interrupted while booting; 0: it had just come up, and stopped
    assert _until_gone(str(tmp_path)) == []


def test_the_lifeline_child_stops_when_its_parent_is_killed(tmp_path: Path) -> None:
    """The mechanism alone: a parent that holds the write end and is SIGKILLed; its guarded child
    (a sleeping module run through easymo_qa.stack.guarded) notices and exits."""
    (tmp_path / "sleeper.py").write_text("import time\ntime.sleep(120)\n")
    parent_code = f"""
import subprocess, sys, time
from easymo_qa.stack.lifeline import Lifeline
line = Lifeline()
child = subprocess.Popen([sys.executable, "-m", "easymo_qa.stack.guarded", "sleeper"], cwd={str(tmp_path)!r},
                         **line.popen_kwargs({{"PYTHONPATH": {str(tmp_path)!r}, "MARK": {str(tmp_path)!r}}}))
line.started()
print(child.pid, flush=True)
time.sleep(120)
"""
    parent = subprocess.Popen([sys.executable, "-c", parent_code], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        child = int(parent.stdout.readline())
        deadline = time.monotonic() + BOUND_SECONDS
        while _processes_naming(str(tmp_path)) != [child] and time.monotonic() < deadline:
            time.sleep(0.02)  # between fork and exec the child still has its parent's environment
        assert _processes_naming(str(tmp_path)) == [child]
        parent.kill()
        parent.wait(10)
        assert _until_gone(str(tmp_path)) == []
    finally:
        parent.kill()


def test_closing_the_lifeline_twice_is_harmless() -> None:
    line = Lifeline()
    line.close()
    line.close()
