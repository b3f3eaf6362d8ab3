"""The maps client: a driving route between two points, for the driver's navigation message.

``GET {MAPS_BASE_URL}/v1/route?from=<lat>,<lng>&to=<lat>,<lng>`` answers ``{"status": "OK", "distance_m",
"duration_s", "url"}`` (a body without ``status`` is read as OK). ``ZERO_RESULTS`` (no road between the
points) is an answer, not an outage: it is not retried. ``OVER_QUERY_LIMIT`` (429) and 5xx are retried
once, after the ``Retry-After`` when there is one (bounded, see :mod:`reference.clients.retry`). Anything
else (an error status after the retry, a timeout, a body of the wrong shape) is a ``MapsError`` naming the
reason: the driver then gets the two location pins without the route.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import httpx

from .. import defects
from ..config import Settings
from ..observability import MAPS_CALLED, EventLog
from .retry import new_client, policy_for, retry_after, retryable

MAPS_RETRIES = 1


class MapsError(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(f"route unavailable: {reason}")
        self.reason = reason


@dataclass(frozen=True)
class Route:
    distance_m: int
    duration_s: int
    url: str


class MapsClient:
    def __init__(
        self, settings: Settings, events: EventLog, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self._events = events
        self._policy = policy_for(settings, min(MAPS_RETRIES, settings.agent_max_retries))
        self._zero_results_crash = settings.has_defect(defects.MAPS_ZERO_RESULTS_CRASH)
        base = settings.maps_base_url
        self._client = new_client(base, settings.agent_timeout_ms / 1000, transport) if base else None

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()

    async def route(
        self, start: tuple[float, float], end: tuple[float, float], *, corr: str, phone: str
    ) -> Route:
        if self._client is None:
            raise MapsError("not_configured")
        params = {"from": f"{start[0]:.6f},{start[1]:.6f}", "to": f"{end[0]:.6f},{end[1]:.6f}"}
        attempt = 0
        while True:
            attempt += 1
            started = time.perf_counter()
            try:
                response = await self._client.get("/v1/route", params=params)
            except httpx.TransportError as exc:
                self._called(corr, phone, attempt, None, started)
                if attempt <= self._policy.max_retries and not isinstance(exc, httpx.TimeoutException):
                    await self._policy.wait(attempt)
                    continue
                raise MapsError(type(exc).__name__) from None
            self._called(corr, phone, attempt, response.status_code, started)
            if (
                retryable(response)
                and attempt <= self._policy.max_retries
                and await self._policy.wait(attempt, retry_after(response))
            ):
                continue
            if response.status_code == 429:
                raise MapsError("over_query_limit")
            if response.status_code != 200:
                raise MapsError(f"http_{response.status_code}")
            return _route(response, self._zero_results_crash)

    def _called(self, corr: str, phone: str, attempt: int, status: int | None, started: float) -> None:
        latency_ms = round((time.perf_counter() - started) * 1000, 2)
        self._events.record(corr, MAPS_CALLED, phone, attempt=attempt, status=status, latency_ms=latency_ms)


def _route(response: httpx.Response, zero_results_crash: bool = False) -> Route:
    try:
        body = response.json()
        status = body.get("status", "OK")
    except (ValueError, AttributeError):
        raise MapsError("malformed") from None
    if status == "ZERO_RESULTS" and zero_results_crash:  # the defect: read it as a route, and crash
        return Route(body["distance_m"], body["duration_s"], body["url"])
    if status != "OK":
        raise MapsError(str(status).lower() if isinstance(status, str) else "malformed")
    try:
        distance, duration, url = body["distance_m"], body["duration_s"], body["url"]
    except (KeyError, TypeError):
        raise MapsError("malformed") from None
    numbers_ok = all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in (distance, duration))
    if not numbers_ok or not isinstance(url, str) or not url.startswith(("https://", "http://")):
        raise MapsError("malformed")
    return Route(distance, duration, url)
