"""Re-run commands reproduce a failure exactly: environment file, defect switches, the venv's pytest."""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from easymo_qa import rerun
from easymo_qa.rerun import Invocation, pytest_command, pytest_executable, with_defects
from easymo_qa.signoff.model import RunInfo

PROJECT = Path(__file__).resolve().parents[2]


def _venv(tmp_path: Path) -> Path:
    script = tmp_path / ".venv" / "bin" / "pytest"
    script.parent.mkdir(parents=True)
    script.write_text("#!/bin/sh\n")
    return tmp_path / ".venv"


def test_names_the_env_file_the_defects_and_the_venvs_pytest(tmp_path: Path) -> None:
    inv = Invocation(
        rootdir=tmp_path,
        env_name="local",
        env_file=tmp_path / "environments" / "ci.yaml",
        defects=("no_dedupe", "slow_reply"),
        options=("--hygiene=warn",),
    )
    command = pytest_command("tests/smoke/test_x.py::test_y", invocation=inv, prefix=_venv(tmp_path))
    assert command == (
        "REFERENCE_DEFECTS=no_dedupe,slow_reply .venv/bin/pytest tests/smoke/test_x.py::test_y "
        "--env-file environments/ci.yaml --hygiene=warn"
    )


def test_paths_outside_the_rootdir_stay_absolute_and_odd_ids_are_quoted(tmp_path: Path) -> None:
    root = tmp_path / "checkout"
    inv = Invocation(rootdir=root, env_file=tmp_path / "elsewhere.yaml")
    command = pytest_command("tests/t.py::test_a[x y]", invocation=inv, prefix=tmp_path / "no-venv")
    words = shlex.split(command)
    assert words[:3] == [sys.executable, "-m", "pytest"]
    assert words[3:] == ["tests/t.py::test_a[x y]", "--env-file", str(tmp_path / "elsewhere.yaml")]


def test_a_journey_file_is_shown_relative_to_the_rootdir(tmp_path: Path) -> None:
    inv = Invocation(rootdir=tmp_path, env_name="staging")
    journey = tmp_path / "tests" / "e2e" / "a.journey.yaml"
    assert pytest_command(journey, invocation=inv, prefix=_venv(tmp_path)) == (
        ".venv/bin/pytest tests/e2e/a.journey.yaml --env staging"
    )


def test_without_a_recorded_invocation_the_environment_name_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(rerun, "_current", None)  # this very session recorded one
    command = pytest_command("t.py::test_a", env_name="staging", defects=["x"])
    assert command.startswith("REFERENCE_DEFECTS=x ")
    assert command.endswith("t.py::test_a --env staging")
    assert pytest_executable(PROJECT, prefix=tmp_path)[1:] == ["-m", "pytest"]


def test_the_signoff_reports_rerun_carries_the_defects_without_an_invocation() -> None:
    from datetime import UTC, datetime

    info = RunInfo("staging", datetime.now(UTC), defects=("no_dedupe",))
    words = shlex.split(info.rerun("tests/a.py::test_b"))
    assert words[0] == "REFERENCE_DEFECTS=no_dedupe"
    assert words[-3:] == ["tests/a.py::test_b", "--env", "staging"]


def test_a_stage_command_is_rerun_under_the_same_defects() -> None:
    stage = "/work/.venv/bin/python -m pytest tests/reliability --env-file envs/ci.yaml"
    assert with_defects(stage, ("slow_reply",)) == f"REFERENCE_DEFECTS=slow_reply {stage}"
    assert with_defects(stage, ()) == stage
    assert with_defects(f"REFERENCE_DEFECTS=x {stage}", ("x",)) == f"REFERENCE_DEFECTS=x {stage}"


FAILING_TEST = """
import os
from pathlib import Path

import pytest

from easymo_qa import rerun
from easymo_qa.rerun import pytest_command


def test_no_defect(qa_env, request):
    Path(os.environ["RERUN_OUT"]).write_text(pytest_command(request.node.nodeid))
    assert "boom" not in qa_env.reference_defects, "defect boom is in force"
"""

ENV_FILE = """
name: rerun-check
stack: none
webhook: {url: "http://127.0.0.1:9/webhook"}
reference_defects: ${REFERENCE_DEFECTS:-}
capabilities: []
"""


def test_the_recorded_command_reproduces_the_failure_from_a_clean_shell(tmp_path: Path) -> None:
    """Run a test from a subfolder with a relative --env-file and a defect in the shell; the command the
    session recorded, run from a shell without that variable, must fail the same way."""
    project = tmp_path / "project"
    (project / "tests").mkdir(parents=True)
    (project / "envs").mkdir()
    (project / "pytest.ini").write_text("[pytest]\n")
    (project / "tests" / "test_boom.py").write_text(FAILING_TEST)
    (project / "envs" / "mine.yaml").write_text(ENV_FILE)
    out = tmp_path / "rerun.txt"
    clean = {k: v for k, v in os.environ.items() if k not in {"REFERENCE_DEFECTS", "EASYMO_QA_ENV"}}
    clean["RERUN_OUT"] = str(out)
    first = subprocess.run(
        [sys.executable, "-m", "pytest", "test_boom.py", "--env-file", "../envs/mine.yaml", "-p", "no:xdist"],
        cwd=project / "tests",
        env={**clean, "REFERENCE_DEFECTS": "boom"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert first.returncode == 1, first.stdout + first.stderr
    assert "defect boom is in force" in first.stdout
    command = out.read_text()
    assert "--env-file envs/mine.yaml" in command
    assert command.startswith("REFERENCE_DEFECTS=boom ")
    out.unlink()
    again = subprocess.run(
        ["bash", "-c", command + " -p no:xdist"],
        cwd=project,
        env=clean,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert again.returncode == 1, again.stdout + again.stderr
    assert "defect boom is in force" in again.stdout
