"""The admin dashboard: one self-contained HTML page of live numbers, their JSON, and ``/metrics``.

- ``GET /admin/dashboard``: request volume, success / failure rates, latency p50 / p95 / p99, fallback
  frequency, orders per hour and the AI flags in force, each number in an element with a stable
  ``data-metric`` attribute (the key of the JSON below). No external assets: inline CSS and a small
  inline script (allowed by a per-response CSP nonce) that re-reads the JSON every 2 s.
- ``GET /admin/metrics.json``: the same numbers.
- ``GET /metrics``: Prometheus text (counters, a latency summary, gauges).

All three need the admin token: ``X-Admin-Token``, ``Authorization: Bearer <token>`` (Prometheus'
``authorization`` scrape setting) or ``?token=`` (a browser's address bar; the page's script passes it on).
Thresholds that colour a number are the cutover plan's alerts (§4.3): failure rate > 5 %, p95 > 2 s,
fallback rate > 30 %.
"""

from __future__ import annotations

import hmac
import html
import json
import secrets
import threading
from pathlib import Path
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, PlainTextResponse, Response

from .flags import Flags
from .live_metrics import LiveMetrics, prometheus_text

REFRESH_MS = 2000
PROMETHEUS_CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
PAGE = (Path(__file__).parent / "dashboard.html").read_text(encoding="utf-8")
_tracker_lock = threading.Lock()

# (data-metric key, label, unit, alert above) per card; the page shows them in this order.
CARDS: tuple[tuple[str, tuple[tuple[str, str, str, float | None], ...]], ...] = (
    (
        "Request volume",
        (
            ("messages_received_total", "messages received", "", None),
            ("messages_received_5m", "last 5 min", "", None),
            ("messages_per_minute", "per minute (5 min avg)", "/min", None),
        ),
    ),
    (
        "Success / failure",
        (
            ("success_rate_pct", "success rate", "%", None),
            ("failure_rate_pct", "failure rate", "%", 5.0),
            ("messages_failed_total", "failed messages", "", None),
            ("replies_failed_total", "failed replies", "", None),
        ),
    ),
    (
        "Reply latency (last 5 min)",
        (
            ("latency_p50_ms", "p50", "ms", None),
            ("latency_p95_ms", "p95", "ms", 2000.0),
            ("latency_p99_ms", "p99", "ms", None),
            ("latency_samples", "samples", "", None),
        ),
    ),
    (
        "Fallback frequency",
        (
            ("fallback_rate_pct", "of searches", "%", 30.0),
            ("fallbacks_total", "fallbacks", "", None),
            ("searches_total", "searches", "", None),
        ),
    ),
    (
        "Orders",
        (
            ("orders_per_hour", "paid, last hour", "/h", None),
            ("orders_paid_total", "paid, total", "", None),
        ),
    ),
    (
        "AI agents",
        (
            ("flag_ai_agents", "FEATURE_AI_AGENTS", "", None),
            ("flag_rollout_pct", "rollout", "%", None),
            ("flag_changes_total", "flag changes", "", None),
        ),
    ),
)


def token_ok(request: Request) -> bool:
    expected = request.app.state.settings.admin_token.encode("utf-8", "surrogateescape")
    bearer = request.headers.get("authorization", "")
    candidates = (
        request.headers.get("x-admin-token", ""),
        bearer[7:] if bearer[:7].lower() == "bearer " else "",
        request.query_params.get("token", ""),
    )
    return any(c and hmac.compare_digest(c.encode("utf-8", "surrogateescape"), expected) for c in candidates)


def live_numbers(request: Request) -> dict[str, Any]:
    state = request.app.state
    with _tracker_lock:
        tracker: LiveMetrics | None = getattr(state, "live_metrics", None)
        if tracker is None or tracker.store is not state.store:
            tracker = state.live_metrics = LiveMetrics(state.store)
    flags: Flags = state.settings.flags
    return tracker.snapshot(flags)


def _denied() -> JSONResponse:
    return JSONResponse({"error": "unauthorized"}, status_code=401)


def metrics_json(request: Request) -> Response:
    if not token_ok(request):
        return _denied()
    return JSONResponse(live_numbers(request), headers={"Cache-Control": "no-store"})


def metrics_prometheus(request: Request) -> Response:
    if not token_ok(request):
        return _denied()
    return PlainTextResponse(prometheus_text(live_numbers(request)), media_type=PROMETHEUS_CONTENT_TYPE)


def dashboard(request: Request) -> Response:
    if not token_ok(request):
        return _denied()
    nonce = secrets.token_urlsafe(16)
    page = render(live_numbers(request), nonce)
    return HTMLResponse(
        page,
        headers={
            "Cache-Control": "no-store",
            "Referrer-Policy": "no-referrer",
            "Content-Security-Policy": (
                f"default-src 'none'; style-src 'nonce-{nonce}'; script-src 'nonce-{nonce}'; "
                "connect-src 'self'; img-src 'self' data:; base-uri 'none'; form-action 'none'"
            ),
        },
    )


def fmt(value: Any) -> str:
    """How a number is shown (the page's script formats the same way)."""
    if value is None:
        return "–"
    if isinstance(value, float):
        return f"{value:.1f}"
    return str(value)


def render(numbers: dict[str, Any], nonce: str) -> str:
    cards = []
    for title, metrics in CARDS:
        rows = []
        for key, label, unit, alert in metrics:
            value = numbers.get(key)
            alerting = alert is not None and isinstance(value, int | float) and value > alert
            rows.append(
                f'<div class="metric{" alert" if alerting else ""}"'
                f"{f' data-alert-above={alert:g}' if alert is not None else ''}>"
                f'<span class="value" data-metric="{key}">{html.escape(fmt(value))}</span>'
                f'<span class="unit">{html.escape(unit)}</span>'
                f'<span class="label">{html.escape(label)}</span></div>'
            )
        cards.append(f'<section class="card"><h2>{html.escape(title)}</h2>{"".join(rows)}</section>')
    initial = json.dumps(numbers.get("messages_series", [])).replace("<", "\\u003c")
    return (
        PAGE.replace("{NONCE}", nonce)
        .replace("{CARDS}", "\n".join(cards))
        .replace("{SERIES}", initial)
        .replace("{REFRESH_MS}", str(REFRESH_MS))
        .replace("{STEP}", str(numbers.get("series_step_seconds", 10)))
    )
