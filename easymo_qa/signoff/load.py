"""The load stage's evidence: ``reports/load/summary.json``, written by the load test, read here.

The schema is documented in ``docs/signoff-schema.md``. Percentiles are computed by the load test from
raw samples (Locust's own statistics round response times to about two significant digits).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Annotated

from pydantic import Field

from easymo_qa.gates import Measurement
from easymo_qa.result_file import Count, ResultFile

LOAD_SCHEMA = "easymo-qa/load/v1"
SUMMARY_FILE = "summary.json"
Ms = Annotated[float, Field(ge=0)]


class LoadSummaryError(ValueError):
    """The load summary cannot be used; the message names the file and the field."""


@dataclass(frozen=True)
class RequestStats:
    """One request type (e.g. ``webhook ack``, ``reply``): counts and latency percentiles in ms."""

    count: Count
    failures: Count
    p50_ms: Ms | None
    p95_ms: Ms | None
    p99_ms: Ms | None
    max_ms: Ms | None


@dataclass(frozen=True)
class TimePoint:
    """One second of the run: ``t`` seconds after its start."""

    t: float
    requests: Count
    failures: Count
    p95_ms: Ms | None = None


@dataclass(frozen=True)
class Bucket:
    """Samples with latency above the previous bucket's bound and at most ``le_ms`` (None: no bound)."""

    le_ms: Ms | None
    count: Count


@dataclass(frozen=True)
class FailedTurn:
    """A failed turn of the load run: its name (``<journey>:<step> <actor> <action>``), the short error,
    and the full failure text with every actor's transcript."""

    turn: str
    error: str
    detail: str = ""


@dataclass(frozen=True)
class ClockInfo:
    """The Graph API simulator's clock minus the load test's: applied to every reply latency, so each is
    exact within ``uncertainty_ms``; ``drift_ms``: how far it moved by the end (None: not measured)."""

    offset_ms: float
    uncertainty_ms: Ms
    samples: Count
    drift_ms: float | None = None


@dataclass(frozen=True)
class LoadSummary(ResultFile):
    SCHEMA, FILE, WHAT, ERROR = LOAD_SCHEMA, SUMMARY_FILE, "load summary", LoadSummaryError

    requests: dict[str, RequestStats]
    error_rate_pct: Annotated[float, Field(ge=0, le=100)]
    reply_p95_ms: Ms | None
    ack_p95_ms: Ms | None
    samples: Count  # the sample count behind error_rate_pct
    reply_samples: Count  # raw reply latencies behind reply_p95_ms
    ack_samples: Count  # raw webhook ACK latencies behind ack_p95_ms
    timeseries: list[TimePoint] = field(default_factory=list)
    histogram: list[Bucket] = field(default_factory=list)
    histogram_of: str = "reply latency"
    source: str = ""
    profile: str | None = None
    users: int | None = None
    duration_seconds: float | None = None
    started_at: str | None = None
    schema: str = LOAD_SCHEMA
    failed_turns: list[FailedTurn] = field(default_factory=list)  # the first ones, with transcripts
    clock: ClockInfo | None = None  # absent in summaries written before the clock offset was measured

    @property
    def failures(self) -> int:
        return sum(s.failures for s in self.requests.values())

    def measurements(self) -> dict[str, Measurement]:
        src = self.source or "load summary"
        return {
            "load.error_rate": Measurement(
                self.error_rate_pct, self.samples, f"{src}: {self.failures} of {self.samples} requests failed"
            ),
            "load.reply_p95_ms": Measurement(
                self.reply_p95_ms,
                self.reply_samples if self.reply_p95_ms is not None else 0,
                f"{src}: p95 of {self.reply_samples} raw reply latencies (webhook sent → reply seen)",
            ),
            "load.ack_p95_ms": Measurement(
                self.ack_p95_ms,
                self.ack_samples if self.ack_p95_ms is not None else 0,
                f"{src}: p95 of {self.ack_samples} raw webhook ACK latencies",
            ),
        }
