"""Live numbers for the admin dashboard and ``/metrics``, read incrementally from the events table.

The webhook's hot path records events and nothing else: this module never adds work there. A reader
keeps a cursor (the last event id seen) and, on each refresh, reads only the events written since, a
bounded page at a time (each page a short statement on the primary key, so the store's lock is held for
milliseconds and the event loop never waits long on it). Counters are totals since the database began;
latency percentiles, request volume and paid orders use sliding windows kept in memory, bounded in size.
"""

from __future__ import annotations

import math
import threading
import time
from collections import Counter, deque
from typing import Any

from .flags import Flags
from .observability import (
    AGENT_CALLED,
    FALLBACK_TRIGGERED,
    MESSAGE_FAILED,
    MESSAGE_HANDLED,
    MESSAGE_RECEIVED,
    ORDER_STATE_CHANGED,
    REPLY_FAILED,
    REPLY_SENT,
)
from .store import Store

WINDOW_SECONDS = 300  # request volume and latency percentiles: the last 5 minutes
ORDERS_WINDOW_SECONDS = 3600  # orders per hour
SERIES_STEP_SECONDS = 10  # the request-volume chart: messages per 10 s over the window
PAGE_ROWS = 2000
MAX_PAGES_PER_REFRESH = 50  # at most 100k new events per refresh; the rest the next time
MAX_LATENCY_SAMPLES = 20_000
FLAG_CHANGED = "flag_changed"  # recorded by reference.flag_api
PAID = "paid"
_NAMES = (
    MESSAGE_RECEIVED,
    MESSAGE_HANDLED,
    MESSAGE_FAILED,
    REPLY_SENT,
    REPLY_FAILED,
    AGENT_CALLED,
    FALLBACK_TRIGGERED,
    ORDER_STATE_CHANGED,
    FLAG_CHANGED,
)
# A walk along the primary key from the cursor (NOT INDEXED: the name index would make every page sort all
# the matching rows up to the newest); it stops after PAGE_ROWS matches. Only placeholders are interpolated.
_SELECT = (
    "SELECT id, ts, name, json_extract(data, '$.duration_ms'), json_extract(data, '$.to'), "  # noqa: S608
    "json_extract(data, '$.tier') FROM events NOT INDEXED WHERE id > ? AND id <= ? "
    f"AND name IN ({', '.join('?' * len(_NAMES))}) ORDER BY id LIMIT ?"
)


