"""Sign-off gates at their boundaries, and the verdict."""

from __future__ import annotations

from pathlib import Path

import pytest

from easymo_qa.signoff import Gate, Measurement, decide, evaluate, load_gates
from easymo_qa.signoff.gates import GatesFileError
from easymo_qa.signoff.results import RunResults

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
