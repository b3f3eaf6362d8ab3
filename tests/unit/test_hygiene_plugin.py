"""The plugin's side of message hygiene and reliability evidence, in child pytest runs (no stack needed)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from easymo_qa.signoff.reliability import RELIABILITY_SCHEMA

REPO = Path(__file__).resolve().parents[2]
TESTS = """from easymo_qa.whatsapp.outbound import OutboundMessage

def message(seq, body):
    return OutboundMessage.from_record(
        {"seq": seq, "to": "250790000001", "body": {"type": "text", "text": {"body": body}}}
    )

def test_bad_reply(message_hygiene):
    message_hygiene(message(1, "agent.not_available"))

def test_clean_reply(message_hygiene):
    message_hygiene(message(2, "✅ Saved"))
"""
GATES = """gates:
  - {id: tests_pass, title: All tests pass, metric: tests.pass_rate, op: ">=", threshold: 100, unit: "%"}
  - {id: message_hygiene, title: Hygiene, metric: hygiene.violations, op: "==", threshold: 0}
  - {id: reliability_lost, title: Lost, metric: reliability.lost, op: "==", threshold: 0, stage: reliability}
"""


def run(tmp_path: Path, *args: str, tests: str = TESTS) -> subprocess.CompletedProcess[str]:
    (tmp_path / "test_it.py").write_text(tests)
    (tmp_path / "signoff.yaml").write_text(GATES)
    return subprocess.run(
        [sys.executable, "-m", "pytest", "test_it.py", "-p", "no:cacheprovider", "--rootdir", str(tmp_path),
         "--env-file", str(REPO / "environments" / "local.yaml"), *args],
        cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "REFERENCE_DEFECTS": ""},
    )  # fmt: skip


def signoff(tmp_path: Path) -> dict:
    return json.loads((tmp_path / "reports" / "signoff.json").read_text())


@pytest.mark.parametrize("workers", [[], ["-n", "2"]], ids=["one process", "xdist"])
def test_a_bad_reply_fails_its_test_and_the_gate(tmp_path: Path, workers: list[str]) -> None:
    out = run(tmp_path, "--signoff", "--skip-reliability", *workers)
    assert out.returncode == 1, out.stdout + out.stderr
    assert "1 failed, 1 passed" in out.stdout
    assert "[raw_i18n_key] raw translation key 'agent.not_available'" in out.stdout
    report = signoff(tmp_path)
    assert report["hygiene"]["checked"] == 2
    [violation] = report["hygiene"]["violations"]
    assert violation["test"] == "test_it.py::test_bad_reply"
    assert "message_hygiene" in report["failed_gates"]
    assert report["failures"][0]["test"] == "test_it.py::test_bad_reply"


def test_warn_lists_without_failing_and_off_checks_nothing(tmp_path: Path) -> None:
    warned = run(tmp_path, "--hygiene=warn", "--signoff", "--skip-reliability")
    assert "2 passed" in warned.stdout
    assert "message hygiene: 1 violation(s)" in warned.stdout
    # The gate still counts it (and the skipped reliability stage blocks too: fail closed).
    assert signoff(tmp_path)["failed_gates"] == ["message_hygiene", "reliability_lost"]
    off = run(tmp_path, "--hygiene=off", "--signoff", "--skip-reliability")
    assert "2 passed" in off.stdout
    assert "message hygiene" not in off.stdout
    report = signoff(tmp_path)
    assert report["hygiene"]["checked"] == 0
    [gate] = [g for g in report["gates"] if g["id"] == "message_hygiene"]
    assert gate["reason"].startswith("no samples")


RELIABILITY_TEST = """import json, pytest

@pytest.mark.reliability
def test_storm():
    result = {{
        "schema": "{schema}", "users": 55, "sent": 1000, "accepted": 1000, "replied": 1000,
        "no_reply_with_reason": 0, "lost": {lost}, "duplicates_sent": 100, "duplicates_suppressed": 100,
        "duplicate_replies": 0,
    }}
    open("reports/reliability.json", "w").write(json.dumps(result))
"""


def test_the_sign_off_reads_the_reliability_file_its_session_wrote(tmp_path: Path) -> None:
    (tmp_path / "reports").mkdir()
    tests = RELIABILITY_TEST.format(schema=RELIABILITY_SCHEMA, lost=3)
    out = run(tmp_path, "--signoff", tests=tests)
    assert out.returncode == 1, out.stdout + out.stderr
    report = signoff(tmp_path)
    assert report["reliability"]["lost"] == 3
    assert "reliability_lost" in report["failed_gates"]
    # A session without the reliability test does not pick up a stale file.
    stale = run(tmp_path, "--signoff", tests="def test_ok():\n    pass\n")
    report = signoff(tmp_path)
    assert report["reliability"] is None, stale.stdout
    [gate] = [g for g in report["gates"] if g["id"] == "reliability_lost"]
    assert gate["samples"] == 0
    given = run(
        tmp_path,
        "--signoff",
        "--reliability-results",
        "reports/reliability.json",
        tests="def test_ok():\n    pass\n",
    )
    assert signoff(tmp_path)["reliability"]["lost"] == 3, given.stdout
