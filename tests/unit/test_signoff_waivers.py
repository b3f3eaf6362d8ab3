"""Waivers: dated and owned; an expired one no longer counts; errors point at waivers.yaml:LINE."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from easymo_qa.gates import Gate
from easymo_qa.signoff.assess import assess
from easymo_qa.signoff.results import RunResults
from easymo_qa.signoff.waivers import Waiver, Waivers, WaiversFileError, load_waivers

REPO = Path(__file__).resolve().parents[2]
TODAY = date(2026, 11, 25)
TESTS = Gate(id="tests_pass", title="All tests pass", metric="tests.pass_rate", op=">=", threshold=100)
P95 = Gate(
    id="load_reply_p95",
    title="p95",
    metric="load.reply_p95_ms",
    op="<",
    threshold=500,
    unit="ms",
    stage="load",
)
NOT_COVERED = Gate(id="not_covered", title="none uncovered", metric="tests.not_covered", op="==", threshold=0)


def run(*, skipped: tuple[str, ...] = ()) -> RunResults:
    results = RunResults()
    results.record("tests/smoke/test_a.py::test_ok", "setup", "passed")
    results.record("tests/smoke/test_a.py::test_ok", "call", "passed")
    for nodeid in skipped:
        results.record(
            nodeid, "setup", "skipped", message="not covered: environment 'staging' lacks 'faults'"
        )
    return results


def waiver(expires: date, *, gate: str | None = None, test: str | None = None) -> Waiver:
    return Waiver(
        "staging has no fault hook", "qa-harness", expires, gate=gate, test=test, where="waivers.yaml:3"
    )


def test_shipped_waivers_file_is_an_empty_list() -> None:
    waivers = load_waivers(REPO / "waivers.yaml")
    assert waivers.waivers == ()
    assert "expires:" in (REPO / "waivers.yaml").read_text()  # the commented example is there


def test_missing_file_means_no_waivers(tmp_path: Path) -> None:
    assert load_waivers(tmp_path / "waivers.yaml").waivers == ()


def test_waivers_load_with_their_line(tmp_path: Path) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(
        "# comment\n"
        "- gate: load_reply_p95\n"
        "  reason: small staging database\n"
        "  owner: qa-harness\n"
        "  expires: 2026-12-31\n"
        "- test: 'test_faults'\n"
        "  reason: no fault hook on staging\n"
        "  owner: platform\n"
        "  expires: '2026-12-01'\n"
    )
    first, second = load_waivers(path).waivers
    assert (first.gate, first.expires, first.where) == ("load_reply_p95", date(2026, 12, 31), f"{path}:2")
    assert (second.test, second.expires, second.where) == ("test_faults", date(2026, 12, 1), f"{path}:6")


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("- gate: a\n  reason: r\n  owner: o\n  expires: soon\n", 4, "expires"),
        ("- gate: a\n  reason: r\n  expires: 2026-01-01\n", 1, "owner"),
        ("- gate: a\n  test: b\n  reason: r\n  owner: o\n  expires: 2026-01-01\n", 1, "exactly one of"),
        ("- reason: r\n  owner: o\n  expires: 2026-01-01\n", 1, "exactly one of"),
        ("- gate: a\n  reason: '  '\n  owner: o\n  expires: 2026-01-01\n", 2, "reason"),
        ("- gate: a\n  reason: r\n  owner: o\n  expires: 2026-01-01\n  until: x\n", 5, "until"),
        ("gate: a\n", 1, "must be a list"),
        ("- gate: [a\n", 2, "not valid YAML"),
    ],
)
def test_waiver_file_errors_name_file_and_line(tmp_path: Path, text: str, line: int, message: str) -> None:
    path = tmp_path / "waivers.yaml"
    path.write_text(text)
    with pytest.raises(WaiversFileError, match=rf"{path}:{line}\b.*{message}"):
        load_waivers(path)


def test_waiver_for_an_unknown_gate_is_an_error() -> None:
    waivers = Waivers((waiver(date(2026, 12, 31), gate="load_p95_typo"),), "waivers.yaml")
    with pytest.raises(WaiversFileError, match=r"waivers.yaml:3: waiver for unknown gate 'load_p95_typo'"):
        assess(run(), [TESTS, P95], waivers=waivers, today=TODAY)


def test_a_valid_waiver_turns_a_failed_gate_into_waived() -> None:
    waivers = Waivers((waiver(date(2026, 12, 31), gate="load_reply_p95"),), "waivers.yaml")
    a = assess(run(), [TESTS, P95], waivers=waivers, today=TODAY)
    p95 = a.gates[1]
    assert (p95.passed, p95.waived, p95.blocking, p95.status) == (False, True, False, "waived")
    assert "waived by qa-harness until 2026-12-31: staging has no fault hook" in p95.reason
    assert a.verdict.go
    assert [(u.state, u.applies_to) for u in a.waivers] == [("applied", ("load_reply_p95",))]


@pytest.mark.parametrize(("today", "counts"), [(date(2026, 12, 31), True), (date(2027, 1, 1), False)])
def test_a_waiver_counts_through_its_expiry_date_and_not_after(today: date, counts: bool) -> None:
    waivers = Waivers((waiver(date(2026, 12, 31), gate="load_reply_p95"),), "waivers.yaml")
    a = assess(run(), [TESTS, P95], waivers=waivers, today=today)
    assert a.verdict.go is counts
    assert a.gates[1].status == ("waived" if counts else "fail")
    [use] = a.waivers
    assert use.state == ("applied" if counts else "expired")
    assert use.applies_to == ("load_reply_p95",)  # what it waived, or would have


def test_a_waiver_for_a_passing_gate_is_unused() -> None:
    waivers = Waivers((waiver(date(2026, 12, 31), gate="tests_pass"),), "waivers.yaml")
    a = assess(run(), [TESTS], waivers=waivers, today=TODAY)
    assert [(u.state, u.applies_to) for u in a.waivers] == [("unused", ())]
    assert a.gates[0].status == "pass"


def test_a_waived_not_covered_test_no_longer_counts() -> None:
    skipped = ("tests/synthetic/test_faults.py::test_llm_down", "tests/smoke/test_b.py::test_other")
    waived = Waivers((waiver(date(2026, 12, 31), test="test_faults.py::"),), "waivers.yaml")
    a = assess(run(skipped=skipped), [TESTS, NOT_COVERED], waivers=waived, today=TODAY)
    assert a.gates[1].measurement.value == 1  # only the unwaived one
    assert "1 more waived" in a.gates[1].measurement.source
    assert list(a.waived_tests) == [skipped[0]]
    assert a.verdict.failed_gates == ("not_covered",)
    everything = Waivers((waiver(date(2026, 12, 31), test="tests/"),), "waivers.yaml")
    assert assess(run(skipped=skipped), [TESTS, NOT_COVERED], waivers=everything, today=TODAY).verdict.go


def test_an_expired_test_waiver_does_not_hide_the_test() -> None:
    skipped = ("tests/synthetic/test_faults.py::test_llm_down",)
    waivers = Waivers((waiver(date(2026, 11, 24), test="test_faults"),), "waivers.yaml")
    a = assess(run(skipped=skipped), [TESTS, NOT_COVERED], waivers=waivers, today=TODAY)
    assert a.verdict.failed_gates == ("not_covered",)
    assert [(u.state, u.applies_to) for u in a.waivers] == [("expired", skipped)]


def test_a_test_waiver_never_covers_a_failed_test() -> None:
    results = run()
    results.record("tests/smoke/test_a.py::test_faults", "setup", "passed")
    results.record("tests/smoke/test_a.py::test_faults", "call", "failed", message="boom")
    waivers = Waivers((waiver(date(2026, 12, 31), test="test_faults"),), "waivers.yaml")
    a = assess(results, [TESTS, NOT_COVERED], waivers=waivers, today=TODAY)
    assert a.verdict.failed_gates == ("tests_pass",)
    assert [u.state for u in a.waivers] == ["unused"]
