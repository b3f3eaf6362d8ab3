"""The load test's result: ``reports/load/summary.json`` (read by the sign-off), the encoded histograms,
and the exit code from the load gates of ``signoff.yaml``.

Percentiles come from the HdrHistograms of :mod:`easymo_qa.load.samples` (every sample, 3 significant
digits), never from Locust's rounded statistics. A failed request counts with the time it took to fail
(for a missing reply: the reply timeout), as in Locust's own table, so the counts here and there agree.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from hdrh.histogram import HdrHistogram

from easymo_qa.gates import Gate, GateResult, Measurement, evaluate, load_gates
from easymo_qa.load.samples import REPLY, WEBHOOK, LatencyRecorder

SCHEMA = "easymo-qa/load/v1"
SUMMARY_FILE = "summary.json"
MAX_FAILED_TURNS = 20  # kept in the summary with their transcripts (all failures are counted in types)
MAX_DETAIL_CHARS = 12_000  # one failed turn's text: the step, what arrived, every actor's transcript
# Upper bounds (ms) of the reply-latency histogram in the summary; above the last: one unbounded bucket.
BUCKETS_MS = (10, 25, 50, 75, 100, 150, 200, 250, 300, 400, 500, 750, 1000, 1500, 2000, 3000, 5000, 10000)


@dataclass(frozen=True)
class LoadRunInfo:
    """One load run as its summary states it (the sign-off's own run is signoff.model.RunInfo)."""

    profile: str
    environment: str
    started_at: float  # epoch seconds
    finished_at: float
    users: int
    # {kind: {"users": n, "journeys": n}}: load users by kind of WhatsApp user, and the journeys they played
    identities: Mapping[str, Mapping[str, int]] = field(default_factory=dict)
    # The Graph API simulator's clock minus ours (easymo_qa.load.clock.clock_section); None: not measured.
    clock: Mapping[str, Any] | None = None


def merge_identity_counts(parts: Iterable[Mapping[str, Mapping[str, int]]]) -> dict[str, dict[str, int]]:
    """Several processes' ``{kind: {"users": n, "journeys": n}}`` added up."""
    merged: dict[str, dict[str, int]] = {}
    for part in parts:
        for kind, counts in part.items():
            into = merged.setdefault(str(kind), {"users": 0, "journeys": 0})
            for what in into:
                into[what] += int(counts.get(what, 0))
    return dict(sorted(merged.items()))


def _ms(value_us: float) -> float:
    return round(value_us / 1000, 3)


def percentile_ms(histogram: HdrHistogram, percentile: float) -> float | None:
    if histogram.get_total_count() == 0:
        return None
    return _ms(histogram.get_value_at_percentile(percentile))


def type_stats(count: int, failures: int, histogram: HdrHistogram) -> dict[str, Any]:
    return {
        "count": count,
        "failures": failures,
        "p50_ms": percentile_ms(histogram, 50),
        "p95_ms": percentile_ms(histogram, 95),
        "p99_ms": percentile_ms(histogram, 99),
        "max_ms": _ms(histogram.get_max_value()) if histogram.get_total_count() else None,
    }


def histogram_buckets(histogram: HdrHistogram) -> list[dict[str, Any]]:
    """``[{le_ms, count}]``: samples above the previous bound and at most ``le_ms`` (to the histogram's
    0.1 % resolution); the last bucket has ``le_ms: null`` (unbounded). Empty buckets are left out."""
    total = histogram.get_total_count()
    if not total:
        return []
    buckets, seen, index = [], 0, 0
    for bound in BUCKETS_MS:
        limit = min(histogram.get_counts_array_index(bound * 1000), histogram.counts_len - 1)
        count = 0
        while index <= limit:
            count += histogram.get_count_at_index(index)
            index += 1
        if count:
            buckets.append({"le_ms": float(bound), "count": count})
        seen += count
    if total > seen:
        buckets.append({"le_ms": None, "count": total - seen})
    return buckets


def _iso(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def failed_turn(failure: Mapping[str, str]) -> dict[str, str]:
    """One failed turn as the summary keeps it: its name, the short error, the full text (transcripts)."""
    detail = str(failure.get("detail", ""))
    if len(detail) > MAX_DETAIL_CHARS:
        detail = detail[:MAX_DETAIL_CHARS] + f"\n… ({len(detail) - MAX_DETAIL_CHARS} more characters)"
    return {"turn": str(failure.get("name", "")), "error": str(failure.get("error", "")), "detail": detail}


def build_summary(
    recorder: LatencyRecorder,
    run: LoadRunInfo,
    source: str,
    failures: Sequence[Mapping[str, str]] = (),
) -> dict[str, Any]:
    types = {name: type_stats(t.count, t.failures, t.histogram) for name, t in sorted(recorder.types.items())}
    requests, failures_total = recorder.requests, recorder.failures
    start = int(run.started_at)
    timeseries = []
    for sec in sorted(recorder.seconds):
        second = recorder.seconds[sec]
        reply, ack = second.histograms.get(REPLY), second.histograms.get(WEBHOOK)
        timeseries.append(
            {
                "t": max(0, sec - start),
                "requests": second.requests,
                "failures": second.failures,
                "p95_ms": percentile_ms(reply, 95) if reply is not None else None,
                "ack_p95_ms": percentile_ms(ack, 95) if ack is not None else None,
            }
        )
    reply_stats = types.get(REPLY, {})
    ack_stats = types.get(WEBHOOK, {})
    reply_hist = recorder.types[REPLY].histogram if REPLY in recorder.types else None
    return {
        "schema": SCHEMA,
        "profile": run.profile,
        "environment": run.environment,
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
        "users": run.users,
        "identities": merge_identity_counts([run.identities]),
        # Every request of every type (WEBHOOK + REPLY): what error_rate_pct divides by, and the "# reqs"
        # of Locust's Aggregated row.
        "samples": requests,
        "error_rate_pct": round(100.0 * failures_total / requests, 4) if requests else 0.0,
        "reply_p95_ms": reply_stats.get("p95_ms"),
        "ack_p95_ms": ack_stats.get("p95_ms"),
        "types": types,
        "timeseries": timeseries,
        "histogram": histogram_buckets(reply_hist) if reply_hist is not None else [],
        "source": source,
        # Also given, for readers that use these names (docs/signoff-schema.md): the same figures.
        "requests": types,
        "reply_samples": reply_stats.get("count", 0),
        "ack_samples": ack_stats.get("count", 0),
        "histogram_of": "reply latency",
        "duration_seconds": round(run.finished_at - run.started_at, 3),
        "failed_requests": failures_total,
        "failed_turns": [failed_turn(f) for f in failures[:MAX_FAILED_TURNS]],
        "clock": dict(run.clock) if run.clock is not None else None,
    }


def write_results(
    recorder: LatencyRecorder,
    run: LoadRunInfo,
    out_dir: Path,
    failures: Sequence[Mapping[str, str]] = (),
    published_as: Path | None = None,
) -> dict[str, Any]:
    """Write ``<TYPE>.hdr`` (an encoded HdrHistogram each, in µs) and ``summary.json``; return the summary.

    ``published_as``: the folder ``out_dir`` will be renamed to (see :mod:`easymo_qa.load.evidence`); the
    summary names its files there."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, samples in recorder.types.items():
        encoded = samples.histogram.encode()
        text = encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)
        (out_dir / f"{name}.hdr").write_text(text + "\n", encoding="ascii")
    summary = build_summary(recorder, run, str((published_as or out_dir) / "*.hdr"), failures)
    (out_dir / SUMMARY_FILE).write_text(json.dumps(summary, indent=2) + "\n", encoding="utf-8")
    return summary


# --- gates and exit code --------------------------------------------------------------------------------


def measurements(summary: Mapping[str, Any]) -> dict[str, Measurement]:
    """The sign-off metrics a load summary measures (names as in ``signoff.yaml``)."""
    source = str(summary.get("source", "load summary"))
    types = summary.get("types", {})
    requests = sum(int(t.get("count", 0)) for t in types.values())
    failures = sum(int(t.get("failures", 0)) for t in types.values())
    reply = types.get(REPLY, {})
    ack = types.get(WEBHOOK, {})
    return {
        "load.error_rate": Measurement(
            summary.get("error_rate_pct"), requests, f"{source}: {failures} of {requests} requests failed"
        ),
        "load.reply_p95_ms": Measurement(
            summary.get("reply_p95_ms"),
            int(reply.get("count", 0)),
            f"{source}: p95 of {reply.get('count', 0)} reply latencies (webhook sent → reply seen)",
        ),
        "load.ack_p95_ms": Measurement(
            summary.get("ack_p95_ms"),
            int(ack.get("count", 0)),
            f"{source}: p95 of {ack.get('count', 0)} webhook ACK latencies",
        ),
    }


def load_gates_of(path: Path) -> list[Gate]:
    """The gates of ``signoff.yaml`` that a load run measures (stage ``load``, or a ``load.`` metric)."""
    return [
        g for g in load_gates(path) if getattr(g, "stage", None) == "load" or g.metric.startswith("load.")
    ]


@dataclass(frozen=True)
class GateCheck:
    exit_code: int
    results: list[GateResult]
    lines: list[str]

    @property
    def failed(self) -> list[str]:
        return [r.gate.id for r in self.results if _blocking(r)]


def _blocking(result: GateResult) -> bool:
    return not result.passed and not getattr(result.gate, "report_only", False)


def check_gates(summary: Mapping[str, Any], gates: list[Gate]) -> GateCheck:
    """Exit code 0 only when every blocking load gate passes; one line per gate saying why."""
    if not gates:
        return GateCheck(2, [], ["no load gates in the sign-off gates file: nothing to decide on"])
    results = evaluate(gates, measurements(summary))
    lines = []
    for r in results:
        status = "PASS" if r.passed else ("REPORT ONLY" if not _blocking(r) else "FAIL")
        lines.append(
            f"{status:<11} {r.gate.id}: {r.gate.title} — {r.reason} ({r.measurement.samples} samples)"
        )
    return GateCheck(1 if any(_blocking(r) for r in results) else 0, results, lines)


def format_table(summary: Mapping[str, Any]) -> list[str]:
    """The summary as a few lines for the console."""
    lines = [f"{'type':<8} {'count':>8} {'fail':>6} {'p50 ms':>9} {'p95 ms':>9} {'p99 ms':>9} {'max ms':>9}"]

    def fmt(value: Any) -> str:
        return f"{value:9.1f}" if isinstance(value, int | float) else f"{'-':>9}"

    for name, t in summary.get("types", {}).items():
        lines.append(
            f"{name:<8} {t['count']:>8} {t['failures']:>6} {fmt(t['p50_ms'])} {fmt(t['p95_ms'])} "
            f"{fmt(t['p99_ms'])} {fmt(t['max_ms'])}"
        )
    requests = sum(int(t["count"]) for t in summary.get("types", {}).values())
    lines.append(
        f"error rate {summary.get('error_rate_pct', 0):.3f} % of {requests} requests "
        "(WEBHOOK + REPLY: Locust's Aggregated # reqs); "
        f"{summary.get('users')} users, {summary.get('duration_seconds')} s, profile {summary.get('profile')}"
    )
    if kinds := summary.get("identities"):
        played = ", ".join(f"{k} {c['users']} ({c['journeys']} journeys)" for k, c in kinds.items())
        lines.append(f"users by kind of WhatsApp identity: {played}")
    return lines
