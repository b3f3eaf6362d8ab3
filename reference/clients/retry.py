"""The retry policy the upstream clients share: which answers are worth another try, and how long to wait.

Delays grow exponentially from ``AGENT_RETRY_BASE_MS`` (base, 2 × base, 4 × base ...), without jitter so
that tests and fault scenarios are repeatable; ``Retry-After`` is not honoured, the backoff is the bound.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass

import httpx

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    base_delay_s: float

    def delay(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1-based)."""
        return self.base_delay_s * (2 ** (retry - 1))

    async def wait(self, retry: int) -> None:
        delay = self.delay(retry)
        if delay > 0:
            await asyncio.sleep(delay)


def retryable(response: httpx.Response) -> bool:
    return response.status_code in RETRY_STATUSES


def new_client(
    base_url: str, timeout_s: float, transport: httpx.AsyncBaseTransport | None
) -> httpx.AsyncClient:
    """The one client an upstream gets: keep-alive, bounded pool, timeouts on every operation."""
    return httpx.AsyncClient(
        base_url=base_url,
        transport=transport,
        timeout=httpx.Timeout(timeout_s),
        limits=httpx.Limits(max_connections=100, max_keepalive_connections=50, keepalive_expiry=4.0),
    )
