"""Sensitivity judges probes on evidence: the outcome log of a child pytest run, and the verdict rules."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from easymo_qa.sensitivity import (
    EXIT_INCONCLUSIVE,
    EXIT_MISSED,
    HEALTHY_WORKERS,
    Probe,
    RunResult,
    all_probes,
    combine,
    exit_code,
    healthy_groups,
    judge,
    merge_probes,
    outcome_of,
)
from easymo_qa.sensitivity_outcomes import read_outcomes

REPO = Path(__file__).resolve().parents[2]
TESTS = """import pytest

@pytest.fixture
def broken():
    raise RuntimeError("the stack did not boot")

def test_passes():
    assert 1 + 1 == 2

def test_asserts():
    value = 3
    assert value == 4, "three is not four"

def test_fails_by_pytest_fail():
    pytest.fail("hygiene: [raw_i18n_key] in the reply", pytrace=False)

def test_errors():
    {}["missing"]

def test_setup_errors(broken):
    pass

@pytest.fixture
def strict():
    yield
    assert False, "a reply nobody claimed"

def test_fails_its_check_in_teardown(strict):
    pass

@pytest.fixture
def crashes_in_teardown():
    yield
    raise OSError("the stack did not stop")

def test_errors_in_teardown(crashes_in_teardown):
    pass

def test_skips():
    pytest.skip("not covered")

@pytest.mark.parametrize("n", [1, 2])
def test_one_param_fails(n):
    assert n == 1
"""


@pytest.fixture(scope="module")
def records(tmp_path_factory: pytest.TempPathFactory) -> list[dict]:
    """One child run under pytest-xdist: the records travel from the workers to the controller's file."""
    tmp = tmp_path_factory.mktemp("outcomes")
    (tmp / "test_it.py").write_text(TESTS)
    log = tmp / "outcomes.jsonl"
    out = subprocess.run(
        [sys.executable, "-m", "pytest", "test_it.py", "-p", "no:cacheprovider", "--rootdir", str(tmp),
         "--env-file", str(REPO / "environments" / "local.yaml"),
         "-p", "easymo_qa.sensitivity_outcomes", f"--outcome-log={log}", "-n", "2"],
        cwd=tmp, capture_output=True, text=True, timeout=120, check=False,
        env={**os.environ, "REFERENCE_DEFECTS": ""},
    )  # fmt: skip
    assert out.returncode == 1, out.stdout + out.stderr
    return read_outcomes(log)


def state(records: list[dict], name: str) -> str:
    return outcome_of(records, "test_it.py", name).state


def test_each_test_gets_the_state_that_says_what_happened(records: list[dict]) -> None:
    assert state(records, "test_passes") == "passed"
    assert state(records, "test_asserts") == "failed"
    assert state(records, "test_fails_by_pytest_fail") == "failed"  # how the hygiene check fails a test
    assert state(records, "test_errors") == "error"  # a KeyError is not a failed check
    assert state(records, "test_setup_errors") == "error"
    assert state(records, "test_fails_its_check_in_teardown") == "failed"  # the strict new_user fixture
    assert state(records, "test_errors_in_teardown") == "error"
    assert state(records, "test_skips") == "skipped"
    assert state(records, "test_one_param_fails") == "failed"
    assert state(records, "test_not_there") == "not run"


def test_a_failure_keeps_the_line_of_the_check_and_its_text(records: list[dict]) -> None:
    evidence = outcome_of(records, "test_it.py", "test_asserts").evidence
    assert evidence["where"] == "test_it.py:12"
    assert evidence["when"] == "call"
    assert evidence["kind"] == "assertion"
    assert "three is not four" in evidence["message"]
    setup = outcome_of(records, "test_it.py", "test_setup_errors").evidence
    assert setup["when"] == "setup"
    assert "the stack did not boot" in setup["message"]


def test_an_absent_log_is_no_records(tmp_path: Path) -> None:
    assert read_outcomes(tmp_path / "never-written.jsonl") == []


def rec(name: str, outcome: str, when: str = "call", kind: str = "assertion", **extra: object) -> dict:
    record = {"nodeid": f"suite.py::{name}", "name": name, "when": when, "outcome": outcome, "kind": kind}
    return record | extra


def run(*records: dict, code: int | None = 1) -> RunResult:
    return RunResult(tuple(records), code, 1.0, "tail")


PROBE = Probe(defect="d", suite="suite.py", must_fail=["t"])
HEALTHY = run(rec("t", "passed", kind=""), code=0)


def test_a_probe_is_caught_when_its_test_fails_a_check_with_the_defect() -> None:
    verdict = judge(PROBE, HEALTHY, run(rec("t", "failed", where="suite.py:9", message="no reply")))
    assert verdict.status == "caught"
    assert verdict.evidence[0]["where"] == "suite.py:9"
    assert verdict.evidence[0]["message"] == "no reply"


