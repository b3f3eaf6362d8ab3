"""The outbound side: posting replies to the WhatsApp Cloud API (or the harness's Graph simulator).

One shared ``httpx.AsyncClient`` keeps connections alive across replies. Retries follow easyMO's
``utils/http.ts`` policy with shorter delays: HTTP 408/425/5xx-gateway get two more attempts, network
errors one. Meta's rate limit (HTTP 429, or error code 130429 whatever the status) backs off longer:
``GRAPH_RETRY_BASE_MS`` × 2^attempt, up to four more attempts, so nothing is lost to a burst. Every
outcome becomes an event: ``reply_sent`` with Meta's wamid, or ``reply_failed`` with the status and
Graph error, after which ``ReplyFailedError`` stops the reply sequence of that inbound message.

Messages are built addressed ``to`` a user key (:mod:`reference.store`); the client addresses each as
Meta expects: ``to`` the phone when the user's phone is known, else ``recipient`` (their current BSUID),
never both (:meth:`reference.identity.Identities.address`).
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx

from . import defects
from .config import Settings
from .identity import Identities
from .messages import describe
from .observability import REPLY_FAILED, REPLY_SENT, EventLog

RETRY_STATUSES = frozenset({408, 425, 500, 502, 503, 504})
STATUS_RETRIES = 2
RATE_LIMIT_CODE = 130429  # Cloud API "rate limit hit"
RATE_LIMIT_RETRIES = 4
NETWORK_RETRIES = 1
BACKOFF_SECONDS = 0.1  # times the attempt number
SLOW_REPLY_SECONDS = 0.6


class ReplyFailedError(Exception):
    """The Graph API refused a reply or could not be reached."""

    def __init__(self, status: int | None, error: Any) -> None:
        super().__init__(f"reply failed: status={status} error={error}")
        self.status = status
        self.error = error


class GraphClient:
    def __init__(
        self,
        settings: Settings,
        events: EventLog,
        transport: httpx.AsyncBaseTransport | None = None,
        identities: Identities | None = None,
    ) -> None:
        self._url = settings.messages_url
        self._identities = identities  # None: every message goes `to` its user key as built
        self._slow = settings.has_defect(defects.SLOW_REPLY)
        self._rate_base_s = settings.graph_retry_base_ms / 1000
        self._rate_retries = 0 if settings.has_defect(defects.NO_GRAPH_BACKOFF) else RATE_LIMIT_RETRIES
        self._status_retries = 10 if settings.has_defect(defects.GRAPH_RETRY_UNCAPPED) else STATUS_RETRIES
        self._retry_statuses = RETRY_STATUSES
        if settings.has_defect(defects.GRAPH_RETRIES_CLIENT_ERRORS):
            self._retry_statuses = RETRY_STATUSES | {400, 401, 403, 404}
        self._events = events
        self._client = httpx.AsyncClient(
            transport=transport,
            timeout=httpx.Timeout(settings.http_timeout_seconds),
            # Idle connections are dropped before uvicorn-based peers (the simulators) drop them at 5 s,
            # so a reply never races a server-side close.
            limits=httpx.Limits(max_connections=100, max_keepalive_connections=100, keepalive_expiry=4.0),
            headers={"Authorization": f"Bearer {settings.token}"},
        )

    async def aclose(self) -> None:
        await self._client.aclose()

    async def send(self, message: dict[str, Any], *, correlation_id: str) -> str | None:
        """Post one message; return Meta's wamid for it, or raise ``ReplyFailedError``."""
        if self._slow:
            await asyncio.sleep(SLOW_REPLY_SECONDS)
        to = str(message.get("to", ""))
        kind = describe(message)
        body = self._addressed(message, to)
        started = time.perf_counter()
        status_retries = network_retries = rate_retries = 0
        attempt = 0
        while True:
            attempt += 1
            try:
                response = await self._client.post(self._url, json=body)
            except httpx.TransportError as exc:
                if network_retries < NETWORK_RETRIES:
                    network_retries += 1
                    await asyncio.sleep(BACKOFF_SECONDS * attempt)
                    continue
                error = f"{type(exc).__name__}: {exc}"[:200]
                self._failed(correlation_id, to, kind, None, error, attempt)
                raise ReplyFailedError(None, error) from exc
            if response.is_success:
                wamid = _wamid(response)
                elapsed_ms = round((time.perf_counter() - started) * 1000, 2)
                self._events.record(
                    correlation_id,
                    REPLY_SENT,
                    to,
                    wamid=wamid,
                    kind=kind,
                    attempts=attempt,
                    latency_ms=elapsed_ms,
                )
                return wamid
            if _rate_limited(response) and rate_retries < self._rate_retries:
                await asyncio.sleep(self._rate_base_s * (2**rate_retries))
                rate_retries += 1
                continue
            if response.status_code in self._retry_statuses and status_retries < self._status_retries:
                status_retries += 1
                await asyncio.sleep(BACKOFF_SECONDS * attempt)
                continue
            error = _graph_error(response)
            self._failed(correlation_id, to, kind, response.status_code, error, attempt)
            raise ReplyFailedError(response.status_code, error)

    def _addressed(self, message: dict[str, Any], key: str) -> dict[str, Any]:
        """The message as posted: ``to`` the phone, or ``recipient`` the BSUID of a username-only user."""
        if self._identities is None or not key:
            return message
        field, value = self._identities.address(key)
        if field == "to" and value == key:
            return message
        # Same key order as built (messaging_product, recipient_type, then the address).
        return {(field if k == "to" else k): (value if k == "to" else v) for k, v in message.items()}

    def _failed(
        self, correlation_id: str, to: str, kind: str, status: int | None, error: Any, attempts: int
    ) -> None:
        self._events.record(
            correlation_id, REPLY_FAILED, to, status=status, error=error, kind=kind, attempts=attempts
        )


def _rate_limited(response: httpx.Response) -> bool:
    if response.status_code == 429:
        return True
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        return False
    return isinstance(error, dict) and error.get("code") == RATE_LIMIT_CODE


def _wamid(response: httpx.Response) -> str | None:
    try:
        messages = response.json().get("messages")
        wamid = messages[0].get("id")
    except (ValueError, AttributeError, IndexError, KeyError, TypeError):
        return None
    return wamid if isinstance(wamid, str) else None


def _graph_error(response: httpx.Response) -> Any:
    """Meta's ``{"error": {...}}`` object (its useful fields), else the start of the body."""
    try:
        error = response.json().get("error")
    except (ValueError, AttributeError):
        error = None
    if isinstance(error, dict):
        return {k: error[k] for k in ("code", "error_subcode", "type", "message") if k in error}
    return response.text[:200]