class LiveMetrics:
    """Totals and sliding windows over the events table; ``snapshot()`` is safe from several threads."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._lock = threading.Lock()
        self._after = 0  # events up to this id are counted
        self._totals: Counter[str] = Counter()
        self._latency_sum_ms = 0.0
        self._received: deque[float] = deque()
        self._latency: deque[tuple[float, float]] = deque(maxlen=MAX_LATENCY_SAMPLES)
        self._paid: deque[float] = deque()

    def snapshot(self, flags: Flags | None = None, now: float | None = None) -> dict[str, Any]:
        """Every number of the dashboard, flat, JSON-ready (None where there is nothing to measure)."""
        with self._lock:
            self._catch_up()
            now = time.time() if now is None else now
            self._prune(now)
            return self._numbers(now, flags)

    def _catch_up(self) -> None:
        row = self.store.fetchone("SELECT max(id) FROM events")
        newest = int(row[0] or 0) if row is not None else 0
        for _ in range(MAX_PAGES_PER_REFRESH):
            rows = self.store.fetchall(_SELECT, (self._after, newest, *_NAMES, PAGE_ROWS))
            for event_id, ts, name, duration_ms, to_state, tier in rows:
                self._count(float(ts), str(name), duration_ms, to_state, tier)
                self._after = int(event_id)
            if len(rows) < PAGE_ROWS:
                self._after = max(self._after, newest)
                return

    def _count(self, ts: float, name: str, duration_ms: Any, to_state: Any, tier: Any) -> None:
        if name == AGENT_CALLED:
            if tier in (None, "rules"):
                return  # a rules-only agent step, not a search
            name = "search"
        elif name == ORDER_STATE_CHANGED:
            if to_state != PAID:
                return
            self._paid.append(ts)
            name = "order_paid"
        elif name == MESSAGE_RECEIVED:
            self._received.append(ts)
        elif name == MESSAGE_HANDLED and isinstance(duration_ms, int | float):
            self._latency.append((ts, float(duration_ms)))
            self._latency_sum_ms += float(duration_ms)
        self._totals[name] += 1

    def _prune(self, now: float) -> None:
        for window, seconds in ((self._received, WINDOW_SECONDS), (self._paid, ORDERS_WINDOW_SECONDS)):
            while window and window[0] < now - seconds:
                window.popleft()
        while self._latency and self._latency[0][0] < now - WINDOW_SECONDS:
            self._latency.popleft()

    def _numbers(self, now: float, flags: Flags | None) -> dict[str, Any]:
        t = self._totals
        handled, failed = t[MESSAGE_HANDLED], t[MESSAGE_FAILED]
        finished = handled + failed
        latencies = sorted(ms for _, ms in self._latency)
        series = [0] * (WINDOW_SECONDS // SERIES_STEP_SECONDS)
        for ts in self._received:
            slot = len(series) - 1 - int((now - ts) // SERIES_STEP_SECONDS)
            if 0 <= slot < len(series):
                series[slot] += 1
        numbers: dict[str, Any] = {
            "generated_at": round(now, 3),
            "window_seconds": WINDOW_SECONDS,
            "messages_received_total": t[MESSAGE_RECEIVED],
            "messages_received_5m": len(self._received),
            "messages_per_minute": round(len(self._received) * 60 / WINDOW_SECONDS, 1),
            "messages_handled_total": handled,
            "messages_failed_total": failed,
            "replies_sent_total": t[REPLY_SENT],
            "replies_failed_total": t[REPLY_FAILED],
            "success_rate_pct": _pct(handled, finished),
            "failure_rate_pct": _pct(failed, finished),
            "latency_p50_ms": _percentile(latencies, 0.50),
            "latency_p95_ms": _percentile(latencies, 0.95),
            "latency_p99_ms": _percentile(latencies, 0.99),
            "latency_samples": len(latencies),
            "latency_sum_ms_total": round(self._latency_sum_ms, 3),
            "searches_total": t["search"],
            "fallbacks_total": t[FALLBACK_TRIGGERED],
            "fallback_rate_pct": _pct(t[FALLBACK_TRIGGERED], t["search"]),
            "orders_per_hour": len(self._paid),
            "orders_paid_total": t["order_paid"],
            "flag_changes_total": t[FLAG_CHANGED],
            "series_step_seconds": SERIES_STEP_SECONDS,
            "messages_series": series,
        }
        if flags is not None:
            now_flags = flags.current()
            numbers["flag_ai_agents"] = "on" if now_flags.ai_agents else "off"
            numbers["flag_rollout_pct"] = now_flags.rollout_percentage
        return numbers


def _pct(part: int, whole: int) -> float | None:
    return round(100.0 * part / whole, 2) if whole else None


def _percentile(ordered: list[float], q: float) -> float | None:
    """Nearest-rank percentile of sorted samples."""
    if not ordered:
        return None
    return round(ordered[max(0, math.ceil(q * len(ordered)) - 1)], 2)


_COUNTERS = (
    (
        "messages_received_total",
        "easymo_messages_received_total",
        "Inbound messages accepted for processing.",
    ),
    ("messages_handled_total", "easymo_messages_handled_total", "Messages whose processing finished."),
    ("messages_failed_total", "easymo_messages_failed_total", "Messages whose processing failed."),
    ("replies_sent_total", "easymo_replies_sent_total", "Replies accepted by the Graph API."),
    ("replies_failed_total", "easymo_replies_failed_total", "Replies the Graph API refused after retries."),
    ("searches_total", "easymo_searches_total", "Buyer searches (the AI fallback chain)."),
    ("fallbacks_total", "easymo_fallbacks_triggered_total", "Searches answered by a lower tier."),
    ("orders_paid_total", "easymo_orders_paid_total", "Orders that reached the paid state."),
    ("flag_changes_total", "easymo_flag_changes_total", "Runtime feature-flag changes."),
)


def prometheus_text(numbers: dict[str, Any]) -> str:
    """The snapshot in Prometheus' text exposition format (version 0.0.4)."""
    lines: list[str] = []
    for key, metric, help_text in _COUNTERS:
        lines += [f"# HELP {metric} {help_text}", f"# TYPE {metric} counter", f"{metric} {numbers[key]}"]
    summary = "easymo_message_processing_seconds"
    lines += [
        f"# HELP {summary} Message processing time (received to replies sent); quantiles over the last "
        f"{WINDOW_SECONDS} s.",
        f"# TYPE {summary} summary",
    ]
    for q, key in (("0.5", "latency_p50_ms"), ("0.95", "latency_p95_ms"), ("0.99", "latency_p99_ms")):
        value = numbers[key]
        lines.append(f'{summary}{{quantile="{q}"}} {"NaN" if value is None else value / 1000:g}')
    lines += [
        f"{summary}_sum {numbers['latency_sum_ms_total'] / 1000:g}",
        f"{summary}_count {numbers['messages_handled_total']}",
        "# HELP easymo_orders_paid_last_hour Orders paid in the last hour.",
        "# TYPE easymo_orders_paid_last_hour gauge",
        f"easymo_orders_paid_last_hour {numbers['orders_per_hour']}",
    ]
    if "flag_ai_agents" in numbers:
        lines += [
            "# HELP easymo_feature_ai_agents FEATURE_AI_AGENTS in force (1 on, 0 off).",
            "# TYPE easymo_feature_ai_agents gauge",
            f"easymo_feature_ai_agents {1 if numbers['flag_ai_agents'] == 'on' else 0}",
            "# HELP easymo_feature_ai_agents_rollout_percentage The rollout percentage in force.",
            "# TYPE easymo_feature_ai_agents_rollout_percentage gauge",
            f"easymo_feature_ai_agents_rollout_percentage {numbers['flag_rollout_pct']}",
        ]
    return "\n".join(lines) + "\n"
