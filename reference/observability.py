"""Structured events: their names, the recorder, and the admin read API.

Events are the harness's window into the service: every one carries the correlation id of the inbound
message (or of the webhook request, for request-level events). Recording is best effort: a failing
event write is logged and never breaks the conversation it describes.
"""

from __future__ import annotations

import hmac
import logging
import sqlite3
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse

from .store import MAX_EVENTS_PAGE, Store

log = logging.getLogger("reference.events")

# Names are snake_case, past tense.
MESSAGE_RECEIVED = "message_received"
MESSAGE_HANDLED = "message_handled"  # processing finished (with or without replies): no need to sleep
MESSAGE_FAILED = "message_failed"
JOB_FAILED = "job_failed"  # background work (a payment callback's notices) failed
INVALID_MESSAGE_IGNORED = "invalid_message_ignored"
DUPLICATE_IGNORED = "duplicate_ignored"
PHONE_MISMATCH_IGNORED = "phone_mismatch_ignored"
PAYLOAD_IGNORED = "payload_ignored"
STATUS_RECEIVED = "status_received"
REPLY_SENT = "reply_sent"
REPLY_FAILED = "reply_failed"
REPLY_SUPPRESSED = "reply_suppressed"
REACTION_IGNORED = "reaction_ignored"
SESSION_EXPIRED = "session_expired"
OPTED_OUT = "opted_out"
OPTED_IN = "opted_in"
RATE_LIMITED = "rate_limited"  # once per window, with the notice
MESSAGE_DEFERRED = "message_deferred"  # each message held back until the window allows it
AGENT_CALLED = "agent_called"
AGENT_DISABLED = "agent_disabled"
LLM_CALLED = "llm_called"
FALLBACK_TRIGGERED = "fallback_triggered"
ORDER_STATE_CHANGED = "order_state_changed"
PAYMENT_REQUESTED = "payment_requested"
PAYMENT_REQUEST_FAILED = "payment_request_failed"
PAYMENT_CALLBACK_RECEIVED = "payment_callback_received"
PAYMENT_POLLED = "payment_polled"  # a status poll (no callback yet): its status and what it settled
LEDGER_ENTRY_ADDED = "ledger_entry_added"
MAPS_CALLED = "maps_called"
TICKET_CREATED = "ticket_created"
NOTIFICATION_FAILED = "notification_failed"  # a notice to another party (staff, driver, buyer) failed
STATION_UNREACHABLE = "station_unreachable"  # no staff phone got a paid order: cancelled and refunded
CHECKOUT_FAILED = "checkout_failed"  # the order / payment write at checkout failed: nothing charged
PAYMENT_PENDING_NOTIFIED = "payment_pending_notified"  # no MoMo callback by PAYMENT_PENDING_NOTICE_MS
DRIVER_REDISPATCHED = "driver_redispatched"  # no driver by DRIVER_ACCEPT_DEADLINE_MS: offered again
QUOTE_REQUESTED = "quote_requested"
QUOTE_RECEIVED = "quote_received"  # a vendor's price, or (declined: true) its refusal
QUOTES_SENT = "quotes_sent"  # the deadline (or the last vendor's answer) closed the request
IDENTITY_LINKED = "identity_linked"  # a user's BSUID and phone first seen together (reference/identity.py)
USER_ID_CHANGED = "user_id_changed"  # Meta re-issued a user's BSUID (user_changed_user_id): user moved
MOMO_NUMBER_SAVED = "momo_number_saved"  # a user whose phone is unknown gave the number that pays by MoMo


class EventLog:
    def __init__(self, store: Store) -> None:
        self._store = store

    def record(self, correlation_id: str, name: str, phone: str | None = None, **data: Any) -> None:
        """Record an event; ``phone`` names the user it is about: their user key, phone or BSUID (the
        event carries their user key, and the BSUID and phone known at that moment)."""
        try:
            self._store.record_event(correlation_id, name, phone, data)
        except sqlite3.Error:
            log.exception("could not record event %s (correlation %s)", name, correlation_id)


def admin_denied(request: Request) -> JSONResponse | None:
    """The 401 answer when ``X-Admin-Token`` is missing or wrong, else None."""
    expected: str = request.app.state.settings.admin_token
    given = request.headers.get("x-admin-token", "")
    if not hmac.compare_digest(given.encode("latin-1"), expected.encode("utf-8", "surrogateescape")):
        return JSONResponse({"error": "unauthorized"}, status_code=401)
    return None


def admin_events(request: Request) -> JSONResponse:
    """``GET /admin/events?phone=&user_id=&name=&correlation_id=&order_id=&after_id=&limit=``
    (``X-Admin-Token``). ``phone`` or ``user_id`` (a BSUID) name a user: all their events, whatever they
    were known by when each was recorded; each event carries ``user_id`` and ``phone`` (null when unknown).
    """
    denied = admin_denied(request)
    if denied is not None:
        return denied
    query = request.query_params
    try:
        after_id = int(query.get("after_id") or 0)
        limit = int(query.get("limit") or 100)
    except ValueError:
        return JSONResponse({"error": "after_id and limit must be integers"}, status_code=400)
    if limit < 1 or limit > MAX_EVENTS_PAGE:
        return JSONResponse({"error": f"limit must be between 1 and {MAX_EVENTS_PAGE}"}, status_code=400)
    store: Store = request.app.state.store
    events = store.query_events(
        phone=query.get("phone") or None,
        user_id=query.get("user_id") or None,
        name=query.get("name") or None,
        correlation_id=query.get("correlation_id") or None,
        order_id=query.get("order_id") or None,
        after_id=after_id,
        limit=limit,
    )
    return JSONResponse({"events": events})
