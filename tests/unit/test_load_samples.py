"""Load-test samples: exact percentiles, histograms merged by adding counts, the summary, the exit code."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from easymo_qa.gates import Gate
from easymo_qa.load.samples import REPLY, WEBHOOK, LatencyRecorder
from easymo_qa.load.summary import (
    SCHEMA,
    LoadRunInfo,
    build_summary,
    check_gates,
    load_gates_of,
    measurements,
    write_results,
)

REPO = Path(__file__).resolve().parents[2]
RUN = LoadRunInfo(profile="ci", environment="local", started_at=1000.0, finished_at=1030.0, users=30)


def nearest_rank(values: list[float], pct: float) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(pct / 100 * len(ordered) + 0.5)) - 1)]


def test_percentiles_are_exact_to_a_tenth_of_a_percent() -> None:
    rng = random.Random(1)
    values = [rng.uniform(1, 900) for _ in range(5000)]
    recorder = LatencyRecorder()
    for i, v in enumerate(values):
        recorder.record(REPLY, v, failed=False, at=1000 + i % 30)
    reply = build_summary(recorder, RUN, "x")["types"][REPLY]
    for key, pct in (("p50_ms", 50), ("p95_ms", 95), ("p99_ms", 99)):
        assert reply[key] == pytest.approx(nearest_rank(values, pct), rel=1e-3)
    assert reply["max_ms"] == pytest.approx(max(values), rel=1e-3)


def test_a_true_p95_of_496_ms_reads_496_not_500() -> None:
    # Locust's own table rounds to ~2 significant digits: 496 shows as 500 and would fail a "< 500" gate.
    recorder = LatencyRecorder()
    for v in [100.0] * 94 + [496.0] * 6:  # the 95th of 100 samples is 496
        recorder.record(REPLY, v, failed=False, at=1000)
    assert 496.0 <= build_summary(recorder, RUN, "x")["reply_p95_ms"] < 496.6


def test_merged_histograms_hold_the_sum_of_the_workers_counts() -> None:
    workers = [LatencyRecorder() for _ in range(3)]
    everything = LatencyRecorder()
    rng = random.Random(2)
    for n in range(3000):
        worker = workers[n % 3]
        kind = REPLY if n % 2 else WEBHOOK
        value, failed, at = rng.expovariate(1 / 40), n % 97 == 0, 1000 + n // 200
        worker.record(kind, value, failed, at)
        everything.record(kind, value, failed, at)
    master = LatencyRecorder()
    for worker in workers:
        master.merge(worker.drain())
        assert worker.requests == 0  # drained: the next report only carries new samples
    assert master.requests == 3000 == everything.requests
    assert master.failures == everything.failures
    for kind in (REPLY, WEBHOOK):
        merged, direct = master.types[kind].histogram, everything.types[kind].histogram
        assert merged.get_total_count() == master.types[kind].count == direct.get_total_count()
        assert all(
            merged.get_count_at_index(i) == direct.get_count_at_index(i) for i in range(merged.counts_len)
        )
    assert build_summary(master, RUN, "x")["types"] == build_summary(everything, RUN, "x")["types"]
    assert {s: b.requests for s, b in master.seconds.items()} == {
        s: b.requests for s, b in everything.seconds.items()
    }


def test_summary_shape_timeseries_and_histogram(tmp_path: Path) -> None:
    recorder = LatencyRecorder()
    for sec, (ok_ms, failed) in enumerate([(20.0, False), (40.0, False), (700.0, True)]):
        recorder.record(WEBHOOK, 2.0, failed=False, at=1000 + sec)
        recorder.record(REPLY, ok_ms, failed=failed, at=1000 + sec)
    summary = write_results(recorder, RUN, tmp_path)
    assert summary["schema"] == SCHEMA
    # The error rate's denominator, as the terminal and Locust's Aggregated row count it: every request.
    assert summary["samples"] == 6 == summary["reply_samples"] + summary["ack_samples"]
    assert summary["failed_requests"] == 1
    assert summary["failed_turns"] == []
    assert summary["error_rate_pct"] == pytest.approx(100 / 6, abs=1e-3)
    assert summary["types"][REPLY]["failures"] == 1
    assert [p["t"] for p in summary["timeseries"]] == [0, 1, 2]
    assert [p["requests"] for p in summary["timeseries"]] == [2, 2, 2]
    assert [p["failures"] for p in summary["timeseries"]] == [0, 0, 1]
    assert summary["histogram"] == [
        {"le_ms": 25.0, "count": 1},
        {"le_ms": 50.0, "count": 1},
        {"le_ms": 750.0, "count": 1},
    ]
    assert (tmp_path / "REPLY.hdr").is_file()
    assert (tmp_path / "WEBHOOK.hdr").is_file()
    assert (tmp_path / "summary.json").is_file()


def gate(gid: str, metric: str, threshold: float, report_only: bool = False) -> Gate:
    return Gate.model_validate(
        {
            "id": gid,
            "title": gid,
            "metric": metric,
            "op": "<",
            "threshold": threshold,
            "report_only": report_only,
        }
    )


def summary_with(reply_ms: float, failures: int) -> dict:
    recorder = LatencyRecorder()
    for n in range(100):
        recorder.record(WEBHOOK, 3.0, failed=False, at=1000)
        recorder.record(REPLY, reply_ms, failed=n < failures, at=1000)
    return build_summary(recorder, RUN, "x")


def test_exit_code_follows_the_load_gates() -> None:
    gates = [
        gate("load_error_rate", "load.error_rate", 2),
        gate("load_reply_p95", "load.reply_p95_ms", 500),
        gate("load_ack_p95", "load.ack_p95_ms", 1, report_only=True),  # fails, but only reports
    ]
    assert check_gates(summary_with(40.0, failures=1), gates).exit_code == 0  # 1 of 200 = 0.5 % errors
    slow = check_gates(summary_with(620.0, failures=0), gates)
    assert slow.exit_code == 1
    assert slow.failed == ["load_reply_p95"]
    assert any(line.startswith("FAIL") and "load_reply_p95" in line for line in slow.lines)
    assert check_gates(summary_with(40.0, failures=5), gates).failed == ["load_error_rate"]


def test_no_samples_and_no_gates_never_pass() -> None:
    empty = build_summary(LatencyRecorder(), RUN, "x")
    assert measurements(empty)["load.reply_p95_ms"].samples == 0
    assert check_gates(empty, [gate("load_reply_p95", "load.reply_p95_ms", 500)]).exit_code == 1
    assert check_gates(summary_with(40.0, 0), []).exit_code == 2


def test_shipped_signoff_file_has_the_load_gates() -> None:
    metrics = {g.metric for g in load_gates_of(REPO / "signoff.yaml")}
    assert {"load.error_rate", "load.reply_p95_ms"} <= metrics


def test_the_summary_keeps_a_bounded_sample_of_failed_turns_with_their_transcripts(tmp_path: Path) -> None:
    recorder = LatencyRecorder()
    recorder.record(REPLY, 5000.0, failed=True, at=1000)
    transcript = "journey 'x' failed at step 2\n  transcript:\n    buyer → bot: hi\n    bot → buyer: Hello"
    failures = [
        {"name": f"x:2 buyer send hi #{i}", "error": "no reply", "detail": transcript} for i in range(30)
    ]
    failures[0] = {**failures[0], "detail": "y" * 20_000}
    summary = write_results(recorder, RUN, tmp_path, failures, published_as=tmp_path / "final")
    turns = summary["failed_turns"]
    assert len(turns) == 20  # bounded; every failure is still counted in types
    assert turns[1] == {"turn": "x:2 buyer send hi #1", "error": "no reply", "detail": transcript}
    assert len(turns[0]["detail"]) < 12_100
    assert "more characters" in turns[0]["detail"]
    assert summary["source"] == str(tmp_path / "final" / "*.hdr")  # where the files will be published