def test_a_probe_is_missed_when_its_test_passes_with_the_defect() -> None:
    assert judge(PROBE, HEALTHY, run(rec("t", "passed", kind=""), code=0)).status == "missed"


@pytest.mark.parametrize(
    ("healthy", "defective", "reason"),
    [
        (run(rec("t", "failed")), run(rec("t", "failed")), "did not pass on the healthy stack"),
        (HEALTHY, run(rec("t", "failed", when="setup", kind="error")), "errored instead of failing a check"),
        (HEALTHY, run(rec("t", "failed", kind="error")), "errored instead of failing a check"),
        (HEALTHY, run(code=3), "did not run (pytest exited with code 3"),
        (HEALTHY, run(code=None), "did not run (the run was stopped after"),
        (HEALTHY, run(rec("t", "skipped", kind="skip")), "was skipped"),
    ],
    ids=["fails healthy", "setup error", "call error", "no run", "timed out", "skipped"],
)
def test_a_probe_that_fails_for_another_reason_is_inconclusive(
    healthy: RunResult, defective: RunResult, reason: str
) -> None:
    verdict = judge(PROBE, healthy, defective)
    assert verdict.status == "inconclusive"
    assert reason in verdict.reason


def test_a_probe_that_names_a_step_or_text_is_caught_only_there() -> None:
    at_step = Probe(defect="d", suite="suite.py", must_fail=["t"], select=False, step=4)
    failed_at_2 = run(rec("t", "failed", step=2, message="unexpected message"))
    assert judge(at_step, HEALTHY, failed_at_2).status == "inconclusive"
    assert "not at step 4" in judge(at_step, HEALTHY, failed_at_2).reason
    assert judge(at_step, HEALTHY, run(rec("t", "failed", step=4))).status == "caught"
    matching = Probe(defect="d", suite="suite.py", must_fail=["t"], match=r"\[stack_trace\]")
    assert judge(matching, HEALTHY, run(rec("t", "failed", message="a dead end"))).status == "inconclusive"
    assert judge(matching, HEALTHY, run(rec("t", "failed", message="- [stack_trace] …"))).status == "caught"


def test_every_named_test_must_fail() -> None:
    both = Probe(defect="d", suite="suite.py", must_fail=["a", "b"])
    healthy = run(rec("a", "passed", kind=""), rec("b", "passed", kind=""), code=0)
    assert judge(both, healthy, run(rec("a", "failed"), rec("b", "passed", kind=""))).status == "missed"
    assert judge(both, healthy, run(rec("a", "failed"), rec("b", "failed"))).status == "caught"


def test_the_exit_code_tells_missed_from_inconclusive() -> None:
    caught = judge(PROBE, HEALTHY, run(rec("t", "failed")))
    missed = judge(PROBE, HEALTHY, run(rec("t", "passed", kind="")))
    inconclusive = judge(PROBE, HEALTHY, run(code=4))
    assert exit_code([caught]) == 0
    assert exit_code([caught, inconclusive]) == EXIT_INCONCLUSIVE
    assert exit_code([missed, inconclusive]) == EXIT_MISSED


def test_a_pinned_entry_replaces_the_journeys_own_probe() -> None:
    journey = Probe(defect="d", suite="tests/e2e/x.journey.yaml", must_fail=["x"], select=False)
    pinned = journey.model_copy(update={"step": 3})
    other = journey.model_copy(update={"defect": "e"})
    assert merge_probes([pinned], [journey, other]) == [pinned, other]


def test_every_probe_names_a_suite_that_exists_and_switches_are_probed_once_per_file() -> None:
    probes = all_probes()
    assert probes
    for probe in probes:
        assert Path(probe.suite).is_file(), probe
    keys = [(p.defect, p.suite, tuple(p.must_fail)) for p in probes]
    assert len(keys) == len(set(keys))


def test_the_healthy_run_keeps_the_tests_that_need_the_stack_alone_out_of_xdist() -> None:
    probes = [
        Probe(defect="a", suite="tests/smoke/test_p.py", must_fail=["test_x"]),
        Probe(defect="b", suite="tests/reliability/test_r.py", must_fail=["test_storm"]),
        Probe(defect="c", suite="tests/cutover/test_f.py", must_fail=["test_flags"]),
        Probe(defect="d", suite="tests/e2e/j.journey.yaml", must_fail=["j"], select=False),
        Probe(defect="e", suite="tests/smoke/test_p.py", must_fail=["test_x"]),
    ]
    assert healthy_groups(probes) == [
        (["tests/smoke/test_p.py::test_x", "tests/e2e/j.journey.yaml"], HEALTHY_WORKERS),
        (["tests/reliability/test_r.py::test_storm", "tests/cutover/test_f.py::test_flags"], 0),
    ]
    both = combine([run(rec("a", "passed"), code=0), run(rec("b", "failed"), code=1)])
    assert (len(both.records), both.exit_code) == (2, 1)
    assert combine([run(code=0), run(code=None)]).exit_code is None
