"""Sign-off gates at their boundaries, and the verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from easymo_qa.gates import Gate, GatesFileError, Measurement, evaluate, load_gates
from easymo_qa.signoff.results import RunResults
from easymo_qa.signoff.verdict import Verdict, decide

REPO = Path(__file__).resolve().parents[2]
P95 = Gate(id="p95", title="reply p95", metric="load.p95", op="<", threshold=500, unit=" ms")


@pytest.mark.parametrize(("value", "passed"), [(499.9, True), (500.0, False), (500.1, False)])
def test_p95_below_threshold(value: float, passed: bool) -> None:
    [result] = evaluate([P95], {"load.p95": Measurement(value, 1000, "samples")})
    assert result.passed is passed
    assert result.margin == pytest.approx(500 - value)


def test_gate_without_samples_fails() -> None:
    [result] = evaluate([P95], {"load.p95": Measurement(1.0, 0, "nothing")})
    assert not result.passed
    assert "no samples" in result.reason
    [missing] = evaluate([P95], {})
    assert not missing.passed


def test_verdict_is_go_only_when_every_gate_passes() -> None:
    ok = Gate(id="tests", title="t", metric="tests.pass_rate", op=">=", threshold=100)
    results = evaluate(
        [ok, P95], {"tests.pass_rate": Measurement(100, 5, "x"), "load.p95": Measurement(600, 9, "x")}
    )
    verdict = decide(results)
    assert verdict.decision == "NO-GO"
    assert verdict.failed_gates == ("p95",)
    assert decide(evaluate([ok], {"tests.pass_rate": Measurement(100, 5, "x")})).go
    assert decide([]).decision == "NO-GO"


def test_shipped_gates_load() -> None:
    ids = [g.id for g in load_gates(REPO / "signoff.yaml")]
    assert "tests_pass" in ids


def test_bad_gates_file_points_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "signoff.yaml"
    path.write_text("gates:\n  - id: a\n    title: A\n    metric: m\n    op: '~'\n    threshold: 1\n")
    with pytest.raises(GatesFileError, match=rf"{path}:5"):
        load_gates(path)


def test_results_pass_rate_counts_errors_and_ignores_skips() -> None:
    results = RunResults()
    results.record("t1", "setup", "passed")
    results.record("t1", "call", "passed")
    results.record("t2", "setup", "passed")
    results.record("t2", "call", "failed", message="boom", markers=("critical",))
    results.record("t3", "setup", "failed", message="fixture broke")
    results.record("t4", "setup", "skipped", message="lacks faults")
    results.record("t5", "setup", "passed")
    results.record("t5", "call", "passed")
    results.record("t5", "teardown", "failed")
    m = results.measurements()
    assert m["tests.pass_rate"].value == pytest.approx(25.0)
    assert m["tests.pass_rate"].samples == 4
    assert m["tests.critical_failures"].value == 1
    assert [o.nodeid for o in results.not_covered()] == ["t4"]


# --- the cutover gates at their boundaries ----------------------------------------------------------------

REPLY_P95 = Gate(
    id="load_reply_p95", title="reply p95", metric="load.reply_p95_ms", op="<", threshold=500, unit="ms"
)
ERROR_RATE = Gate(
    id="load_error_rate", title="errors", metric="load.error_rate", op="<", threshold=2, unit="%"
)


@pytest.mark.parametrize(
    ("p95", "passed"), [(499.0, True), (499.999, True), (500.0, False), (500.001, False)]
)
def test_reply_p95_exactly_at_500_fails(p95: float, passed: bool) -> None:
    [result] = evaluate([REPLY_P95], {"load.reply_p95_ms": Measurement(p95, 30_000, "samples.csv")})
    assert result.passed is passed
    assert result.blocking is not passed
    assert result.status == ("pass" if passed else "fail")


@pytest.mark.parametrize(("rate", "passed"), [(1.99, True), (2.0, False), (2.01, False)])
def test_error_rate_around_two_percent(rate: float, passed: bool) -> None:
    [result] = evaluate([ERROR_RATE], {"load.error_rate": Measurement(rate, 30_000, "samples.csv")})
    assert result.passed is passed
    assert result.margin == pytest.approx(2 - rate)
    assert decide([result]).go is passed


def test_zero_samples_fail_even_with_a_good_value() -> None:
    [result] = evaluate([ERROR_RATE], {"load.error_rate": Measurement(0.0, 0, "empty run")})
    assert (result.passed, result.blocking, result.margin) == (False, True, None)
    assert result.reason == "no samples: a gate without evidence fails"
    assert decide([result]).failed_gates == ("load_error_rate",)


def test_report_only_gate_is_shown_but_never_blocks() -> None:
    ack = Gate(id="ack", title="ack p95", metric="load.ack_p95_ms", op="<", threshold=500, report_only=True)
    tests = Gate(id="tests", title="t", metric="tests.pass_rate", op=">=", threshold=100)
    good = {"tests.pass_rate": Measurement(100, 3, "x")}
    for ack_value in (Measurement(900, 50, "slow"), Measurement(None, 0, "not measured")):
        results = evaluate([tests, ack], {**good, "load.ack_p95_ms": ack_value})
        assert results[1].status == "report only"
        assert not results[1].blocking
        assert "never blocks GO" in results[1].reason
        assert decide(results).go
    [fast] = evaluate([ack], {"load.ack_p95_ms": Measurement(12, 50, "fast")})
    assert fast.status == "pass"
    assert decide([fast]).decision == "NO-GO"  # report-only gates alone are no evidence for GO


def test_a_skipped_stage_is_not_run_and_blocks_unless_waived() -> None:
    tests = Gate(id="tests", title="t", metric="tests.pass_rate", op=">=", threshold=100)
    load_p95 = REPLY_P95.model_copy(update={"stage": "load"})
    results = evaluate(
        [tests, load_p95],
        {"tests.pass_rate": Measurement(100, 3, "x")},
        skipped_stages={"load": "skipped by --skip-load"},
    )
    assert results[1].status == "not run"
    assert results[1].reason == (
        "not run (skipped by --skip-load): a gate not run blocks GO unless a waiver names it"
    )
    assert decide(results) == Verdict("NO-GO", ("load_reply_p95",))  # fail closed
    # Not skipped: the same missing evidence fails the gate.
    assert decide(
        evaluate([tests, load_p95], {"tests.pass_rate": Measurement(100, 3, "x")})
    ).failed_gates == ("load_reply_p95",)


def test_shipped_gates_cover_the_cutover_plan() -> None:
    gates = {g.id: g for g in load_gates(REPO / "signoff.yaml")}
    assert {"synthetic_coverage", "load_error_rate", "load_reply_p95", "load_ack_p95", "not_covered"} <= set(
        gates
    )
    assert (gates["synthetic_coverage"].metric, gates["synthetic_coverage"].threshold) == (
        "synthetic.passed",
        21,
    )
    assert (gates["load_reply_p95"].op, gates["load_reply_p95"].threshold) == ("<", 500)
    assert gates["load_ack_p95"].report_only
    assert gates["rollback_time"].report_only
    assert not gates["rollback_lost"].report_only
    assert not gates["rollback_duplicated"].report_only
    assert {g.stage for g in gates.values() if g.metric.startswith("load.")} == {"load"}
    assert gates["rollback_time"].stage == "rollback"


def test_bad_stage_points_at_the_line(tmp_path: Path) -> None:
    path = tmp_path / "signoff.yaml"
    path.write_text(
        "gates:\n  - id: a\n    title: A\n    metric: m\n    op: '<'\n    threshold: 1\n    stage: soak\n"
    )
    with pytest.raises(GatesFileError, match=rf"{path}:7: gates.0.stage"):
        load_gates(path)


def test_synthetic_and_e2e_measurements_count_marked_tests() -> None:
    results = RunResults()
    for i in range(3):
        results.record(f"s{i}", "setup", "passed", markers=("synthetic",))
        results.record(f"s{i}", "call", "failed" if i == 2 else "passed", markers=("synthetic",))
    results.record("s3", "setup", "skipped", markers=("synthetic",), message="lacks faults")
    results.record("j1", "setup", "passed", markers=("e2e",))
    results.record("j1", "call", "passed", markers=("e2e",))
    results.record("smoke", "setup", "passed", markers=("smoke",))
    results.record("smoke", "call", "passed", markers=("smoke",))
    m = results.measurements()
    assert (m["synthetic.passed"].value, m["synthetic.passed"].samples) == (2, 3)
    assert (m["synthetic.total"].value, m["synthetic.total"].samples) == (4, 3)
    assert "1 not covered" in m["synthetic.passed"].source
    assert (m["e2e.passed"].value, m["e2e.passed"].samples) == (1, 1)
    assert m["tests.not_covered"].value == 1
    assert results.measurements(waived_tests={"s3"})["tests.not_covered"].value == 0
    empty = RunResults().measurements()
    assert empty["synthetic.passed"].samples == 0  # no synthetic scenarios ran: the gate has no evidence


def test_functional_reply_latency_is_censored_when_replies_time_out() -> None:
    from easymo_qa.signoff.results import RunResults

    r = RunResults()
    r.record_latency({"samples_ms": [float(v) for v in range(1, 20)], "timed_out": 0, "censor_ms": 5000})
    got = r.latency_measurements()
    assert got["functional.reply_p95_ms"].value == 19.0  # nearest rank 19 of 19
    assert got["functional.reply_max_ms"].value == 19.0
    # One reply of 20 never came: it ranks above every other, so p95 (rank 19) is still a real time...
    r.record_latency({"samples_ms": [], "timed_out": 1, "censor_ms": 5000})
    got = r.latency_measurements()
    assert got["functional.reply_p95_ms"].value == 19.0
    # ...but the max is censored: "at least the wait", never a measured time.
    assert got["functional.reply_max_ms"].value == 5000
    assert "censored: ≥ 5000 ms, 1 timed out" in got["functional.reply_max_ms"].source
    # Two of 21 lost: the p95 itself is censored.
    r.record_latency({"samples_ms": [], "timed_out": 1, "censor_ms": 5000})
    got = r.latency_measurements()
    assert got["functional.reply_p95_ms"].value == 5000
    assert got["functional.reply_p95_ms"].source.startswith("censored")
