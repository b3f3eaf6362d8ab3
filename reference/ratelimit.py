"""Per-user rate limiting: at most ``RATE_LIMIT_PER_USER`` messages per ``RATE_LIMIT_WINDOW_SECONDS``.

Over the limit a message is deferred, not dropped: the router waits until the window allows it (the
user's later messages queue behind it, so their order is kept). The user gets one polite notice per
window. Seeded business actors (vendors, station staff, drivers, admins) are exempt: under load one
station may tap through hundreds of orders a minute. Kept in memory: a restart forgets the windows, which
errs on the side of answering.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass
class _Window:
    started: float
    count: int = 0
    notified: bool = False


@dataclass(frozen=True)
class Verdict:
    allowed: bool
    notify: bool = False  # the first refusal of a window: tell the user once
    retry_after: float = 0.0  # seconds until the window allows another message


class RateLimiter:
    def __init__(
        self,
        limit: int,
        window_seconds: float = 60.0,
        *,
        exempt: Callable[[str], bool] = lambda phone: False,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._limit = limit
        self._window = window_seconds
        self._exempt = exempt
        self._clock = clock
        self._windows: dict[str, _Window] = {}

    def check(self, phone: str) -> Verdict:
        if self._limit <= 0 or self._exempt(phone):
            return Verdict(True)
        now = self._clock()
        window = self._windows.get(phone)
        if window is None or now - window.started >= self._window:
            if len(self._windows) > 50_000:
                self._forget_old(now)
            window = self._windows[phone] = _Window(now)
        if window.count < self._limit:
            window.count += 1
            return Verdict(True)
        notify = not window.notified
        window.notified = True
        return Verdict(False, notify, max(0.0, window.started + self._window - now))

    def _forget_old(self, now: float) -> None:
        for phone in [p for p, w in self._windows.items() if now - w.started >= self._window]:
            del self._windows[phone]
