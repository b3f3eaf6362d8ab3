"""A stack whose SUT process exited says so (``easymo-qa stack up`` then stops instead of serving on)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from easymo_qa.stack.reference_process import ReferenceProcess
from easymo_qa.stack.session import RunningStack
from easymo_qa.target import Target


def test_an_exited_reference_service_is_a_problem_with_its_log(tmp_path: Path) -> None:
    log = tmp_path / "reference.log"
    log.write_text("Traceback (most recent call last):\nMemoryError\n")
    reference = ReferenceProcess({}, 1, log)
    assert reference.problem() is None  # not started
    reference._proc = subprocess.Popen([sys.executable, "-c", "raise SystemExit(3)"])
    reference._proc.wait(10)
    problem = reference.problem()
    assert problem is not None
    assert "exited with code 3" in problem
    assert "MemoryError" in problem


def test_a_stack_without_a_sut_process_has_no_problem() -> None:
    stack = RunningStack(Target("t", "http://sut", "s", "v", "1", "2"), [])
    assert stack.problem() is None
    dead = RunningStack(Target("t", "http://sut", "s", "v", "1", "2"), [], lambda: "gone")
    assert dead.problem() == "gone"
