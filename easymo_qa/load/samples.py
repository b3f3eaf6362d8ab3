"""Latency samples per request type, kept exactly enough for sign-off percentiles, and mergeable.

Locust's own statistics round response times to about two significant digits (a true p95 of 496 ms can
show as 500), so every sample also goes into an HdrHistogram with 3 significant digits per request type
(values in microseconds: a 496.0 ms p95 reads 496.1 at worst). Beside it, one small histogram per second
(2 significant digits, for the report's charts) with the second's request and failure counts.

Workers :meth:`~LatencyRecorder.drain` what they recorded since their last report (encoded histograms,
plain ints) and the master :meth:`~LatencyRecorder.merge`\\ s it: merged histograms are the sums of the
workers' counts, never averages of their percentiles.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from hdrh.histogram import HdrHistogram

LOWEST_US = 1
HIGHEST_US = 3_600_000_000  # one hour
SIGNIFICANT_FIGURES = 3
SERIES_SIGNIFICANT_FIGURES = 2

WEBHOOK = "WEBHOOK"  # the webhook POST: ACK latency and HTTP status
REPLY = "REPLY"  # webhook sent -> the expected reply seen at the Graph API simulator


def new_histogram(significant_figures: int = SIGNIFICANT_FIGURES) -> HdrHistogram:
    return HdrHistogram(LOWEST_US, HIGHEST_US, significant_figures)


def to_us(ms: float) -> int:
    return min(max(int(round(ms * 1000)), LOWEST_US), HIGHEST_US)


@dataclass
class TypeSamples:
    """Every sample of one request type: count, failures, and their latency distribution."""

    histogram: HdrHistogram = field(default_factory=new_histogram)
    count: int = 0
    failures: int = 0


@dataclass
class SecondSamples:
    """One wall-clock second: requests and failures of every type, latency per type (for charts)."""

    requests: int = 0
    failures: int = 0
    histograms: dict[str, HdrHistogram] = field(default_factory=dict)

    def histogram(self, request_type: str) -> HdrHistogram:
        found = self.histograms.get(request_type)
        if found is None:
            found = self.histograms[request_type] = new_histogram(SERIES_SIGNIFICANT_FIGURES)
        return found


def _encode(histogram: HdrHistogram) -> str:
    encoded = histogram.encode()
    return encoded.decode("ascii") if isinstance(encoded, bytes) else str(encoded)


def _add(into: HdrHistogram, encoded: str) -> None:
    if encoded:
        into.decode_and_add(encoded.encode("ascii"))


class LatencyRecorder:
    """Records samples as Locust reports them; drains and merges across processes."""

    def __init__(self) -> None:
        self.types: dict[str, TypeSamples] = {}
        self.seconds: dict[int, SecondSamples] = {}

    def record(
        self, request_type: str, response_time_ms: float, failed: bool, at: float | None = None
    ) -> None:
        value = to_us(response_time_ms)
        samples = self.types.get(request_type)
        if samples is None:
            samples = self.types[request_type] = TypeSamples()
        samples.histogram.record_value(value)
        samples.count += 1
        sec = int(at if at is not None else time.time())
        second = self.seconds.get(sec)
        if second is None:
            second = self.seconds[sec] = SecondSamples()
        second.requests += 1
        second.histogram(request_type).record_value(value)
        if failed:
            samples.failures += 1
            second.failures += 1

    @property
    def requests(self) -> int:
        return sum(t.count for t in self.types.values())

    @property
    def failures(self) -> int:
        return sum(t.failures for t in self.types.values())

    def reset(self) -> None:
        self.types.clear()
        self.seconds.clear()

    # --- across processes ------------------------------------------------------------------------------

    def encode(self) -> dict[str, Any]:
        """Everything recorded, as plain data (strings and ints) for Locust's worker reports."""
        return {
            "types": {
                name: {"count": t.count, "failures": t.failures, "hdr": _encode(t.histogram)}
                for name, t in self.types.items()
            },
            "seconds": {
                str(sec): {
                    "requests": s.requests,
                    "failures": s.failures,
                    "hdr": {name: _encode(h) for name, h in s.histograms.items()},
                }
                for sec, s in self.seconds.items()
            },
        }

    def drain(self) -> dict[str, Any]:
        """What was recorded since the last drain; the recorder starts over empty."""
        payload = self.encode()
        self.reset()
        return payload

    def merge(self, payload: dict[str, Any]) -> None:
        """Add another process's drained samples (counts add up; percentiles are recomputed from them)."""
        for name, data in payload.get("types", {}).items():
            samples = self.types.get(name)
            if samples is None:
                samples = self.types[name] = TypeSamples()
            _add(samples.histogram, data["hdr"])
            samples.count += int(data["count"])
            samples.failures += int(data["failures"])
        for sec, data in payload.get("seconds", {}).items():
            second = self.seconds.get(int(sec))
            if second is None:
                second = self.seconds[int(sec)] = SecondSamples()
            second.requests += int(data["requests"])
            second.failures += int(data["failures"])
            for name, encoded in data["hdr"].items():
                _add(second.histogram(name), encoded)
