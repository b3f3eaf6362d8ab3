"""The offset between this process's clock and the Graph API simulator's, for reply latency across machines.

Reply latency is ``received_at − sent_at``: ``received_at`` is stamped by the simulator when the bot's
Graph call arrives, ``sent_at`` by the harness when it posts the webhook. On one machine both read the
same clock; with deployed simulators they do not, so the harness estimates the simulator's clock minus
its own from ``GET <graph>/_sim/clock`` round trips, NTP's way (RFC 5905 §8, §10:
https://www.rfc-editor.org/rfc/rfc5905): for one round trip sent at ``t_send`` and answered at
``t_recv`` with the server's ``now``, ``offset = now − (t_send + t_recv) / 2``, wrong by at most half the
round trip (the server read its clock somewhere inside it). Of several samples the one with the shortest
round trip is kept: the least queueing, so the tightest bound. The reply stream moves every
``received_at`` onto our clock by subtracting the offset; the uncertainty is reported beside the p95.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

DEFAULT_SAMPLES = 8  # NTP's clock filter keeps the best of its last 8 (RFC 5905 §10)


@dataclass(frozen=True)
class ClockSample:
    """One round trip: our clock before and after, the simulator's clock in between (seconds)."""

    t_send: float
    server_now: float
    t_recv: float

    @property
    def rtt(self) -> float:
        return max(0.0, self.t_recv - self.t_send)

    @property
    def offset(self) -> float:
        return self.server_now - (self.t_send + self.t_recv) / 2


@dataclass(frozen=True)
class ClockOffset:
    """The simulator's clock minus ours, ± ``uncertainty`` (seconds), from ``samples`` round trips."""

    offset: float
    uncertainty: float
    samples: int

    @classmethod
    def zero(cls) -> ClockOffset:
        """No estimate (no samples): the clocks are taken as one, with no claim about the error."""
        return cls(0.0, 0.0, 0)


def estimate(samples: list[ClockSample]) -> ClockOffset:
    """The offset of the minimum-round-trip sample, with half its round trip as the uncertainty."""
    if not samples:
        return ClockOffset.zero()
    best = min(samples, key=lambda s: s.rtt)
    return ClockOffset(best.offset, best.rtt / 2, len(samples))


def measure(
    server_now: Callable[[], float], clock: Callable[[], float] = time.time, samples: int = DEFAULT_SAMPLES
) -> ClockOffset:
    """Sample the simulator's clock ``samples`` times and estimate the offset (``clock``: ours, the one
    ``sent_at`` is read from). Errors of ``server_now`` propagate: the caller decides what a run without an
    estimate means."""
    taken = []
    for _ in range(samples):
        t_send = clock()
        now = server_now()
        taken.append(ClockSample(t_send, now, clock()))
    return estimate(taken)


def clock_section(start: ClockOffset, end: ClockOffset | None) -> dict[str, Any]:
    """``summary.json``'s ``clock``: the offset applied (from the start of the run), its uncertainty, the
    round trips behind it, and how far it moved by the end (None when not measured again)."""
    drift = None
    if end is not None and end.samples and start.samples:
        drift = round((end.offset - start.offset) * 1000, 3)
    return {
        "offset_ms": round(start.offset * 1000, 3),
        "uncertainty_ms": round(start.uncertainty * 1000, 3),
        "samples": start.samples,
        "drift_ms": drift,
    }


def merge_sections(sections: list[dict[str, Any]]) -> dict[str, Any] | None:
    """Several processes' ``clock`` sections as one: the least certain offset (the bound every reply
    latency is within) and the largest drift; None when there are none."""
    measured = [s for s in sections if s and s.get("samples")]
    if not measured:
        return sections[0] if sections else None
    worst = max(measured, key=lambda s: (s["uncertainty_ms"], abs(s["offset_ms"])))
    drifts = [s["drift_ms"] for s in measured if s.get("drift_ms") is not None]
    return {
        **worst,
        "samples": sum(int(s["samples"]) for s in measured),
        "drift_ms": max(drifts, key=abs) if drifts else None,
    }
