"""The retry policy the upstream clients share: which answers are worth another try, and how long to wait.

Delays grow exponentially from ``AGENT_RETRY_BASE_MS`` (base, 2 × base, 4 × base ...), without jitter so
that tests and fault scenarios are repeatable. A ``Retry-After`` on the answer (delay-seconds or an
HTTP-date, RFC 9110 §10.2.3; OpenAI sends it with its 429s, https://help.openai.com/en/articles/5955604)
is honoured: the wait is at least that long. A server asking for longer than ``AGENT_RETRY_AFTER_MAX_MS``
is not retried at all, so a buyer never waits out a long rate-limit window: the caller falls back.
"""

from __future__ import annotations

import asyncio
import math
import time
from dataclasses import dataclass
from email.utils import parsedate_to_datetime

import httpx

from .. import defects
from ..config import Settings

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


@dataclass(frozen=True)
class RetryPolicy:
    max_retries: int
    base_delay_s: float
    max_retry_after_s: float = 10.0
    honour_retry_after: bool = True  # False only with the retry_after_ignored defect

    def delay(self, retry: int, retry_after: float | None = None) -> float | None:
        """The wait before retry number ``retry`` (1-based); ``None``: the server asks too long, give up."""
        backoff = self.base_delay_s * (2 ** (retry - 1))
        if retry_after is None or not self.honour_retry_after:
            return backoff
        if retry_after > self.max_retry_after_s:
            return None
        return max(backoff, retry_after)

    async def wait(self, retry: int, retry_after: float | None = None) -> bool:
        """Sleep before retry number ``retry``; False (at once) when the retry should not happen."""
        delay = self.delay(retry, retry_after)
        if delay is None:
            return False
        if delay > 0:
            await asyncio.sleep(delay)
        return True


def policy_for(settings: Settings, max_retries: int) -> RetryPolicy:
    """The policy of an upstream allowed ``max_retries`` retries, bounded as ``settings`` say."""
    bound = settings.agent_retry_after_max_ms / 1000
    if settings.has_defect(defects.RETRY_AFTER_UNBOUNDED):
        bound = math.inf
    return RetryPolicy(
        max_retries,
        settings.agent_retry_base_ms / 1000,
        max_retry_after_s=bound,
        honour_retry_after=not settings.has_defect(defects.RETRY_AFTER_IGNORED),
    )


def retry_after(response: httpx.Response) -> float | None:
    """Seconds the server asked to wait (``Retry-After``), or None when absent or unreadable."""
    raw = response.headers.get("retry-after", "").strip()
    if not raw:
        return None
    if raw.isdigit():
        return float(raw)
    try:
        when = parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


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
