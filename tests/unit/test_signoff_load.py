"""The load summary (``reports/load/summary.json``): reading it, its measurements, its errors."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from easymo_qa.gates import load_gates
from easymo_qa.signoff.assess import assess
from easymo_qa.signoff.load import LOAD_SCHEMA, LoadSummary, LoadSummaryError
from easymo_qa.signoff.results import RunResults

REPO = Path(__file__).resolve().parents[2]


def summary(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "schema": LOAD_SCHEMA,
        "requests": {
            "webhook ack": {
                "count": 1000,
                "failures": 5,
                "p50_ms": 4,
                "p95_ms": 9,
                "p99_ms": 14,
                "max_ms": 40,
            },
            "reply": {"count": 995, "failures": 0, "p50_ms": 30, "p95_ms": 80, "p99_ms": 120, "max_ms": 300},
        },
        "error_rate_pct": 0.5,
        "reply_p95_ms": 80.0,
        "ack_p95_ms": 9.0,
        "samples": 1000,
        "reply_samples": 995,
        "ack_samples": 1000,
        "timeseries": [{"t": t, "requests": 100, "failures": t % 2, "p95_ms": 70 + t} for t in range(10)],
        "histogram": [{"le_ms": 50, "count": 600}, {"le_ms": 100, "count": 390}, {"le_ms": None, "count": 5}],
        "source": "reports/load/samples.csv",
        "profile": "ci",
        "users": 10,
        "duration_seconds": 10,
    }
    data.update(overrides)
    return data


def write(directory: Path, data: dict[str, Any]) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "summary.json"
    path.write_text(json.dumps(data))
    return path


def test_reads_a_summary_from_its_directory(tmp_path: Path) -> None:
    write(tmp_path / "load", summary())
    s = LoadSummary.from_json(tmp_path / "load")
    assert s.requests["reply"].p95_ms == 80
    assert s.timeseries[3].failures == 1
    assert s.histogram[-1].le_ms is None
    assert s.failures == 5
    assert s.to_dict()["profile"] == "ci"


def test_source_defaults_to_the_summary_path(tmp_path: Path) -> None:
    data = summary()
    del data["source"]
    path = write(tmp_path, data)
    assert LoadSummary.from_json(path).source == str(path)


def test_measurements_carry_their_sample_counts() -> None:
    m = LoadSummary.from_dict(summary()).measurements()
    assert (m["load.error_rate"].value, m["load.error_rate"].samples) == (0.5, 1000)
    assert (m["load.reply_p95_ms"].value, m["load.reply_p95_ms"].samples) == (80.0, 995)
    assert (m["load.ack_p95_ms"].value, m["load.ack_p95_ms"].samples) == (9.0, 1000)
    assert "5 of 1000 requests failed" in m["load.error_rate"].source
    assert m["load.reply_p95_ms"].source.startswith("reports/load/samples.csv")


def test_a_missing_p95_is_no_evidence() -> None:
    m = LoadSummary.from_dict(summary(reply_p95_ms=None)).measurements()
    assert m["load.reply_p95_ms"].samples == 0


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"schema": "easymo-qa/load-summary/v0"}, "schema is 'easymo-qa/load-summary/v0'"),
        ({"error_rate_pct": 101}, "error_rate_pct"),
        ({"samples": -1}, "samples"),
        ({"reply_samples": None}, "reply_samples"),
        ({"requests": {"reply": {"count": 1}}}, r"requests\.reply\.failures"),
        ({"timeseries": [{"t": 0, "requests": "many", "failures": 0}]}, r"timeseries\.0\.requests"),
    ],
)
def test_invalid_summaries_name_the_file_and_field(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    path = write(tmp_path, summary(**overrides))
    with pytest.raises(LoadSummaryError, match=rf"{path}.*{message}"):
        LoadSummary.from_json(path)


def test_unreadable_and_broken_files(tmp_path: Path) -> None:
    with pytest.raises(LoadSummaryError, match="cannot read the load summary"):
        LoadSummary.from_json(tmp_path / "nothing")
    (tmp_path / "summary.json").write_text('{\n  "schema": \n}')
    with pytest.raises(LoadSummaryError, match=r"summary.json:3: not valid JSON"):
        LoadSummary.from_json(tmp_path)


def test_unknown_fields_are_ignored() -> None:
    assert LoadSummary.from_dict(summary(locust_version="2.47")).samples == 1000


def test_load_gates_use_the_summary() -> None:
    results = RunResults()
    results.record("t", "setup", "passed")
    results.record("t", "call", "passed")
    gates = [g for g in load_gates(REPO / "signoff.yaml") if g.stage == "load"]
    ok = assess(results, gates, load=LoadSummary.from_dict(summary()))
    assert ok.verdict.go
    slow = assess(
        results, gates, load=LoadSummary.from_dict(summary(reply_p95_ms=500.0, error_rate_pct=2.01))
    )
    assert slow.verdict.failed_gates == ("load_error_rate", "load_reply_p95")
    missing = assess(results, gates)
    assert missing.verdict.failed_gates == ("load_error_rate", "load_reply_p95")
    assert all(r.measurement.samples == 0 for r in missing.gates)


def test_the_clock_offset_is_read_and_optional() -> None:
    assert LoadSummary.from_dict(summary()).clock is None  # written before the offset was measured
    clock = {"offset_ms": -3.5, "uncertainty_ms": 0.2, "samples": 8, "drift_ms": None}
    read = LoadSummary.from_dict(summary(clock=clock))
    assert read.clock is not None
    assert (read.clock.offset_ms, read.clock.uncertainty_ms, read.clock.drift_ms) == (-3.5, 0.2, None)
    with pytest.raises(LoadSummaryError, match="clock.uncertainty_ms"):
        LoadSummary.from_dict(summary(clock={**clock, "uncertainty_ms": -1}))
